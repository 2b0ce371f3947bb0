"""Reading and writing images: float32 (H, W, 3) RGB arrays in [0, 1] on the stylejax side.

Conventions of `load`:

- Orientation: the EXIF orientation tag (274) is applied, so a portrait photo stored sideways
  comes back upright.
- Transparency (RGBA, LA, PA, palette or grey/RGB with a transparent colour) is composited on
  WHITE; a fully transparent pixel becomes (1, 1, 1), an opaque one keeps its colour.
- Colour modes: grey, bilevel, palette, CMYK (Adobe-inverted JPEGs included; Pillow reads the
  Adobe marker), YCbCr and the like are converted to RGB by Pillow.
- High bit depth: 16-bit grey (modes I;16*) is scaled by 1/65535. Mode I (32-bit integers, e.g.
  16-bit PGM, which Pillow scales to 0..65535) is scaled by 1/65535 when any value exceeds 255,
  else by 1/255. 16-bit RGB(A) PNGs are reduced to 8 bits by Pillow itself. Float images (mode
  F, e.g. 32-bit float TIFF) are taken as intensities in [0, 1]; values outside are clipped and
  NaN becomes 0.
- Multi-frame files (animated GIF/PNG/WebP, multi-page TIFF): only the first frame is read.
- Size limit: an image of more than `max_pixels` pixels (DEFAULT_MAX_PIXELS, 100 megapixels) is
  refused from its header, before anything is decoded, as a guard against decompression bombs.
  Pillow's own hard limit (2 x PIL.Image.MAX_IMAGE_PIXELS, about 179 megapixels) also applies;
  its DecompressionBombWarning between the two limits is not shown.
- Errors: anything that cannot be read is an ImageError (a ValueError) whose message is one
  line naming the file and saying what to do. Pillow's other warnings (corrupt EXIF or TIFF
  metadata) are not shown: they concern metadata, and the pixels are checked by decoding them.
  `PIL.ImageFile.LOAD_TRUNCATED_IMAGES` is left as it is (False by default): a truncated file is
  refused, never half-read.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from stylejax.files.atomic import atomic_write

DEFAULT_MAX_PIXELS = 100_000_000
"""Largest image `load` accepts, in pixels (width x height): 100 megapixels."""

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")

# What Pillow lets through on damaged files, instead of a bare `except Exception` that would also
# hide bugs here. "Fuzzed": seen escaping Pillow 13 in the fuzz test of tests/test_images.py.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # fuzzed: "image file is truncated", "broken data stream", decoder error -2, ...
    SyntaxError,  # fuzzed: plugins' "not a ... file", "broken PNG file" on a damaged header
    ValueError,  # fuzzed: bad tile extents, unsupported modes/rawmodes, negative sizes
    TypeError,  # fuzzed: TIFF tags of the wrong type (a float strip offset, a str count)
    struct.error,  # short header/tag unpacking; Image.open guards it, load and EXIF do not
    IndexError,  # out-of-range table offsets, the other error Image.open guards only itself
    KeyError,  # unknown codes in tag tables (JPEG/TIFF)
    EOFError,  # Pillow's "no more data" signal (GIF, PNG and TIFF frame reading)
    zlib.error,  # compressed PNG chunks (zTXt, iCCP) decompressed in Python
)


class ImageError(ValueError):
    """An image that cannot be read or written, with the path and what to do."""


def one_line(error: BaseException) -> str:
    """The exception's message on one line (Pillow's can hold newlines), or its type name."""
    return " ".join(str(error).split()) or type(error).__name__


def _check_file(path: str | os.PathLike) -> None:
    """Refuses a missing path, a directory or an empty file before Pillow sees it."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file; check the path") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied; check the file's permissions") from None
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
        raise ImageError(f"{path!r}: cannot access the file ({one_line(e)})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(f"{path}: is a directory; give an image file instead")
    if stat.S_ISREG(info.st_mode) and info.st_size == 0:
        raise ImageError(f"{path}: the file is empty (0 bytes); re-export or re-download it")


def _megapixels(pixels: int) -> str:
    """'100-megapixel', or '5000-pixel' for limits under a megapixel."""
    return f"{pixels / 1e6:g}-megapixel" if pixels >= 1_000_000 else f"{pixels}-pixel"


def _check_size(path: str | os.PathLike, image: Image.Image, max_pixels: int) -> None:
    """Refuses an empty or oversized image from its declared size, before decoding it."""
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError(f"{path}: the image is {width}x{height} pixels; re-export it")
    if width * height > max_pixels:
        raise ImageError(
            f"{path}: {width}x{height} pixels exceeds the {_megapixels(max_pixels)} limit "
            f"(max_pixels); downscale it first"
        )


def _bomb_message(path: str | os.PathLike, error: BaseException, max_pixels: int) -> str:
    """ImageError text for Pillow's DecompressionBombError (raised by Image.open itself)."""
    match = re.search(r"\((\d+) pixels\)", str(error))
    if match is None:
        return f"{path}: refused as a possible decompression bomb ({one_line(error)})"
    pixels = int(match.group(1))
    if pixels > max_pixels:
        limit = f"the {_megapixels(max_pixels)} limit (max_pixels)"
    else:
        limit = f"Pillow's {_megapixels(2 * (Image.MAX_IMAGE_PIXELS or 0))} limit"
    return f"{path}: {pixels} pixels exceeds {limit}; downscale it first"


def _decode(path: str | os.PathLike, max_pixels: int) -> Image.Image:
    """Opens, checks the size, decodes the first frame fully and applies EXIF orientation."""
    with Image.open(path) as opened:
        _check_size(path, opened, max_pixels)
        opened.load()  # decode now, inside load's try: truncated data raises here
        return to_rgb(ImageOps.exif_transpose(opened))


def _integer_to_grey(image: Image.Image) -> Image.Image:
    """16/32-bit integer grey to 8-bit L (or LA, keeping a transparent grey value)."""
    array = np.asarray(image).astype(np.float64)
    scale = 65535.0 if image.mode in _SIXTEEN_BIT_MODES or array.max() > 255 else 255.0
    grey = Image.fromarray(np.clip(array / scale * 255 + 0.5, 0, 255).astype(np.uint8))
    transparent = image.info.get("transparency")
    if isinstance(transparent, int):
        alpha = np.where(array == transparent, 0, 255).astype(np.uint8)
        return Image.merge("LA", (grey, Image.fromarray(alpha)))
    return grey


def _float_to_grey(image: Image.Image) -> Image.Image:
    """Float grey, taken as [0, 1] (clipped, NaN as 0), to 8-bit L."""
    array = np.nan_to_num(np.asarray(image, np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    return Image.fromarray(np.clip(array * 255 + 0.5, 0, 255).astype(np.uint8))


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB, with transparency composited on white and 16-bit / float / CMYK modes converted."""
    if image.mode in (*_SIXTEEN_BIT_MODES, "I"):
        image = _integer_to_grey(image)
    elif image.mode == "F":
        image = _float_to_grey(image)
    if image.mode in ("RGBA", "RGBa", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def load(
    path: str | os.PathLike,
    size: int | None = None,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Reads an image as float32 (H, W, 3) RGB in [0, 1] (conventions: module docstring).

    With `size`, the longest side is resampled (Lanczos) to `size` pixels; an image already
    that size is returned untouched. Raises ImageError for anything unreadable.
    """
    if size is not None and size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    return to_array(decode(path, max_pixels=max_pixels), size)


def to_array(image: Image.Image, size: int | None = None) -> np.ndarray:
    """An RGB image as float32 (H, W, 3) in [0, 1], its longest side resampled to `size`."""
    if size is not None:
        image = resize_longest(image, size)
    return np.asarray(image, np.float32) / 255.0


def decode(path: str | os.PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Reads an image file as an RGB Pillow image (conventions: module docstring); raises
    ImageError for anything unreadable, before decoding when it is larger than `max_pixels`."""
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    _check_file(path)
    with warnings.catch_warnings():
        # Our own check in _check_size replaces Pillow's DecompressionBombWarning, and its
        # other warnings are about metadata (see the module docstring).
        warnings.simplefilter("ignore")
        try:
            return _decode(path, max_pixels)
        except ImageError:
            raise
        except FileNotFoundError:
            raise ImageError(f"{path}: no such file; check the path") from None
        except IsADirectoryError:
            raise ImageError(f"{path}: is a directory; give an image file instead") from None
        except PermissionError:
            raise ImageError(f"{path}: permission denied; check the file's permissions") from None
        except UnidentifiedImageError:
            raise ImageError(
                f"{path}: not an image file Pillow can read; convert it to PNG or JPEG"
            ) from None
        except Image.DecompressionBombError as e:
            raise ImageError(_bomb_message(path, e, max_pixels)) from None
        except MemoryError:
            raise ImageError(
                f"{path}: not enough memory to decode it; downscale it first"
            ) from None
        except _DECODE_ERRORS as e:
            raise ImageError(
                f"{path}: cannot decode the image, it is corrupt or truncated ({one_line(e)}); "
                f"re-export or re-download it"
            ) from None


def shape_for(height: int, width: int, size: int) -> tuple[int, int]:
    """(height, width) of an image scaled so that its longest side is `size` pixels: the one
    rounding every resize in stylejax uses, so a scale's content image and the upsampled
    result always agree."""
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_longest(image: Image.Image, size: int) -> Image.Image:
    """Scales so that the longest side is `size` pixels (aspect kept); same size: unchanged."""
    width, height = image.size
    if max(width, height) == size:
        return image
    return image.resize(shape_for(height, width, size)[::-1], Image.Resampling.LANCZOS)


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] to 8-bit integers (rounded, clipped; NaN becomes 0); 8-bit input is
    returned as it is."""
    if np.asarray(array).dtype == np.uint8:
        return np.asarray(array)
    array = np.nan_to_num(np.asarray(array, np.float32))
    return np.clip(array * 255.0 + 0.5, 0, 255).astype(np.uint8)


def to_pil(array: np.ndarray) -> Image.Image:
    """(H, W, 3) floats in [0, 1] (or uint8) to an 8-bit RGB image (rounded, clipped)."""
    return Image.fromarray(to_uint8(array))


def icc_profile(source: str | os.PathLike | Image.Image) -> bytes | None:
    """The RGB ICC colour profile of an image file (PNG iCCP, JPEG APP2, TIFF tag 34675, WebP
    ICCP; only the header is read) or of a decoded image, or None if it has none.

    The pixels are not converted: stylejax works on the file's RGB values as they are, and the
    output carries the same profile so that it is shown in the content photo's colour space.
    A grey or CMYK profile describes other pixels than the RGB ones stylejax writes, so it is
    not kept (None).
    """
    if isinstance(source, Image.Image):
        profile = source.info.get("icc_profile")
    else:
        _check_file(source)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                with Image.open(source) as opened:
                    profile = opened.info.get("icc_profile")
            except (UnidentifiedImageError, Image.DecompressionBombError, *_DECODE_ERRORS) as e:
                raise ImageError(
                    f"{source}: cannot read the image's header ({one_line(e)}); re-export it"
                ) from None
    # Bytes 16-19 of an ICC header name the colour space of the data it describes.
    return bytes(profile) if profile and profile[16:20] == b"RGB " else None


def _save_format(path: Path) -> str:
    """Pillow's format name for the extension, refusing ones Pillow cannot write."""
    extension = path.suffix.lower()
    image_format = Image.registered_extensions().get(extension)
    if image_format is None or image_format not in Image.SAVE:
        raise ImageError(f"{path}: unknown image extension {extension!r}; use .png, .jpg or .tif")
    return image_format


# Formats whose writer embeds an ICC profile (Pillow's `icc_profile` option, or tifffile's).
ICC_FORMATS = ("PNG", "JPEG", "TIFF", "WEBP")


def to_uint16(array: np.ndarray) -> np.ndarray:
    """(H, W, 3) floats in [0, 1] to 16-bit integers (rounded, clipped)."""
    return np.clip(np.asarray(array, np.float64) * 65535.0 + 0.5, 0, 65535).astype(np.uint16)


def _write_tiff(array: np.ndarray, path: Path, icc: bytes | None) -> None:
    """16 bits per channel RGB, zlib-compressed, for print. Pillow cannot write 16-bit RGB, so
    tifffile does; no tifffile-specific metadata is added."""
    import tifffile

    tifffile.imwrite(
        path,
        to_uint16(array),
        photometric="rgb",
        compression="zlib",
        iccprofile=icc,
        metadata=None,
    )


def save(
    array: np.ndarray,
    path: str | os.PathLike,
    *,
    icc_profile: bytes | None = None,
    overwrite: bool = True,
) -> None:
    """Writes atomically; the format follows the extension (PNG, JPEG at quality 95, ...).
    Without `overwrite` an existing file is never replaced (checked at the moment of writing).

    `.tif`/`.tiff` is written with 16 bits per channel; other formats with 8. `icc_profile`
    (e.g. `icc_profile(content_path)`) is embedded in PNG, JPEG, TIFF and WebP files.
    On failure an existing file at `path` is left as it was, and ImageError is raised.
    """
    path = Path(path)
    image_format = _save_format(path)
    options = {"quality": 95} if image_format == "JPEG" else {}
    if icc_profile and image_format in ICC_FORMATS:
        options["icc_profile"] = icc_profile
    try:
        with atomic_write(path, overwrite=overwrite) as tmp:
            if image_format == "TIFF":
                _write_tiff(array, tmp, icc_profile)
            else:
                to_pil(array).save(tmp, format=image_format, **options)
    except FileExistsError:
        raise ImageError(
            f"{path}: appeared while this run was working (another run?); not replaced"
        ) from None
    except OSError as e:
        raise ImageError(
            f"{path}: cannot write the image ({one_line(e)}); check the directory exists, "
            f"is writable and has free space"
        ) from None
