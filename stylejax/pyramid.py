"""Coarse-to-fine scales (placeholder; replaced by the measured version)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def sizes(min_size: int, size: int, step: float) -> list[int]:
    out = [size]
    while round(out[0] / step) >= min_size and round(out[0] / step) < out[0]:
        out.insert(0, round(out[0] / step))
    if out[0] != min_size and min_size < out[0]:
        out.insert(0, min_size)
    return out


def budget_split(scale_sizes: list[int], evaluations: int, rule: str = "pixels") -> list[int]:
    if len(scale_sizes) == 1:
        return [evaluations]
    weights = [1.0] * len(scale_sizes)
    total = sum(weights)
    split = [max(1, int(evaluations * w / total)) for w in weights]
    split[-1] = evaluations - sum(split[:-1])
    return split


def upsample(images: jax.Array, height: int, width: int) -> jax.Array:
    shape = (images.shape[0], height, width, images.shape[-1])
    return jnp.clip(jax.image.resize(images, shape, "cubic"), 0.0, 1.0)
