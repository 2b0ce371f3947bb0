"""Reading and writing images: float32 (H, W, 3) RGB arrays in [0, 1] on the stylejax side."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from stylejax.atomic import atomic_write


class ImageError(ValueError):
    """An image that cannot be read or written, with the path and what to do."""


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB, with transparency composited on white and 16-bit / CMYK modes converted."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, np.float64)
        scale = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / scale * 255 + 0.5, 0, 255).astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def load(path: str | os.PathLike, size: int | None = None) -> np.ndarray:
    """Reads an image as float32 (H, W, 3) RGB in [0, 1], EXIF orientation applied.

    With `size`, the longest side is resampled (Lanczos) to `size` pixels; an image already
    that size is returned untouched.
    """
    try:
        with Image.open(path) as opened:
            image = _to_rgb(ImageOps.exif_transpose(opened))
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a directory, not an image") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file pillow can read") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path}: corrupt or truncated image ({e})") from None
    except Image.DecompressionBombError as e:
        raise ImageError(f"{path}: refused as a decompression bomb ({e})") from None
    if size is not None:
        image = resize_longest(image, size)
    return np.asarray(image, np.float32) / 255.0


def resize_longest(image: Image.Image, size: int) -> Image.Image:
    """Scales so that the longest side is `size` pixels (aspect kept); same size: unchanged."""
    width, height = image.size
    if max(width, height) == size:
        return image
    scale = size / max(width, height)
    shape = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(shape, Image.Resampling.LANCZOS)


def resize_to(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resamples a float (H, W, 3) image to exactly (height, width)."""
    if array.shape[:2] == (height, width):
        return array
    return (
        np.asarray(to_pil(array).resize((width, height), Image.Resampling.LANCZOS), np.float32)
        / 255.0
    )


def to_pil(array: np.ndarray) -> Image.Image:
    """(H, W, 3) floats in [0, 1] to an 8-bit RGB image (rounded, clipped)."""
    return Image.fromarray(np.clip(np.asarray(array) * 255.0 + 0.5, 0, 255).astype(np.uint8))


def save(array: np.ndarray, path: str | os.PathLike) -> None:
    """Writes atomically; the format follows the extension (PNG, JPEG at quality 95, ...)."""
    path = Path(path)
    extension = path.suffix.lower()
    options = {"quality": 95} if extension in (".jpg", ".jpeg") else {}
    if extension not in Image.registered_extensions():
        raise ImageError(f"{path}: unknown image extension {extension!r}; use .png or .jpg")
    with atomic_write(path) as tmp:
        to_pil(array).save(tmp, format=Image.registered_extensions()[extension], **options)
