"""The studio's HTTP API, driven in-process by Starlette's TestClient.

Runs use the real stylejax.Stylizer with random VGG19 weights on 32-pixel images and a few
evaluations. Only the queue-order and queue-full tests use GatedStylizer, because they must hold
a job in "running" for as long as they look at the queue.
"""

import io
import json
import time

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("starlette")
pytest.importorskip("multipart")
pytest.importorskip("httpx2")

from starlette.testclient import TestClient  # noqa: E402

import stylejax  # noqa: E402
from stylejax.studio import Settings, create_app  # noqa: E402
from tests.studio_support import (  # noqa: E402
    GatedStylizer,
    job_files,
    parse_events,
    png_bytes,
    warm_stylizer,
)

TINY = {"size": 32, "evaluations": 8, "save_every": 2, "seed": 1}
# For tests of the studio's plumbing, not of the default loss: the Gram loss compiles in half the
# time of the Wasserstein loss.
TINY_CLASSIC = TINY | {"preset": "classic"}
LONG = {"size": 32, "evaluations": 100_000, "save_every": 2, "seed": 1}  # runs until cancelled


@pytest.fixture(scope="module")
def stylizer():
    return warm_stylizer()


def client_for(workdir, stylizer, **settings) -> TestClient:
    return TestClient(create_app(Settings(workdir=workdir, **settings), stylizer))


@pytest.fixture()
def client(tmp_path, stylizer):
    with client_for(tmp_path / "work", stylizer) as client:
        yield client


def submit(client, options=None, content=1, styles=(2,), **kwargs):
    files = job_files(png_bytes(content), [png_bytes(s) for s in styles], options)
    return client.post("/api/jobs", files=files, **kwargs)


def events(client, job_id, until=None) -> list[tuple[str, dict]]:
    """Reads the event stream to its end (or until `until(event data)` is true)."""
    seen = []
    with client.stream("GET", f"/api/jobs/{job_id}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        buffer = ""
        for text in response.iter_text():
            buffer += text
            *blocks, buffer = buffer.split("\n\n")
            for block in blocks:
                seen += parse_events(block + "\n\n")
                if seen and (seen[-1][0] == "end" or (until and until(seen[-1][1]))):
                    return seen
    return seen


def wait_status(client, job_id, statuses, timeout=60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never reached {statuses}: {job}")


def decode_png(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB"))


def test_life_cycle_matches_the_library(client, stylizer, tmp_path):
    response = submit(client, TINY)
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    assert response.headers["location"] == f"/api/jobs/{job_id}"

    stream = events(client, job_id)
    names = [name for name, _ in stream]
    assert names[-1] == "end" and set(names[:-1]) <= {"progress"}
    final = stream[-1][1]
    assert final["status"] == "finished" and final["error"] is None
    assert final["evaluations"] == final["budget"] == 8
    assert final["position"] is None
    assert set(final["loss"]) >= {"total", "content", "style", "tv"}
    # Records are sent once each, in order; together they are the whole history.
    records = [r for _, data in stream for r in data["records"]]
    assert [r["evaluations"] for r in records] == sorted(r["evaluations"] for r in records)
    assert records[-1]["evaluations"] == 8 and records[0]["evaluations"] == 1

    job = client.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "finished" and job["members"] == 1 and job["rate"] > 0
    image = client.get(f"/api/jobs/{job_id}/image")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    result = decode_png(image.content)
    assert result.shape == (26, 32, 3)  # the 40x32 upload at size 32

    # The server's result is the library's result for the same inputs and options.
    content = Image.open(io.BytesIO(png_bytes(1)))
    style = Image.open(io.BytesIO(png_bytes(2)))
    expected = np.asarray(stylizer.stylize(content, [style], **TINY))
    np.testing.assert_allclose(result.astype(int), expected.astype(int), atol=1)

    png = client.get(f"/api/jobs/{job_id}/result.png")
    assert png.headers["content-disposition"] == f'attachment; filename="stylejax-{job_id}.png"'
    assert np.array_equal(decode_png(png.content), result)
    gif = Image.open(io.BytesIO(client.get(f"/api/jobs/{job_id}/result.gif").content))
    assert gif.format == "GIF" and gif.n_frames >= 3  # the start image, then every 2 evaluations
    log = client.get(f"/api/jobs/{job_id}/log.json").json()
    assert log["status"] == "finished" and log["options"] == TINY
    assert [r["evaluations"] for r in log["histories"][0]] == [r["evaluations"] for r in records]

    listed = client.get("/api/jobs").json()["jobs"]
    assert [j["id"] for j in listed] == [job_id]
    # A late subscriber gets the latest state at once: one final event with the whole history.
    late = events(client, job_id)
    assert [name for name, _ in late] == ["end"]
    assert late[0][1]["records_from"] == 0 and len(late[0][1]["records"]) == len(records)

    folder = tmp_path / "work" / "jobs" / job_id
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["content", "job.json", "log.json", "result-0.gif", "result-0.png", "style-0"]
    assert json.loads((folder / "job.json").read_text())["status"] == "finished"


def test_jobs_start_from_the_servers_defaults_or_its_preset(tmp_path, stylizer):
    """GET /api/defaults is what the page's controls start at: the library's defaults, or the
    server's --preset. A job without a preset of its own starts from the server's, its own
    options on top, and its picture is the library's for that preset."""
    library = stylejax.Config()
    with client_for(tmp_path / "plain", stylizer) as client:
        served = client.get("/api/defaults").json()
    assert served["preset"] is None and served["pyramid"] == {"from": 512, "start": 128}
    for name, value in served["options"].items():
        assert value == getattr(library, name), name

    with client_for(tmp_path / "classic", stylizer, preset="classic") as client:
        served = client.get("/api/defaults").json()
        assert served["preset"] == "classic"
        chosen = served["options"]
        assert (chosen["style_weight"], chosen["content_layer"], chosen["init"]) == (
            1e6,
            "relu4_1",
            "random",
        )
        job_id = submit(client, TINY).json()["id"]
        assert events(client, job_id)[-1][1]["status"] == "finished"
        job = client.get(f"/api/jobs/{job_id}").json()
        assert job["options"] == {"preset": "classic"} | TINY
        result = decode_png(client.get(f"/api/jobs/{job_id}/result.png").content)
        # A job's own preset wins over the server's.
        own = submit(client, TINY | {"preset": "seed", "evaluations": 2}).json()["id"]
        assert client.get(f"/api/jobs/{own}").json()["options"]["preset"] == "seed"
    content, style = (Image.open(io.BytesIO(png_bytes(k))) for k in (1, 2))
    expected = np.asarray(stylizer.stylize(content, [style], **TINY_CLASSIC))
    np.testing.assert_allclose(result.astype(int), expected.astype(int), atol=1)
    default = np.asarray(stylizer.stylize(content, [style], **TINY | {"style_loss": "gram"}))
    assert np.abs(default.astype(int) - expected.astype(int)).mean() > 1  # the preset counted


def test_sweep_gives_one_image_per_member(client):
    response = submit(client, TINY | {"seed": [1, 2], "init": "random"})  # seeds: noise starts
    assert response.status_code == 201 and response.json()["members"] == 2
    job_id = response.json()["id"]
    final = events(client, job_id)[-1][1]
    assert final["status"] == "finished" and len(final["losses"]) == 2
    first, second = (
        decode_png(client.get(f"/api/jobs/{job_id}/image", params={"member": m}).content)
        for m in (0, 1)
    )
    assert first.shape == second.shape and not np.array_equal(first, second)
    gif = client.get(f"/api/jobs/{job_id}/result.gif", params={"member": 1})
    assert gif.status_code == 200
    assert client.get(f"/api/jobs/{job_id}/image", params={"member": 2}).status_code == 404
    assert client.get(f"/api/jobs/{job_id}/image", params={"member": "x"}).status_code == 400


def test_cancel_keeps_the_latest_image(client):
    job_id = submit(client, LONG).json()["id"]
    seen = events(client, job_id, until=lambda data: data["evaluations"] >= 4)
    assert seen[-1][1]["status"] == "running"
    response = client.delete(f"/api/jobs/{job_id}")
    assert response.status_code == 200
    job = wait_status(client, job_id, {"cancelled"})
    assert 4 <= job["evaluations"] < job["budget"] and job["error"] is None
    kept = decode_png(client.get(f"/api/jobs/{job_id}/result.png").content)
    assert kept.shape == (26, 32, 3)
    assert np.array_equal(decode_png(client.get(f"/api/jobs/{job_id}/image").content), kept)
    # Cancelling again changes nothing.
    assert client.delete(f"/api/jobs/{job_id}").json()["status"] == "cancelled"


def test_queue_order_positions_and_cancelling_a_queued_job(tmp_path):
    gated = GatedStylizer()
    with client_for(tmp_path, gated) as client:
        ids = [submit(client, {"seed": seed}).json()["id"] for seed in range(3)]
        assert gated.started.wait(10)
        jobs = [client.get(f"/api/jobs/{i}").json() for i in ids]
        assert [(j["status"], j["position"]) for j in jobs] == [
            ("running", 0),
            ("queued", 1),
            ("queued", 2),
        ]
        assert client.get(f"/api/jobs/{ids[1]}/result.png").status_code == 404
        assert client.get(f"/api/jobs/{ids[1]}/image").status_code == 404
        cancelled = client.delete(f"/api/jobs/{ids[1]}").json()
        assert cancelled["status"] == "cancelled" and cancelled["position"] is None
        assert client.get(f"/api/jobs/{ids[2]}").json()["position"] == 1
        gated.gate.set()
        for job_id in (ids[0], ids[2]):
            assert wait_status(client, job_id, {"finished"})["position"] is None
    assert gated.ran == [ids[0], ids[2]]


def test_full_queue_is_refused_with_429(tmp_path):
    gated = GatedStylizer()
    with client_for(tmp_path, gated, queue_size=1) as client:
        assert submit(client).status_code == 201
        assert gated.started.wait(10)
        assert submit(client).status_code == 201  # waits
        refused = submit(client)
        assert refused.status_code == 429 and "queue is full" in refused.json()["error"]
        assert len(list((tmp_path / "jobs").iterdir())) == 2  # nothing kept of the refused one
        gated.gate.set()


@pytest.mark.parametrize(
    "options, field",
    [
        ("{not json", "options"),
        ("[1, 2]", "options"),
        ('{"sharpness": 3}', "sharpness"),
        ('{"evaluations": 0}', "evaluations"),
        ('{"size": 32, "min_size": 64}', "min_size"),
        ('{"preserve_colors": "sepia"}', "preserve_colors"),
        ('{"init": "/etc/passwd"}', "init"),
        ('{"output": "/tmp/x.png"}', "output"),
        ('{"max_pixels": 1000000000}', "max_pixels"),
        ('{"pooling": ["avg", "max"]}', "pooling"),
        ('{"preset": "fancy"}', "preset"),
        ('{"preset": ["seed", "classic"]}', "preset"),
    ],
)
def test_bad_options_are_refused_with_422_naming_the_option(client, options, field, tmp_path):
    files = job_files(png_bytes(1), [png_bytes(2)])
    response = client.post("/api/jobs", files=files + [("options", (None, options))])
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == field and field in body["error"]
    assert "\n" not in body["error"]
    assert not any((tmp_path / "work" / "jobs").iterdir())


def truncated_png() -> bytes:
    return png_bytes(1)[:60]


@pytest.mark.parametrize(
    "content, status, words",
    [
        (b"just some text", 415, "not an image file"),
        (b"", 400, "empty"),
        (truncated_png(), 400, "corrupt or truncated"),
        (png_bytes(1, size=(200, 100)), 400, "exceeds the 10000-pixel limit"),
    ],
)
def test_bad_images_are_refused(tmp_path, stylizer, content, status, words):
    with client_for(tmp_path, stylizer, max_pixels=10_000) as client:
        files = job_files(content, [png_bytes(2)])
        response = client.post("/api/jobs", files=files)
        assert response.status_code == status, response.text
        assert words in response.json()["error"]
        assert response.json()["error"].startswith("content: ")
        assert response.json()["field"] == "content"
        bad_style = client.post("/api/jobs", files=job_files(png_bytes(1), [png_bytes(2), content]))
        assert bad_style.status_code == status and bad_style.json()["field"] == "style"
        assert "style 2" in bad_style.json()["error"]
        assert not any((tmp_path / "jobs").iterdir())


def test_bad_forms_are_refused_with_400(client):
    one, two = png_bytes(1), png_bytes(2)
    no_style = client.post("/api/jobs", files=[("content", ("a.png", one, "image/png"))])
    assert no_style.status_code == 400 and no_style.json()["field"] == "style"
    no_content = client.post("/api/jobs", files=[("style", ("a.png", two, "image/png"))])
    assert no_content.status_code == 400 and no_content.json()["field"] == "content"
    two_contents = job_files(one, [two]) + [("content", ("b.png", one, "image/png"))]
    assert client.post("/api/jobs", files=two_contents).status_code == 400
    text_content = client.post("/api/jobs", data={"content": "x"}, files=job_files(one, [two])[1:])
    assert text_content.status_code == 400
    not_multipart = client.post("/api/jobs", content=b"{}", headers={"content-type": "text/plain"})
    assert not_multipart.status_code == 400


def test_uploads_over_the_limit_are_refused_with_413(tmp_path, stylizer):
    big = png_bytes(1, size=(120, 120))  # about 43 kB of noise
    with client_for(tmp_path, stylizer, max_upload_mb=0.02) as client:
        declared = client.post("/api/jobs", files=job_files(big, [png_bytes(2)]))
        assert declared.status_code == 413 and "--max-upload-mb" in declared.json()["error"]
        # Without a Content-Length (chunked), the body is counted as it arrives.
        request = client.build_request("POST", "/api/jobs", files=job_files(big, [png_bytes(2)]))
        body = request.read()
        chunks = (body[i : i + 4096] for i in range(0, len(body), 4096))
        headers = {"content-type": request.headers["content-type"]}
        streamed = client.post("/api/jobs", content=chunks, headers=headers)
        assert streamed.status_code == 413
        assert not any((tmp_path / "jobs").iterdir())


def test_unknown_and_malformed_ids_are_404(client):
    for path in ("0123456789abcdef", "0123456789ABCDEF", "123", "0123456789abcdef0"):
        for suffix in ("", "/image", "/events", "/result.png", "/result.gif", "/log.json"):
            response = client.get(f"/api/jobs/{path}{suffix}")
            assert response.status_code == 404 and "error" in response.json()
        assert client.delete(f"/api/jobs/{path}").status_code == 404


TRAVERSALS = [
    "/api/jobs/../../secret.txt",
    "/api/jobs/..%2f..%2fsecret.txt",
    "/api/jobs/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/api/jobs/%252e%252e%252fsecret.txt",
    "/api/jobs/..%5c..%5csecret.txt",
    "/api/jobs/{id}/..%2f..%2f..%2fsecret.txt",
    "/api/jobs/{id}%2f..%2f..%2fsecret.txt/image",
    "/api/jobs/{id}/image?member=..%2f..%2fsecret.txt",
    "/api/jobs/%2e%2e/log.json",
    "/static/../../../secret.txt",
    "/static/%2e%2e/%2e%2e/%2e%2e/secret.txt",
    "/static/..%2f..%2fapp.py",
    "/static/..%2fapp.py",
    "/samples/..%2f..%2fsecret.txt",
    "/samples/%2e%2e%2f__init__.py",
]


def test_path_traversal_reaches_nothing(tmp_path, stylizer):
    secret = b"do not serve me"
    (tmp_path / "secret.txt").write_bytes(secret)
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "secret.txt").write_bytes(secret)
    with client_for(tmp_path / "work", stylizer) as client:
        # A hostile upload name is kept as data only, never as a path.
        files = [
            ("content", ("../../../secret.txt", png_bytes(1), "image/png")),
            ("style", ("/etc/passwd", png_bytes(2), "image/png")),
            ("options", (None, json.dumps(TINY))),
        ]
        job_id = client.post("/api/jobs", files=files).json()["id"]
        assert events(client, job_id)[-1][1]["status"] == "finished"
        for path in TRAVERSALS:
            response = client.get(path.format(id=job_id))
            assert response.status_code in (400, 404, 405), path
            assert secret not in response.content and b"import" not in response.content, path
    assert (tmp_path / "secret.txt").read_bytes() == secret
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["jobs", "secret.txt"]
    folder = tmp_path / "work" / "jobs" / job_id
    assert {"content", "style-0"} <= {p.name for p in folder.iterdir()}
    record = json.loads((folder / "job.json").read_text())
    assert record["names"] == {"content": "../../../secret.txt", "style": ["/etc/passwd"]}


def test_token_is_required_on_every_request(tmp_path, stylizer):
    with client_for(tmp_path, stylizer, token="s3cret") as client:
        for path in ("/", "/api/health", "/api/jobs", "/static/app.js", "/samples/content.jpg"):
            refused = client.get(path)
            assert refused.status_code == 401 and "token" in refused.json()["error"]
        assert (
            client.get("/api/health", headers={"Authorization": "Bearer wrong"}).status_code == 401
        )
        assert client.get("/api/health?token=wrong").status_code == 401
        bearer = client.get("/api/health", headers={"Authorization": "Bearer s3cret"})
        assert bearer.status_code == 200 and bearer.json() == {"status": "ok"}
        jupyter_style = client.get("/api/jobs", headers={"Authorization": "token s3cret"})
        assert jupyter_style.status_code == 200
        assert (
            client.post("/api/jobs", files=job_files(png_bytes(1), [png_bytes(2)])).status_code
            == 401
        )
        page = client.get("/?token=s3cret")  # the URL the server prints
        assert page.status_code == 200 and "stylejax studio" in page.text
        assert "httponly" in page.headers["set-cookie"].lower()
        assert "samesite=strict" in page.headers["set-cookie"].lower()
        assert client.get("/static/app.js").status_code == 200  # the cookie now
        assert client.get("/api/health").status_code == 200


def test_host_and_origin_checks(tmp_path, stylizer):
    with client_for(tmp_path, stylizer, allowed_hosts=("localhost", "127.0.0.1")) as client:
        local = {"host": "127.0.0.1:8000"}
        assert client.get("/api/health", headers=local).status_code == 200
        assert client.get("/api/health", headers={"host": "localhost"}).status_code == 200
        rebound = client.get("/api/health", headers={"host": "evil.example:8000"})
        assert rebound.status_code == 403
        files = job_files(png_bytes(1), [png_bytes(2)], TINY)
        cross = client.post(
            "/api/jobs", files=files, headers=local | {"origin": "http://evil.example"}
        )
        assert cross.status_code == 403 and "cross-origin" in cross.json()["error"]
        same = client.post(
            "/api/jobs", files=files, headers=local | {"origin": "http://127.0.0.1:8000"}
        )
        assert same.status_code == 201


def test_shutdown_saves_the_running_job_and_a_restart_lists_jobs(tmp_path, stylizer):
    with client_for(tmp_path, stylizer) as client:
        finished = submit(client, TINY).json()["id"]
        assert events(client, finished)[-1][1]["status"] == "finished"
        running = submit(client, LONG).json()["id"]
        queued = submit(client, TINY).json()["id"]
        events(client, running, until=lambda data: data["evaluations"] >= 4)
    # Leaving the block ran the lifespan shutdown, as SIGTERM or Ctrl-C under uvicorn does.
    with client_for(tmp_path, stylizer) as client:
        jobs = {j["id"]: j for j in client.get("/api/jobs").json()["jobs"]}
        assert list(jobs) == [queued, running, finished]  # newest first
        assert jobs[finished]["status"] == "finished"
        assert jobs[running]["status"] == "cancelled" and jobs[running]["evaluations"] >= 4
        assert jobs[queued]["status"] == "cancelled" and "shut down" in jobs[queued]["error"]
        for job_id in (finished, running):
            assert decode_png(client.get(f"/api/jobs/{job_id}/image").content).shape == (26, 32, 3)
            assert client.get(f"/api/jobs/{job_id}/result.gif").status_code == 200
            assert client.get(f"/api/jobs/{job_id}/log.json").json()["histories"][0]
        assert client.get(f"/api/jobs/{queued}/image").status_code == 404
        assert [name for name, _ in events(client, running)] == ["end"]


def test_the_page_and_samples_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from the internet
    sample = client.get("/samples/content.jpg")
    assert sample.status_code == 200 and Image.open(io.BytesIO(sample.content)).format == "JPEG"
    assert client.get("/samples/secret.jpg").status_code == 404


def test_a_job_the_library_refuses_fails_with_its_message(client):
    # check_options cannot count the uploaded styles; the plan step then refuses the blend.
    job_id = submit(client, {"style_blend": [1, 2], "evaluations": 2}).json()["id"]
    final = events(client, job_id)[-1][1]
    assert final["status"] == "failed" and "\n" not in final["error"]
    assert "style_blend has 2 values for 1" in final["error"]
    assert "Traceback" not in final["error"]
    assert client.get(f"/api/jobs/{job_id}/image").status_code == 404
    assert client.get(f"/api/jobs/{job_id}/result.png").status_code == 404
    assert client.get(f"/api/jobs/{job_id}/log.json").json()["status"] == "failed"
    assert client.get("/api/health").json() == {"status": "ok"}


def test_a_closed_event_stream_does_not_stop_the_job(client):
    job_id = submit(client, TINY | {"seed": 4}).json()["id"]
    first = events(client, job_id, until=lambda data: True)  # one event, then hang up
    assert len(first) == 1
    job = wait_status(client, job_id, {"finished", "failed", "cancelled"})
    assert job["status"] == "finished" and job["evaluations"] == 8


# --- spatial control ----------------------------------------------------------------------------


def mask_png(colors=((0, 0, 0), (255, 255, 255)), size=(40, 32)) -> bytes:
    """A label image: vertical bands, one per colour, left to right."""
    width, height = size
    bands = np.minimum(np.arange(width) * len(colors) // width, len(colors) - 1)
    array = np.asarray(colors, np.uint8)[bands][None].repeat(height, axis=0)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def with_mask(files: list, mask: bytes, name: str = "regions.png") -> list:
    return files + [("mask", (name, mask, "image/png"))]


def test_a_mask_gives_each_region_its_style_as_the_library_does(client, stylizer, tmp_path):
    files = with_mask(
        job_files(png_bytes(1), [png_bytes(2), png_bytes(3)], TINY_CLASSIC), mask_png()
    )
    response = client.post("/api/jobs", files=files)
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    assert events(client, job_id)[-1][1]["status"] == "finished"
    job = client.get(f"/api/jobs/{job_id}").json()
    assert job["mask"] is True and job["names"]["mask"] == "regions.png"

    result = decode_png(client.get(f"/api/jobs/{job_id}/result.png").content)
    content, *styles = (Image.open(io.BytesIO(png_bytes(k))) for k in (1, 2, 3))
    mask = Image.open(io.BytesIO(mask_png()))
    expected = np.asarray(stylizer.stylize(content, styles, mask=mask, **TINY_CLASSIC))
    np.testing.assert_allclose(result.astype(int), expected.astype(int), atol=1)
    unmasked = np.asarray(stylizer.stylize(content, styles, **TINY_CLASSIC))
    assert np.abs(expected.astype(int) - unmasked.astype(int)).mean() > 1  # the mask counted
    # A restarted server lists the job with its mask.
    client.app.state.queue.shutdown()
    with client_for(tmp_path / "work", stylizer) as again:
        assert again.get(f"/api/jobs/{job_id}").json()["mask"] is True


@pytest.mark.parametrize(
    "mask, options, status, field, words",
    [
        (b"not a picture", TINY, 415, "mask", "not an image file"),
        (mask_png(((0, 0, 0), (255, 0, 0), (0, 0, 255))), TINY, 422, "mask", "3 styled regions"),
        (mask_png(), TINY | {"mask_colors": ["black", "red"]}, 422, "mask_colors", "#ff0000"),
        (mask_png(), TINY | {"keep_content": "green"}, 422, "keep_content", "#008000"),
        (mask_png(), TINY | {"style_blend": [1, 3]}, 422, "style_blend", "mask"),
        (None, TINY | {"mask_colors": ["black", "white"]}, 422, "mask_colors", "needs a mask"),
    ],
)
def test_bad_masks_are_refused_naming_the_field(
    client, tmp_path, mask, options, status, field, words
):
    files = job_files(png_bytes(1), [png_bytes(2), png_bytes(3)], options)
    response = client.post("/api/jobs", files=files if mask is None else with_mask(files, mask))
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"].startswith(f"{field}: ") and words in body["error"]
    assert body["field"] == field and "\n" not in body["error"]
    assert not any((tmp_path / "work" / "jobs").iterdir())  # nothing kept


def test_two_masks_are_refused_with_400(client):
    files = with_mask(with_mask(job_files(png_bytes(1), [png_bytes(2)]), mask_png()), mask_png())
    response = client.post("/api/jobs", files=files)
    assert response.status_code == 400 and response.json()["field"] == "mask"
