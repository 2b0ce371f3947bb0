"""`python -m stylejax.video`: a video file and a folder in and out (rate, frame count and audio
kept), frames written as they finish, Ctrl-C keeping them and `--resume` giving the same frames
bit for bit, and each bad input one line, exit 2 and nothing written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylejax.video import clip, schedule, setup
from stylejax.video import main as video
from stylejax.video.flow import cache_path
from stylejax.video.state import folder_for
from tests.tiny import FAST, smooth_image
from tests.video_clips import decoded_audio, panned, write_clip

av = pytest.importorskip("av")
pytest.importorskip("cv2")

COUNT, FPS = 6, 12


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return panned(32, 48, [(2 * k, 0) for k in range(COUNT)])


@pytest.fixture(scope="module")
def sources(tmp_path_factory, frames, weights_file):
    """An .mp4 with audio, a folder of numbered PNGs, a style image and the common flags."""
    folder = tmp_path_factory.mktemp("sources")
    movie = write_clip(folder / "clip.mp4", frames, FPS, audio_hz=440)
    numbered = folder / "numbered"
    clip.write(frames, numbered, FPS)
    style = folder / "style.png"
    Image.fromarray(smooth_image(2, 40, 40)).save(style)
    common = ["--style", str(style), "--weights", str(weights_file), *FAST, "--size", "32"]
    return dict(movie=movie, folder=numbered, style=style, common=common)


def run(sources, *argv) -> int:
    return video.main([*sources["common"], "--evaluations", "6", *argv])


def test_a_video_file_keeps_its_rate_frame_count_and_audio(tmp_path, sources, capsys):
    out = tmp_path / "out.mp4"
    assert run(sources, "--content", str(sources["movie"]), "--output", str(out)) == 0
    stylized = clip.read(out)
    assert len(stylized.frames) == COUNT and stylized.fps == FPS
    assert stylized.frames.shape[1:3] == (22, 32)  # 21 rows at size 32, one repeated (yuv420p)
    codec, rate, samples = decoded_audio(out)
    assert codec == "aac" and len(samples) == pytest.approx(COUNT / FPS * rate, rel=0.1)
    assert cache_path(out).is_file()  # the flow, for a later run
    assert not folder_for(out).exists()  # the resume state is gone once the video is written
    assert "6 frames" in capsys.readouterr().err


@pytest.mark.slow
def test_a_folder_becomes_a_folder_of_numbered_pngs_and_a_gif(tmp_path, sources):
    out = tmp_path / "frames"
    argv = ["--content", str(sources["folder"]), "--schedule", "multipass", "--passes", "2"]
    assert run(sources, *argv, "--output", str(out), "--every", "2") == 0
    assert sorted(p.name for p in out.iterdir()) == ["00001.png", "00002.png", "00003.png"]
    with Image.open(out / "00001.png") as first:
        assert first.size == (32, 21)
    gif = tmp_path / "clip.gif"
    assert run(sources, *argv, "--output", str(gif), "--fps", "10") == 0
    read = clip.read(gif)
    assert len(read.frames) == COUNT and read.fps == Fraction(10)


def _interrupt_after(monkeypatch, frames: int, pass_index: int = 0):
    """Sends this process SIGINT once `frames` frames of pass `pass_index` are kept, as Ctrl-C."""
    kept = []
    original = video.Writer.__call__

    def writer(self, p, frame, image):
        original(self, p, frame, image)
        kept.append(p)
        if kept.count(pass_index) == frames:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(video.Writer, "__call__", writer)


def _captured(monkeypatch) -> list[np.ndarray]:
    """The float frames each run's schedule returns."""
    returned = []
    original = schedule.run

    def run_and_keep(*args, **kwargs):
        returned.append(original(*args, **kwargs))
        return returned[-1]

    monkeypatch.setattr(schedule, "run", run_and_keep)
    return returned


@pytest.mark.parametrize(
    "argv",
    [["--schedule", "sequential"], ["--schedule", "multipass", "--passes", "3"]],
    ids=["sequential", "multipass"],
)
def test_ctrl_c_keeps_finished_frames_and_resume_gives_the_same_frames(
    tmp_path, sources, monkeypatch, capsys, argv
):
    # Batches of two frames, so that a multipass pass is interrupted between batches.
    monkeypatch.setattr(setup.devices, "members_per_pass", lambda count, *a: min(count, 2))
    returned = _captured(monkeypatch)
    content = ["--content", str(sources["folder"]), *argv]
    whole = tmp_path / "whole"
    assert run(sources, *content, "--output", str(whole)) == 0
    out = tmp_path / "parts"
    with monkeypatch.context() as patch:
        if "sequential" in argv:
            _interrupt_after(patch, 3)  # frames 0-2 finished
        else:
            _interrupt_after(patch, 2, pass_index=1)  # pass 0 and pass 1's first batch
        assert run(sources, *content, "--output", str(out)) == 130
    assert "continue with --resume" in capsys.readouterr().err
    if "sequential" in argv:  # finished frames are already in the output folder
        assert sorted(p.name for p in out.iterdir()) == ["00001.png", "00002.png", "00003.png"]
    assert folder_for(out).is_dir()
    # Not without --resume or --overwrite.
    assert run(sources, *content, "--output", str(out)) == 2
    assert "--resume" in capsys.readouterr().err
    assert run(sources, *content, "--output", str(out), "--resume") == 0
    assert "resuming" in capsys.readouterr().err
    np.testing.assert_array_equal(returned[-1], returned[0])
    for index in range(COUNT):
        name = clip.frame_path(out, index).name
        assert (out / name).read_bytes() == (whole / name).read_bytes()
    assert not folder_for(out).exists()


def test_resume_refuses_other_settings(tmp_path, sources, monkeypatch, capsys):
    out = tmp_path / "out"
    content = ["--content", str(sources["folder"]), "--schedule", "sequential"]
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 1)
        assert run(sources, *content, "--output", str(out)) == 130
    capsys.readouterr()
    code = run(sources, *content, "--output", str(out), "--resume", "--temporal-weight", "3")
    assert code == 2 and "other settings" in capsys.readouterr().err


def _not_a_video(tmp_path: Path) -> Path:
    path = tmp_path / "notes.mp4"
    path.write_text("not a video")
    return path


def _empty_folder(tmp_path: Path) -> Path:
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def _mixed_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("RGB", (32, 24)).save(folder / "00001.png")
    Image.new("RGB", (24, 32)).save(folder / "00002.png")
    return folder


@pytest.mark.parametrize(
    ("make", "extra", "message"),
    [
        (_not_a_video, [], "not a video file FFmpeg can read"),
        (_empty_folder, [], "no numbered images"),
        (_mixed_folder, [], "the images differ in size"),
        ("movie", ["--every", "0"], "--every must be a whole number of frames >= 1, got 0"),
        ("movie", ["--start", "-1"], "--start must be a number of seconds >= 0"),
        ("movie", ["--temporal-weight", "-2"], "--temporal-weight must be a finite number"),
        ("movie", ["--style-weight", "1", "2"], "--style-weight takes one value in a video run"),
        (
            "movie",
            ["--schedule", "multipass", "--passes", "9"],
            "--passes (9) needs a per-frame budget of at least 15",
        ),
        ("movie", ["--start", "5"], "no frames in the part asked for"),
        ("movie", ["--resume"], "found no interrupted run to continue"),
        ("movie", ["--size", "60000", "--min-size", "60000"], "GiB per run"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    tmp_path, sources, capsys, make, extra, message
):
    source = sources[make] if isinstance(make, str) else make(tmp_path)
    out = tmp_path / "out" / "stylized.mp4"
    (tmp_path / "out").mkdir()
    try:
        code = run(sources, "--content", str(source), "--output", str(out), *extra)
    except SystemExit as exit:  # argparse refuses a flag's value itself
        code = exit.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("stylejax-video: error: ") and err.count("\n") == 1
    assert message in err
    assert list((tmp_path / "out").iterdir()) == []


def test_a_clip_too_large_for_memory_is_refused(tmp_path, sources, monkeypatch, capsys):
    # Room for four frames at this size.
    per_frame = setup.host_bytes_per_frame(32, 32, 3)
    monkeypatch.setattr(setup, "free_host_bytes", lambda: int(4.5 * per_frame / 0.5))
    out = tmp_path / "out"
    assert run(sources, "--content", str(sources["movie"]), "--output", str(out)) == 2
    err = capsys.readouterr().err
    assert "more than fit in memory" in err and err.count("\n") == 1
    assert not out.exists() and not folder_for(out).exists()


@pytest.mark.parametrize("module", ["av", "cv2"])
def test_a_missing_video_extra_names_the_install(tmp_path, sources, monkeypatch, capsys, module):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    out = tmp_path / "out.mp4"
    content = sources["movie"] if module == "av" else sources["folder"]
    assert run(sources, "--content", str(content), "--output", str(out)) == 2
    err = capsys.readouterr().err
    assert 'pip install "stylejax[video]"' in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_existing_outputs_are_not_replaced(tmp_path, sources, capsys):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    assert run(sources, "--content", str(sources["movie"]), "--output", str(out)) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == b"precious"


def test_the_module_runs_and_answers_help(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "stylejax.video", "--help"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=120,
    )
    assert done.returncode == 0
    for flag in (
        "--temporal-weight",
        "--temporal-offsets",
        "--first-frame-evaluations",
        "--schedule",
        "--passes",
        "--every",
        "--resume",
        "--style-scale",
        "--preserve-colors",
        "--precision",
        "--optimizer",
    ):
        assert flag in done.stdout
    assert "--save-every" not in done.stdout and "--preset" not in done.stdout
