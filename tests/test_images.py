"""stylejax.files.images: odd but valid inputs load correctly, bad ones are one-line ImageErrors."""

from __future__ import annotations

import builtins
import errno
import io
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from stylejax.files import images
from stylejax.files.images import ImageError

ONE = 1 / 255  # one 8-bit step


# ---------------------------------------------------------------------------- helpers


def _encode(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(
    width: int, height: int, depth: int, colour: int, rows: bytes, extra: bytes = b""
) -> bytes:
    """A PNG built by hand: IHDR as given (no validation), optional chunks, rows as IDAT."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + extra
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def _mode_of(path: Path) -> str:
    with Image.open(path) as image:
        return image.mode


def _refused(path: Path | str, **options) -> str:
    """Loads `path`, expecting a one-line ImageError that names the file; returns the message."""
    with pytest.raises(ImageError) as caught:
        images.load(path, **options)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def _noise(height: int = 12, width: int = 16, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)
    return Image.fromarray(pixels)


# ---------------------------------------------------------------------------- valid inputs


@pytest.mark.parametrize(
    ("orientation", "marker_corner"),
    [(1, "top-left"), (6, "top-right"), (8, "bottom-left"), (3, "bottom-right")],
)
def test_exif_orientation_is_applied(tmp_path, orientation, marker_corner):
    # Stored 32 wide x 16 high, black with a red 8x8 block (one JPEG block) at the top left.
    pixels = np.zeros((16, 32, 3), np.uint8)
    pixels[:8, :8] = (255, 0, 0)
    exif = Image.Exif()
    exif[274] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    Image.fromarray(pixels).save(path, quality=95, exif=exif)

    array = images.load(path)

    rotated = orientation in (6, 8)  # 90 degrees either way swaps height and width
    assert array.shape == ((32, 16, 3) if rotated else (16, 32, 3))
    height, width = array.shape[:2]
    rows = slice(2, 6) if marker_corner.startswith("top") else slice(height - 6, height - 2)
    cols = slice(2, 6) if marker_corner.endswith("left") else slice(width - 6, width - 2)
    np.testing.assert_allclose(array[rows, cols].mean((0, 1)), (1, 0, 0), atol=0.05)
    assert array[height // 2 - 2 : height // 2 + 2, width // 2].max() < 0.05  # the rest: black


def _palette(transparent: bool) -> Image.Image:
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 6))
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    if transparent:
        image.info["transparency"] = 0
    return image


@pytest.mark.parametrize(
    ("name", "image", "expected"),
    [
        ("L", Image.frombytes("L", (2, 1), bytes([100, 255])), [(100, 100, 100), (255,) * 3]),
        ("1", Image.frombytes("L", (2, 1), bytes([0, 255])).convert("1"), [(0,) * 3, (255,) * 3]),
        ("P", _palette(transparent=False), [(255, 0, 0), (0, 0, 255)]),
        ("P", _palette(transparent=True), [(255, 255, 255), (0, 0, 255)]),  # red: transparent
        (
            "RGBA",
            Image.frombytes("RGBA", (3, 1), bytes([255, 0, 0, 0, 0, 0, 255, 255, 0, 0, 0, 128])),
            [(255, 255, 255), (0, 0, 255), (127, 127, 127)],  # clear red, blue, half black
        ),
        ("LA", Image.frombytes("LA", (2, 1), bytes([0, 0, 100, 255])), [(255,) * 3, (100,) * 3]),
    ],
)
def test_grey_palette_and_alpha_modes_composite_on_white(tmp_path, name, image, expected):
    path = tmp_path / f"{name}.png"
    options = {"transparency": image.info["transparency"]} if "transparency" in image.info else {}
    image.save(path, **options)
    assert _mode_of(path) == name

    array = images.load(path)

    assert array.dtype == np.float32
    assert array.shape == (1, len(expected), 3)
    np.testing.assert_allclose(array[0] * 255, expected, atol=1)


def test_rgb_with_a_transparent_colour_composites_on_white(tmp_path):
    path = tmp_path / "trns.png"
    Image.frombytes("RGB", (2, 1), bytes([10, 20, 30, 40, 50, 60])).save(
        path, transparency=(10, 20, 30)
    )
    np.testing.assert_allclose(images.load(path)[0] * 255, [(255, 255, 255), (40, 50, 60)])


# Cyan, magenta, yellow, white (no ink), black (K), in 8x8 patches (one JPEG block each).
CMYK_PATCHES = [
    ((255, 0, 0, 0), (0, 255, 255)),
    ((0, 255, 0, 0), (255, 0, 255)),
    ((0, 0, 255, 0), (255, 255, 0)),
    ((0, 0, 0, 0), (255, 255, 255)),
    ((0, 0, 0, 255), (0, 0, 0)),
]


@pytest.mark.parametrize("extension", [".jpg", ".tif"])
def test_cmyk_is_converted_to_rgb(tmp_path, extension):
    image = Image.new("CMYK", (8 * len(CMYK_PATCHES), 8))
    for i, (ink, _) in enumerate(CMYK_PATCHES):
        image.paste(ink, (8 * i, 0, 8 * i + 8, 8))
    path = tmp_path / f"cmyk{extension}"
    image.save(path, **({"quality": 95} if extension == ".jpg" else {}))
    with Image.open(path) as opened:
        assert opened.mode == "CMYK"
        if extension == ".jpg":
            # Pillow writes an Adobe APP14 marker and inverted samples; reading them back
            # correctly relies on the marker, so make sure it is really there.
            assert "adobe" in opened.info

    array = images.load(path)

    for i, (_, rgb) in enumerate(CMYK_PATCHES):
        np.testing.assert_allclose(
            array[2:6, 8 * i + 2 : 8 * i + 6] * 255, np.broadcast_to(rgb, (4, 4, 3)), atol=6
        )


def test_16_bit_grey_png_is_scaled_from_65535(tmp_path):
    path = tmp_path / "grey16.png"
    Image.fromarray(np.array([[0, 32768, 65535, 257]], np.uint16)).save(path)
    assert _mode_of(path) == "I;16"

    np.testing.assert_allclose(images.load(path)[0, :, 0], [0, 128 / 255, 1, 1 / 255], atol=ONE)


def test_16_bit_grey_png_with_a_transparent_value(tmp_path):
    rows = b"\x00" + struct.pack(">2H", 1000, 65535)
    transparent = _chunk(b"tRNS", struct.pack(">H", 1000))
    path = _write(tmp_path / "grey16trns.png", _png(2, 1, 16, 0, rows, transparent))

    np.testing.assert_allclose(images.load(path)[0], np.ones((2, 3)))  # clear, then white


def test_16_bit_rgb_png(tmp_path):
    # Pillow cannot write a 16-bit RGB PNG (Image.fromarray refuses (H, W, 3) uint16), so build
    # one by hand. Pillow reads it as 8-bit RGB (the high bytes).
    rows = b"\x00" + struct.pack(">6H", 65535, 0, 0, 0, 32768, 65535)
    path = _write(tmp_path / "rgb16.png", _png(2, 1, 16, 2, rows))
    assert _mode_of(path) == "RGB"

    np.testing.assert_allclose(images.load(path)[0], [(1, 0, 0), (0, 128 / 255, 1)], atol=ONE)


def test_16_bit_pgm_mode_i_is_scaled_from_its_maximum(tmp_path):
    path = _write(tmp_path / "grey16.pgm", b"P5\n3 1\n1000\n" + struct.pack(">3H", 0, 500, 1000))
    assert _mode_of(path) == "I"  # Pillow rescales maxval 1000 to 65535

    np.testing.assert_allclose(images.load(path)[0, :, 1], [0, 0.5, 1], atol=ONE)


def test_tiff_8_bit_rgb_16_bit_grey_and_float(tmp_path):
    rgb = _noise()
    rgb.save(tmp_path / "rgb.tif")
    np.testing.assert_array_equal(
        images.load(tmp_path / "rgb.tif"), np.asarray(rgb) / np.float32(255)
    )

    Image.fromarray(np.array([[0, 65535, 32768]], np.uint16)).save(tmp_path / "grey16.tif")
    assert _mode_of(tmp_path / "grey16.tif") == "I;16"
    np.testing.assert_allclose(images.load(tmp_path / "grey16.tif")[0, :, 2], [0, 1, 0.5], atol=ONE)

    # Floats are intensities in [0, 1]: clipped outside, NaN as black.
    floats = np.array([[-0.5, 0.0, 0.25, 1.0, 2.0, np.nan]], np.float32)
    Image.fromarray(floats).save(tmp_path / "float.tif")
    assert _mode_of(tmp_path / "float.tif") == "F"
    np.testing.assert_allclose(
        images.load(tmp_path / "float.tif")[0, :, 0], [0, 0, 0.25, 1, 1, 0], atol=ONE
    )


@pytest.mark.parametrize("extension", [".gif", ".tif"])
def test_multi_frame_files_give_the_first_frame(tmp_path, extension):
    red, green = Image.new("RGB", (4, 3), (255, 0, 0)), Image.new("RGB", (4, 3), (0, 255, 0))
    path = tmp_path / f"frames{extension}"
    red.save(path, save_all=True, append_images=[green])
    with Image.open(path) as opened:
        assert opened.n_frames == 2

    array = images.load(path)

    assert array.shape == (3, 4, 3)
    np.testing.assert_allclose(array, np.broadcast_to((1, 0, 0), (3, 4, 3)), atol=ONE)


@pytest.mark.parametrize("name", ["café_猫.png", "ñandú é.jpg", "Ωμέγα.tif"])
def test_non_ascii_file_names(tmp_path, name):
    path = tmp_path / name
    _noise().save(path)
    assert images.load(path, 8).shape == (6, 8, 3)
    assert images.load(str(path)).shape == (12, 16, 3)


@pytest.mark.parametrize(
    ("width", "height", "size", "expected"),
    [
        (100, 50, 32, (16, 32)),
        (50, 100, 32, (32, 16)),
        (64, 64, 32, (32, 32)),
        (300, 7, 32, (1, 32)),  # never below one pixel
        (7, 300, 32, (32, 1)),
        (20, 10, 64, (32, 64)),  # upsampling too
        (40, 30, 40, (30, 40)),  # already the size
    ],
)
def test_longest_side_is_resized_to_size(tmp_path, width, height, size, expected):
    path = tmp_path / "aspect.png"
    _noise(height, width).save(path)

    array = images.load(path, size)

    assert array.shape == (*expected, 3)
    assert array.dtype == np.float32
    assert 0 <= array.min() and array.max() <= 1


def test_loading_leaves_warning_filters_and_truncated_flag_alone(tmp_path):
    path = tmp_path / "ok.png"
    _noise().save(path)
    filters = list(warnings.filters)

    images.load(path)
    _refused(_write(tmp_path / "bomb.png", _png(12000, 10000, 8, 2, b"\x00")))

    assert warnings.filters == filters
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# ---------------------------------------------------------------------------- refused inputs


def test_missing_file(tmp_path):
    assert "no such file" in _refused(tmp_path / "absent.png")


def test_path_with_a_nul_byte(tmp_path):
    with pytest.raises(ImageError, match="cannot access"):
        images.load(f"{tmp_path}/a\0b.png")


def test_directory(tmp_path):
    assert "is a directory" in _refused(tmp_path)


def test_empty_file(tmp_path):
    assert "empty" in _refused(_write(tmp_path / "empty.png", b""))


@pytest.mark.parametrize(
    "data",
    [b"hello, this is text\n", b"\x89PNG\r\n\x1a\n", b"<svg xmlns='...'/>", bytes(range(256))],
)
def test_not_an_image(tmp_path, data):
    assert "not an image" in _refused(_write(tmp_path / "text.png", data))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path):
    path = tmp_path / "secret.png"
    _noise().save(path)
    path.chmod(0)
    try:
        assert "permission denied" in _refused(path)
    finally:
        path.chmod(0o644)


def test_unreadable_file_simulated(tmp_path, monkeypatch):
    path = tmp_path / "secret.png"
    _noise().save(path)
    real_open = builtins.open

    def deny(file, *args, **kwargs):
        if isinstance(file, str | os.PathLike) and os.fspath(file) == str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", deny)
    assert "permission denied" in _refused(path)


def _smooth() -> Image.Image:
    return Image.linear_gradient("L").resize((64, 64)).convert("RGB")


def _damage(data: bytes, how: str) -> bytes:
    middle = len(data) // 2
    damaged = bytearray(data)
    if how == "half":
        return data[:middle]
    if how == "zeros":
        damaged[middle : middle + 16] = bytes(16)
    elif how == "xor":
        for i in range(middle - 50, middle + 50, 7):
            damaged[i] ^= 0x55
    return bytes(damaged)


@pytest.mark.parametrize(
    ("extension", "how"),
    [
        (".png", "half"),
        (".png", "zeros"),
        (".png", "xor"),
        (".jpg", "half"),
        (".jpg", "xor"),  # these flips happen to break the entropy-coded data's structure
    ],
)
def test_truncated_or_corrupt_files(tmp_path, extension, how):
    data = _encode(_smooth(), "PNG" if extension == ".png" else "JPEG")
    path = _write(tmp_path / f"bad{extension}", _damage(data, how))
    message = _refused(path)
    assert "corrupt or truncated" in message
    assert "re-download" in message


@pytest.mark.parametrize("tag_type", [2, 12])  # ASCII, DOUBLE: found by the fuzzer
def test_tiff_with_a_strip_offset_of_the_wrong_type(tmp_path, tag_type):
    data = bytearray(_encode(Image.new("L", (4, 4), 7), "TIFF"))
    assert data[:4] == b"II*\x00"
    (ifd,) = struct.unpack_from("<I", data, 4)
    (entries,) = struct.unpack_from("<H", data, ifd)
    for entry in range(ifd + 2, ifd + 2 + 12 * entries, 12):
        if struct.unpack_from("<H", data, entry)[0] == 273:  # StripOffsets
            struct.pack_into("<H", data, entry + 2, tag_type)
    path = _write(tmp_path / "strip.tif", bytes(data))
    with Image.open(path) as opened, pytest.raises(TypeError):
        opened.load()  # what Pillow does by itself

    assert "corrupt or truncated" in _refused(path)


def test_decompression_bomb_over_pillows_limit(tmp_path):
    path = _write(tmp_path / "bomb.png", _png(100_000, 100_000, 8, 2, b"\x00"))
    message = _refused(path)
    assert "10000000000 pixels exceeds the 100-megapixel limit (max_pixels)" in message
    assert "downscale it first" in message


def test_decompression_bomb_under_pillows_limit_is_refused_before_decoding(tmp_path, monkeypatch):
    # 120 megapixels: Pillow only warns (and pytest would turn that into an error); load refuses
    # it from the header alone.
    def no_decoding(self):
        raise AssertionError("decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    path = _write(tmp_path / "bomb.png", _png(12000, 10000, 8, 2, b"\x00"))
    message = _refused(path)
    assert "12000x10000 pixels exceeds the 100-megapixel limit (max_pixels)" in message


def test_max_pixels_is_configurable(tmp_path):
    path = tmp_path / "small.png"
    _noise(12, 16).save(path)
    assert "16x12 pixels exceeds the 191-pixel limit" in _refused(path, max_pixels=191)
    assert images.load(path, max_pixels=192).shape == (12, 16, 3)
    # A limit above Pillow's own: Pillow's is the one reported.
    bomb = _write(tmp_path / "bomb.png", _png(100_000, 100_000, 8, 2, b"\x00"))
    assert "Pillow's" in _refused(bomb, max_pixels=10**11)
    with pytest.raises(ValueError, match="max_pixels"):
        images.load(path, max_pixels=0)


def test_zero_sized_images(tmp_path):
    for name, data in [
        ("w0.png", _png(0, 5, 8, 2, b"\x00")),
        ("h0.png", _png(5, 0, 8, 2, b"")),
        ("w0.ppm", b"P6\n0 5\n255\n"),
    ]:
        _refused(_write(tmp_path / name, data))  # Pillow itself refuses to identify these
    with pytest.raises(ImageError, match="0x5 pixels"):  # should a plugin let one through
        images._check_size("x.png", Image.new("RGB", (0, 5)), images.DEFAULT_MAX_PIXELS)


# ---------------------------------------------------------------------------- fuzzing


def _fuzz_seeds() -> list[bytes]:
    image = _noise()
    exif = Image.Exif()
    exif[274] = 6
    return [
        _encode(image, "PNG"),
        _encode(image.convert("P"), "PNG", transparency=3),
        _encode(image.convert("RGBA"), "PNG"),
        _encode(Image.fromarray(np.arange(192, dtype=np.uint16).reshape(12, 16) * 300), "PNG"),
        _encode(image, "JPEG", exif=exif),
        _encode(image, "JPEG", progressive=True),
        _encode(image.convert("CMYK"), "JPEG"),
        _encode(image, "GIF", save_all=True, append_images=[image.rotate(90)]),
        _encode(image, "TIFF"),
        _encode(image, "TIFF", compression="tiff_deflate"),
        _encode(image, "TIFF", compression="tiff_lzw"),
        _encode(image, "BMP"),
    ]


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    damaged = bytearray(data)
    for _ in range(rng.integers(1, 6)):
        operation = rng.integers(4)
        if operation == 0:  # flip a byte in the header, where the sizes and offsets are
            damaged[rng.integers(min(len(damaged), 120))] = rng.integers(256)
        elif operation == 1:  # flip a byte anywhere
            damaged[rng.integers(len(damaged))] = rng.integers(256)
        elif operation == 2 and len(damaged) > 1:  # truncate
            damaged = damaged[: rng.integers(1, len(damaged))]
        else:  # insert a few bytes
            at = rng.integers(len(damaged) + 1)
            damaged[at:at] = rng.integers(0, 256, rng.integers(1, 8), np.uint8).tobytes()
    return bytes(damaged)


FUZZ_RANDOM, FUZZ_MUTATED = 300, 1500  # cases of each kind: about 3 s on one core


def _fuzz_cases(rng: np.random.Generator, seeds: list[bytes]):
    for _ in range(FUZZ_RANDOM):  # random bytes, half of them behind a real signature
        data = rng.integers(0, 256, rng.integers(1, 300), np.uint8).tobytes()
        if rng.random() < 0.5:
            data = seeds[rng.integers(len(seeds))][: rng.integers(1, 20)] + data
        yield data
    for _ in range(FUZZ_MUTATED):
        yield _mutate(seeds[rng.integers(len(seeds))], rng)


def test_fuzz_load_returns_an_image_or_raises_image_error(tmp_path):
    rng = np.random.default_rng(20240521)
    outcomes = {"image": 0, "refused": 0}
    for i, data in enumerate(_fuzz_cases(rng, _fuzz_seeds())):
        path = _write(tmp_path / f"case{i % 8}", data)
        try:
            array = images.load(path, size=32, max_pixels=1 << 20)
        except ImageError as e:
            assert "\n" not in str(e), (i, str(e))
            outcomes["refused"] += 1
            continue
        assert array.dtype == np.float32, i
        assert array.ndim == 3 and array.shape[2] == 3 and min(array.shape[:2]) >= 1, i
        assert max(array.shape[:2]) == 32, i
        assert 0 <= array.min() and array.max() <= 1, i
        outcomes["image"] += 1
    assert sum(outcomes.values()) == FUZZ_RANDOM + FUZZ_MUTATED
    assert outcomes["image"] > 10 and outcomes["refused"] > 100, outcomes


# ---------------------------------------------------------------------------- saving


def test_save_and_load_round_trip(tmp_path):
    array = np.asarray(_noise(), np.float32) / 255
    images.save(array, tmp_path / "out.png")
    np.testing.assert_array_equal(images.load(tmp_path / "out.png"), array)
    images.save(array, tmp_path / "out.JPG")
    assert images.load(tmp_path / "out.JPG").shape == array.shape


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), RuntimeError])
def test_failed_save_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch, error):
    path = tmp_path / "out.png"
    path.write_bytes(b"previous contents")

    def fail(self, *args, **kwargs):
        raise error

    monkeypatch.setattr(Image.Image, "save", fail)
    expected = ImageError if isinstance(error, OSError) else RuntimeError
    with pytest.raises(expected) as caught:
        images.save(np.zeros((4, 4, 3), np.float32), path)

    assert path.read_bytes() == b"previous contents"
    assert sorted(os.listdir(tmp_path)) == ["out.png"]
    if expected is ImageError:
        assert "No space left" in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.parametrize("name", ["out.xyz", "out", "out.psd"])  # .psd: Pillow reads, not writes
def test_save_refuses_unknown_extensions(tmp_path, name):
    with pytest.raises(ImageError, match="unknown image extension"):
        images.save(np.zeros((4, 4, 3), np.float32), tmp_path / name)
    assert os.listdir(tmp_path) == []


def test_save_into_a_missing_directory(tmp_path):
    with pytest.raises(ImageError, match="cannot write"):
        images.save(np.zeros((4, 4, 3), np.float32), tmp_path / "absent" / "out.png")


# ---------------------------------------------------------------------------- print output


def _srgb_profile() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_tiff_output_has_16_bits_per_channel(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    array = np.random.default_rng(0).uniform(-0.1, 1.1, (9, 13, 3)).astype(np.float32)
    images.save(array, tmp_path / "print.tif")
    with tifffile.TiffFile(tmp_path / "print.tif") as tiff:
        page = tiff.pages[0]
        assert page.bitspersample == 16 and page.samplesperpixel == 3
        assert page.photometric == tifffile.PHOTOMETRIC.RGB
        back = page.asarray()
    assert back.dtype == np.uint16 and back.shape == array.shape
    expected = np.clip(array.astype(np.float64), 0, 1)
    np.testing.assert_allclose(back / 65535.0, expected, atol=0.5 / 65535 + 1e-9)
    # 8 bits would be off by up to 1/510; 16 bits tell apart values 1/65535 apart.
    steps = np.array([[[1000, 1001, 1002]]], np.float64) / 65535
    images.save(steps.astype(np.float32), tmp_path / "steps.tiff")
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "steps.tiff"), [[[1000, 1001, 1002]]])
    # stylejax reads it back (at 8 bits, as Pillow reduces 16-bit RGB).
    np.testing.assert_allclose(images.load(tmp_path / "print.tif"), expected, atol=1 / 255)


@pytest.mark.parametrize("name", ["out.png", "out.jpg", "out.tif", "out.webp"])
def test_the_content_images_icc_profile_is_kept(tmp_path, name):
    profile = _srgb_profile()
    source = tmp_path / "content.jpg"
    _noise().save(source, icc_profile=profile)
    assert images.icc_profile(source) == profile
    images.save(np.full((4, 5, 3), 0.5, np.float32), tmp_path / name, icc_profile=profile)
    with Image.open(tmp_path / name) as written:
        assert written.info.get("icc_profile") == profile
    assert images.icc_profile(tmp_path / name) == profile


def test_icc_profile_is_none_without_one_and_errors_are_one_line(tmp_path):
    _noise().save(tmp_path / "plain.png")
    assert images.icc_profile(tmp_path / "plain.png") is None
    images.save(np.zeros((4, 4, 3), np.float32), tmp_path / "out.png", icc_profile=None)
    assert images.icc_profile(tmp_path / "out.png") is None
    (tmp_path / "text.png").write_bytes(b"not an image at all")
    with pytest.raises(ImageError, match="text.png: cannot read the image's header"):
        images.icc_profile(tmp_path / "text.png")
    with pytest.raises(ImageError, match="no such file"):
        images.icc_profile(tmp_path / "absent.png")


def test_failed_tiff_save_keeps_the_old_file(tmp_path, monkeypatch):
    tifffile = pytest.importorskip("tifffile")
    path = tmp_path / "out.tif"
    path.write_bytes(b"previous contents")

    def fail(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tifffile, "imwrite", fail)
    with pytest.raises(ImageError, match="No space left"):
        images.save(np.zeros((4, 4, 3), np.float32), path)
    assert path.read_bytes() == b"previous contents"
    assert sorted(os.listdir(tmp_path)) == ["out.tif"]


def test_only_rgb_profiles_are_kept_and_decoding_keeps_them(tmp_path):
    from PIL import ImageCms

    rgb = _srgb_profile()
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    _noise().save(tmp_path / "rgb.png", icc_profile=rgb)
    _noise().convert("L").save(tmp_path / "grey.png", icc_profile=lab)
    # The decoded (RGB) image still carries the file's profile, as the pipeline reads it.
    assert images.icc_profile(images.decode(tmp_path / "rgb.png")) == rgb
    # A profile of another colour space does not describe the RGB pixels written.
    assert images.icc_profile(tmp_path / "grey.png") is None
    assert images.icc_profile(images.decode(tmp_path / "grey.png")) is None
