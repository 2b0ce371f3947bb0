"""The Wasserstein style loss (crowsonkb/style-transfer-pytorch): the Wasserstein-2 distance
between Gaussian fits (mean and covariance) of a layer's features and of the style's.

.. note:: Not in Gatys et al., who match Gram matrices (uncentred second moments) by squared
   error. Targets blend several style images through means and second raw moments, which
   combine linearly, as crowsonkb does; the matrix square roots are Newton-Schulz iterations
   (`stylejax.objective.sqrtm`), pure matmuls.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from stylejax.objective import sqrtm

# The statistics in full float32 (see objective.sqrtm): a covariance is a difference of two
# moments, which TF32 or bfloat16 matmul passes would not resolve.
_HIGHEST = jax.lax.Precision.HIGHEST
# The covariances' regularizer relative to the style's mean variance per channel (`target_eps`).
EPS_RELATIVE = 1e-2


class Gaussian(NamedTuple):
    """The Gaussian fit of a layer's features that the Wasserstein style loss compares to."""

    mean: jax.Array  # (C,)
    cov: jax.Array  # (C, C), with `eps` added to its diagonal
    cov_sqrt: jax.Array  # (C, C), √cov, computed once per target
    eps: jax.Array  # (), the regularizer on both covariances' diagonals (`target_eps`)


def feature_moments(features: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean and second raw moment of (N, H, W, C) features over their pixels.

    Returns:
      (mean (N, C), E[f fᵀ] (N, C, C)). Unlike covariances these combine linearly, so several
      style images are blended through them (as crowsonkb does).
    """
    n, h, w, c = features.shape
    flat = features.reshape(n, h * w, c)
    second = jnp.einsum("npc,npd->ncd", flat, flat, precision=_HIGHEST) / (h * w)
    return jnp.mean(flat, axis=1), second


def covariance(mean: jax.Array, second: jax.Array, eps: float | jax.Array) -> jax.Array:
    """E[f fᵀ] − μ μᵀ + eps·I for (..., C) means and (..., C, C) second moments; `eps` a
    number or an array that broadcasts against the leading axes (...)."""
    outer = mean[..., :, None] * mean[..., None, :]
    eye = jnp.broadcast_to(jnp.eye(mean.shape[-1], dtype=second.dtype), second.shape)
    eps = jnp.broadcast_to(jnp.asarray(eps, second.dtype), second.shape[:-2])
    return second - outer + eps[..., None, None] * eye


def target_eps(mean: jax.Array, second: jax.Array, floor: float) -> jax.Array:
    """The covariance regularizer of a style target: EPS_RELATIVE times its mean variance,
    at least `floor` (`total.Objective.eps`). Returns (...) for (..., C) means.

    .. note:: crowsonkb adds a fixed 1e-4 (at torchvision's scale) to keep covariances with
       dead or constant channels positive definite. Against the features' own scale that is
       so small that the products Σₜ^½ Σ Σₜ^½ reach condition numbers of 1e8-1e13, which 12
       Newton-Schulz iterations resolve so poorly that near a good picture the loss was 1.8-14
       times the true W2 (relu1_1-relu4_1, BENCHMARKS.md, "An accurate Wasserstein loss"): the
       optimizer chased the iteration's error. Relative to the style's variance the condition
       stays near 1e6-1e7, which `sqrtm.ITERATIONS` resolve to within about 1.5%.
    """
    variance = jnp.trace(covariance(mean, second, 0.0), axis1=-2, axis2=-1) / mean.shape[-1]
    return jnp.maximum(EPS_RELATIVE * variance, floor)


def gaussian_target(mean: jax.Array, second: jax.Array, floor: float) -> Gaussian:
    """A style target from a (C,) mean and (C, C) second raw moment: computes √cov once.
    `floor`: the least regularizer (`target_eps`)."""
    eps = target_eps(mean, second, floor)
    cov = covariance(mean, second, eps)
    return Gaussian(mean, cov, sqrtm.newton_schulz_sqrtm(cov), eps)


def w2_style_loss(features: jax.Array, target: Gaussian) -> jax.Array:
    """Squared Wasserstein-2 distance between Gaussian fits of (N, H, W, C) features and a
    target, divided by C. Returns (N,).

    W₂² = ‖μ − μₜ‖² + tr(Σ + Σₜ − 2 (Σₜ^½ Σ Σₜ^½)^½)  (Dowson & Landau 1982).

    .. note:: Not in Gatys et al. (who match Grams, i.e. uncentred second moments, by squared
       error); crowsonkb's `StyleLossW2`, with its normalization: both terms are means over
       the C channels rather than sums, and both covariances carry the target's `eps` on the
       diagonal (`target_eps`, relative where crowsonkb's is fixed).
    """
    mean, second = feature_moments(features)
    cov = covariance(mean, second, target.eps)
    return w2_distance(mean, cov, jax.tree.map(lambda a: a[None], target))


def w2_distance(mean: jax.Array, cov: jax.Array, target: Gaussian) -> jax.Array:
    """W₂²/C between Gaussians of (..., C) means and (..., C, C) covariances (`eps` already on
    their diagonals) and a target whose fields broadcast against them at the same rank (e.g.
    with a leading axis of 1). Returns (...).

    All the cross terms' square roots are one batched `newton_schulz_trace_sqrtm` call, e.g.
    over (N, R) for the guided loss's regions (`objective.guided`).
    """
    root = target.cov_sqrt
    product = jnp.matmul(jnp.matmul(root, cov, precision=_HIGHEST), root, precision=_HIGHEST)
    cross = sqrtm.newton_schulz_trace_sqrtm(product)
    mean_term = jnp.mean(jnp.square(mean - target.mean), axis=-1)
    traces = jnp.trace(target.cov + cov, axis1=-2, axis2=-1)
    return mean_term + (traces - 2 * cross) / mean.shape[-1]


def moment_magnitude(second: jax.Array) -> jax.Array:
    """Mean of the diagonal of a (..., C, C) second raw moment, E‖f‖²/C = (tr Σ + ‖μ‖²)/C: the
    units of the Wasserstein loss, which dividing by it makes relative (`style_normalize`).
    Returns (...)."""
    return jnp.mean(jnp.diagonal(second, axis1=-2, axis2=-1), axis=-1)
