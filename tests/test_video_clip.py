"""stylejax.video.clip: video files and folders in, video files and folders out, with the rate and
the audio kept; each bad input a one-line VideoError. Clips are made here with PyAV directly."""

from __future__ import annotations

import sys
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from stylejax.video import clip
from stylejax.video.clip import VideoError
from stylejax.video.extra import VideoExtraMissingError
from tests.video_clips import decoded_audio, dominant_frequency, panned, write_clip

av = pytest.importorskip("av")

FPS = 12
COUNT = 8


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """8 frames, 48x64, of a texture panning right by 2 px a frame."""
    return panned(48, 64, [(2 * k, 0) for k in range(COUNT)])


@pytest.fixture(scope="module")
def source(tmp_path_factory, frames):
    """An .mp4 of `frames` at 12 frames/s with a 440 Hz AAC audio track."""
    return write_clip(tmp_path_factory.mktemp("clip") / "source.mp4", frames, FPS, audio_hz=440)


def test_reads_every_frame_at_its_rate(source, frames):
    read = clip.read(source)
    assert read.frames.shape == frames.shape and read.frames.dtype == np.float32
    assert read.fps == FPS and read.start == 0.0 and read.source == source
    assert read.duration == pytest.approx(COUNT / FPS)
    # H.264 (x264's default CRF 23, chroma halved by yuv420p) is lossy but close, and each frame
    # is nearest to the source frame it was made from.
    assert np.abs(read.frames - frames).mean() < 0.04
    distances = np.abs(read.frames[:, None] - frames[None]).mean(axis=(2, 3, 4))
    np.testing.assert_array_equal(distances.argmin(axis=1), np.arange(COUNT))


@pytest.mark.parametrize("extension", [".mp4", ".webm", ".gif"])
def test_round_trip_keeps_frame_count_and_rate(tmp_path, source, extension):
    read = clip.read(source)
    output = clip.write(read.frames, tmp_path / f"out{extension}", read.fps)
    again = clip.read(output)
    assert again.frames.shape == read.frames.shape
    if extension == ".gif":
        # GIF delays are 1/100 s: 1/12 s becomes 0.08 s, 12.5 frames/s.
        assert again.fps == Fraction(25, 2)
    else:
        assert again.fps == FPS
    assert np.abs(again.frames - read.frames).mean() < 0.03
    assert [p.name for p in tmp_path.iterdir()] == [f"out{extension}"]  # no temp file left


@pytest.mark.parametrize(("extension", "codec"), [(".mp4", "aac"), (".webm", "opus")])
def test_audio_track_is_kept(tmp_path, source, extension, codec):
    """AAC is remuxed into MP4 and transcoded to Opus for WebM; the sine is still 440 Hz and
    lasts as long as the video."""
    read = clip.read(source)
    output = clip.write(read.frames, tmp_path / f"out{extension}", read.fps, audio_source=source)
    name, rate, samples = decoded_audio(output)
    assert name == codec
    assert dominant_frequency(samples, rate) == pytest.approx(440, abs=5)
    assert len(samples) / rate == pytest.approx(read.duration, abs=0.05)


def test_part_of_a_clip_and_its_audio(tmp_path, source, frames):
    """start/duration/every pick frames 3, 5 of the source; the clip's rate halves and the copied
    audio covers the same 1/6 s."""
    read = clip.read(source, start=3 / FPS, duration=3 / FPS, every=2)
    assert read.frames.shape[0] == 2 and read.fps == Fraction(FPS, 2)
    assert read.start == pytest.approx(3 / FPS)
    whole = clip.read(source).frames
    np.testing.assert_array_equal(read.frames, whole[[3, 5]])
    output = clip.write(
        read.frames, tmp_path / "part.mp4", read.fps, audio_source=source, audio_start=read.start
    )
    name, rate, samples = decoded_audio(output)
    assert len(samples) / rate == pytest.approx(read.duration, abs=0.05)
    assert clip.read(output).frames.shape[0] == 2


def test_audio_the_container_refuses_is_transcoded(tmp_path, frames):
    """PCM in a .mov cannot go into an .mp4 as it is: it becomes AAC, for the part asked for."""
    source = write_clip(
        tmp_path / "pcm.mov", frames, FPS, audio_hz=300, audio_codec="pcm_s16le", audio_rate=22050
    )
    read = clip.read(source, start=2 / FPS, duration=4 / FPS)
    output = clip.write(
        read.frames, tmp_path / "out.mp4", read.fps, audio_source=source, audio_start=read.start
    )
    name, rate, samples = decoded_audio(output)
    assert name == "aac" and rate == 22050
    assert dominant_frequency(samples, rate) == pytest.approx(300, abs=5)
    assert len(samples) / rate == pytest.approx(read.duration, abs=0.05)


def test_silent_source_gives_a_silent_video(tmp_path, frames):
    silent = write_clip(tmp_path / "silent.mov", frames, FPS)
    read = clip.read(silent)
    assert read.frames.shape == frames.shape
    output = clip.write(read.frames, tmp_path / "out.mp4", read.fps, audio_source=silent)
    assert decoded_audio(output) is None


def test_working_size_and_odd_sides(tmp_path, source):
    """size resamples the longest side; an odd side is padded by repeating its edge for
    yuv420p, so the video holds the whole picture plus one row."""
    read = clip.read(source, size=27)
    assert read.frames.shape == (COUNT, 20, 27, 3)
    again = clip.read(clip.write(read.frames, tmp_path / "odd.mp4", read.fps))
    assert again.frames.shape == (COUNT, 20, 28, 3)
    assert np.abs(again.frames[:, :, :27] - read.frames).mean() < 0.04
    assert np.abs(again.frames[:, :, 27] - read.frames[:, :, 26]).mean() < 0.04


def test_rotated_video_comes_back_upright(tmp_path):
    """A display matrix turning the picture 90 degrees counterclockwise (as phones write it)."""
    picture = np.zeros((1, 48, 64, 3), np.float32)
    picture[0, :16, :16] = 1.0  # a white block at the top left
    rotated = write_clip(tmp_path / "phone.mp4", picture, FPS, rotation=90)
    read = clip.read(rotated)
    expected = np.rot90(picture[0], 1)  # counterclockwise: the block goes to the bottom left
    assert read.frames.shape == (1, 64, 48, 3)
    assert np.abs(read.frames[0] - expected).mean() < 0.03


def test_folder_of_numbered_images(tmp_path, frames):
    """Ordered by number (2 before 10), unnumbered and hidden files ignored."""
    folder = tmp_path / "frames"
    folder.mkdir()
    numbers = [1, 2, 3, 5, 8, 10, 11, 20]
    for number, frame in zip(numbers, frames, strict=True):
        Image.fromarray(np.round(frame * 255).astype(np.uint8)).save(folder / f"f{number}.png")
    Image.new("RGB", (5, 5)).save(folder / "cover.png")  # no number: not a frame
    Image.new("RGB", (5, 5)).save(folder / ".00004.png")  # hidden: not a frame
    (folder / "notes.txt").write_text("not an image")
    read = clip.read(folder)
    assert read.fps == clip.DEFAULT_FOLDER_FPS and read.source == folder
    np.testing.assert_allclose(read.frames, frames, atol=0.5 / 255 + 1e-6)
    part = clip.read(folder, start=2 / 25, duration=4 / 25, every=3, folder_fps=Fraction(25))
    np.testing.assert_array_equal(part.frames, read.frames[[2, 5]])
    assert part.fps == Fraction(25, 3) and part.start == pytest.approx(2 / 25)


def test_writes_a_folder_of_pngs(tmp_path, frames):
    output = clip.write(frames, tmp_path / "stylized", 25)
    names = sorted(p.name for p in output.iterdir())
    assert names == [f"{k:05d}.png" for k in range(1, COUNT + 1)]
    np.testing.assert_allclose(clip.read(output).frames, frames, atol=0.5 / 255 + 1e-6)
    assert clip.frame_path(output, 0) == output / "00001.png"
    assert not clip.is_video_path(output) and clip.is_video_path(tmp_path / "a.WEBM")


def _one_line_error(call) -> str:
    with pytest.raises(VideoError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_not_a_video(tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_text("this is not a video")
    assert "not a video file" in _one_line_error(lambda: clip.read(fake))


def test_no_video_stream(tmp_path):
    """An audio-only file."""
    import av as pyav

    path = tmp_path / "audio.m4a"
    with pyav.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        stream.layout = "mono"
        frame = pyav.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="flt", layout="mono"
        )
        frame.sample_rate, frame.pts = 8000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    assert "no video stream" in _one_line_error(lambda: clip.read(path))


def test_no_frames_in_the_part(source):
    message = _one_line_error(lambda: clip.read(source, start=5.0))
    assert "no frames" in message and "0.667 s long" in message


def test_still_image_and_missing_path(tmp_path):
    still = tmp_path / "still.png"
    Image.new("RGB", (8, 8)).save(still)
    assert "still image" in _one_line_error(lambda: clip.read(still))
    assert "no such file" in _one_line_error(lambda: clip.read(tmp_path / "missing.mp4"))


def test_folder_images_of_different_sizes(tmp_path):
    Image.new("RGB", (16, 12)).save(tmp_path / "00001.png")
    Image.new("RGB", (16, 12)).save(tmp_path / "00002.png")
    Image.new("RGB", (12, 16)).save(tmp_path / "00003.png")
    message = _one_line_error(lambda: clip.read(tmp_path))
    assert "differ in size" in message and "00003.png is 12x16" in message


def test_empty_folder(tmp_path):
    assert "no numbered images" in _one_line_error(lambda: clip.read(tmp_path))


@pytest.mark.parametrize("every", [0, -1, 1.5])
def test_every_below_one(source, every):
    assert "every" in _one_line_error(lambda: clip.read(source, every=every))


def test_bad_start_duration_and_limit(source):
    assert "start" in _one_line_error(lambda: clip.read(source, start=-1))
    assert "duration" in _one_line_error(lambda: clip.read(source, duration=0))
    assert "more than 3 frames" in _one_line_error(lambda: clip.read(source, max_frames=3))


def test_missing_extra_names_the_install(monkeypatch, source):
    monkeypatch.setitem(sys.modules, "av", None)  # makes `import av` fail
    with pytest.raises(VideoExtraMissingError) as caught:
        clip.read(source)
    message = str(caught.value)
    assert 'pip install "stylejax[video]"' in message and "\n" not in message
    assert isinstance(caught.value, ValueError)  # the command line's bad input: exit 2
