"""The margin against the edge line (issue 16): the picture is optimized inside a larger canvas.

Not in the paper. Under L-BFGS the outermost pixel rows and columns of a stylized picture drift
away from their neighbours, leaving a coloured 1-pixel line along the borders: VGG sees beyond
the border only through its convolutions' padding, so a border pixel's gradient differs from an
interior pixel's, whatever the padding mode (BENCHMARKS.md, "Borders"). So each scale optimizes
a canvas `margin` pixels larger on every side, the content mirrored into the margin, and the
margin is cut away from every picture the user sees: the picture's own border pixels are then
interior pixels of what VGG looks at.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

# A scale's margin is at most its longest side over this, so that the margin never costs more
# than about a quarter of the time (1.27x the pixels at most): a preview at 64 pixels gets 4.
SHARE = 16


def at_size(margin: int, size: int) -> int:
    """The margin of a scale whose longest side is `size`: `margin`, or less on small scales."""
    return min(margin, size // SHARE)


def pad(images, margin: int):
    """(..., H, W, C) images with `margin` pixels of each mirrored (without repeating the edge
    pixel) around them; NumPy in, NumPy out, else a jax.Array. margin 0: unchanged."""
    if margin == 0:
        return images
    xp = np if isinstance(images, np.ndarray) else jnp
    widths = [(0, 0)] * (np.ndim(images) - 3) + [(margin, margin), (margin, margin), (0, 0)]
    return xp.pad(images, widths, mode="reflect")


def pad_labels(labels: np.ndarray, margin: int) -> np.ndarray:
    """An (H, W) region map continued into the margin: each edge label repeated outwards."""
    return np.pad(labels, margin, mode="edge") if margin else labels


def crop(images, margin: int):
    """(..., H + 2 margin, W + 2 margin, C) canvases cut back to the (..., H, W, C) picture."""
    if margin == 0:
        return images
    return images[..., margin:-margin, margin:-margin, :]
