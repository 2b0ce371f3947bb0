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


class Gaussian(NamedTuple):
    """The Gaussian fit of a layer's features that the Wasserstein style loss compares to."""

    mean: jax.Array  # (C,)
    cov: jax.Array  # (C, C), with `eps` added to its diagonal
    cov_sqrt: jax.Array  # (C, C), √cov, computed once per target


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


def covariance(mean: jax.Array, second: jax.Array, eps: float) -> jax.Array:
    """E[f fᵀ] − μ μᵀ + eps·I for (..., C) means and (..., C, C) second moments.

    .. note:: `eps` (crowsonkb: 1e-4 at torchvision's activation scale) keeps the covariance
       of a layer with dead or constant channels positive definite.
    """
    outer = mean[..., :, None] * mean[..., None, :]
    eye = jnp.broadcast_to(jnp.eye(mean.shape[-1], dtype=second.dtype), second.shape)
    return second - outer + eps * eye


def gaussian_target(mean: jax.Array, second: jax.Array, eps: float) -> Gaussian:
    """A style target from a (C,) mean and (C, C) second raw moment: computes √cov once."""
    cov = covariance(mean, second, eps)
    return Gaussian(mean, cov, sqrtm.newton_schulz_sqrtm(cov))


def w2_style_loss(features: jax.Array, target: Gaussian, eps: float) -> jax.Array:
    """Squared Wasserstein-2 distance between Gaussian fits of (N, H, W, C) features and a
    target, divided by C. Returns (N,).

    W₂² = ‖μ − μₜ‖² + tr(Σ + Σₜ − 2 (Σₜ^½ Σ Σₜ^½)^½)  (Dowson & Landau 1982).

    .. note:: Not in Gatys et al. (who match Grams, i.e. uncentred second moments, by squared
       error); crowsonkb's `StyleLossW2`, with its normalization: both terms are means over
       the C channels rather than sums, and both covariances carry `eps` on the diagonal.
    """
    mean, second = feature_moments(features)
    return w2_distance(mean, covariance(mean, second, eps), jax.tree.map(lambda a: a[None], target))


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
