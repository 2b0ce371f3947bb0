"""Reading and writing clips: a video file (through PyAV, which ships FFmpeg) or a folder of
numbered images, as float32 (N, H, W, 3) RGB frames in [0, 1] on the stylejax side.

Conventions:

- Reading a file: the first video stream is decoded. A rotation in the stream's display matrix
  (phone videos filmed upright) is applied, so frames come back as they are shown.
  `start` and `duration` (seconds) count from the first frame of the file; a frame belongs to the
  part when its presentation time lies in [start, start + duration), within half a frame.
  `every` N keeps the 1st, (N+1)th, ... frame of that part. The clip's rate is the source's
  average rate divided by N, so the clip lasts as long as the part it was taken from and the
  source's audio stays in sync with it.
- Reading a folder: the image files whose names hold a number (00001.png, frame_12.jpg), in the
  order of the last number in the name; names without a number and hidden files are ignored.
  They must all have the same size. A folder has no rate: `folder_fps` (default 25) gives
  `start` and `duration` their meaning and the clip its rate.
- Working size: with `size`, each frame's longest side is resampled to `size` pixels (Lanczos,
  as `stylejax.files.images.load` does).
- Writing a file: `.mp4` is H.264 (yuv420p, CRF 18), `.webm` VP9 (yuv420p, CRF 30), `.gif`
  8-bit palettes per frame (written by Pillow). yuv420p needs even sides: an odd last row or
  column is repeated once (nothing is cut). The rate is kept; a GIF stores delays in 1/100 s,
  so its rate is the nearest that fits, and Pillow merges identical consecutive GIF frames into
  one longer frame. With `audio_source`, the source's first audio track is copied for the part
  the frames cover: the compressed packets are remuxed when the container accepts the codec,
  and transcoded (AAC into .mp4, Opus into .webm) when it does not. GIF has no audio.
- Writing a folder: 00001.png, 00002.png, ... (`frame_path`), each written atomically.
- Every file is written atomically (a temp file beside it, then os.replace): a reader sees the
  old file or the new one, never half of one.
- Errors: bad input is a VideoError (a ValueError) whose message is one line naming the path and
  what to do.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from stylejax.files import images
from stylejax.files.atomic import atomic_write
from stylejax.video.extra import require

DEFAULT_FOLDER_FPS = Fraction(25)
"""The rate of a folder of images, which has none of its own: 25 frames/s, the PAL rate."""

READ_EXTENSIONS = (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi", ".gif")
"""Video files `read` is known to handle (FFmpeg reads more; others are tried too)."""

WRITE_EXTENSIONS = (".mp4", ".webm", ".gif")
"""Video files `write` makes; any other output path is a folder of numbered PNGs."""

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
"""Image files a folder clip is made of."""

# Encoder, pixel format and options per video extension. CRF 18 is x264's "visually lossless"
# point; CRF 30 is the VP9 quality libvpx's docs suggest for this kind of use (constant quality,
# b:v 0).
_VIDEO_CODECS = {
    ".mp4": ("libx264", "yuv420p", {"crf": "18", "preset": "medium"}),
    ".webm": ("libvpx-vp9", "yuv420p", {"crf": "30", "b": "0", "row-mt": "1"}),
}
# Audio codecs each container takes as they are (remuxed; FFmpeg lists more for MP4, but players
# do not all play PCM or Vorbis in MP4), and the encoder for any other source codec.
_REMUXABLE_AUDIO = {
    ".mp4": ("aac", "mp3", "ac3", "eac3", "alac", "opus"),
    ".webm": ("opus", "vorbis"),
}
_AUDIO_CODECS = {".mp4": "aac", ".webm": "libopus"}
# Opus encodes only at these rates; other sources are resampled to 48 kHz.
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


class VideoError(ValueError):
    """A clip that cannot be read or written, with the path and what to do."""


@dataclass(frozen=True)
class Clip:
    """Frames read from a video file or a folder.

    frames: (N, H, W, 3) float32 RGB in [0, 1], at the working size.
    fps: the rate of `frames` (the source's rate divided by `every`).
    source: the file or folder read.
    start: where frames[0] lies in the source, in seconds on the source's clock (a file's
        presentation time; `start` itself for a folder). The frames cover
        [start, start + N / fps), which is the part of the source's audio `write` copies.
    """

    frames: np.ndarray
    fps: Fraction
    source: Path
    start: float

    @property
    def duration(self) -> float:
        """Seconds the frames cover: N / fps."""
        return len(self.frames) / float(self.fps)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _check_part(start: float, duration: float | None, every: int) -> None:
    """Refuses a negative start, a non-positive duration and `every` below 1."""
    if isinstance(every, bool) or not isinstance(every, int | np.integer) or every < 1:
        raise VideoError(f"every must be a whole number of frames >= 1, got {every!r}")
    if not math.isfinite(start) or start < 0:
        raise VideoError(f"start must be >= 0 seconds, got {start}")
    if duration is not None and (not math.isfinite(duration) or duration <= 0):
        raise VideoError(f"duration must be > 0 seconds, got {duration}")


def read(
    source: str | os.PathLike,
    *,
    size: int | None = None,
    start: float = 0.0,
    duration: float | None = None,
    every: int = 1,
    max_frames: int | None = None,
    folder_fps: Fraction = DEFAULT_FOLDER_FPS,
) -> Clip:
    """Reads a video file or a folder of numbered images (conventions: module docstring).

    `max_frames` refuses a part with more frames (a memory guard for the caller). Raises
    VideoError for anything unreadable, an empty part or bad arguments.
    """
    _check_part(start, duration, every)
    if size is not None and size < 1:
        raise VideoError(f"size must be a positive number of pixels, got {size}")
    path = Path(source)
    if path.is_dir():
        return _read_folder(path, size, start, duration, every, max_frames, Fraction(folder_fps))
    if not path.exists():
        raise VideoError(f"{path}: no such file or folder; check the path")
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        raise VideoError(
            f"{path}: a still image, not a video; give a video file or a folder of numbered images"
        )
    return _read_file(path, size, start, duration, every, max_frames)


def frame_size(source: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of the clip's frames as shown (before any working size), from its
    first frame only: to check what a run needs before the clip is read. Raises VideoError
    as `read` does."""
    path = Path(source)
    if path.is_dir():
        files = numbered_images(path)
        if not files:
            raise VideoError(
                f"{path}: no numbered images (00001.png, 00002.png, ...) in the folder; "
                f"give a video file or a folder of numbered images"
            )
        try:
            return images.decode(files[0]).size
        except images.ImageError as e:
            raise VideoError(str(e)) from None
    if not path.exists():
        raise VideoError(f"{path}: no such file or folder; check the path")
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        raise VideoError(
            f"{path}: a still image, not a video; give a video file or a folder of numbered images"
        )
    av = require("av")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path}: holds no video stream; give a video file")
            for frame in container.decode(container.streams.video[0]):
                return _upright(frame, frame.to_image()).size
    except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise VideoError(
            f"{path}: not a video file FFmpeg can read ({_one_line(e)}); "
            f"give an .mp4, .mov, .webm or .gif file"
        ) from None
    raise VideoError(f"{path}: holds no frames; give another video file")


def _too_many(path: Path, max_frames: int) -> VideoError:
    return VideoError(
        f"{path}: the part holds more than {max_frames} frames, more than fit in memory at this "
        f"size; pick a shorter part (start, duration), fewer frames (every) or a smaller size"
    )


def _upright(frame, image: Image.Image) -> Image.Image:
    """Applies the display matrix's rotation (PyAV: degrees counterclockwise, in [-180, 180])."""
    quarter_turns = round(frame.rotation / 90) % 4
    if quarter_turns == 0:
        return image
    # Image.rotate turns counterclockwise, like the display matrix; expand keeps every pixel.
    return image.rotate(90 * quarter_turns, expand=True)


def _read_file(
    path: Path,
    size: int | None,
    start: float,
    duration: float | None,
    every: int,
    max_frames: int | None,
) -> Clip:
    av = require("av")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise VideoError(
            f"{path}: not a video file FFmpeg can read ({_one_line(e)}); "
            f"give an .mp4, .mov, .webm or .gif file"
        ) from None
    with container:
        if not container.streams.video:
            raise VideoError(f"{path}: holds no video stream; give a video file")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        if not rate or rate <= 0:
            raise VideoError(f"{path}: the video has no frame rate; re-encode it")
        rate = Fraction(rate)
        origin = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        begin = origin + start
        half_frame = 0.5 / float(rate)
        end = math.inf if duration is None else begin + duration
        if start > 0:
            # Seeks to the keyframe at or before `begin`; frames before it are decoded, skipped.
            container.seek(int(begin / stream.time_base), stream=stream, backward=True)
        frames, first_time, count, time = [], None, 0, None
        try:
            for frame in container.decode(stream):
                if frame.time is not None:
                    time = frame.time
                else:  # no timestamp: one frame after the previous one
                    time = origin if time is None else time + 1 / float(rate)
                if time < begin - half_frame:
                    continue
                if time >= end - half_frame:
                    break
                if count % every == 0:
                    if max_frames is not None and len(frames) >= max_frames:
                        raise _too_many(path, max_frames)
                    frames.append(images.to_array(_upright(frame, frame.to_image()), size))
                    first_time = time if first_time is None else first_time
                count += 1
        except av.FFmpegError as e:
            if not frames:
                raise VideoError(
                    f"{path}: cannot decode the video ({_one_line(e)}); re-encode it"
                ) from None
            # A damaged tail: keep the frames decoded so far, as players do.
        if not frames:
            raise VideoError(
                f"{path}: no frames in the part asked for (start {start} s, duration "
                f"{duration} s); the video is {_length(container, stream)}"
            )
    return Clip(np.stack(frames), rate / every, path, float(first_time))


def _length(container, stream) -> str:
    """The video's length in words, for error messages."""
    if stream.duration is not None:
        return f"{float(stream.duration * stream.time_base):.3g} s long"
    if container.duration is not None:
        return f"{container.duration / 1_000_000:.3g} s long"  # AV_TIME_BASE: microseconds
    return "of unknown length"


def _frame_number(path: Path) -> int | None:
    """The last number in the file name's stem, or None."""
    numbers = re.findall(r"\d+", path.stem)
    return int(numbers[-1]) if numbers else None


def numbered_images(folder: Path) -> list[Path]:
    """The image files of `folder` whose names hold a number, ordered by the last one."""
    files = [
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_EXTENSIONS
        and not p.name.startswith(".")
        and _frame_number(p) is not None
        and p.is_file()
    ]
    return sorted(files, key=lambda p: (_frame_number(p), p.name))


def _read_folder(
    folder: Path,
    size: int | None,
    start: float,
    duration: float | None,
    every: int,
    max_frames: int | None,
    fps: Fraction,
) -> Clip:
    if fps <= 0:
        raise VideoError(f"folder_fps must be > 0, got {fps}")
    files = numbered_images(folder)
    if not files:
        raise VideoError(
            f"{folder}: no numbered images (00001.png, 00002.png, ...) in the folder; "
            f"give a video file or a folder of numbered images"
        )
    first = round(start * fps)
    last = len(files) if duration is None else min(len(files), round((start + duration) * fps))
    chosen = files[first:last:every]
    if not chosen:
        raise VideoError(
            f"{folder}: no frames in the part asked for (start {start} s, duration {duration} s); "
            f"the folder's {len(files)} images last {len(files) / fps:.3g} s at {fps} frames/s"
        )
    if max_frames is not None and len(chosen) > max_frames:
        raise _too_many(folder, max_frames)
    frames, first_size = [], None
    for file in chosen:
        try:
            image = images.decode(file)
        except images.ImageError as e:
            raise VideoError(str(e)) from None
        if first_size is None:
            first_size = image.size
        elif image.size != first_size:
            raise VideoError(
                f"{folder}: the images differ in size ({chosen[0].name} is "
                f"{first_size[0]}x{first_size[1]}, {file.name} is {image.size[0]}x"
                f"{image.size[1]}); resize them all to one size"
            )
        frames.append(images.to_array(image, size))
    return Clip(np.stack(frames), fps / every, folder, float(first / fps))


# Writing


def is_video_path(path: str | os.PathLike) -> bool:
    """Whether `write` makes a video file at `path` (else a folder of numbered PNGs)."""
    return Path(path).suffix.lower() in WRITE_EXTENSIONS


def frame_path(folder: str | os.PathLike, index: int) -> Path:
    """Where frame `index` (from 0) of a folder output goes: 00001.png for index 0."""
    return Path(folder) / f"{index + 1:05d}.png"


def write_frame(frame: np.ndarray, folder: str | os.PathLike, index: int) -> Path:
    """Writes one (H, W, 3) frame as `frame_path(folder, index)`, atomically; returns the path."""
    path = frame_path(folder, index)
    images.save(frame, path)
    return path


def _check_frames(frames: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    frames = [np.asarray(frame) for frame in frames]
    if not frames:
        raise VideoError("no frames to write")
    shape = frames[0].shape
    if len(shape) != 3 or shape[-1] != 3:
        raise VideoError(f"frames must be (H, W, 3) RGB arrays, got shape {shape}")
    for index, frame in enumerate(frames):
        if frame.shape != shape:
            raise VideoError(f"frame {index} has shape {frame.shape}, frame 0 has {shape}")
    return frames


def _to_uint8(frame: np.ndarray) -> np.ndarray:
    return np.asarray(images.to_pil(frame))


def _even(frame: np.ndarray) -> np.ndarray:
    """Repeats the last row and/or column once when a side is odd (yuv420p needs even sides)."""
    height, width = frame.shape[:2]
    return np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")


def write(
    frames: Sequence[np.ndarray] | np.ndarray,
    output: str | os.PathLike,
    fps: Fraction | float,
    *,
    audio_source: str | os.PathLike | None = None,
    audio_start: float = 0.0,
) -> Path:
    """Writes (H, W, 3) frames in [0, 1] as a video file (.mp4, .webm, .gif) or, for any other
    path, a folder of numbered PNGs (conventions: module docstring); returns `output`.

    `audio_source`: a video file whose first audio track is copied into a .mp4 or .webm, from
    `audio_start` seconds on its clock (Clip.start) for as long as the frames last. A source
    without audio, or a folder, gives a silent video.
    """
    frames = _check_frames(frames)
    output = Path(output)
    if not is_video_path(output):
        output.mkdir(parents=True, exist_ok=True)
        for index, frame in enumerate(frames):
            write_frame(frame, output, index)
        return output
    fps = Fraction(fps).limit_denominator(1_000_000)
    if fps <= 0:
        raise VideoError(f"{output}: the frame rate must be > 0, got {fps}")
    if not output.parent.is_dir():
        raise VideoError(f"{output}: the folder {output.parent} does not exist; create it first")
    if output.suffix.lower() == ".gif":
        errors: tuple[type[BaseException], ...] = (OSError,)
    else:
        errors = (OSError, require("av").FFmpegError)
    try:
        with atomic_write(output) as tmp:
            if output.suffix.lower() == ".gif":
                _write_gif(frames, tmp, fps)
            else:
                audio = None
                if audio_source is not None and Path(audio_source).is_file():
                    audio = (Path(audio_source), audio_start, audio_start + len(frames) / fps)
                _write_video(frames, tmp, output.suffix.lower(), fps, audio)
    except errors as e:
        raise VideoError(f"{output}: cannot write the video ({_one_line(e)})") from None
    return output


def _write_gif(frames: list[np.ndarray], path: Path, fps: Fraction) -> None:
    """An animated GIF looping forever; delays are whole milliseconds (Pillow rounds them to the
    GIF's 1/100 s)."""
    pictures = [images.to_pil(frame) for frame in frames]
    pictures[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=pictures[1:],
        duration=round(1000 / float(fps)),
        loop=0,
    )


def _write_video(
    frames: list[np.ndarray],
    path: Path,
    extension: str,
    fps: Fraction,
    audio: tuple[Path, float, float] | None,
) -> None:
    av = require("av")
    codec, pix_fmt, options = _VIDEO_CODECS[extension]
    height, width = _even(frames[0]).shape[:2]
    with av.open(str(path), "w", format=extension[1:]) as container:
        video = container.add_stream(codec, rate=fps, options=dict(options))
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        source = _open_audio(av, audio[0]) if audio else None
        try:
            copy = source and _add_audio_stream(av, container, source, extension)
            for index, frame in enumerate(frames):
                picture = av.VideoFrame.from_ndarray(_to_uint8(_even(frame)), format="rgb24")
                picture.pts = index
                picture.time_base = 1 / fps
                container.mux(video.encode(picture))
            container.mux(video.encode())
            if copy:
                copy(audio[1], audio[2])
        finally:
            if source is not None:
                source.close()


def _open_audio(av, path: Path):
    """The source opened for its audio, or None when it has none or is not a video."""
    try:
        source = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        return None
    if not source.streams.audio:
        source.close()
        return None
    return source


def _add_audio_stream(av, container, source, extension: str):
    """Adds the output's audio stream; returns copy(start, end), which muxes the audio of
    [start, end) seconds on the source's clock, re-timed to start at 0."""
    stream = source.streams.audio[0]
    if stream.codec_context.name in _REMUXABLE_AUDIO[extension]:
        output = container.add_stream_from_template(stream)
        return lambda start, end: _remux_audio(source, stream, container, output, start, end)
    codec = _AUDIO_CODECS[extension]
    rate = stream.rate
    if codec == "libopus" and rate not in _OPUS_RATES:
        rate = 48000  # Opus's native rate
    output = container.add_stream(codec, rate=rate)
    output.layout = stream.layout.name if stream.layout.nb_channels <= 2 else "stereo"
    return lambda start, end: _transcode_audio(av, source, stream, container, output, start, end)


def _audio_packets(source, stream, start: float, end: float) -> Iterator:
    """The source's audio packets that start in [start, end) seconds."""
    if start > 0:
        source.seek(int(start / stream.time_base), stream=stream, backward=True)
    # A packet counts when its start lies in the window, within half its length.
    for packet in source.demux(stream):
        if packet.pts is None or packet.dts is None:
            continue  # the demuxer's final empty packet
        time = float(packet.pts * stream.time_base)
        half = float((packet.duration or 0) * stream.time_base) / 2
        if time + half < start:
            continue
        if time + half >= end:
            break
        yield packet


def _remux_audio(source, stream, container, output, start: float, end: float) -> None:
    """Copies the compressed packets (no quality lost), shifted so that `start` becomes 0."""
    shift = round(start / stream.time_base)
    for packet in _audio_packets(source, stream, start, end):
        packet.pts -= shift
        packet.dts -= shift
        packet.stream = output
        container.mux(packet)


def _transcode_audio(av, source, stream, container, output, start: float, end: float) -> None:
    """Decodes the window's audio and encodes it in the container's codec."""
    for packet in _audio_packets(source, stream, start, end):
        for frame in packet.decode():
            frame.pts = round((float(frame.pts * frame.time_base) - start) * frame.sample_rate)
            frame.time_base = Fraction(1, frame.sample_rate)
            container.mux(output.encode(frame))
    container.mux(output.encode(None))
