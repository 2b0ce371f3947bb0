"""Spatial control in the objective (Gatys et al. 2017, §4): guided targets and loss terms.

The building blocks are `masks` (label images, on the host), `guides` (guide channels at every
layer) and `guided` (guided statistics). This module joins them the way `total.total_loss`
uses them when `Objective.guided` is set:

- `content_guides`: from the content's region map at one scale, the guides of every style
  layer and, where a region is kept as the photo, every content layer's per-pixel content
  weight;
- `selection_guides`: the guide of a style mask's selection at every style layer;
- `style_statistics`: what the style loss reads of one style image at a layer, under its
  selection guide: its Gram ("gram"), or its mean and second raw moment ("wasserstein");
- `region_targets`: each region's target at every style layer, stacked over the regions: the
  blended Grams (R, C, C), or a `wasserstein.Gaussian` of the blended moments;
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

from stylejax.objective import guided, guides, losses, wasserstein

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
    # {style layer: (R, P) the positions each region's guide covers, `with_positions`}; None:
    # every region reads every position
    positions: dict[str, jax.Array] | None = None


def with_positions(where: Guides) -> Guides:
    """`where` with each style layer's `guided.region_positions`, so that each region's
    statistics read only its own positions: the same values, at R times the largest region's
    share of the cost instead of R times all of it. On the host, once per scale (the shapes
    depend on the guides' values). One region covers every position: it keeps the plain
    einsums."""
    if next(iter(where.style.values())).shape[1] == 1:
        return where
    positions = {name: guided.region_positions(g) for name, g in where.style.items()}
    return where._replace(positions=positions)


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


def style_statistics(
    features: jax.Array, guide: jax.Array | None, style_loss: str
) -> jax.Array | tuple[jax.Array, jax.Array]:
    """One style image's statistics at a layer, which `region_targets` blends.

    Args:
      features: (1, h, w, C) the style image's activations.
      guide: (1, 1, h, w) its selection (`selection_guides`), or None: the whole image.
      style_loss: "gram": its Gram (C, C); "wasserstein": its mean and second raw moment
        ((C,), (C, C)), which blend linearly (as the unguided `total.compute_targets`).
    """
    if style_loss == "wasserstein":
        if guide is None:
            mean, second = wasserstein.feature_moments(features)
            return mean[0], second[0]
        mean, second = guided.guided_moments(features, guide)
        return mean[0, 0], second[0, 0]
    return losses.gram(features)[0] if guide is None else guided.guided_gram(features, guide)[0, 0]


def region_targets(
    statistics: Sequence[dict[str, jax.Array | tuple[jax.Array, jax.Array]]],
    members: Sequence[tuple[int, ...]],
    blend: Sequence[float],
    style_loss: str,
    eps: float,
) -> tuple[dict[str, jax.Array | wasserstein.Gaussian], dict[str, jax.Array]]:
    """Each region's target at every layer, and its magnitude (`style_normalize`).

    Args:
      statistics: per style image, {layer: `style_statistics`} (guided by its style mask, if
        any).
      members: per region, the style images it learns from (one with a mask; all of them,
        blended, for style masks without a content mask); () for a kept region.
      blend: per style image, its weight in a blend.
      style_loss, eps: `total.Objective.style_loss` and `.eps` (the regularizer's floor).

    Returns:
      ({layer: target}, {layer: (R,) magnitude}): "gram" targets are the blended Grams
      (R, C, C); "wasserstein" targets a `wasserstein.Gaussian` of the blended moments, its
      fields stacked over R, every √cov in one batched call. A kept region's statistics are 0
      (its weight is 0, so its target is never read).
    """
    targets, magnitude = {}, {}
    for name in statistics[0]:
        per_region = []
        for chosen in members:
            if not chosen:
                per_region.append(jax.tree.map(jnp.zeros_like, statistics[0][name]))
                continue
            weights = jnp.asarray([blend[k] for k in chosen])
            per_region.append(
                jax.tree.map(
                    lambda *stats, weights=weights: losses.blend(jnp.stack(stats), weights),
                    *[statistics[k][name] for k in chosen],
                )
            )
        stacked = jax.tree.map(lambda *regions: jnp.stack(regions), *per_region)
        if style_loss == "wasserstein":
            mean, second = stacked
            targets[name] = wasserstein.gaussian_target(mean, second, eps)
            magnitude[name] = wasserstein.moment_magnitude(second)
        else:
            targets[name] = stacked
            magnitude[name] = losses.gram_magnitude(stacked)
    return targets, magnitude


def content_term(features: jax.Array, target: jax.Array, weight: jax.Array | None) -> jax.Array:
    """`losses.content_loss`, with a per-pixel weight (1, h, w, 1) where a region is kept:
    mean(w · (F − P)²). Returns (N,)."""
    if weight is None:
        return losses.content_loss(features, target)
    return jnp.mean(weight * jnp.square(features - target), axis=(1, 2, 3))


def guided_terms(
    features: dict[str, jax.Array],
    content_targets: dict[str, jax.Array],
    style_targets: dict[str, jax.Array | wasserstein.Gaussian],
    style_magnitude: dict[str, jax.Array] | None,
    where: Guides,
    content_layers: Sequence[str],
    style_layers: Sequence[str],
    style_loss: str,
) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
    """({content layer: scalar}, {style layer: scalar}): the unweighted terms of one image
    ((1, h, w, C) features) under guides; style targets and magnitudes per layer are
    `region_targets`'. `style_magnitude` None: the style terms are not normalized."""
    content = {
        name: content_term(features[name], content_targets[name], where.content.get(name))[0]
        for name in content_layers
    }
    magnitude = style_magnitude or {}
    positions = where.positions or {}
    style = {}
    for name in style_layers:
        guide, target, scale = where.style[name], style_targets[name], magnitude.get(name)
        loss = guided.guided_w2_loss if style_loss == "wasserstein" else guided.guided_style_loss
        term = loss(
            features[name],
            guide,
            target,
            region_weights=where.regions,
            magnitude=scale,
            positions=positions.get(name),
        )
        style[name] = term[0]
    return content, style
