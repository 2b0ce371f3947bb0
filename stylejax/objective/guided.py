"""Guided statistics and the guided style loss (Gatys et al. 2017, §4.1), pure JAX.

Each region r has a guide T_r at the layer's resolution (`objective.guides`). The paper weights
the features by it, F_r = F ∘ T_r, and takes G_r = F_r F_rᵀ, so each position p counts with
weight w_r(p) = T_r(p)². Every statistic here is an average over positions with those weights,
normalized by the region's guide mass m_r = Σ_p T_r(p)²:

  mean        μ_r = Σ_p w_r(p) F_p / m_r                         (C,)
  Gram        G_r = Σ_p w_r(p) F_p F_pᵀ / (C · m_r)              (C, C)
  covariance  Σ_r = Σ_p w_r(p) (F_p − μ_r)(F_p − μ_r)ᵀ / m_r     (C, C)

With one region whose guide is 1 everywhere, m = H·W and G is exactly `losses.gram`. The mean
and the second raw moment E_r[F Fᵀ] = C · G_r (`guided_moments`) are what the Wasserstein style
loss needs, guided the same way (`guided_w2_loss`).

Every function takes optional `positions` (`region_positions`): per region, the positions
where its guide is non-zero. Positions of weight 0 add exactly 0 to every sum, so reading only
a region's own positions gives the same statistics at R times the largest region's share of
the positions' cost, instead of R times all of it: regions partition the picture (up to their
soft seams), so three equal regions cost about what one does.

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
import numpy as np

from stylejax.objective import wasserstein

# The Wasserstein loss's moments in full float32, as `wasserstein.feature_moments`: its
# covariance is a difference of two moments, which TF32 or bfloat16 matmul passes would not
# resolve.
_HIGHEST = jax.lax.Precision.HIGHEST


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


def region_positions(guides) -> jax.Array:
    """Where each region's guide is non-zero for any member of the batch, as flat positions
    (row · W + column): (R, P) int32, each row in order and padded with H·W, one past the last
    position, which reads as 0 (P: the largest region's count). On the host, from concrete
    (N or 1, R, H, W) guides (the shape depends on their values, so this cannot run under
    jit)."""
    support = np.asarray(guides).reshape(guides.shape[:2] + (-1,)).any(axis=0)  # (R, H·W)
    rows = [np.flatnonzero(row) for row in support]
    count = max(len(row) for row in rows)
    padded = [np.pad(row, (0, count - len(row)), constant_values=support.shape[1]) for row in rows]
    return jnp.asarray(np.stack(padded).astype(np.int32))


def _weighted_sums(
    flat: jax.Array, weights: jax.Array, positions: jax.Array | None, precision=None
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(Σ_p w_r(p) F_p (N, R, C), Σ_p w_r(p) F_p F_pᵀ (N, R, C, C), m_r (N, R)), all regions in
    batched einsums: over every position, or with `positions` over each region's own (the
    padding reads features and weights of 0)."""
    if positions is not None:
        if positions.shape[0] != weights.shape[1]:
            raise ValueError(
                f"positions for {positions.shape[0]} regions, guides for {weights.shape[1]}"
            )
        flat = jnp.take(flat, positions, axis=1, mode="fill", fill_value=0)  # (N, R, P_r, C)
        where = jnp.broadcast_to(positions, weights.shape[:1] + positions.shape)
        weights = jnp.take_along_axis(weights, where, axis=2, mode="fill", fill_value=0)
        first = jnp.einsum("nrp,nrpc->nrc", weights, flat, precision=precision)
        second = jnp.einsum("nrp,nrpc,nrpd->nrcd", weights, flat, flat, precision=precision)
    else:
        first = jnp.einsum("nrp,npc->nrc", weights, flat, precision=precision)
        second = jnp.einsum("nrp,npc,npd->nrcd", weights, flat, flat, precision=precision)
    return first, second, jnp.sum(weights, axis=-1)


def guided_gram(
    features: jax.Array, guides: jax.Array, positions: jax.Array | None = None
) -> jax.Array:
    """Each region's Gram matrix, G_r = Σ_p T_r(p)² F_p F_pᵀ / (C · Σ_p T_r(p)²).

    Args:
      features: (N, H, W, C) activations.
      guides: (N or 1, R, H, W) guides at the same resolution (shared by the batch when 1).
      positions: `region_positions(guides)`, or None: every position for every region.

    Returns:
      (N, R, C, C). An empty region's Gram is 0.
    """
    flat, weights = _flat(features, guides)
    _, second, mass = _weighted_sums(flat, weights, positions)
    return second / (features.shape[-1] * _safe(mass))[..., None, None]


def guided_mean(
    features: jax.Array, guides: jax.Array, positions: jax.Array | None = None
) -> jax.Array:
    """Each region's mean feature, μ_r = Σ_p T_r(p)² F_p / Σ_p T_r(p)². Arguments as
    `guided_gram`; returns (N, R, C). An empty region's mean is 0."""
    flat, weights = _flat(features, guides)
    first, _, mass = _weighted_sums(flat, weights, positions)
    return first / _safe(mass)[..., None]


def guided_moments(
    features: jax.Array, guides: jax.Array, positions: jax.Array | None = None
) -> tuple[jax.Array, jax.Array]:
    """Each region's mean μ_r and second raw moment E_r[F Fᵀ] = Σ_p T_r(p)² F_p F_pᵀ / m_r, in
    full float32: the guided `wasserstein.feature_moments`. Arguments as `guided_gram`;
    returns ((N, R, C), (N, R, C, C)), 0 for an empty region. Like the unguided moments they
    combine linearly, so the style images that a region blends are blended through them."""
    flat, weights = _flat(features, guides)
    first, second, mass = _weighted_sums(flat, weights, positions, _HIGHEST)
    mass = _safe(mass)
    return first / mass[..., None], second / mass[..., None, None]


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


def _sum_regions(
    per_region: jax.Array,
    guides: jax.Array,
    weights: jax.Array,
    magnitude: jax.Array | None,
) -> jax.Array:
    """Σ_r λ_r · loss_r (/ magnitude_r) over the regions of (N, R) losses, (N,): a region counts
    where it has weight at this layer (Σ T² > 0) and a weight λ_r > 0 ((R,), normalized)."""
    if magnitude is not None:  # style_normalize: each region relative to its own target
        per_region = per_region / jnp.where(weights > 0, magnitude, 1)[None]  # kept: 0 or NaN
    counted = (guide_mass(guides) > 0) & (weights[None] > 0)  # (N or 1, R)
    return jnp.sum(jnp.where(counted, weights[None] * per_region, 0), axis=1)


def guided_style_loss(
    features: jax.Array,
    guides: jax.Array,
    target_grams: jax.Array,
    region_weights: jax.Array | None = None,
    magnitude: jax.Array | None = None,
    positions: jax.Array | None = None,
) -> jax.Array:
    """Σ_r λ_r · mean((G_r − Ĝ_r)²): each region's Gram against its own target.

    Args:
      features: (N, H, W, C) activations of the image being optimized.
      guides: (N or 1, R, H, W) the content's guides at this layer.
      target_grams: (R, C, C) each region's target, `guided_gram` of its style image under the
        style's own guide (or the whole style image's `losses.gram`).
      region_weights: (R,) relative weights λ, normalized to sum 1; None: equal. A region of
        weight 0 (a region kept as the photo) contributes nothing, whatever its target.
      magnitude: (R,) each target's `losses.gram_magnitude`, by which its region's term is
        divided (`style_normalize`); None: not divided.
      positions: `region_positions(guides)`, or None (see `guided_gram`).

    Returns:
      (N,). With one region guided by ones it is `losses.style_layer_loss`.

    .. note:: A region with no weight at this layer (Σ T² = 0, e.g. cropped by VGG's VALID
       pooling) contributes nothing instead of a constant mean(Ĝ²).
    """
    weights = region_weights_or_equal(region_weights, target_grams.shape[0])
    # A kept region's target may be anything, NaN included (it has no style): zeroed, so that
    # no NaN reaches the gradient through the `where` in `_sum_regions`.
    target_grams = jnp.where(weights[:, None, None] > 0, target_grams, 0)
    grams = guided_gram(features, guides, positions)  # (N, R, C, C)
    per_region = jnp.mean(jnp.square(grams - target_grams[None]), axis=(2, 3))  # (N, R)
    return _sum_regions(per_region, guides, weights, magnitude)


def guided_w2_loss(
    features: jax.Array,
    guides: jax.Array,
    target: wasserstein.Gaussian,
    region_weights: jax.Array | None = None,
    magnitude: jax.Array | None = None,
    positions: jax.Array | None = None,
) -> jax.Array:
    """Σ_r λ_r · W₂²(N(μ_r, Σ_r), N(μ̂_r, Σ̂_r))/C: each region's Gaussian fit against its own.

    Args:
      features, guides, region_weights: as `guided_style_loss`.
      target: each region's `wasserstein.Gaussian`, fields stacked over R ((R, C), (R, C, C),
        (R, C, C), (R,)): from the blended `guided_moments` of its style images under their own
        guides (or the whole images' `wasserstein.feature_moments`).
      magnitude: (R,) each target's `wasserstein.moment_magnitude` (`style_normalize`); None:
        not divided.
      positions: `region_positions(guides)`, or None (see `guided_gram`).

    Returns:
      (N,). With one region guided by ones it is `wasserstein.w2_style_loss`.

    .. note:: Not in Gatys et al. 2017, who guide Gram matrices only. Each region's fit is its
       guided mean and covariance, weighted by T² like its Gram, so the W2 loss is guided the
       way the Gram loss is. The covariance is E_r[F Fᵀ] − μ_r μ_rᵀ + eps_r·I (the target's
       regularizer), the unguided loss's formula (not `guided_covariance`'s two passes), so
       that one full region is that loss; the cross terms' square roots of all regions are one
       batched call.
    """
    weights = region_weights_or_equal(region_weights, target.mean.shape[0])
    # A kept region's target may be anything, NaN included: replaced by N(0, I), whose square
    # roots are finite (a zero covariance's are not), so that no NaN reaches the gradient.
    styled = weights > 0
    eye = jnp.eye(target.mean.shape[-1], dtype=target.cov.dtype)[None]
    target = wasserstein.Gaussian(
        jnp.where(styled[:, None], target.mean, 0),
        jnp.where(styled[:, None, None], target.cov, eye),
        jnp.where(styled[:, None, None], target.cov_sqrt, eye),
        jnp.where(styled, target.eps, 1),
    )
    mean, second = guided_moments(features, guides, positions)  # (N, R, C), (N, R, C, C)
    cov = wasserstein.covariance(mean, second, target.eps)
    per_region = wasserstein.w2_distance(mean, cov, jax.tree.map(lambda a: a[None], target))
    return _sum_regions(per_region, guides, weights, magnitude)
