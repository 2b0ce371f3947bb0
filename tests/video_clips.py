"""Tiny synthetic clips for the video tests: textures panned by known amounts, and video files
with a sine-wave audio track, written with PyAV itself (not through stylejax.video)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy import ndimage

MARGIN = 24  # texture border around the frame, so that a pan never samples outside it


def texture(height: int, width: int, seed: int = 0, blur: float = 2.0) -> np.ndarray:
    """A smooth random RGB texture, float64 (height, width, 3) spanning [0, 1]."""
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.random((height, width, 3)), (blur, blur, 0))
    return (noise - noise.min()) / (noise.max() - noise.min())


def panned(height: int, width: int, shifts, seed: int = 0) -> np.ndarray:
    """Frames of one texture moved by (dx, dy) pixels each: frame k shows at p what the texture
    shows at p - shifts[k] (cubic interpolation, so sub-pixel shifts are exact up to it).

    Returns (len(shifts), height, width, 3) float32 in [0, 1]; the flow from frame a to frame b
    is shifts[b] - shifts[a] everywhere inside the frame.
    """
    source = texture(height + 2 * MARGIN, width + 2 * MARGIN, seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    frames = []
    for dx, dy in shifts:
        coordinates = [ys + MARGIN - dy, xs + MARGIN - dx]
        channels = [
            ndimage.map_coordinates(source[..., c], coordinates, order=3, mode="nearest")
            for c in range(3)
        ]
        frames.append(np.clip(np.stack(channels, -1), 0, 1))
    return np.stack(frames).astype(np.float32)


def sine(frequency: float, rate: int, seconds: float) -> np.ndarray:
    """A mono sine wave, float32 (samples,) with amplitude 0.5."""
    time = np.arange(round(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * time)).astype(np.float32)


def write_clip(
    path: Path,
    frames: np.ndarray,
    fps: int | Fraction,
    *,
    audio_hz: float | None = None,
    audio_codec: str = "aac",
    audio_rate: int = 44100,
    rotation: int | None = None,
) -> Path:
    """Writes (N, H, W, 3) frames in [0, 1] as H.264 (even sides) into `path` (.mp4, .mov,
    .mkv), with a mono sine audio track lasting as long as the frames when `audio_hz` is given."""
    import av

    fps = Fraction(fps)
    height, width = frames.shape[1:3]
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if rotation is not None:
            video.set_display_rotation(rotation)
        audio = None
        if audio_hz is not None:
            audio = container.add_stream(audio_codec, rate=audio_rate)
            audio.layout = "mono"
        for index, frame in enumerate(frames):
            rgb = np.clip(np.asarray(frame) * 255 + 0.5, 0, 255).astype(np.uint8)
            picture = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            picture.pts = index
            picture.time_base = 1 / fps
            container.mux(video.encode(picture))
        container.mux(video.encode())
        if audio is not None:
            samples = sine(audio_hz, audio_rate, len(frames) / fps)
            for offset in range(0, len(samples), 1024):
                chunk = av.AudioFrame.from_ndarray(
                    samples[None, offset : offset + 1024], format="flt", layout="mono"
                )
                chunk.sample_rate = audio_rate
                chunk.pts = offset
                chunk.time_base = Fraction(1, audio_rate)
                container.mux(audio.encode(chunk))
            container.mux(audio.encode())
    return path


def decoded_audio(path: Path) -> tuple[str, int, np.ndarray] | None:
    """(codec name, sample rate, first channel's samples as float64) of the first audio
    track, or None when the file has none."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        chunks = []
        for frame in container.decode(stream):
            samples = frame.to_ndarray()
            if not frame.format.is_planar:  # interleaved: (1, samples * channels)
                samples = samples.reshape(-1, len(frame.layout.channels)).T
            chunks.append(samples[0].astype(np.float64))
        return stream.codec_context.name, stream.rate, np.concatenate(chunks)


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    """The frequency (Hz) of the largest peak of the spectrum."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])
