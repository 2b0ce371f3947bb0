"""Spatial control on the host (issue 18): a run's masks, read and checked once, and its guided
targets at each scale.

`read` turns the masks as the user gave them (paths, PIL images or arrays) into `Regions`: the
content's region map at the mask's own size, the style images of each region, and the mask of
each style image. `targets` makes one scale's `Targets` with guides: the region map is resized
to the scale with NEAREST, softened and brought to every layer (`objective.spatial`).

Errors are `RegionsError`s naming the Config field they are about; the plan step turns them
into ConfigErrors.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from PIL import Image

from stylejax.engine.margin import pad_labels as margin_labels
from stylejax.objective import masks, spatial
from stylejax.objective.masks import Color, MaskError
from stylejax.objective.total import Objective, Targets

MaskLike = str | os.PathLike | Image.Image | np.ndarray


class RegionsError(MaskError):
    """A mask that cannot be used; `field` is the Config field it is about."""

    def __init__(self, field: str, problem: str):
        super().__init__(problem)
        self.field, self.problem = field, problem


@dataclasses.dataclass(frozen=True)
class Regions:
    """A run's masks, as read once."""

    labels: np.ndarray  # (H, W) int32: the region of each pixel, at the mask's own size
    colors: tuple[Color, ...]  # (R,) each region's colour
    members: tuple[tuple[int, ...], ...]  # (R,) the style images each region learns from
    kept: int | None  # the region left as the photo, or None
    style_masks: tuple[np.ndarray | None, ...]  # per style image: its mask (RGB uint8) or None
    blur: float  # seams' softening, in pixels of the result (Config.mask_blur)
    erode: bool  # the paper's eroded guides (Config.mask_erode)

    @property
    def count(self) -> int:
        return len(self.colors)


def _raising(field: str, call, *args, **kwargs):
    """`call(*args, **kwargs)`, its MaskError re-raised as a RegionsError about `field`, its
    message without a leading 'mask: ' or field name (the error names the field)."""
    try:
        return call(*args, **kwargs)
    except MaskError as e:
        problem = str(e)
        for prefix in ("mask: ", f"{field} "):
            problem = problem.removeprefix(prefix)
        raise RegionsError(field, problem) from None


def read(
    mask: MaskLike | None,
    style_masks: Sequence[MaskLike | None] | None,
    *,
    style_count: int,
    colors: Sequence[str] = (),
    keep_content: str | None = None,
    blur: float,
    erode: bool,
    content_shape: tuple[int, int],
    style_shapes: Sequence[Sequence[tuple[int, int]]],
) -> Regions | None:
    """The run's regions, or None when neither a mask nor style masks are given.

    Args:
      mask: the content's label image, or None (then style masks alone select the part of
        each style image to learn from, and the whole picture is one region: the blend of the
        styles).
      style_masks: per style image, a mask (white selects) or None; None or empty: none.
      style_count: how many style images the run has.
      colors, keep_content, blur, erode: Config.mask_colors, keep_content, mask_blur and
        mask_erode.
      content_shape: (height, width) of the result, where every styled region must have pixels.
      style_shapes: per style image, its (height, width) at every scale, where its mask must
        select some pixels.

    Raises:
      RegionsError: one line, naming the field.
    """
    style_masks = tuple(style_masks or ())
    if mask is None:
        for field, value in (("mask_colors", colors), ("keep_content", keep_content)):
            if value:
                raise RegionsError(field, "needs a mask; give one or drop it")
        if not style_masks:
            return None
    selections = _style_masks(style_masks, style_count, style_shapes)
    if mask is None:
        # One region, everywhere: the styles are blended as without masks.
        labels = np.zeros(content_shape, np.int32)
        return Regions(
            labels, ((0, 0, 0),), (tuple(range(style_count)),), None, selections, blur, erode
        )
    rgb = _raising("mask", masks.read_mask, mask, "mask")
    region_map = _raising(
        "mask_colors" if colors else "mask", masks.labels_from_mask, rgb, tuple(colors) or None
    )
    kept = None
    if keep_content is not None:
        color = _raising("keep_content", masks.parse_color, keep_content)
        if color not in region_map.colors:
            raise RegionsError(
                "keep_content",
                f"{masks.color_name(color)} is not a colour of the mask, which holds "
                f"{', '.join(map(masks.color_name, region_map.colors[:8]))}"
                + (" ..." if len(region_map.colors) > 8 else ""),
            )
        kept = region_map.colors.index(color)
    assignment = _raising(
        "mask",
        masks.assign_styles,
        region_map.colors,
        style_count,
        None if kept is None else region_map.colors[kept],
    )
    members = tuple(() if k is None else (k,) for k in assignment)
    regions = Regions(region_map.labels, region_map.colors, members, kept, selections, blur, erode)
    present = np.unique(labels_at(regions, content_shape))
    missing = [c for r, c in enumerate(regions.colors) if r not in present and r != kept]
    if missing:
        raise RegionsError(
            "mask",
            f"has no pixel of {', '.join(map(masks.color_name, missing))} once resized to the "
            f"result's {content_shape[1]}x{content_shape[0]} pixels; enlarge that region",
        )
    return regions


def _style_masks(
    style_masks: tuple, style_count: int, style_shapes: Sequence[Sequence[tuple[int, int]]]
) -> tuple[np.ndarray | None, ...]:
    """Each style image's mask as RGB, checked to select pixels at every scale."""
    if not style_masks:
        return (None,) * style_count
    if len(style_masks) != style_count:
        raise RegionsError(
            "style_masks",
            f"has {len(style_masks)} masks for {style_count} style images; give one per style",
        )
    out = []
    for k, (style_mask, shapes) in enumerate(zip(style_masks, style_shapes, strict=True)):
        if style_mask is None:
            out.append(None)
            continue
        what = f"style mask {k + 1}"
        rgb = _raising("style_masks", masks.read_mask, style_mask, what)
        for shape in dict.fromkeys(shapes):
            _raising("style_masks", masks.style_selection, rgb, shape, what=what)
        out.append(rgb)
    return tuple(out)


def labels_at(regions: Regions, shape: tuple[int, int]) -> np.ndarray:
    """(height, width) int32 region map at `shape`, resized with NEAREST (no new regions)."""
    if regions.labels.shape == tuple(shape):
        return regions.labels
    resized = Image.fromarray(regions.labels, mode="I").resize(
        shape[::-1], Image.Resampling.NEAREST
    )
    return np.asarray(resized, np.int32)


def targets(
    objective: Objective,
    params: dict,
    content: jnp.ndarray,
    styles: Sequence[jnp.ndarray],
    regions: Regions,
    blend: Sequence[float],
    ratio: float,
    *,
    margin: int = 0,
) -> Targets:
    """Content features, each region's style targets and the guides at one scale.

    Args:
      content: (H, W, 3) the content image at this scale, on its canvas (`margin` pixels of
        it around the picture); styles: (h, w, 3) each.
      blend: per style image, its weight where a region blends several.
      ratio: this scale's size over the result's; the seams' softening shrinks with it, so
        the soft band covers the same part of the picture at every scale.
    """
    content_features = objective.features(params, content[None], objective.content_layers)
    picture = (content.shape[0] - 2 * margin, content.shape[1] - 2 * margin)
    layers = tuple(objective.style_layers)
    statistics = []
    for style, style_mask in zip(styles, regions.style_masks, strict=True):
        features = objective.features(params, style[None], layers)
        selected = dict.fromkeys(layers)  # None: the whole style image
        if style_mask is not None:
            selection = masks.style_selection(style_mask, tuple(style.shape[:2]))
            selected = spatial.selection_guides(
                jnp.asarray(selection), style_layers=layers, erode=regions.erode
            )
        statistics.append(
            {
                name: spatial.style_statistics(f, selected[name], objective.style_loss)
                for name, f in features.items()
            }
        )
    where = spatial.content_guides(
        jnp.asarray(margin_labels(labels_at(regions, picture), margin)),
        regions=regions.count,
        blur_px=float(regions.blur * ratio),
        style_layers=layers,
        content_layers=tuple(objective.content_layers),
        erode=regions.erode,
        kept=regions.kept,
    )
    where = spatial.with_positions(where)  # each region reads its own positions only
    style, magnitude = spatial.region_targets(
        statistics, regions.members, blend, objective.style_loss, objective.eps
    )
    return Targets(content=content_features, style=style, style_magnitude=magnitude, guides=where)
