"""`python -m stylejax.run`: outputs, log schema, presets and clean refusals."""

import dataclasses
import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from stylejax.api import check_options
from stylejax.cli import flags as cli
from stylejax.cli import main as run
from stylejax.config import (
    PRESETS,
    SEED_STYLE_LAYERS,
    W2_STYLE_WEIGHT_FACTOR,
    Config,
    ConfigError,
    preset,
)
from stylejax.engine.sweep import effective_weights
from stylejax.files import images
from tests.tiny import FAST, smooth_image

# 16 -> 32 pixels: a pyramid of exactly two scales.
TWO_SCALES = ["--min-size", "16", "--scale-step", "2"]


def opened(path):
    """(size, frame count) of an image file, closing it."""
    with Image.open(path) as image:
        return image.size, getattr(image, "n_frames", 1)


RECORD_KEYS = {"iteration", "evaluations", "seconds", "total", "content", "style", "tv", "size"}


def test_end_to_end_writes_image_frames_gif_curve_and_log(tmp_path, capsys, weights_file):
    out = tmp_path / "out.png"
    argv = [
        "--weights",
        str(weights_file),
        "--size",
        "48",
        "--evaluations",
        "20",
        "--save-every",
        "10",
        "--log",
        str(tmp_path / "log.json"),
        "--output",
        str(out),
    ]
    assert run.main(argv) == 0

    size = opened(out)[0]
    assert size[0] == 48  # the sample content is landscape: its width is the longest side
    frames = sorted((tmp_path / "out_frames").iterdir())
    assert [f.name for f in frames] == ["00000.png", "00010.png", "00020.png"]
    assert all(opened(f)[0] == size for f in frames)
    assert opened(tmp_path / "out.gif") == (size, len(frames))
    assert opened(tmp_path / "out_loss.png")[0] == (800, 500)

    log = json.loads((tmp_path / "log.json").read_text())
    assert log["config"]["evaluations"] == 20 and log["status"] == "finished"
    weights_file = log["weights"]["path"]
    with open(weights_file, "rb") as f:
        assert log["weights"]["sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert log["weights"]["source"] == "caffe"
    # The default: 1.5e6 on the Wasserstein loss's scale, relu1_1 weighing 256/341 of five layers.
    kc_first = 256 / 341 * 5
    expected = 1.5e6 * W2_STYLE_WEIGHT_FACTOR * kc_first
    assert log["effective_weights"]["style"]["relu1_1"] == pytest.approx(expected)
    assert "style_weight_factor" in log["weights_note"]
    assert log["compile_seconds"] > 0 and log["seconds"] > 0
    records = log["records"]
    assert all(set(r) == RECORD_KEYS for r in records)
    assert records[0]["iteration"] == 0 and records[0]["evaluations"] == 1
    assert records[0]["seconds"] == 0.0
    assert [r["iteration"] for r in records] == list(range(len(records)))
    assert records[-1]["evaluations"] >= 20 and records[-1]["total"] < records[0]["total"]
    assert all(r["size"] == [32, 48] for r in records) and log["image_size"] == [32, 48]
    assert "evaluations each in" in capsys.readouterr().err


def test_a_sweep_writes_every_member_a_contact_sheet_and_one_log(tmp_path, weights_file):
    out = tmp_path / "sweep.png"  # its log goes into a folder that does not exist yet
    argv = [
        "--weights",
        str(weights_file),
        "--size",
        "32",
        "--style-layers",
        "relu1_1",
        "relu2_1",
        "--evaluations",
        "12",
        "--save-every",
        "6",
        "--output",
        str(out),
        "--style-weight",
        "1e5",
        "1e7",
        "--content-layer",
        "relu2_1",
        "relu3_1",
        "--log",
        str(tmp_path / "logs" / "sweep.json"),
        # 12 evaluations are few: from the photo, at 1e7, L-BFGS is still finding its step
        # length, so whether the heavier member ends lower (asserted below) is not settled;
        # from the seed's noise start it is.
        "--init",
        "random",
    ]
    assert run.main(argv) == 0
    labels = [
        f"style_weight={w}_content_layer={layer}"
        for w in ("100000", "1e+07")
        for layer in ("relu2_1", "relu3_1")
    ]
    for name in labels:
        assert opened(tmp_path / f"sweep_{name}.png")[0][0] == 32
        # The start image first (frame 00000), then every 6 evaluations.
        assert opened(tmp_path / f"sweep_{name}.gif")[1] == 3
        frames = sorted(p.name for p in (tmp_path / f"sweep_{name}_frames").iterdir())
        assert frames == ["00000.png", "00006.png", "00012.png"]
    (width, height), _ = opened(tmp_path / "sweep_grid.png")
    assert width > 2 * 32 and height > 2 * 21
    log = json.loads((tmp_path / "logs" / "sweep.json").read_text())
    assert log["sweep"] == {"style_weight": [1e5, 1e7], "content_layer": ["relu2_1", "relu3_1"]}
    assert [m["label"] for m in log["members"]] == labels
    first = log["members"][0]
    assert first["effective_weights"]["content"] == {"relu2_1": 1.0, "relu3_1": 0.0}
    assert all(set(r) == RECORD_KEYS for m in log["members"] for r in m["records"])
    # A heavier style weight ends at a lower unweighted style loss.
    assert log["members"][2]["records"][-1]["style"] < first["records"][-1]["style"]


def test_seed_preset_is_the_reference_algorithm():
    config = preset("seed")
    assert config.content_layer == "relu4_1"
    assert config.style_layers == SEED_STYLE_LAYERS
    assert (config.content_weight, config.style_weight, config.tv_weight) == (1.0, 1e6, 0.0)
    assert config.pooling == "avg" and config.init == "random"
    assert config.evaluations == 600 and config.save_every == 10
    # Flags still override a preset.
    assert cli.parse(["--preset", "seed", "--size", "128"])[0].size == 128
    assert cli.parse(["--preset", "seed"]) == (config, {}, {}, {})
    # Single scale, float32, at any size it is asked for.
    assert config.min_size == config.size and config.precision == "float32"
    assert cli.parse(["--preset", "seed", "--size", "1024"])[0].min_size == 1024
    assert config.preserve_colors is None


def test_cli_defaults_come_from_the_config():
    assert cli.parse([]) == (Config(), {}, {}, {})


# Config fields that are not part of the algorithm: inputs, outputs, memory and bookkeeping.
NOT_ALGORITHM = {"content", "style", "style_blend", "output", "remat", "max_pixels", "weights"}
NOT_ALGORITHM |= {"save_every", "log", "tensorboard", "checkpoint_every", "resume", "overwrite"}
# Spatial control's inputs and settings act only with a mask, which no preset gives.
NOT_ALGORITHM |= {"mask", "mask_colors", "style_masks", "keep_content", "mask_blur", "mask_erode"}


def test_the_default_pyramid_steps_by_two_and_classic_by_root_two():
    """Issue 16: scales twice apart by default (the same picture sooner, BENCHMARKS.md, "An
    accurate Wasserstein loss"); `--preset classic` keeps √2's."""
    from stylejax.engine.plan import scale_sizes

    config = cli.parse(["--size", "1024"])[0]
    assert scale_sizes(config) == [128, 256, 512, 1024]
    classic = cli.parse(["--preset", "classic", "--size", "512"])[0]
    assert scale_sizes(classic) == [128, 181, 256, 362, 512]
    assert scale_sizes(cli.parse(["--size", "512", "--scale-step", "1.4142"])[0]) == [
        128,
        181,
        256,
        362,
        512,
    ]


def test_classic_preset_is_the_defaults_before_issue_16_and_pins_every_setting():
    # The defaults before issue 16, written out here; the preset pins each of them, so that a
    # changed default cannot change it.
    before = dict(style_loss="gram", style_layer_weights="equal", style_weight=1e6)
    before |= dict(content_layer="relu4_1", init="random", padding="zeros", margin=0)
    before |= dict(pooling="avg")
    before |= dict(scale_split="equal", style_octaves=0, evaluations=300, scale_step=2**0.5)
    assert preset("classic") == Config(**before) != Config()
    assert cli.parse(["--preset", "classic"]) == (Config(**before), {}, {}, {})
    fields = {f.name for f in dataclasses.fields(Config)}
    assert set(PRESETS["classic"]) == fields - NOT_ALGORITHM
    # The seed preset pins the new options off too.
    seed = preset("seed")
    assert (seed.style_loss, seed.style_layer_weights, seed.padding) == ("gram", "equal", "zeros")
    assert seed.average is None and seed.style_normalize is False


def test_the_default_pools_by_max_and_the_presets_by_average():
    """Issue 16: VGG's own max pooling by default (BENCHMARKS.md, "Max pooling"); the seed's
    and classic's average pooling (Gatys et al.'s) stays theirs, and the flag still wins."""
    assert cli.parse([])[0].pooling == "max"
    assert cli.parse(["--preset", "classic"])[0].pooling == "avg"
    assert cli.parse(["--preset", "seed"])[0].pooling == "avg"
    assert cli.parse(["--pooling", "avg"])[0].pooling == "avg"


def test_the_pooling_reaches_the_objective_through_the_cli(tmp_path, weights_file):
    starts = {}
    for pooling in ("max", "avg"):
        out, log = tmp_path / f"{pooling}.png", tmp_path / f"{pooling}.json"
        argv = ["--weights", str(weights_file), *FAST, "--size", "32", "--evaluations", "4"]
        argv += ["--output", str(out), "--log", str(log)]
        argv += [] if pooling == "max" else ["--pooling", "avg"]  # max: the default's
        assert run.main(argv) == 0
        data = json.loads(log.read_text())
        assert data["config"]["pooling"] == pooling
        starts[pooling] = data["records"][0]["style"]  # the photo's, the same start for both
    # The same photo under another pooling has other deep features, so another style loss.
    assert starts["max"] == pytest.approx(starts["avg"], rel=0.5)
    assert starts["max"] != pytest.approx(starts["avg"], rel=0.02)


def test_style_layer_weights_average_one_and_scale_the_style_weight():
    def layer_weights(**options):
        config = Config(**({"style_loss": "gram", "style_weight": 1e6} | options))
        weights = effective_weights(config, "caffe").style
        return np.array([float(weights[name]) for name in SEED_STYLE_LAYERS]) / (1e6 * 2e-5)

    np.testing.assert_array_equal(layer_weights(style_layer_weights="equal"), np.ones(5))
    kc = np.array([256, 64, 16, 4, 1]) / 341 * 5  # crowsonkb's, scaled to average 1
    np.testing.assert_allclose(layer_weights(style_layer_weights="kc"), kc, rtol=1e-6)
    np.testing.assert_allclose(
        layer_weights(style_layer_weights=(1.0, 0, 0, 0, 3.0)), [1.25, 0, 0, 0, 3.75], rtol=1e-6
    )
    # The Wasserstein loss has its own scale: 1e6 is crowsonkb's balance, (1/5)/0.015 per layer.
    w2 = Config(style_loss="wasserstein", style_weight=1e6, style_layer_weights="equal")
    w2 = effective_weights(w2, "caffe").style["relu1_1"]
    assert float(w2) == pytest.approx((1 / 5) / 0.015)
    # Normalized (relative) losses: a scale per loss at Caffe's activations, whose square is
    # the content loss's unit; torchvision's activations are 255 * 0.226 times smaller.
    normalized = Config(style_normalize=True, style_loss="gram", style_weight=1e6)
    normalized = dataclasses.replace(normalized, style_layer_weights="equal")
    assert float(effective_weights(normalized, "caffe").style["relu1_1"]) == pytest.approx(66e3)
    torchvision = effective_weights(normalized, "torchvision").style["relu1_1"]
    assert float(torchvision) == pytest.approx(66e3 / (255 * 0.226) ** 2, rel=1e-6)
    assert cli.parse(["--style-layer-weights", "kc"])[0].style_layer_weights == "kc"
    parsed = cli.parse(["--style-layer-weights", "4", "3", "2", "1", "0"])[0]
    assert parsed.style_layer_weights == (4.0, 3.0, 2.0, 1.0, 0.0)


def test_the_new_options_through_the_library_api():
    config, axes = check_options(
        style_loss="wasserstein",
        style_layer_weights=[4, 1],
        style_layers=["relu1_1", "relu2_1"],
        style_normalize=True,
        average=0.99,
        padding="reflect",
    )
    assert axes == {} and config.style_layer_weights == (4, 1)
    assert check_options(style_layer_weights="kc")[0].style_layer_weights == "kc"
    with pytest.raises(ConfigError, match="average must be a decay") as error:
        check_options(average=-0.5)
    assert error.value.field == "average"
    with pytest.raises(ConfigError, match="style_normalize must be true or false"):
        check_options(style_normalize="yes")


def test_the_new_options_run_through_the_cli(tmp_path, weights_file):
    out, log = tmp_path / "w2.png", tmp_path / "w2.json"
    argv = ["--weights", str(weights_file), *FAST, "--size", "32", "--evaluations", "8"]
    argv += ["--style-loss", "wasserstein", "--style-layer-weights", "kc", "--style-normalize"]
    argv += ["--average", "0.9", "--padding", "replicate", "--output", str(out), "--log", str(log)]
    argv += ["--style-weight", "1e6"]
    assert run.main(argv) == 0
    assert opened(out)[0] == (32, 21)
    data = json.loads(log.read_text())
    config = data["config"]
    assert (config["style_loss"], config["style_layer_weights"]) == ("wasserstein", "kc")
    assert config["average"] == 0.9 and config["style_normalize"] and config["padding"]
    style = data["effective_weights"]["style"]
    # kc over two layers is 4:1, scaled to average 1; normalized W2 losses have their own scale.
    assert style["relu1_1"] == pytest.approx(1.6 * 1e6 * 0.37, rel=1e-6)
    assert style["relu2_1"] == pytest.approx(0.4 * 1e6 * 0.37, rel=1e-6)
    assert "wasserstein" in data["weights_note"]
    records = data["records"]
    assert records[-1]["evaluations"] == 8 and all(np.isfinite(r["total"]) for r in records)
    assert records[-1]["total"] < records[0]["total"]


def test_a_front_loaded_split_gives_the_first_scale_twice_the_share(tmp_path, weights_file):
    out, log = tmp_path / "front.png", tmp_path / "front.json"
    argv = ["--weights", str(weights_file), *FAST, "--size", "32", "--min-size", "16"]
    argv += ["--scale-step", "2", "--evaluations", "9", "--scale-split", "front"]
    assert run.main([*argv, "--output", str(out), "--log", str(log)]) == 0
    data = json.loads(log.read_text())
    assert data["config"]["scale_split"] == "front"
    # 2:1 of the 7 left after one each: 4.67 and 2.33, the remainder to the first: 6 and 3.
    sizes = [tuple(r["size"]) for r in data["records"]]
    assert [sizes.count(size) for size in dict.fromkeys(sizes)] == [6, 3]
    assert opened(out)[0] == (32, 21)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--style-weight", "-1"], "--style-weight must be a finite number >= 0"),
        (["--content-layer", "relu9_9"], "--content-layer must be a VGG19 layer"),
        (["--evaluations", "0"], "--evaluations must be between 1 and 10000000, got 0"),
        (["--evaluations", "20", "--save-every", "50"], "--save-every must be between 1"),
        (["--style", "a.jpg", "b.jpg", "--style-blend", "1"], "--style-blend has 1 values for 2"),
        (["--content", "/nonexistent/photo.jpg"], "no such file"),
        (["--init", "sideways"], "--init must be 'content', 'random' or an image file"),
        (["--output", "out.bmpx"], "--output must end in .png, .jpg"),
        (["--seed", "1", "2", "--optimizer", "jaxopt-lbfgsb"], "one evaluation per step"),
        (["--size", "60000"], "GiB per run"),
        (["--size", "32", "--min-size", "64"], "--min-size must not exceed size (32), got 64"),
        (["--size", "64", "--min-size", "8"], "--min-size gives a first scale of 8 pixels"),
        (["--size", "64", "--min-size", "20"], "--min-size gives a 20x13 image, smaller than th"),
        (["--preserve-colors", "chroma"], "argument --preserve-colors: invalid choice: 'chroma'"),
        (["--precision", "float16"], "argument --precision: invalid choice: 'float16'"),
        (["--style-loss", "sliced"], "argument --style-loss: invalid choice: 'sliced'"),
        (["--padding", "wrap"], "argument --padding: invalid choice: 'wrap'"),
        (["--average", "1"], "--average must be a decay in [0, 1) such as 0.99 (0: off), got 1.0"),
        (["--style-layer-weights", "kcc"], "--style-layer-weights must be one of equal, kc"),
        (["--style-layer-weights", "1", "2"], "--style-layer-weights has 2 values for 5 style"),
        (["--style-layer-weights", "1", "-1"] + FAST, "--style-layer-weights values must be >= 0"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path, monkeypatch, capsys, weights_file, argv, message
):
    monkeypatch.chdir(tmp_path)
    try:
        code = run.main(["--weights", str(weights_file), *argv])
    except SystemExit as exit:  # argparse refuses a flag's value itself
        code = exit.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("stylejax: error: ") and err.count("\n") == 1
    assert message in err
    assert list(tmp_path.iterdir()) == []


def test_existing_outputs_are_not_clobbered(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stylized.png").write_bytes(b"precious")
    assert run.main([]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "stylized.png").read_bytes() == b"precious"


def test_subprocess_error_has_no_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "stylejax.run", "--content-weight", "nan"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (
        done.stderr == "stylejax: error: --content-weight must be a finite number >= 0 and "
        "<= 3.4e+38, got nan\n"
    )


def test_a_mistyped_flag_value_is_one_line_and_a_hint_without_usage(tmp_path):
    """Issue 11: `--pooling foo` used to print the whole usage before the error."""
    done = subprocess.run(
        [sys.executable, "-m", "stylejax.run", "--pooling", "foo"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    err = done.stderr
    assert err.startswith("stylejax: error: argument --pooling: invalid choice: 'foo' (choose")
    assert err.endswith(" (see --help)\n") and err.count("\n") == 1 and "usage" not in err
    assert list(tmp_path.iterdir()) == []


def pixels(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_the_start_image_is_frame_zero_and_the_gifs_first_frame(tmp_path, weights_file):
    """Issue 11: frame 00000 is the initial image (seeded noise), in a single run and in every
    member of a sweep."""
    common = ["--weights", str(weights_file), *FAST, "--size", "32", "--evaluations", "10"]
    common += ["--save-every", "5", "--seed", "3", "--init", "random"]
    assert run.main([*common, "--output", str(tmp_path / "one.png")]) == 0
    sweep = ["--style-weight", "1e5", "1e7", "--output", str(tmp_path / "many.png")]
    assert run.main([*common, *sweep]) == 0
    noise = np.random.default_rng(3).uniform(0.0, 1.0, (21, 32, 3)).astype(np.float32)
    start = np.asarray(images.to_pil(noise))
    for stem in ("one", "many_style_weight=100000", "many_style_weight=1e+07"):
        frames = sorted((tmp_path / f"{stem}_frames").iterdir())
        assert [f.name for f in frames] == ["00000.png", "00005.png", "00010.png"]
        np.testing.assert_array_equal(pixels(frames[0]), start)
        with Image.open(tmp_path / f"{stem}.gif") as gif:
            assert gif.n_frames == 3
            first = np.asarray(gif.convert("RGB"), np.float32)
        # The GIF's palette quantizes; its first frame is the start image, not a later one.
        error = np.abs(first - start).mean()
        assert error < np.abs(first - pixels(frames[-1])).mean() / 2


class Bar:
    """Records what the progress bar is told."""

    made: list["Bar"] = []

    def __init__(self, total, **kwargs):
        self.total, self.seen = total, []
        Bar.made.append(self)

    def update(self, evaluations, losses, note=""):
        self.seen.append(evaluations)

    def close(self):
        pass


@pytest.mark.parametrize(
    "argv",
    [
        ["--iterations", "1"],  # issue 11: it showed 2/300 and stopped
        [
            "--iterations",
            "3",
            "--min-size",
            "16",
            "--scale-step",
            "2",
        ],  # each scale stops after 3 iterations
        ["--iterations", "3", "--optimizer", "adam"],
        [],
    ],
)
def test_the_progress_total_is_the_limit_that_stops_the_run(
    tmp_path, monkeypatch, weights_file, argv
):
    monkeypatch.setattr(run, "ProgressBar", Bar)
    Bar.made.clear()
    common = ["--weights", str(weights_file), *FAST, "--size", "32", "--evaluations", "30"]
    log = tmp_path / "log.json"
    assert run.main([*common, *argv, "--output", str(tmp_path / "o.png"), "--log", str(log)]) == 0
    (bar,) = Bar.made
    records = json.loads(log.read_text())["records"]
    assert bar.seen[-1] == bar.total == records[-1]["evaluations"]
    assert bar.total < 30 if argv else bar.total == 30


def test_a_pyramid_writes_frames_at_the_end_size_and_a_cumulative_log(tmp_path, weights_file):
    out, log = tmp_path / "p.png", tmp_path / "p.json"
    argv = [
        "--weights",
        str(weights_file),
        *FAST,
        "--size",
        "32",
        "--min-size",
        "16",
        "--scale-step",
        "2",
    ]
    argv += ["--evaluations", "20", "--save-every", "5", "--output", str(out), "--log", str(log)]
    assert run.main(argv) == 0
    assert opened(out)[0] == (32, 21)
    frames = sorted((tmp_path / "p_frames").iterdir())
    assert [f.name for f in frames] == [f"{n:05d}.png" for n in range(0, 21, 5)]
    assert all(opened(f)[0] == (32, 21) for f in frames)
    assert opened(tmp_path / "p.gif") == ((32, 21), len(frames))
    data = json.loads(log.read_text())
    scales = data["scales"]
    assert [s["size"] for s in scales] == [[11, 16], [21, 32]]
    assert sum(s["evaluations"] for s in scales) == 20
    records = data["records"]
    assert [r["evaluations"] for r in records] == list(range(1, 21))
    assert [r["size"] for r in records] == [
        s["size"] for s in scales for _ in range(s["evaluations"])
    ]
    seconds = [r["seconds"] for r in records]
    assert seconds == sorted(seconds) and data["status"] == "finished"


def test_a_run_ended_by_its_iteration_limit_still_ends_its_animation(tmp_path, weights_file):
    """The last frame is the result even when --iterations stops the run between frames."""
    argv = ["--weights", str(weights_file), *FAST, "--size", "32", "--evaluations", "30"]
    argv += ["--iterations", "2", "--save-every", "10", "--output", str(tmp_path / "i.png")]
    assert run.main(argv) == 0
    frames = sorted((tmp_path / "i_frames").iterdir())
    assert [f.name for f in frames] == ["00000.png", "00003.png"]
    np.testing.assert_array_equal(pixels(frames[-1]), pixels(tmp_path / "i.png"))
    assert opened(tmp_path / "i.gif")[1] == 2


def test_a_tif_output_has_16_bits_and_keeps_the_contents_icc_profile(tmp_path, weights_file):
    tifffile = pytest.importorskip("tifffile")
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    content = tmp_path / "photo.png"
    Image.fromarray(smooth_image(1, 40, 60)).save(content, icc_profile=profile)
    argv = ["--weights", str(weights_file), *FAST, "--size", "32", "--evaluations", "4"]
    argv += ["--content", str(content), "--output", str(tmp_path / "print.tif")]
    assert run.main(argv) == 0
    with tifffile.TiffFile(tmp_path / "print.tif") as tiff:
        page = tiff.pages[0]
        assert (page.bitspersample, page.shape) == (16, (21, 32, 3))
        assert page.tags["InterColorProfile"].value == profile


def test_bfloat16_where_the_backend_cannot_is_one_line(tmp_path, weights_file, monkeypatch, capsys):
    from stylejax.engine import plan as planning

    def unsupported():
        raise RuntimeError("UNIMPLEMENTED: bf16 convolution\nmore detail")

    monkeypatch.setattr(planning, "_bf16_conv", unsupported)
    out = tmp_path / "out.png"
    argv = ["--weights", str(weights_file), *FAST, "--size", "32", "--output", str(out)]
    assert run.main([*argv, "--precision", "bfloat16"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "stylejax: error: --precision bfloat16 is not supported on cpu "
        "(UNIMPLEMENTED: bf16 convolution); use float32"
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("spelling", ["bf16", "bfloat16"])
def test_precision_takes_the_spelling_users_type(tmp_path, weights_file, spelling):
    out = tmp_path / "out.png"
    argv = ["--weights", str(weights_file), *FAST, "--size", "32", "--evaluations", "2"]
    assert (
        run.main(
            [
                *argv,
                "--precision",
                spelling,
                "--log",
                str(tmp_path / "log.json"),
                "--output",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "log.json").read_text())["config"]["precision"] == "bfloat16"
    assert Config(precision="bf16").precision == "bfloat16"


def test_the_version_is_the_packages():
    from importlib.metadata import version

    import stylejax

    assert stylejax.__version__ == version("stylejax")


def test_the_code_names_only_files_that_exist_and_comments_the_content_layer():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    named = {
        name
        for path in (root / "stylejax").rglob("*.py")
        for name in __import__("re").findall(r"\b([A-Z]+\.md)\b", path.read_text())
    }
    folders = [root, *(p for p in (root / "stylejax").rglob("*") if p.is_dir())]
    missing = [name for name in named if not any((f / name).is_file() for f in folders)]
    assert named and missing == []
    source = (root / "stylejax" / "config.py").read_text()
    assert "conv4_2" in source.split("content_layer: str")[0].rsplit("\n\n", 1)[-1]
