"""Measures of a finished picture that no objective optimizes: for the benchmark and tests."""

from __future__ import annotations

import numpy as np

SIDES = ("top", "bottom", "left", "right")


def edge_step_ratios(image: np.ndarray) -> dict[str, float]:
    """How much the outermost pixel row or column of each side stands out.

    Args:
      image: (H, W, C) or (H, W), at least 3x3.

    Returns:
      {side: ratio} for top, bottom, left and right: the mean absolute step between the
      outermost row (column) and its neighbour, divided by the mean absolute step between all
      neighbouring rows (columns) of the picture. About 1 for a photograph; a line along an
      edge (a zero-padding artefact) makes it larger.
    """
    x = np.asarray(image, np.float64)
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3 or min(x.shape[:2]) < 3:
        raise ValueError(f"expected an (H, W, C) or (H, W) image of at least 3x3, got {x.shape}")
    rows = np.abs(np.diff(x, axis=0)).mean(axis=(1, 2))  # (H - 1,) step below each row
    cols = np.abs(np.diff(x, axis=1)).mean(axis=(0, 2))  # (W - 1,) step right of each column
    tiny = np.finfo(np.float64).tiny  # a flat picture has no steps at all
    return {
        "top": float(rows[0] / max(rows.mean(), tiny)),
        "bottom": float(rows[-1] / max(rows.mean(), tiny)),
        "left": float(cols[0] / max(cols.mean(), tiny)),
        "right": float(cols[-1] / max(cols.mean(), tiny)),
    }
