"""Guided statistics and the guided style loss (Gatys et al. 2017, §4.1), pure JAX.

Each region r has a guide T_r at the layer's resolution (`objective.guides`). The paper weights
the features by it, F_r = F ∘ T_r, and takes G_r = F_r F_rᵀ, so each position p counts with
weight w_r(p) = T_r(p)². Every statistic here is an average over positions with those weights,
normalized by the region's guide mass m_r = Σ_p T_r(p)²:

  mean        μ_r = Σ_p w_r(p) F_p / m_r                         (C,)
  Gram        G_r = Σ_p w_r(p) F_p F_pᵀ / (C · m_r)              (C, C)
  covariance  Σ_r = Σ_p w_r(p) (F_p − μ_r)(F_p − μ_r)ᵀ / m_r     (C, C)

With one region whose guide is 1 everywhere, m = H·W and G is exactly `losses.gram`. The mean
and covariance are what a Gaussian (W2) style loss needs, guided the same way.

.. note:: Normalizing by the guide mass, not by C·H·W as `losses.gram` does, is the authors'
   choice too: their SpatialControl notebook scales each layer's guide so that mean(T²) = 1,
   i.e. divides the Gram by Σ T². It makes a region's Gram an average over the region,
   independent of its area: a sky covering 30% of the content is matched against the style's
   statistics as they are, where the C·H·W normalization would give 0.3 × the statistics of
   the sky and push its features up by 1/√0.3 to compensate. It also makes a style image's
   Gram comparable whatever part of it a style mask selects.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _flat(features: jax.Array, guides: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(N, H·W, C) features and (N, R, H·W) position weights T², guides broadcast over N."""
    n, h, w, c = features.shape
    if guides.ndim != 4 or guides.shape[0] not in (1, n) or guides.shape[2:] != (h, w):
        raise ValueError(
            f"guides must be (N or 1, R, {h}, {w}) for features of shape {features.shape}, "
            f"got {guides.shape}; bring them to the layer with guides.guides_at_layers"
        )
    weights = jnp.square(guides.astype(features.dtype)).reshape(guides.shape[:2] + (h * w,))
    weights = jnp.broadcast_to(weights, (n,) + weights.shape[1:])
    return features.reshape(n, h * w, c), weights


def guide_mass(guides: jax.Array) -> jax.Array:
    """m_r = Σ_p T_r(p)², (N, R, H, W) -> (N, R): the weight of each region at the layer."""
    return jnp.sum(jnp.square(guides), axis=(2, 3))


def _safe(mass: jax.Array) -> jax.Array:
    """The mass, or 1 where it is 0: an empty region's sums are 0, so its statistics are 0."""
    return jnp.where(mass > 0, mass, 1)


def guided_gram(features: jax.Array, guides: jax.Array) -> jax.Array:
    """Each region's Gram matrix, G_r = Σ_p T_r(p)² F_p F_pᵀ / (C · Σ_p T_r(p)²).

    Args:
      features: (N, H, W, C) activations.
      guides: (N or 1, R, H, W) guides at the same resolution (shared by the batch when 1).

    Returns:
      (N, R, C, C), all regions in one batched einsum. An empty region's Gram is 0.
    """
    flat, weights = _flat(features, guides)
    c = features.shape[-1]
    mass = jnp.sum(weights, axis=-1)  # (N, R)
    outer = jnp.einsum("nrp,npc,npd->nrcd", weights, flat, flat)
    return outer / (c * _safe(mass))[..., None, None]


def guided_mean(features: jax.Array, guides: jax.Array) -> jax.Array:
    """Each region's mean feature, μ_r = Σ_p T_r(p)² F_p / Σ_p T_r(p)². Shapes as
    `guided_gram`; returns (N, R, C). An empty region's mean is 0."""
    flat, weights = _flat(features, guides)
    mass = jnp.sum(weights, axis=-1)
    return jnp.einsum("nrp,npc->nrc", weights, flat) / _safe(mass)[..., None]


def guided_covariance(features: jax.Array, guides: jax.Array) -> jax.Array:
    """Each region's weighted covariance, Σ_r = Σ_p T_r(p)² (F_p − μ_r)(F_p − μ_r)ᵀ / m_r
    (the biased, population estimate, as numpy.cov(..., aweights=T², bias=True)).

    Shapes as `guided_gram`; returns (N, R, C, C). Computed about the mean (two passes), not
    as E[FFᵀ] − μμᵀ, which loses precision on ReLU features with large means.
    """
    flat, weights = _flat(features, guides)
    mass = jnp.sum(weights, axis=-1)
    mean = jnp.einsum("nrp,npc->nrc", weights, flat) / _safe(mass)[..., None]
    centred = flat[:, None] - mean[:, :, None]  # (N, R, P, C)
    return (
        jnp.einsum("nrp,nrpc,nrpd->nrcd", weights, centred, centred) / _safe(mass)[..., None, None]
    )


def region_weights_or_equal(region_weights: jax.Array | None, regions: int) -> jax.Array:
    """(R,) region weights normalized to sum 1; None: equal (1/R each, as in the paper's
    notebook). All zero: all zero."""
    if region_weights is None:
        return jnp.full((regions,), 1.0 / regions, jnp.float32)
    region_weights = jnp.asarray(region_weights, jnp.float32)
    total = jnp.sum(region_weights)
    return jnp.where(total > 0, region_weights / jnp.where(total > 0, total, 1), 0)


def guided_style_loss(
    features: jax.Array,
    guides: jax.Array,
    target_grams: jax.Array,
    region_weights: jax.Array | None = None,
) -> jax.Array:
    """Σ_r λ_r · mean((G_r − Ĝ_r)²): each region's Gram against its own target.

    Args:
      features: (N, H, W, C) activations of the image being optimized.
      guides: (N or 1, R, H, W) the content's guides at this layer.
      target_grams: (R, C, C) each region's target, `guided_gram` of its style image under the
        style's own guide (or the whole style image's `losses.gram`).
      region_weights: (R,) relative weights λ, normalized to sum 1; None: equal. A region of
        weight 0 (a region kept as the photo) contributes nothing, whatever its target.

    Returns:
      (N,). With one region guided by ones it is `losses.style_layer_loss`.

    .. note:: A region with no weight at this layer (Σ T² = 0, e.g. cropped by VGG's VALID
       pooling) contributes nothing instead of a constant mean(Ĝ²).
    """
    weights = region_weights_or_equal(region_weights, target_grams.shape[0])[None]  # (1, R)
    # A kept region's target may be anything, NaN included (it has no style): zeroed, so that
    # no NaN reaches the gradient through the `where` below.
    target_grams = jnp.where(weights[0, :, None, None] > 0, target_grams, 0)
    grams = guided_gram(features, guides)  # (N, R, C, C)
    per_region = jnp.mean(jnp.square(grams - target_grams[None]), axis=(2, 3))  # (N, R)
    counted = (guide_mass(guides) > 0) & (weights > 0)  # (N or 1, R)
    return jnp.sum(jnp.where(counted, weights * per_region, 0), axis=1)
