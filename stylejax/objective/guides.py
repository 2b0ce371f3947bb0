"""Guide channels for spatial control (Gatys et al. 2017, §4.1): where each region is, at the
input and at every VGG layer's resolution.

A guide T_r is a (H, W) map in [0, 1] per region r. `soft_guides` makes them from a region index
map (`masks.labels_from_mask`), blurred so that seams do not show; `guides_at_layers`
brings them to the resolution of each layer, either by plain area downsampling or by the paper's
erosion, which keeps only the neurons whose receptive field lies inside the region. All pure
JAX, jittable with `regions`, `blur_px`, `layers` and `erode` static.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from stylejax.model.vgg import LAYERS, check_layers, deepest

# Radius of the Gaussian kernel in standard deviations: scipy.ndimage.gaussian_filter's default
# `truncate`, so that the blur can be checked against it.
TRUNCATE = 4.0
# An eroded guide holding less than this many neurons' worth of weight (Σ T², see
# `stylejax.objective.guided`) falls back to the plain guide at that layer (see `guides_at_layers`).
MIN_ERODED_MASS = 1.0


def gaussian_kernel(sigma: float) -> jax.Array:
    """The normalized 1-D Gaussian of standard deviation `sigma` over ±round(TRUNCATE·sigma)
    taps, as scipy.ndimage builds it. Returns (2·radius + 1,) float32."""
    radius = int(TRUNCATE * sigma + 0.5)
    x = jnp.arange(-radius, radius + 1, dtype=jnp.float32)
    kernel = jnp.exp(-0.5 * jnp.square(x / sigma))
    return kernel / jnp.sum(kernel)


def _blur(channels: jax.Array, sigma: float) -> jax.Array:
    """Separable Gaussian blur of (R, H, W) channels; the border extends its edge pixels (scipy's
    mode 'nearest'), so a region touching the border is not faded there."""
    kernel = gaussian_kernel(sigma)
    radius = (kernel.shape[0] - 1) // 2
    padded = jnp.pad(channels, ((0, 0), (radius, radius), (radius, radius)), mode="edge")
    x = padded[:, None]  # (R, 1, H + 2r, W + 2r): NCHW with one channel per region
    for window in ((kernel.shape[0], 1), (1, kernel.shape[0])):
        x = lax.conv_general_dilated(
            x,
            kernel.reshape((1, 1) + window),
            window_strides=(1, 1),
            padding="VALID",
            precision=lax.Precision.HIGHEST,  # a mask, not features: no reduced-precision dot
        )
    return x[:, 0]


def soft_guides(labels: jax.Array, regions: int, blur_px: float = 0.0) -> jax.Array:
    """One guide channel per region, softened at the seams.

    Args:
      labels: (H, W) integer region index of each pixel, 0..regions-1.
      regions: R, the number of regions (static).
      blur_px: standard deviation of the Gaussian blur, in input pixels (static); 0: hard
        one-hot guides.

    Returns:
      (R, H, W) float32 guides in [0, 1] that sum to 1 at every pixel.

    .. note:: Not in Gatys et al., whose guides are hard (or thresholded after downsampling):
       blurring over a few pixels at the input resolution lets neighbouring regions' styles
       blend across a band instead of meeting at a hard seam. The channels are renormalized to
       sum to 1 after the blur, which only corrects rounding here (the blur of a partition of
       unity with edge padding is one).
    """
    if blur_px < 0 or not math.isfinite(blur_px):
        raise ValueError(f"blur_px must be a finite number >= 0, got {blur_px}")
    hard = jnp.moveaxis(jax.nn.one_hot(labels, regions, dtype=jnp.float32), -1, 0)
    if blur_px == 0:
        return hard
    soft = _blur(hard, blur_px)
    return soft / jnp.sum(soft, axis=0, keepdims=True)


def _window(guides: jax.Array, op, init: float, size: int, stride: int, pad: int) -> jax.Array:
    """`op`-reduction over size x size windows of the last two axes of (..., H, W)."""
    lead = guides.ndim - 2
    return lax.reduce_window(
        guides,
        init,
        op,
        (1,) * lead + (size, size),
        (1,) * lead + (stride, stride),
        ((0, 0),) * lead + ((pad, pad), (pad, pad)),
    )


def _area_pool(guides: jax.Array) -> jax.Array:
    """2x2 mean, stride 2, VALID: the shape and weighting of VGG's average pooling."""
    return _window(guides, lax.add, 0.0, 2, 2, 0) / 4


def _erode_conv(guides: jax.Array) -> jax.Array:
    """3x3 minimum, stride 1: a 3x3 'same' convolution's output sees only the region where all
    nine inputs do. Outside the image counts as inside (+inf padding): VGG's zero padding is the
    same for every region, so the image border is no seam."""
    return _window(guides, lax.min, jnp.inf, 3, 1, 1)


def _erode_pool(guides: jax.Array) -> jax.Array:
    """2x2 minimum, stride 2, VALID: a pooled neuron is inside when all four inputs are."""
    return _window(guides, lax.min, jnp.inf, 2, 2, 0)


def guides_at_layers(
    guides: jax.Array, layers: Sequence[str], erode: bool = False
) -> dict[str, jax.Array]:
    """Guides at the resolution of each VGG19 layer.

    Args:
      guides: (..., H, W) guides at the input resolution, e.g. (R, H, W) from `soft_guides`.
      layers: VGG19 layer names (static).
      erode: False: "simple" guides, area-averaged over each 2x2 pooling window, one pooling per
        `vgg.pooling_count(layer)`; they keep summing to 1 over the regions. True: the paper's
        receptive-field guides (its notebook's mode "inside"): each 3x3 convolution on the way
        erodes the guide by a 3x3 minimum and each pooling takes the 2x2 minimum, so a neuron
        keeps weight only where its whole receptive field lies in the region; neurons that
        straddle a seam belong to no region.

    Returns:
      {layer: (..., h, w)} with (h, w) the layer's feature size ((H, W) halved, rounded down,
      once per pooling, as VGG's VALID pooling does).

    .. note:: Deviation from the paper (whose notebook asserts instead): an eroded guide with
       less than MIN_ERODED_MASS neurons' worth of weight left (a small region at a deep layer)
       falls back to the plain guide at that layer, so that no region loses its style there.
       The notebook also thresholds the guides at 0.5; soft guides are eroded as they are.
    """
    layers = check_layers(layers)
    wanted = set(layers)
    last = LAYERS.index(deepest(layers))
    plain, eroded = guides, guides
    out = {}
    for name in LAYERS[: last + 1]:
        if name.startswith("pool"):
            plain = _area_pool(plain)
            eroded = _erode_pool(eroded) if erode else plain
        elif name.startswith("conv") and erode:
            eroded = _erode_conv(eroded)
        if name in wanted:
            out[name] = _with_fallback(eroded, plain) if erode else plain
    return out


def _with_fallback(eroded: jax.Array, plain: jax.Array) -> jax.Array:
    """`eroded`, except for guides (over the last two axes) that erosion (nearly) emptied."""
    mass = jnp.sum(jnp.square(eroded), axis=(-2, -1), keepdims=True)
    return jnp.where(mass >= MIN_ERODED_MASS, eroded, plain)
