"""`python -m stylejax.run`: outputs, log schema, presets and clean refusals."""

import hashlib
import json
import subprocess
import sys

import pytest
from PIL import Image

from stylejax import run
from stylejax.config import SEED_STYLE_LAYERS, Config, preset


def opened(path):
    """(size, frame count) of an image file, closing it."""
    with Image.open(path) as image:
        return image.size, getattr(image, "n_frames", 1)


RECORD_KEYS = {"iteration", "evaluations", "seconds", "total", "content", "style", "tv"}


@pytest.mark.network
def test_end_to_end_writes_image_frames_gif_curve_and_log(tmp_path, capsys):
    out = tmp_path / "out.png"
    argv = [
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
    assert len(frames) >= 2 and all(opened(f)[0] == size for f in frames)
    assert opened(tmp_path / "out.gif") == (size, len(frames))
    assert opened(tmp_path / "out_loss.png")[0] == (800, 500)

    log = json.loads((tmp_path / "log.json").read_text())
    assert log["config"]["evaluations"] == 20 and log["status"] == "finished"
    weights_file = log["weights"]["path"]
    with open(weights_file, "rb") as f:
        assert log["weights"]["sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert log["weights"]["source"] == "caffe"
    assert log["effective_weights"]["style"]["relu1_1"] == pytest.approx(1e6 * 2e-5)
    assert "scale factor" in log["weights_note"]
    assert log["compile_seconds"] > 0 and log["seconds"] > 0
    records = log["records"]
    assert all(set(r) == RECORD_KEYS for r in records)
    assert records[0]["iteration"] == 0 and records[0]["evaluations"] == 1
    assert records[0]["seconds"] == 0.0
    assert [r["iteration"] for r in records] == list(range(len(records)))
    assert records[-1]["evaluations"] >= 20 and records[-1]["total"] < records[0]["total"]
    assert "evaluations each in" in capsys.readouterr().err


@pytest.mark.network
def test_a_sweep_writes_every_member_a_contact_sheet_and_one_log(tmp_path):
    out = tmp_path / "sweep.png"  # its log goes into a folder that does not exist yet
    argv = [
        "--size",
        "32",
        "--evaluations",
        "6",
        "--save-every",
        "3",
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
    ]
    assert run.main(argv) == 0
    labels = [
        f"style_weight={w}_content_layer={layer}"
        for w in ("100000", "1e+07")
        for layer in ("relu2_1", "relu3_1")
    ]
    for name in labels:
        assert opened(tmp_path / f"sweep_{name}.png")[0][0] == 32
        assert opened(tmp_path / f"sweep_{name}.gif")[1] == 2
        assert len(list((tmp_path / f"sweep_{name}_frames").iterdir())) == 2
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
    assert run.parse(["--preset", "seed", "--size", "128"])[0].size == 128
    assert run.parse(["--preset", "seed"]) == (config, {})


def test_cli_defaults_come_from_the_config():
    assert run.parse([]) == (Config(), {})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--style-weight", "-1"], "--style-weight must be a finite number >= 0"),
        (["--content-layer", "relu9_9"], "unknown VGG19 layer"),
        (["--evaluations", "0"], "--evaluations must be at least 1"),
        (["--evaluations", "20", "--save-every", "50"], "--save-every must be between 1"),
        (["--style", "a.jpg", "b.jpg", "--style-blend", "1"], "--style-blend has 1 values for 2"),
        (["--content", "/nonexistent/photo.jpg"], "no such file"),
        (["--init", "sideways"], "--init must be 'content', 'random' or an image path"),
        (["--output", "out.bmpx"], "--output must end in .png or .jpg"),
        (["--seed", "1", "2", "--optimizer", "jaxopt-lbfgsb"], "one evaluation per step"),
        (["--size", "100000"], "GiB per run"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert run.main(argv) == 2
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
    assert done.stderr.strip() == "stylejax: error: --content-weight must be a finite number >= 0"
