"""The temporal loss of Ruder, Dosovitskiy & Brox (Artistic style transfer for videos, 2016):
a frame tied to its stylized neighbours warped onto it, on the pixels where the flow can be
trusted. It lives here, below the optimizer, so that `stylejax.objective.total.total_loss` can
add it for a video frame; `stylejax.video.temporal` re-exports it with the other video terms.

c are the consistency weights of `stylejax.video.flow` ((H, W), 1 where the flow can be
trusted, 0 where it cannot). The losses are in the units of the images given: artistic-videos
applies them to Caffe-preprocessed pixels (0..255), so its temporal weights (1e3 single-pass,
5e2 multi-pass) are for that scale.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike


def temporal_loss(image: ArrayLike, warped: ArrayLike, reliable: ArrayLike) -> Array:
    """(1/D) Σ_k c_k (x_k - ω_k)², D = H·W·C (Ruder et al. 2016, the short-term temporal loss).

    image: (H, W, C) the frame being optimized, x.
    warped: (H, W, C) the stylized neighbour warped onto it, ω(x_prev).
    reliable: (H, W) c, the same for every channel.
    Returns a scalar.
    """
    image = jnp.asarray(image)
    difference = image - jnp.asarray(warped, image.dtype)
    weight = jnp.asarray(reliable, image.dtype)[..., None]
    return jnp.mean(weight * difference * difference)


def long_term_weights(reliable: ArrayLike) -> Array:
    """c_long for each offset: c_j minus the weights of all closer offsets, clipped at 0
    (Ruder et al. 2016, long-term consistency), so that each pixel is tied to the closest frame
    that shows it.

    reliable: (J, H, W) c for offsets J in increasing order (closest frame first).
    Returns (J, H, W).

    .. note:: This is the paper's formula, with the original c of the closer offsets.
       artistic-videos (processFlowWeights, closestFirst) subtracts the already reduced weights
       instead; for c in {0, 1} both give the same.
    """
    reliable = jnp.asarray(reliable)
    closer = jnp.cumsum(reliable, axis=0) - reliable
    return jnp.maximum(reliable - closer, 0)


def temporal_losses(image: ArrayLike, warped: ArrayLike, weights: ArrayLike) -> Array:
    """Σ_k temporal_loss(x, ω_k, c_k): the frame tied to several warped neighbours, each with
    its own per-pixel weights (e.g. c_long of `long_term_weights`, of one direction or two).

    image: (H, W, C); warped: (K, H, W, C); weights: (K, H, W). Returns a scalar.
    """
    return jnp.sum(jax.vmap(temporal_loss, in_axes=(None, 0, 0))(image, warped, weights))


def long_term_temporal_loss(image: ArrayLike, warped: ArrayLike, reliable: ArrayLike) -> Array:
    """Σ_j temporal_loss(x, ω_j(x_{i-j}), c_long_j) over the offsets j (Ruder et al. 2016).

    image: (H, W, C) the frame being optimized.
    warped: (J, H, W, C) the stylized frames i - j warped onto it, closest first.
    reliable: (J, H, W) their c (not yet c_long: `long_term_weights` is applied here).
    Returns a scalar. With J = 1 it is `temporal_loss`.
    """
    return temporal_losses(image, warped, long_term_weights(reliable))
