"""Spatial control in the objective (Gatys et al. 2017, §4): guided targets and loss terms.

The building blocks are `masks` (label images, on the host), `guides` (guide channels at every
layer) and `guided` (guided statistics). This module joins them the way `total.total_loss`
uses them when `Objective.guided` is set:

- `content_guides`: from the content's region map at one scale, the guides of every style
  layer and, where a region is kept as the photo, every content layer's per-pixel content
  weight;
- `selection_guides`: the guide of a style mask's selection at every style layer;
- `region_targets`: each region's target Gram at every style layer, (R, C, C);
- `guided_terms`: the content and style terms under guides.

The guides are data shared by a sweep's members (the mask is not swept) and by the pyramid's
passes at one scale; they are made once per scale, never inside the loss.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from stylejax.objective import guided, guides, losses

# How much more the content counts on the pixels of a region kept as the photo (keep_content)
# than elsewhere. Not in Gatys et al., whose regions all have a style. A kept region's style
# weight is 0, so there only the content loss acts, but the neighbouring regions' style terms
# still pull on its border pixels through VGG's receptive fields (up to ~100 pixels at relu4_1)
# and the soft seam; 10x the content weight holds the border to the photo while the band the
# soft seam shares with its neighbour still blends.
KEPT_CONTENT_WEIGHT = 10.0


class Guides(NamedTuple):
    """Where the regions are, at one scale: shared data of the run."""

    style: dict[str, jax.Array]  # {style layer: (1, R, h, w)} the content's region guides
    content: dict[str, jax.Array]  # {content layer: (1, h, w, 1)} per-pixel content weights,
    # 1 outside a kept region and KEPT_CONTENT_WEIGHT inside; {} when no region is kept
    regions: jax.Array  # (R,) region weights, 1 styled and 0 kept (normalized to sum 1)


@functools.partial(
    jax.jit,
    static_argnames=("regions", "blur_px", "style_layers", "content_layers", "erode", "kept"),
)
def content_guides(
    labels: jax.Array,
    *,
    regions: int,
    blur_px: float,
    style_layers: tuple[str, ...],
    content_layers: tuple[str, ...],
    erode: bool,
    kept: int | None,
) -> Guides:
    """The content image's guides at every layer the objective reads.

    Args:
      labels: (H, W) int32 region of each pixel of the content image at this scale.
      regions: R. blur_px: the seams' softening in pixels of this scale (`soft_guides`).
      erode: the paper's eroded guides at the style layers (`guides_at_layers`).
      kept: the region left as the photo, or None.
    """
    soft = guides.soft_guides(labels, regions, blur_px)  # (R, H, W)
    style = {
        name: g[None] for name, g in guides.guides_at_layers(soft, style_layers, erode).items()
    }
    content = {}
    if kept is not None:
        # Plain (never eroded) guides: the kept region's whole area, seam included, is held.
        plain = guides.guides_at_layers(soft[kept], content_layers, erode=False)
        content = {
            name: (1 + (KEPT_CONTENT_WEIGHT - 1) * g)[None, :, :, None] for name, g in plain.items()
        }
    weights = jnp.asarray([0.0 if r == kept else 1.0 for r in range(regions)], jnp.float32)
    return Guides(style, content, weights)


@functools.partial(jax.jit, static_argnames=("style_layers", "erode"))
def selection_guides(
    selection: jax.Array, *, style_layers: tuple[str, ...], erode: bool
) -> dict[str, jax.Array]:
    """A style image's selection (`masks.style_selection`: (H, W) int32, 0 selected) as a
    (1, 1, h, w) guide at every style layer. Hard at the input: a style mask says which
    pixels to learn from, there is no seam to hide."""
    hard = guides.soft_guides(selection, 2)[:1]  # (1, H, W): the selected channel
    return {name: g[None] for name, g in guides.guides_at_layers(hard, style_layers, erode).items()}


def region_targets(
    grams: Sequence[dict[str, jax.Array]],
    members: Sequence[tuple[int, ...]],
    blend: Sequence[float],
) -> dict[str, jax.Array]:
    """Each region's target Gram at every layer.

    Args:
      grams: per style image, {layer: (C, C)} its Gram (guided by its style mask, if any).
      members: per region, the style images it learns from (one with a mask; all of them,
        blended, for style masks without a content mask); () for a kept region.
      blend: per style image, its weight in a blend.

    Returns:
      {layer: (R, C, C)}; a kept region's target is 0 (its weight is 0, so it is never read).
    """
    out = {}
    for name in grams[0]:
        per_region = []
        for chosen in members:
            if not chosen:
                per_region.append(jnp.zeros_like(grams[0][name]))
                continue
            stacked = jnp.stack([grams[k][name] for k in chosen])
            per_region.append(losses.blended_gram(stacked, jnp.asarray([blend[k] for k in chosen])))
        out[name] = jnp.stack(per_region)
    return out


def content_term(features: jax.Array, target: jax.Array, weight: jax.Array | None) -> jax.Array:
    """`losses.content_loss`, with a per-pixel weight (1, h, w, 1) where a region is kept:
    mean(w · (F − P)²). Returns (N,)."""
    if weight is None:
        return losses.content_loss(features, target)
    return jnp.mean(weight * jnp.square(features - target), axis=(1, 2, 3))


def guided_terms(
    features: dict[str, jax.Array],
    content_targets: dict[str, jax.Array],
    style_targets: dict[str, jax.Array],
    where: Guides,
    content_layers: Sequence[str],
    style_layers: Sequence[str],
) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
    """({content layer: scalar}, {style layer: scalar}): the unweighted terms of one image
    ((1, h, w, C) features) under guides; style targets are (R, C, C) per layer."""
    content = {
        name: content_term(features[name], content_targets[name], where.content.get(name))[0]
        for name in content_layers
    }
    style = {
        name: guided.guided_style_loss(
            features[name], where.style[name], style_targets[name], where.regions
        )[0]
        for name in style_layers
    }
    return content, style
