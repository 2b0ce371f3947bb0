"""Faults lose nothing: checkpoints resume exactly, signals keep the latest image and log."""

import glob
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from stylejax.cli import main as run
from tests.tiny import FAST


def pixels(path):
    with Image.open(path) as image:
        return np.asarray(image)


def test_resumed_run_equals_an_uninterrupted_one(tmp_path, monkeypatch, weights_file):
    monkeypatch.chdir(tmp_path)
    common = ["--size", "32", "--seed", "3", "--weights", str(weights_file), *FAST]
    assert run.main([*common, "--evaluations", "20", "--output", "a.png", "--log", "a.json"]) == 0
    # The same run, stopped at 10 evaluations with a checkpoint, then resumed to 20.
    first = [*common, "--output", "b.png", "--log", "b.json", "--checkpoint-every", "10"]
    assert run.main([*first, "--evaluations", "10"]) == 0
    assert (tmp_path / "b.ckpt.npz").exists()
    assert run.main([*first, "--evaluations", "20", "--resume"]) == 0

    np.testing.assert_array_equal(pixels("a.png"), pixels("b.png"))
    a, b = (json.loads((tmp_path / f"{n}.json").read_text())["records"] for n in "ab")
    assert [r["evaluations"] for r in b] == [r["evaluations"] for r in a]
    assert [r["total"] for r in b] == [r["total"] for r in a]


def test_resume_refuses_other_settings_or_a_missing_checkpoint(
    tmp_path, monkeypatch, capsys, weights_file
):
    monkeypatch.chdir(tmp_path)
    common = ["--size", "32", "--weights", str(weights_file), *FAST]
    assert run.main([*common, "--evaluations", "10", "--resume"]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert run.main([*common, "--evaluations", "10", "--checkpoint-every", "10"]) == 0
    before = sorted(p.name for p in tmp_path.iterdir())
    capsys.readouterr()
    assert run.main([*common, "--evaluations", "20", "--resume", "--seed", "9"]) == 2
    err = capsys.readouterr().err
    assert "other settings" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_saves_the_latest_image_and_log(tmp_path, sig, code, weights_file):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stylejax.run",
            "--weights",
            str(weights_file),
            *FAST,
            "--size",
            "48",
            "--evaluations",
            "5000",
            "--save-every",
            "5",
            "--log",
            "log.json",
            "--checkpoint-every",
            "5",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    frames = tmp_path / "stylized_frames"
    deadline = time.monotonic() + 240
    # Frames 00000, 00005 and 00010: at least 10 evaluations done.
    while not (frames.exists() and len(glob.glob(str(frames / "0*.png"))) >= 3):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.2)
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    assert "Traceback" not in err and "interrupted; latest image(s) saved" in err
    assert pixels(tmp_path / "stylized.png").shape[1] == 48
    log = json.loads((tmp_path / "log.json").read_text())
    assert log["status"] == "interrupted" and len(log["records"]) >= 10
    assert (tmp_path / "stylized.ckpt.npz").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_concurrent_runs_into_one_folder_do_not_corrupt_each_other(tmp_path, weights_file):
    """Two runs writing the same outputs at once: each file ends whole (one run's or the
    other's), and no temporary file is left behind."""
    argv = [
        sys.executable,
        "-m",
        "stylejax.run",
        "--weights",
        str(weights_file),
        *FAST,
        "--size",
        "32",
        "--evaluations",
        "10",
        "--save-every",
        "5",
        "--log",
        "log.json",
        "--overwrite",
    ]
    runs = [
        subprocess.Popen(
            [*argv, "--seed", str(seed)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    for process in runs:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    assert pixels(tmp_path / "stylized.png").shape[1] == 32
    assert json.loads((tmp_path / "log.json").read_text())["status"] == "finished"
    with Image.open(tmp_path / "stylized.gif") as gif:
        assert gif.n_frames >= 1
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.startswith(".")]
    assert leftovers == []
