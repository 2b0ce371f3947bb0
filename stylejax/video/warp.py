"""Backward warping by an optical flow field, in pure JAX (jit-able, vmap-able, differentiable
in the image).

warp(image, flow)(p) = image(p + flow(p)), sampled bilinearly. It is `cv2.remap(image,
x + flow_x, y + flow_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)`: a sample outside
the image takes the nearest edge pixel, which is the same as clamping the coordinates to the
image (`scipy.ndimage.map_coordinates(..., order=1, mode="nearest")`). Edge repetition is also
what artistic-videos' warp of the previous frame does (torch `image.warp`, clamp mode); the
pixels it invents have c = 0 in the temporal loss anyway (`stylejax.video.flow.reliability`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike


@jax.jit
def warp(image: ArrayLike, flow: ArrayLike) -> Array:
    """Samples `image` at p + flow(p) for every pixel p.

    image: (H, W, C) (or (H, W)) values.
    flow: (H, W, 2) displacements in pixels, (x, y) order as in OpenCV: flow from the frame the
        result is aligned with to the frame `image` belongs to.
    Returns an array of image's shape and dtype (floating).
    """
    image = jnp.asarray(image)
    flow = jnp.asarray(flow, image.dtype)
    height, width = image.shape[:2]
    if flow.shape != (height, width, 2):
        raise ValueError(f"flow must be (H, W, 2) = {(height, width, 2)}, got {flow.shape}")
    rows = jnp.arange(height, dtype=image.dtype)[:, None]
    cols = jnp.arange(width, dtype=image.dtype)[None, :]
    # Clamped coordinates give exactly the replicated border (module docstring).
    x = jnp.clip(cols + flow[..., 0], 0, width - 1)
    y = jnp.clip(rows + flow[..., 1], 0, height - 1)
    x0 = jnp.floor(x)
    y0 = jnp.floor(y)
    fx = x - x0
    fy = y - y0
    x0 = x0.astype(jnp.int32)
    y0 = y0.astype(jnp.int32)
    x1 = jnp.minimum(x0 + 1, width - 1)
    y1 = jnp.minimum(y0 + 1, height - 1)
    if image.ndim == 3:
        fx = fx[..., None]
        fy = fy[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy
