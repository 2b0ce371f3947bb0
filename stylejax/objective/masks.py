"""Region masks for spatial control (Gatys et al. 2017, §4): label images read on the host.

A mask is a label image: each distinct colour (or grey level) is a region. `labels_from_mask`
turns one into a region index map at the content's size, `assign_styles` pairs regions with
style images, and `style_selection` reads the optional mask of a style image. Everything here is
NumPy and Pillow, run once per scale before optimization; `objective.guides` turns the index
map into guide channels and `objective.guided` uses them.

Conventions:

- A mask may be a file path, a Pillow image of any mode, or an array: (H, W) or (H, W, 3|4),
  integers in 0..255, booleans, or floats in [0, 1]. It is read as 8-bit RGB (transparency
  composited on white, grey level g as (g, g, g)), so colours are always (r, g, b) tuples.
- A mask of any size is resized to the content's (height, width) with NEAREST resampling, so
  no new colours appear; regions are then read from the resized mask, which is what is used.
- Regions are ordered by first appearance in reading order (row by row, left to right), or by
  an explicit `colors` list. With `colors`, every pixel joins the NEAREST listed colour, so the
  anti-aliased or JPEG-blurred edges of a drawn mask are absorbed (see `COLOR_TOLERANCE`).
- Bad input raises MaskError (a ValueError) with a one-line message saying what to do.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageColor

from stylejax.files import images

Color = tuple[int, int, int]

# A listed colour is "in the mask" when some pixel is within this distance of it (the largest
# per-channel difference, in 8-bit levels). Large enough for JPEG noise on flat areas, small
# enough that two distinct drawing colours (which differ by far more) are never confused.
COLOR_TOLERANCE = 48
# With explicit colours, at most this fraction of the pixels may be farther than the tolerance
# from every listed colour: a drawn mask's anti-aliased seams are well under 1% of it, while a
# region whose colour was forgotten in the list is usually much larger, and is refused.
MAX_UNLISTED_FRACTION = 0.01
# Pixels of a style mask at or above this grey level (of 255) are selected: white selects.
SELECTED_LEVEL = 128


class MaskError(ValueError):
    """A region mask that cannot be used, with a one-line message saying what to do."""


class RegionMap(NamedTuple):
    labels: np.ndarray  # (H, W) int32, the region index of each pixel, 0..R-1
    colors: tuple[Color, ...]  # (R,) the colour of each region, in region order


def parse_color(text: str | int | Sequence[int]) -> Color:
    """A colour as an (r, g, b) tuple from '#ff8800', 'red', 'rgb(255,136,0)', a grey level
    ('128' or 128) or a 3-sequence of ints in 0..255. Raises MaskError otherwise."""
    if isinstance(text, str):
        stripped = text.strip()
        if stripped.isdigit():
            return parse_color(int(stripped))
        try:
            rgb = ImageColor.getrgb(stripped)
        except ValueError:
            raise MaskError(
                f"cannot read the colour {text!r}; write it as '#rrggbb', a name like 'red', "
                f"or a grey level 0-255"
            ) from None
        return int(rgb[0]), int(rgb[1]), int(rgb[2])
    if isinstance(text, int | np.integer):
        if not 0 <= int(text) <= 255:
            raise MaskError(f"grey level {int(text)} is outside 0..255")
        return int(text), int(text), int(text)
    try:
        values = tuple(int(v) for v in text)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 3 or not all(0 <= v <= 255 for v in values):
        raise MaskError(f"a colour is three integers in 0..255, got {text!r}")
    return values[0], values[1], values[2]


def color_name(color: Color) -> str:
    """'#rrggbb', as messages and --mask-colors write a colour."""
    return "#{:02x}{:02x}{:02x}".format(*color)


def read_mask(mask: str | os.PathLike | Image.Image | np.ndarray, what: str = "mask") -> np.ndarray:
    """A mask as (H, W, 3) uint8 RGB (conventions: module docstring). Raises MaskError for
    anything that is not an image; `what` names the mask in messages ('--style-masks 2')."""
    if isinstance(mask, str | os.PathLike):
        try:
            return np.asarray(images.decode(mask), np.uint8)
        except images.ImageError as e:
            raise MaskError(f"{what}: {e}") from None
    if isinstance(mask, Image.Image):
        return np.asarray(images.to_rgb(mask), np.uint8)
    if not isinstance(mask, np.ndarray) and not hasattr(mask, "__array__"):
        raise MaskError(
            f"{what} must be an image file, a PIL image or an array, got {type(mask).__name__}"
        )
    return _array_to_rgb(np.asarray(mask), what)


def _array_to_rgb(array: np.ndarray, what: str) -> np.ndarray:
    """(H, W) or (H, W, 3|4) array of ints 0..255, booleans or floats in [0, 1] -> RGB uint8."""
    if array.ndim == 3 and array.shape[-1] == 4:
        array = array[..., :3]  # alpha is ignored for arrays: a label array is opaque
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] == 3)) or 0 in array.shape:
        raise MaskError(
            f"{what} must be an (H, W) or (H, W, 3) label image, got an array of shape "
            f"{array.shape}"
        )
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
            raise MaskError(f"{what}: a float mask must hold values in [0, 1]")
        array = np.round(array * 255)
    elif np.issubdtype(array.dtype, np.integer):
        if array.min() < 0 or array.max() > 255:
            raise MaskError(
                f"{what}: integer labels must lie in 0..255, got {array.min()}..{array.max()}"
            )
    else:
        raise MaskError(f"{what}: cannot read an array of dtype {array.dtype} as an image")
    array = array.astype(np.uint8)
    return np.repeat(array[..., None], 3, axis=-1) if array.ndim == 2 else array


def _resize_nearest(rgb: np.ndarray, shape: tuple[int, int] | None) -> np.ndarray:
    """(H, W, 3) uint8 resized to (height, width) with NEAREST, which creates no new colour."""
    if shape is None or rgb.shape[:2] == tuple(shape):
        return rgb
    height, width = shape
    if height < 1 or width < 1:
        raise ValueError(f"the mask's target size must be positive, got {shape}")
    resized = Image.fromarray(rgb).resize((width, height), Image.Resampling.NEAREST)
    return np.asarray(resized, np.uint8)


def _distinct_in_reading_order(rgb: np.ndarray) -> tuple[np.ndarray, tuple[Color, ...]]:
    """Region index of each pixel and the distinct colours, by first appearance."""
    keys = rgb.astype(np.int32) @ np.array([1 << 16, 1 << 8, 1], np.int32)  # (H, W)
    unique, first, inverse = np.unique(keys.ravel(), return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # region r is the order[r]-th smallest key
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    labels = rank[inverse].reshape(keys.shape).astype(np.int32)
    colors = tuple(((k >> 16) & 255, (k >> 8) & 255, k & 255) for k in unique[order].tolist())
    return labels, colors


def _nearest_listed(rgb: np.ndarray, colors: tuple[Color, ...], what: str) -> np.ndarray:
    """Region index of each pixel as the nearest of `colors`; refuses colours absent from the
    mask and masks with large parts in none of the colours."""
    pixels = rgb.astype(np.int32)
    # Per colour, not broadcast over all at once: (H, W, R, 3) would be large for big masks.
    squared = np.stack([np.sum(np.square(pixels - c), axis=-1) for c in colors])  # (R, H, W)
    near = np.stack([np.abs(pixels - c).max(axis=-1) <= COLOR_TOLERANCE for c in colors])
    labels = np.argmin(squared, axis=0)  # the nearest colour in Euclidean RGB
    absent = [colors[r] for r in range(len(colors)) if not near[r].any()]
    if absent:
        found = _distinct_in_reading_order(rgb)[1]
        shown = ", ".join(map(color_name, found[:8])) + (" ..." if len(found) > 8 else "")
        raise MaskError(
            f"{what}: the colour(s) {', '.join(map(color_name, absent))} from mask_colors "
            f"are not in the mask, which holds {shown}"
        )
    unlisted = ~near.any(axis=0)
    if unlisted.mean() > MAX_UNLISTED_FRACTION:
        y, x = np.argwhere(unlisted)[0]
        raise MaskError(
            f"{what}: {unlisted.mean():.0%} of the mask is none of the mask_colors (e.g. "
            f"{color_name(tuple(int(v) for v in rgb[y, x]))} at x={x}, y={y}); list every "
            f"region's colour"
        )
    return labels.astype(np.int32)


def labels_from_mask(
    mask: str | os.PathLike | Image.Image | np.ndarray,
    colors: Sequence[str | int | Sequence[int]] | None = None,
    shape: tuple[int, int] | None = None,
    *,
    what: str = "mask",
) -> RegionMap:
    """Region index map of a label image (conventions: module docstring).

    Args:
      mask: a label image: file path, PIL image (any mode) or array.
      colors: the regions' colours, in region order ('#ff0000', 'red', 128, (255, 0, 0), ...);
        None: every distinct colour, by first appearance in reading order.
      shape: (height, width) of the content image at this scale; the mask is resized to it with
        NEAREST. None keeps the mask's size.
      what: how messages name the mask ('--mask').

    Returns:
      RegionMap(labels (height, width) int32 in 0..R-1, colors (R,) of (r, g, b)).

    Raises:
      MaskError: not an image; a listed colour absent from the mask (after resizing); a
        listed colour given twice; much of the mask in none of the listed colours.
    """
    rgb = _resize_nearest(read_mask(mask, what), shape)
    if colors is None:
        labels, found = _distinct_in_reading_order(rgb)
        return RegionMap(labels, found)
    listed = tuple(parse_color(c) for c in colors)
    if not listed:
        raise MaskError(f"{what}: mask_colors is empty; list at least one colour")
    twice = sorted({c for c in listed if listed.count(c) > 1})
    if twice:
        raise MaskError(
            f"mask_colors lists {', '.join(map(color_name, twice))} more than once; "
            f"give each region's colour once"
        )
    return RegionMap(_nearest_listed(rgb, listed, what), listed)


def assign_styles(
    colors: Sequence[Color], style_count: int, keep_content: Color | None = None
) -> tuple[int | None, ...]:
    """The style image of each region: the k-th region that is not kept takes style k.

    Args:
      colors: (R,) the regions' colours, in region order (from `labels_from_mask`).
      style_count: the number of --style images.
      keep_content: the colour of the region left as the photo (--keep-content), or None.

    Returns:
      (R,) the style index of each region, None for the kept region (its style weight is 0).

    Raises:
      MaskError: more regions than style images, a style image without a region, or a
        --keep-content colour that is not one of the regions.
    """
    colors = tuple(colors)
    if keep_content is not None and keep_content not in colors:
        raise MaskError(
            f"keep_content {color_name(keep_content)} is not a colour of the mask, which "
            f"holds {', '.join(map(color_name, colors))}"
        )
    styled = [c for c in colors if c != keep_content]
    if len(styled) > style_count:
        raise MaskError(
            f"the mask has {len(styled)} styled regions ({', '.join(map(color_name, styled))})"
            f" but only {style_count} style image(s); give one style per region, recolour "
            f"the mask with fewer colours, or give mask_colors (a JPEG or anti-aliased mask "
            f"has many colours: save it as PNG without anti-aliasing)"
        )
    if len(styled) < style_count:
        raise MaskError(
            f"the mask has {len(styled)} styled region(s) but {style_count} style images, so "
            f"style image {len(styled) + 1} has no region; add a colour to the mask or drop "
            f"the style"
        )
    styles = iter(range(style_count))
    return tuple(None if color == keep_content else next(styles) for color in colors)


def style_selection(
    mask: str | os.PathLike | Image.Image | np.ndarray,
    shape: tuple[int, int],
    color: str | int | Sequence[int] | None = None,
    *,
    what: str = "style mask",
) -> np.ndarray:
    """The part of a style image to learn from, as (height, width) int32 labels: 0 selected,
    1 not (the labels `guides.soft_guides(labels, 2, blur)` takes; keep channel 0).

    Args:
      mask: the style mask: file path, PIL image or array, any size (resized with NEAREST).
      shape: (height, width) of the style image as used.
      color: select the pixels of this colour (same tolerance as --mask-colors); None: select
        the light pixels (grey level >= SELECTED_LEVEL), so white selects and black excludes.

    Raises:
      MaskError: not an image, or nothing selected.
    """
    rgb = _resize_nearest(read_mask(mask, what), shape).astype(np.int32)
    if color is None:
        # ITU-R 601 luma, as Pillow's convert("L") computes it.
        grey = (rgb @ np.array([299, 587, 114], np.int32)) / 1000
        selected = grey >= SELECTED_LEVEL
        how = "no light pixels (white selects, black excludes)"
    else:
        target = np.asarray(parse_color(color), np.int32)
        selected = np.abs(rgb - target).max(axis=-1) <= COLOR_TOLERANCE
        how = f"no pixel of colour {color_name(parse_color(color))}"
    if not selected.any():
        raise MaskError(
            f"{what}: the region is empty, the mask has {how} at {shape[1]}x"
            f"{shape[0]} pixels; select part of the style image or drop the mask"
        )
    return np.where(selected, 0, 1).astype(np.int32)
