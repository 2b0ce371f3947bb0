"""Loss terms of Gatys et al., as small pure functions over NHWC feature maps."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gram(features: jax.Array) -> jax.Array:
    """Gram matrices G = F Fᵀ / (C·H·W).

    Args:
      features: (N, H, W, C) activations.

    Returns:
      (N, C, C).

    .. note:: Gatys et al. use the unnormalized F Fᵀ and divide the loss by 4 N² M²; dividing
       the Gram by C·H·W instead (as the seed and most PyTorch ports do) only rescales the
       style weight.
    """
    n, h, w, c = features.shape
    flat = features.reshape(n, h * w, c)
    return jnp.einsum("npc,npd->ncd", flat, flat) / (c * h * w)


def content_loss(features: jax.Array, target: jax.Array) -> jax.Array:
    """Mean squared error between (N, H, W, C) features and their target. Returns (N,).

    .. note:: The paper uses ½·Σ(F − P)²; the mean instead of the half sum only rescales the
       content weight.
    """
    return jnp.mean(jnp.square(features - target), axis=(1, 2, 3))


def style_layer_loss(features: jax.Array, target_gram: jax.Array) -> jax.Array:
    """Mean squared error between the Grams of (N, H, W, C) features and a (C, C) target.

    Returns (N,).
    """
    return jnp.mean(jnp.square(gram(features) - target_gram[None]), axis=(1, 2))


def blended_gram(grams: jax.Array, blend: jax.Array) -> jax.Array:
    """Target Gram of several style images: Σₖ blendₖ·Gₖ / Σₖ blendₖ for (K, C, C) grams."""
    blend = jnp.asarray(blend, grams.dtype)
    return jnp.tensordot(blend / jnp.sum(blend), grams, axes=1)


def tv_loss(images: jax.Array) -> jax.Array:
    """Total variation: mean squared difference of neighbouring pixels, (N, H, W, C) -> (N,).

    .. note:: Not in Gatys et al.; a common addition (Mahendran & Vedaldi) against
       high-frequency noise. Off in the seed preset.
    """
    dy = jnp.mean(jnp.square(images[:, 1:] - images[:, :-1]), axis=(1, 2, 3))
    dx = jnp.mean(jnp.square(images[:, :, 1:] - images[:, :, :-1]), axis=(1, 2, 3))
    return dx + dy


def blend(values: jax.Array, weights: jax.Array) -> jax.Array:
    """Σₖ weightsₖ·valuesₖ / Σₖ weightsₖ over the leading axis of (K, ...) values."""
    weights = jnp.asarray(weights, values.dtype)
    return jnp.tensordot(weights / jnp.sum(weights), values, axes=1)


def gram_magnitude(target: jax.Array) -> jax.Array:
    """Mean square of a (..., C, C) target Gram, (...): dividing a layer's Gram loss by it
    makes the loss the relative squared error of the Gram (`style_normalize`)."""
    return jnp.mean(jnp.square(target), axis=(-2, -1))
