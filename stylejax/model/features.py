"""`features`: the public, jitted VGG19 feature extractor."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from stylejax.model.load import load_weights
from stylejax.model.vgg import VGG19, Preprocessing, check_layers, deepest, pooling_count


@functools.partial(jax.jit, static_argnames=("layers", "pooling", "preprocessing"))
def extract(
    params: dict,
    images: jax.Array,
    *,
    layers: tuple[str, ...],
    pooling: str,
    preprocessing: Preprocessing,
) -> dict[str, jax.Array]:
    """Pure, jitted: VGG19 activations {layer: (N, h, w, C)} of RGB `images` (N, H, W, 3)."""
    return VGG19(preprocessing=preprocessing, pooling=pooling).apply(params, images, layers)


def check_images(images: jax.Array, layers: Sequence[str]) -> None:
    """Raises ValueError unless `images` is a float NHWC RGB batch big enough for `layers`."""
    shape = tuple(jnp.shape(images))
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(
            f"images must be NHWC RGB with shape (N, H, W, 3), got shape {shape}; "
            f"add a batch axis with images[None] for a single image"
        )
    if not jnp.issubdtype(jnp.result_type(images), jnp.floating):
        raise ValueError(
            f"images must be floating point RGB in [0, 1], got dtype {jnp.result_type(images)}; "
            f"divide uint8 images by 255"
        )
    minimum = 2 ** pooling_count(deepest(layers))
    if min(shape[1:3]) < minimum:
        raise ValueError(
            f"images of {shape[1]}x{shape[2]} pixels are too small for layer {deepest(layers)}, "
            f"which needs at least {minimum}x{minimum}; use larger images or shallower layers"
        )


def features(
    images: jax.Array,
    layers: Sequence[str],
    *,
    weights: str | os.PathLike | None = None,
    pooling: str = "avg",
) -> dict[str, jax.Array]:
    """VGG19 activations of `images`.

    Args:
      images: float32 (N, H, W, 3) RGB in [0, 1].
      layers: names such as "relu4_1" (conv1_1..conv5_4, relu1_1..relu5_4, pool1..pool5).
      weights: a converted .h5 file; None fetches and caches the default Caffe VGG19.
      pooling: "avg" (Gatys et al.) or "max" (VGG as trained).

    Returns:
      {layer: (N, h, w, C) float32}; only the layers up to the deepest requested are computed.
    """
    layers = check_layers(layers)
    check_images(images, layers)
    loaded = load_weights(weights)
    return extract(
        loaded.params,
        jnp.asarray(images, jnp.float32),
        layers=layers,
        pooling=pooling,
        preprocessing=loaded.preprocessing,
    )
