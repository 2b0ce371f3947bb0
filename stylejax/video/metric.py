"""How much a stylized clip flickers: the temporal error.

The mean absolute difference between each stylized frame and its predecessor warped onto it, on
the pixels the consistency check keeps (c = 1). It is 0 for a clip whose stylization moves
exactly with the content; independent per-frame stylization scores high. For a synthetic clip
pass the known flow and its c; for a real one, ClipFlow.to_past[k] and reliable_past[k] of
offset 1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from stylejax.video.warp import warp


@jax.jit
def _sums(frames: jax.Array, to_past: jax.Array, reliable: jax.Array):
    warped = jax.vmap(warp)(frames[:-1], to_past[1:])
    weight = reliable[1:, ..., None]
    errors = jnp.sum(weight * jnp.abs(frames[1:] - warped), axis=(1, 2, 3))
    kept = jnp.sum(reliable[1:], axis=(1, 2)) * frames.shape[-1]
    return errors, kept


def temporal_errors(frames: ArrayLike, to_past: ArrayLike, reliable: ArrayLike) -> np.ndarray:
    """Per-frame temporal error of frames 1 .. N-1.

    frames: (N, H, W, C) stylized frames, e.g. RGB in [0, 1].
    to_past: (N, H, W, 2) [i] = flow from frame i to frame i - 1 ([0] is unused).
    reliable: (N, H, W) [i] = its c ([0] is unused).
    Returns (N - 1,) float64: Σ c |x_i - ω(x_{i-1})| / (C Σ c), NaN where c is 0 everywhere.
    """
    errors, kept = _check_and_sum(frames, to_past, reliable)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(kept > 0, errors / np.maximum(kept, 1e-300), np.nan)


def temporal_error(frames: ArrayLike, to_past: ArrayLike, reliable: ArrayLike) -> float:
    """The clip's temporal error: all kept pixels of frames 1 .. N-1 pooled,
    Σ_i Σ c |x_i - ω(x_{i-1})| / (C Σ_i Σ c) (arguments as in `temporal_errors`)."""
    errors, kept = _check_and_sum(frames, to_past, reliable)
    if kept.sum() == 0:
        raise ValueError("no pixel is kept (c = 0 everywhere); the temporal error is undefined")
    return float(errors.sum() / kept.sum())


def _check_and_sum(frames, to_past, reliable) -> tuple[np.ndarray, np.ndarray]:
    frames = jnp.asarray(frames, jnp.float32)
    to_past = jnp.asarray(to_past, jnp.float32)
    reliable = jnp.asarray(reliable, jnp.float32)
    if frames.ndim != 4 or frames.shape[0] < 2:
        raise ValueError(f"expected (N, H, W, C) frames with N >= 2, got shape {frames.shape}")
    count, height, width = frames.shape[:3]
    if to_past.shape != (count, height, width, 2) or reliable.shape != (count, height, width):
        raise ValueError(
            f"for frames {frames.shape} expected to_past {(count, height, width, 2)} and "
            f"reliable {(count, height, width)}, got {to_past.shape} and {reliable.shape}"
        )
    errors, kept = _sums(frames, to_past, reliable)
    return np.asarray(errors, np.float64), np.asarray(kept, np.float64)
