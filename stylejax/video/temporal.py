"""The temporal terms of Ruder, Dosovitskiy & Brox: the loss that ties a frame to its warped
neighbours, the long-term weights (both defined in `stylejax.objective.temporal`, below the
optimizer, and re-exported here), the warped initialization and the multi-pass blend.

Pure functions of arrays; c are the consistency weights of `stylejax.video.flow` ((H, W), 1
where the flow can be trusted, 0 where it cannot), and warped neighbours come from
`stylejax.video.warp.warp`. The losses are in the units of the images given: artistic-videos
applies them to Caffe-preprocessed pixels (0..255), so its temporal weights (1e3 single-pass,
5e2 multi-pass) are for that scale.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from stylejax.objective.temporal import (  # noqa: F401 - re-exported, the video terms' home
    long_term_temporal_loss,
    long_term_weights,
    temporal_loss,
)
from stylejax.video.warp import warp

DEFAULT_BLEND = 0.5
"""δ of the multi-pass blend: equal parts of the frame and its warped neighbour, which is
artistic-videos' default -blendWeight 1 (its weight b is δ = b / (1 + b))."""


def warp_neighbours(frames: ArrayLike, flows: ArrayLike, offset: int) -> Array:
    """Every frame's neighbour at `offset` warped onto it: [i] = warp(frames[i - offset],
    flows[i]), for a whole clip at once.

    frames: (N, H, W, C) stylized frames.
    flows: (N, H, W, 2) flow from frame i to frame i - offset (ClipFlow.to_past[k] for
        offset > 0, ClipFlow.to_future[k] with offset = -j for the frame j later).
    offset: a Python int, non-zero.
    Returns (N, H, W, C). Rows whose neighbour lies outside the clip hold a wrapped-around
    frame: their c in ClipFlow is 0, which switches them off.
    """
    if offset == 0:
        raise ValueError("offset must be non-zero")
    neighbours = jnp.roll(jnp.asarray(frames), offset, axis=0)  # [i] = frames[i - offset]
    return jax.vmap(warp)(neighbours, flows)


def warped_init(
    previous: ArrayLike, flow: ArrayLike, reliable: ArrayLike, content: ArrayLike
) -> Array:
    """The start of the next frame: the previous stylized frame warped onto it, with the content
    frame where c = 0 (disocclusions, motion boundaries, pixels coming from outside).

    previous: (H, W, C) stylized frame i - 1.
    flow: (H, W, 2) from frame i to frame i - 1 (ClipFlow.to_past[0, i]).
    reliable: (H, W) its c.
    content: (H, W, C) content frame i, in the same units as `previous`.
    Returns (H, W, C).

    .. note:: artistic-videos fills only pixels warped from outside the frame, with the VGG mean
       pixel; taking the content frame at every untrusted pixel follows the issue.
    """
    weight = jnp.asarray(reliable)[..., None]
    return weight * warp(previous, flow) + (1 - weight) * jnp.asarray(content)


def multipass_blend(
    frame: ArrayLike, warped_neighbour: ArrayLike, reliable: ArrayLike, blend: float = DEFAULT_BLEND
) -> Array:
    """The multi-pass start of a frame: δ c ω(x_n) + (1 - δ c) x (Ruder et al. 2018, multi-pass
    algorithm), so trusted pixels move towards the neighbour by δ and the others stay.

    frame: (H, W, C) the frame's result of the previous pass, x.
    warped_neighbour: (H, W, C) the neighbour in this pass's direction, warped onto it, ω(x_n).
    reliable: (H, W) its c.
    blend: δ in [0, 1].
    Returns (H, W, C). Works batched under jax.vmap over frames.
    """
    weight = blend * jnp.asarray(reliable)[..., None]
    return weight * jnp.asarray(warped_neighbour) + (1 - weight) * jnp.asarray(frame)
