"""Optical flow between the content frames of a clip, and where it can be trusted.

Flow is OpenCV's DIS (Kroeger et al. 2016, `cv2.DISOpticalFlow_create` with its documented
MEDIUM preset) on the grey content frames at the working size. A flow field is float32
(H, W, 2) in pixels, (x, y) order as in OpenCV: `flow` from frame a to frame b, at the pixels of
a, says that a(p) shows what b shows at p + flow(p). Warping b with it (`stylejax.video.warp`)
gives a picture aligned with a.

Trust is Ruder, Dosovitskiy & Brox's forward-backward consistency check (Artistic style transfer
for videos, GCPR 2016; the thresholds are theirs, taken from Sundaram et al. 2010;
manuelruder/artistic-videos consistencyChecker.cpp). With ŵ the flow whose trust is wanted (a to
b, at a's pixels) and w the flow back (b to a, at b's pixels), sampled where ŵ points,
w̃(p) = w(p + ŵ(p)):

- disocclusion: |w̃ + ŵ|² > 0.01 (|w̃|² + |ŵ|²) + 0.5  (OCCLUSION_*);
- motion boundary: |∇û|² + |∇v̂|² > 0.01 |ŵ|² + 0.002  (BOUNDARY_*), with central differences
  [-1/2, 0, 1/2] as in consistencyChecker.cpp (CDerivative(3)), the edge repeated;
- a pixel whose flow leaves the frame is not trusted either.

c = 0 at those pixels and 1 elsewhere, as in the paper. Deviations from consistencyChecker.cpp:
it refuses a target in the last row or column too (it needs floor(x) + 1 inside the frame, so
even zero flow is untrusted there); here any target inside [0, W-1] x [0, H-1] counts, sampled
bilinearly with the edge repeated. Its later version also blurs c (Gaussian, sigma 0.8) with
disocclusions at -1 so that they grow by a pixel; that is not done here (c stays in {0, 1}).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stylejax.files.atomic import atomic_write
from stylejax.video.extra import require

OCCLUSION_RELATIVE = 0.01
"""Disocclusion test, relative part: 0.01 (|w̃|² + |ŵ|²) (Ruder et al. 2016)."""
OCCLUSION_ABSOLUTE = 0.5
"""Disocclusion test, absolute part in px² (Ruder et al. 2016)."""
BOUNDARY_RELATIVE = 0.01
"""Motion-boundary test, relative part: 0.01 |ŵ|² (Ruder et al. 2016)."""
BOUNDARY_ABSOLUTE = 0.002
"""Motion-boundary test, absolute part in (px/px)² (Ruder et al. 2016)."""

DIS_PRESET = "medium"
"""The DIS preset (OpenCV's FAST is coarser, ULTRAFAST coarser still)."""
_DIS_PRESETS = {"ultrafast": 0, "fast": 1, "medium": 2}  # cv2.DISOPTICAL_FLOW_PRESET_*

DEFAULT_OFFSETS = (1, 2, 4)
"""Frame offsets J of the long-term temporal loss; artistic-videos' README gives 1,2,4 as its
example of -flow_relative_indices."""

CACHE_VERSION = 1
"""Bumped whenever what a cache file holds changes; an older file is recomputed."""


def grey(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB floats in [0, 1] -> (H, W) uint8 luma (OpenCV's BT.601 weights)."""
    cv2 = require("cv2")
    rgb = np.clip(np.asarray(frame, np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _dis(preset: str):
    cv2 = require("cv2")
    if preset not in _DIS_PRESETS:
        raise ValueError(f"unknown DIS preset {preset!r}; use one of {', '.join(_DIS_PRESETS)}")
    return cv2.DISOpticalFlow_create(_DIS_PRESETS[preset])


def dis_flow(a: np.ndarray, b: np.ndarray, *, preset: str = DIS_PRESET) -> np.ndarray:
    """DIS flow from grey frame `a` to grey frame `b`, both (H, W) uint8: (H, W, 2) float32, at
    a's pixels, such that a(p) ~ b(p + flow(p))."""
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"expected two grey (H, W) frames of one size, got {a.shape}, {b.shape}")
    return _dis(preset).calc(a, b, None)


def _sample(field: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of an (H, W, C) field at float coordinates x, y (H, W), edge repeated."""
    height, width = field.shape[:2]
    x = np.clip(x, 0, width - 1)
    y = np.clip(y, 0, height - 1)
    # The cell's top-left corner; at the last column/row the cell to its left/above, with weight 1.
    x0 = np.clip(np.floor(x), 0, max(width - 2, 0)).astype(np.int64)
    y0 = np.clip(np.floor(y), 0, max(height - 2, 0)).astype(np.int64)
    x1 = np.minimum(x0 + 1, width - 1)
    y1 = np.minimum(y0 + 1, height - 1)
    fx = (x - x0)[..., None]
    fy = (y - y0)[..., None]
    top = field[y0, x0] * (1 - fx) + field[y0, x1] * fx
    bottom = field[y1, x0] * (1 - fx) + field[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def _gradient_energy(flow: np.ndarray) -> np.ndarray:
    """|∇u|² + |∇v|² of an (H, W, 2) flow, central differences [-1/2, 0, 1/2], edge repeated."""
    padded = np.pad(flow, ((1, 1), (1, 1), (0, 0)), mode="edge")
    dx = 0.5 * (padded[1:-1, 2:] - padded[1:-1, :-2])
    dy = 0.5 * (padded[2:, 1:-1] - padded[:-2, 1:-1])
    return np.sum(dx * dx + dy * dy, axis=-1)


def reliability(flow: np.ndarray, flow_back: np.ndarray) -> np.ndarray:
    """Ruder et al.'s consistency check (module docstring): c, (H, W) float32 in {0, 1}.

    flow: (H, W, 2), from frame a to frame b at a's pixels (the flow that warps b onto a).
    flow_back: (H, W, 2), from b to a at b's pixels.
    c is 1 where warping b onto a with `flow` can be trusted, 0 at disocclusions, motion
    boundaries and pixels whose flow leaves the frame.
    """
    flow = np.asarray(flow, np.float64)
    flow_back = np.asarray(flow_back, np.float64)
    if flow.shape != flow_back.shape or flow.ndim != 3 or flow.shape[-1] != 2:
        raise ValueError(f"expected two (H, W, 2) flows, got {flow.shape}, {flow_back.shape}")
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    x = xs + flow[..., 0]
    y = ys + flow[..., 1]
    inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    back = _sample(flow_back, x, y)  # w̃
    mismatch = np.sum((flow + back) ** 2, axis=-1)
    size = np.sum(flow**2, axis=-1)
    occluded = mismatch > OCCLUSION_RELATIVE * (size + np.sum(back**2, axis=-1)) + (
        OCCLUSION_ABSOLUTE
    )
    boundary = _gradient_energy(flow) > BOUNDARY_RELATIVE * size + BOUNDARY_ABSOLUTE
    return (inside & ~occluded & ~boundary).astype(np.float32)


@dataclass(frozen=True)
class ClipFlow:
    """Flow and trust between the frames of a clip, for each frame offset j in `offsets`.

    Every array covers all N frames, so that a batch of frames has one shape; where frame i has
    no neighbour at offset j (i < j, or i + j >= N) the flow is 0 and c is 0, which switches the
    terms that use it off.

    offsets: (J,) frame offsets in increasing order, e.g. (1, 2, 4).
    to_past: (J, N, H, W, 2) float32; [k, i] is the flow from frame i to frame i - offsets[k]
        (warps frame i - j onto frame i).
    to_future: (J, N, H, W, 2) float32; [k, i] is the flow from frame i to frame i + offsets[k].
    reliable_past: (J, N, H, W) float32 in {0, 1}; c of to_past.
    reliable_future: (J, N, H, W) float32 in {0, 1}; c of to_future.
    """

    offsets: tuple[int, ...]
    to_past: np.ndarray
    to_future: np.ndarray
    reliable_past: np.ndarray
    reliable_future: np.ndarray


def _check_offsets(offsets) -> tuple[int, ...]:
    """The offsets in increasing order (closest frame first, as long_term_weights needs)."""
    offsets = tuple(int(j) for j in offsets)
    if not offsets or any(j < 1 for j in offsets) or len(set(offsets)) != len(offsets):
        raise ValueError(f"offsets must be distinct whole numbers >= 1, got {offsets}")
    return tuple(sorted(offsets))


def clip_flow(frames: np.ndarray, offsets=DEFAULT_OFFSETS, *, preset: str = DIS_PRESET) -> ClipFlow:
    """DIS flow both ways between frames i and i + j for each offset j, and its trust.

    frames: (N, H, W, 3) RGB content frames in [0, 1] at the working size.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected (N, H, W, 3) frames, got shape {frames.shape}")
    offsets = _check_offsets(offsets)
    count, height, width = frames.shape[:3]
    greys = [grey(frame) for frame in frames]
    dis = _dis(preset)
    to_past = np.zeros((len(offsets), count, height, width, 2), np.float32)
    to_future = np.zeros_like(to_past)
    reliable_past = np.zeros((len(offsets), count, height, width), np.float32)
    reliable_future = np.zeros_like(reliable_past)
    for k, j in enumerate(offsets):
        for i in range(count - j):
            forward = dis.calc(greys[i], greys[i + j], None)
            backward = dis.calc(greys[i + j], greys[i], None)
            to_future[k, i] = forward
            to_past[k, i + j] = backward
            reliable_future[k, i] = reliability(forward, backward)
            reliable_past[k, i + j] = reliability(backward, forward)
    return ClipFlow(offsets, to_past, to_future, reliable_past, reliable_future)


def frames_key(frames: np.ndarray, offsets, preset: str = DIS_PRESET) -> str:
    """A hash naming what a cached ClipFlow was computed from: the frames' values and shape,
    the offsets, the DIS preset, OpenCV's version and CACHE_VERSION."""
    cv2 = require("cv2")
    frames = np.ascontiguousarray(frames, np.float32)
    digest = hashlib.blake2b(digest_size=20)
    header = f"{CACHE_VERSION}|{cv2.__version__}|{preset}|{_check_offsets(offsets)}|{frames.shape}"
    digest.update(header.encode())
    digest.update(memoryview(frames).cast("B"))
    return digest.hexdigest()


def cache_path(output: str | os.PathLike) -> Path:
    """Where the flow of the clip for `output` is cached: beside it, `<output>.flow.npz`."""
    output = Path(output)
    return output.with_name(output.name + ".flow.npz")


def _load(path: Path, key: str) -> ClipFlow | None:
    """The cached ClipFlow at `path` if it is readable and its key matches, else None."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            return ClipFlow(
                tuple(int(j) for j in data["offsets"]),
                data["to_past"],
                data["to_future"],
                data["reliable_past"],
                data["reliable_future"],
            )
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None  # missing, truncated or from elsewhere: computed again


def _save(path: Path, key: str, flow: ClipFlow) -> None:
    with atomic_write(path) as tmp, open(tmp, "wb") as file:
        np.savez(
            file,
            key=np.array(key),
            offsets=np.array(flow.offsets),
            to_past=flow.to_past,
            to_future=flow.to_future,
            reliable_past=flow.reliable_past,
            reliable_future=flow.reliable_future,
        )


def cached_clip_flow(
    frames: np.ndarray,
    cache: str | os.PathLike | None,
    offsets=DEFAULT_OFFSETS,
    *,
    preset: str = DIS_PRESET,
) -> ClipFlow:
    """`clip_flow`, computed once: read from the .npz file `cache` when it was made from the
    same frames, offsets and preset (`frames_key`), else computed and saved there atomically.
    `cache=None` computes it without saving."""
    if cache is None:
        return clip_flow(frames, offsets, preset=preset)
    cache = Path(cache)
    key = frames_key(frames, offsets, preset)
    flow = _load(cache, key)
    if flow is None:
        flow = clip_flow(frames, offsets, preset=preset)
        _save(cache, key, flow)
    return flow
