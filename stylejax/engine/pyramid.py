"""The coarse-to-fine schedule: which sizes, how many evaluations each, and the upsampling.

Stylize small, upsample, refine at the next size (Gatys et al. 2017, section 5 "coarse-to-fine";
crowsonkb/style-transfer-pytorch does it automatically with a step of sqrt(2)). VGG's receptive
field is fixed in pixels, so only at a small size can the style's large shapes form; the larger
scales then add detail on top of them. These are pure functions; the pipeline calls them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from stylejax.config import SPLITS

METHODS = ("linear", "cubic", "lanczos3", "lanczos5")


def sizes(min_size: int, size: int, step: float) -> list[int]:
    """Longest-side sizes from `min_size` to `size`, growing by at most `step` per scale
    (up to a tolerance of step ** 0.01).

    The first is exactly `min_size` and the last exactly `size`; the sizes in between are
    geometric, with the fewest scales whose ratio does not exceed `step` (so 128 -> 512 at step
    2 is [128, 256, 512], and 100 -> 512 at step 2 is [100, 172, 297, 512]). Sizes that round
    to the same integer are kept once. `min_size == size` gives [size]: one scale.

    .. note:: crowsonkb anchors its scales at the end size (end / sqrt(2)^i) and starts at the
       first one not below the minimum; here both ends are exact, as the user asked for them.
    """
    if min_size < 1 or size < 1:
        raise ValueError(f"sizes must be at least 1 pixel, got min_size={min_size}, size={size}")
    if min_size > size:
        raise ValueError(f"min_size ({min_size}) must not exceed size ({size})")
    if not step > 1 or not math.isfinite(step):
        raise ValueError(f"the pyramid step must be a finite number above 1, got {step}")
    ratio = size / min_size
    # The fewest intervals whose ratio is <= step, with 1% of a step's logarithm as tolerance,
    # so a typed step of 1.414 or 1.4142 takes 128 -> 512 in four intervals as sqrt(2) does.
    count = max(0, math.ceil(math.log(ratio) / math.log(step) - 0.01))
    out = [round(min_size * ratio ** (i / count)) for i in range(count + 1)] if count else [size]
    out[0], out[-1] = min_size, size
    return list(dict.fromkeys(out))


def budget_split(scale_sizes: Sequence[int], evaluations: int, split: str = "equal") -> list[int]:
    """Evaluations per scale, each at least 1, summing exactly to `evaluations`.

    split:
      "equal": the same number at every scale: the coarse scales, which form the style's
        large shapes, get enough evaluations, and the run costs about 0.4x the time of a
        single-scale run of the same budget (measured at 512 px, step sqrt(2), for issue 8).
        The default before issue 16 (`--preset classic`).
      "pixels": proportional to each scale's pixel count (size²): most of the budget goes to
        the end size; measured close to single scale in look and large-scale style.
      "front": the first, cheapest scale twice the share of each later one, as
        crowsonkb/style-transfer-pytorch front-loads its schedule (1000 iterations at the first
        scale, 500 at each later one). The default: equal judged quality in 0.88x the time
        of "equal" at 512 px (BENCHMARKS.md, "Budget shape").

    Rounding: largest remainder (Hamilton), ties to the larger scale.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown budget split {split!r}; choose one of {', '.join(SPLITS)}")
    count = len(scale_sizes)
    if count == 0:
        raise ValueError("no scales given")
    if evaluations < count:
        raise ValueError(
            f"an evaluation budget of {evaluations} cannot cover {count} scales (at least one "
            f"evaluation each); raise evaluations to at least {count} or raise min_size"
        )
    if split == "pixels":
        weights = np.square(np.asarray(scale_sizes, float))
    else:
        weights = np.ones(count)
        if split == "front":
            weights[0] = 2.0
    # Every scale gets 1, the rest is shared by weight.
    shares = (evaluations - count) * weights / weights.sum()
    out = np.floor(shares).astype(int)
    remainders = shares - out
    order = sorted(range(count), key=lambda i: (-round(remainders[i], 12), -i))
    for i in order[: evaluations - count - int(out.sum())]:
        out[i] += 1
    return [int(n) + 1 for n in out]


def upsample(images: jax.Array, height: int, width: int, method: str = "cubic") -> jax.Array:
    """Resizes (H, W, 3) or (N, H, W, 3) float images to (height, width), clipped to [0, 1].

    Runs on the device in float (never through an 8-bit file). "cubic" (Keys, a = -0.5, as
    PyTorch's bicubic) keeps more of the coarse scale's strokes than "linear"; its overshoot
    at edges is clipped.
    """
    if method not in METHODS:
        raise ValueError(f"unknown resize method {method!r}; choose one of {', '.join(METHODS)}")
    images = jnp.asarray(images)
    if images.ndim not in (3, 4) or images.shape[-1] != 3:
        raise ValueError(
            f"images must be (H, W, 3) or (N, H, W, 3) RGB, got shape {tuple(images.shape)}"
        )
    shape = (*images.shape[:-3], height, width, 3)
    resized = jax.image.resize(images.astype(jnp.float32), shape, method=method)
    return jnp.clip(resized, 0.0, 1.0)
