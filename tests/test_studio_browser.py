"""The studio in a real browser: Debian's headless Chromium, driven by selenium through
chromedriver, against `python -m stylejax.serve` (uvicorn) on a free localhost port.

The page starts a tiny job on the bundled samples with random weights; the test watches the
preview's pixels change at least twice and downloads the result. Screenshots at 1280x800 and at
phone width go to pytest's tmp folder; STYLEJAX_STUDIO_SCREENSHOT=path also writes the desktop
one there (README's docs/studio.png, taken with STYLEJAX_STUDIO_WEIGHTS=real weights).
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.studio_support import ServerProcess, free_port, random_weights_file

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
    "chromium-driver; .ci/run installs them)",
)

# A preview every 2 evaluations; enough of them to see the picture change while it runs.
RUN = {"size": "32", "evaluations": "20", "save-every": "2", "seed": "3"}
REAL_RUN = {"size": "192", "evaluations": "100", "save-every": "4", "seed": "0", "init": "content"}

# Pushes a hash of the preview's pixels each time a new preview has loaded.
WATCH_PIXELS = """
window.previewHashes = [];
const img = document.getElementById('preview');
img.addEventListener('load', () => {
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let hash = 0;
  for (let i = 0; i < data.length; i++) hash = (hash * 31 + data[i]) >>> 0;
  window.previewHashes.push(hash);
});
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("studio")
    weights = os.environ.get("STYLEJAX_STUDIO_WEIGHTS") or random_weights_file()
    # --preset classic: the page must start from the server's preset (checked below); and its
    # Gram loss compiles in half the time of the default Wasserstein loss, for four jobs.
    preset = () if os.environ.get("STYLEJAX_STUDIO_WEIGHTS") else ("--preset", "classic")
    with ServerProcess(tmp / "work", weights, free_port(), *preset) as process:
        yield process
    assert process.stopped_cleanly, process.output()


@pytest.fixture()
def browser(tmp_path):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI containers run as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,800",
        "--hide-scrollbars",
    ):
        options.add_argument(argument)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def viewport(driver, width: int, height: int, mobile: bool = False) -> None:
    """Sets the page's viewport exactly (a window size would include the browser's frame)."""
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def set_value(driver, element_id: str, value: str) -> None:
    driver.execute_script(
        "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
        "e.dispatchEvent(new Event('input', {bubbles: true}));",
        element_id,
        value,
    )


@pytest.mark.slow
def test_a_job_in_the_browser(server, browser, tmp_path):
    real = bool(os.environ.get("STYLEJAX_STUDIO_WEIGHTS"))
    viewport(browser, 1280, 800)
    browser.get(server.url)
    text = lambda element_id: browser.find_element("id", element_id).text  # noqa: E731
    wait_for(
        lambda: browser.execute_script(
            "return document.getElementById('content-thumb').naturalWidth > 0 && "
            "document.querySelectorAll('#style-thumbs img').length === 1"
        ),
        20,
        "the bundled samples in the pickers",
    )
    assert text("content-name") == "content.jpg" and text("style-name") == "style.jpg"
    if not real:  # the controls start at the server's --preset classic
        control = lambda element_id: browser.find_element("id", element_id).get_attribute("value")  # noqa: E731
        wait_for(lambda: control("content-layer") == "relu4_1", 10, "the server's defaults")
        assert (control("init"), text("style-weight-out"), control("evaluations")) == (
            "random",
            "1.0e6",
            "300",
        )
    for element_id, value in (REAL_RUN if real else RUN).items():
        set_value(browser, element_id, value)
    browser.execute_script(WATCH_PIXELS)
    browser.find_element("id", "start").click()

    wait_for(lambda: text("status") == "running", 120, "the job to start (compiling)")
    hashes = wait_for(
        lambda: (
            (h := browser.execute_script("return window.previewHashes")) and len(set(h)) >= 3 and h
        ),
        300,
        "the preview to change twice",
    )
    assert len(set(hashes)) >= 3
    if real:  # the README's screenshot: mid-run, with the loss curve drawn
        wait_for(lambda: len(browser.execute_script("return studio.records")) > 15, 600, "a curve")
    mid_run = tmp_path / "studio-running.png"
    browser.save_screenshot(str(mid_run))

    wait_for(lambda: text("status") == "finished", 600, "the job to finish")
    evaluations = REAL_RUN["evaluations"] if real else RUN["evaluations"]
    assert text("evals") == f"{evaluations} / {evaluations}"
    assert float(text("loss")) > 0
    wait_for(
        lambda: browser.find_elements("css selector", "#gallery figure"), 10, "the gallery entry"
    )

    link = browser.find_element("id", "dl-png")
    assert "disabled" not in link.get_attribute("class")
    job_id = link.get_attribute("href").split("/api/jobs/")[1].split("/")[0]
    if not real:  # what was not touched is sent as the preset's; the pyramid is left to it
        options = json.loads(server.get(f"/api/jobs/{job_id}"))["options"]
        assert options["preset"] == "classic" and "min_size" not in options
        assert (options["style_weight"], options["content_layer"]) == (1e6, "relu4_1")
    link.click()
    expected = browser.downloads / f"stylejax-{job_id}.png"
    wait_for(expected.is_file, 20, "the PNG download")
    with Image.open(expected) as downloaded:
        assert downloaded.format == "PNG"
        assert max(downloaded.size) == int((REAL_RUN if real else RUN)["size"])
        served = Image.open(io.BytesIO(server.get(f"/api/jobs/{job_id}/result.png")))
        assert np.array_equal(np.asarray(downloaded), np.asarray(served))

    desktop = tmp_path / "studio-desktop.png"
    browser.save_screenshot(str(desktop))
    target = os.environ.get("STYLEJAX_STUDIO_SCREENSHOT")
    if target:  # README's screenshot: 256 colours keep it small
        with Image.open(desktop) as shot:
            shot.convert("RGB").quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(target)
    if not real:
        stop_a_job(browser, text)
        sweep(browser, tmp_path)
        masked_job(browser, server, text, tmp_path)
    viewport(browser, 390, 844, mobile=True)
    time.sleep(0.3)
    phone = tmp_path / "studio-phone.png"
    browser.save_screenshot(str(phone))
    browser.execute_script("document.getElementById('run').scrollIntoView()")
    time.sleep(0.2)
    browser.save_screenshot(str(tmp_path / "studio-phone-run.png"))
    # At phone width nothing is wider than the window (no sideways scrolling).
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= browser.execute_script("return window.innerWidth")
    for shot, size in ((mid_run, (1280, 800)), (desktop, (1280, 800)), (phone, (390, 844))):
        with Image.open(shot) as image:
            assert image.size == size
    keep = os.environ.get("STYLEJAX_STUDIO_SHOTS")
    if keep:
        for shot in tmp_path.glob("studio-*.png"):
            shutil.copy(shot, Path(keep) / shot.name)


def stop_a_job(browser, text) -> None:
    """Stop keeps the latest image: the job ends cancelled, with its PNG to download."""
    set_value(browser, "evaluations", "5000")
    browser.find_element("id", "start").click()
    wait_for(lambda: text("status") == "running" and int(text("evals").split()[0]) >= 4, 60, "run")
    browser.find_element("id", "stop").click()
    wait_for(lambda: text("status") == "cancelled", 60, "the job to stop")
    assert int(text("evals").split()[0]) < 5000
    assert "disabled" not in browser.find_element("id", "dl-png").get_attribute("class")


def sweep(browser, tmp_path) -> None:
    """Sweep mode: one job per seed, filling the contact sheet cell by cell."""
    set_value(browser, "evaluations", "8")
    browser.find_element("id", "sweep").click()
    set_value(browser, "sweep-axis", "seed")
    set_value(browser, "sweep-values", "5 6")
    browser.find_element("id", "start").click()

    def cells():
        return browser.find_elements("css selector", "#sheet .cell")

    def statuses():
        return [c.find_element("css selector", "figcaption span:last-child").text for c in cells()]

    wait_for(lambda: len(cells()) == 2, 30, "the contact sheet")
    wait_for(lambda: statuses() == ["finished"] * 2, 120, "every cell to finish")
    loaded = "return [...document.querySelectorAll('#sheet img')].map(i => i.naturalWidth)"
    wait_for(lambda: all(w > 0 for w in browser.execute_script(loaded)), 20, "the cells' images")
    browser.save_screenshot(str(tmp_path / "studio-sweep.png"))


# Sets an <input type=file>'s files as a person choosing them would, then fires its change event.
CHOOSE_FILES = """
const [id, files, done] = arguments;
(async () => {
  const chosen = new DataTransfer();
  for (const [name, url] of files) {
    const blob = await (await fetch(url)).blob();
    chosen.items.add(new File([blob], name, {type: blob.type}));
  }
  const input = document.getElementById(id);
  input.files = chosen.files;
  input.dispatchEvent(new Event('change'));
})().then(() => done(true), (error) => done(String(error)));
"""


def choose_files(browser, input_id: str, files: list[tuple[str, str]]) -> None:
    assert browser.execute_async_script(CHOOSE_FILES, input_id, files) is True


def masked_job(browser, server, text, tmp_path) -> None:
    """A mask: shown over the content, sent with the job (left half the first style, right
    half the second), then cleared."""
    halves = np.zeros((48, 64, 3), np.uint8)
    halves[:, 32:] = 255
    buffer = io.BytesIO()
    Image.fromarray(halves).save(buffer, format="PNG")
    mask_url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    if browser.find_element("id", "sweep").is_selected():
        browser.find_element("id", "sweep").click()
    choose_files(
        browser, "style-file", [("a.jpg", "/samples/style.jpg"), ("b.jpg", "/samples/content.jpg")]
    )
    choose_files(browser, "mask-file", [("halves.png", mask_url)])
    over = "const m = document.getElementById('mask-over'); return !m.hidden && m.naturalWidth > 0"
    wait_for(lambda: browser.execute_script(over), 10, "the mask over the content")
    assert text("mask-name") == "halves.png"
    browser.save_screenshot(str(tmp_path / "studio-mask.png"))

    before = browser.execute_script("return studio.watching")
    browser.find_element("id", "start").click()
    job_id = wait_for(
        lambda: (w := browser.execute_script("return studio.watching")) != before and w,
        30,
        "the masked job",
    )
    wait_for(lambda: text("status") == "finished", 120, "the masked job to finish")
    job = json.loads(server.get(f"/api/jobs/{job_id}"))
    assert job["mask"] is True and job["names"]["mask"] == "halves.png" and job["styles"] == 2

    browser.find_element("id", "mask-clear").click()
    assert browser.execute_script("return studio.mask === null")
    assert not browser.find_element("id", "mask-over").is_displayed()
    assert browser.find_element("id", "mask-name").text.startswith("optional")
