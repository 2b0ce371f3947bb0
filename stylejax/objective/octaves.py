"""Style octaves: the style also matched on the picture halved, and halved again.

Deviation from Gatys et al. (after Snelgrove 2017, "High-resolution multi-scale neural texture
synthesis", which matches Gram matrices on every level of a Gaussian pyramid): VGG19's
receptive field is fixed in pixels, so at a pyramid's fine scales no style layer sees the
painting's large shapes, and the content term alone shapes them, pulling the coarse scales'
arrangement back towards the photo. Matching the style on the picture halved (and halved
again) keeps it in the objective at every scale. Measured for issue 16 (BENCHMARKS.md,
"Style octaves").
"""

from __future__ import annotations

from collections.abc import Sequence

import jax

# An octave is used only while the halved picture's longest side is at least this: the
# pyramid's first size, where the large shapes form; smaller copies add cost, not shapes.
MIN_OCTAVE_SIDE = 128


def halve(images: jax.Array) -> jax.Array:
    """(N, H, W, C) -> (N, H // 2, W // 2, C), antialiased with a triangle filter as wide as
    two output pixels (Pillow's bilinear reduction).

    Not the mean of 2x2 blocks: its gradient is constant over each block, so the optimizer
    painted a 2- and 4-pixel grid into the picture (seen, issue 16); the triangle's
    overlapping, graded footprints (weights 1, 3, 3, 1 along each axis) leave none.
    """
    n, h, w, c = images.shape
    return jax.image.resize(images, (n, h // 2, w // 2, c), "linear", antialias=True)


def octave_count(
    canvas: Sequence[int], styles: Sequence[Sequence[int]], octaves: int, smallest: int
) -> int:
    """How many of `octaves` halvings a scale uses: each halved canvas ((H, W) of the picture
    with its margin) keeps a longest side of at least MIN_OCTAVE_SIDE, and every halved image,
    canvas and styles alike, a shortest side of at least `smallest` (what VGG's deepest style
    layer needs)."""
    count = 0
    while count < octaves:
        factor = 2 ** (count + 1)
        if max(canvas[:2]) // factor < MIN_OCTAVE_SIDE:
            break
        if min(min(shape[:2]) // factor for shape in [canvas, *styles]) < smallest:
            break
        count += 1
    return count
