"""The converted-weights file: VGG19 conv kernels and biases in HDF5.

Layout (format version 1):

    /conv1_1/kernel   float32 (3, 3, 3, 64)   HWIO, cross-correlation as in PyTorch and Caffe
    /conv1_1/bias     float32 (64,)
    ...                                      all 16 conv layers, conv1_1 .. conv5_4

Root attributes: `format`, `format_version`, `architecture`, `kernel_layout`, `source` (the
weight set), `source_file`, `source_sha256`, `converter_version`, `params_sha256` (over every
array, so corruption is caught on load) and the input convention `preprocessing`,
`input_channel_order`, `input_scale`, `input_mean`, `input_std`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from pathlib import Path

import h5py
import jax.numpy as jnp
import numpy as np

from stylejax.files.atomic import atomic_write
from stylejax.model.vgg import CONV_LAYERS, PARAM_SHAPES, Preprocessing

FORMAT = "stylejax-vgg19-weights"
FORMAT_VERSION = 1
CONVERTER_VERSION = "1"

# {layer: (kernel HWIO, bias)}
LayerArrays = dict[str, tuple[np.ndarray, np.ndarray]]


class WeightsError(ValueError):
    """A weights file that is missing, unreadable, corrupt or of the wrong architecture."""


@dataclasses.dataclass(frozen=True)
class Weights:
    """A loaded weight set: Flax params plus the input convention it was trained with."""

    params: dict  # {"params": {"conv1_1": {"kernel": Array, "bias": Array}, ...}}
    preprocessing: Preprocessing
    source: str
    path: str
    sha256: str  # of the .h5 file itself, for logs


def sha256_of(path: str | os.PathLike) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def params_digest(layers: LayerArrays) -> str:
    """sha256 over every layer's name, shape and float32 bytes, in CONV_LAYERS order."""
    digest = hashlib.sha256()
    for name in CONV_LAYERS:
        for array in layers[name]:
            array = np.ascontiguousarray(array, dtype="<f4")
            digest.update(f"{name}{array.shape}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def check_layer_arrays(layers: LayerArrays, origin: str) -> None:
    """Raises WeightsError unless `layers` holds exactly the 16 VGG19 convs with their shapes."""
    missing = [name for name in CONV_LAYERS if name not in layers]
    unexpected = [name for name in layers if name not in PARAM_SHAPES]
    if missing or unexpected:
        raise WeightsError(
            f"{origin}: not a VGG19 weight set (missing: {', '.join(missing) or 'none'}; "
            f"unexpected: {', '.join(unexpected) or 'none'})"
        )
    for name, expected in PARAM_SHAPES.items():
        got = tuple(tuple(np.shape(a)) for a in layers[name])
        if got != expected:
            raise WeightsError(
                f"{origin}: {name} has kernel/bias shapes {got}, expected {expected} (HWIO)"
            )


def save(
    path: str | os.PathLike,
    layers: LayerArrays,
    preprocessing: Preprocessing,
    *,
    source: str,
    source_file: str,
    source_sha256: str,
) -> None:
    """Writes a weights file atomically: a temp file in the same folder, renamed into place."""
    check_layer_arrays(layers, str(path))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs.update(
                format=FORMAT,
                format_version=FORMAT_VERSION,
                architecture="vgg19",
                kernel_layout="HWIO",
                source=source,
                source_file=source_file,
                source_sha256=source_sha256,
                converter_version=CONVERTER_VERSION,
                params_sha256=params_digest(layers),
                preprocessing=preprocessing.name,
                input_channel_order=np.asarray(preprocessing.channel_order, np.int64),
                input_scale=preprocessing.scale,
                input_mean=np.asarray(preprocessing.mean, np.float64),
                input_std=np.asarray(preprocessing.std, np.float64),
            )
            for name in CONV_LAYERS:
                kernel, bias = layers[name]
                group = f.create_group(name)
                group.create_dataset("kernel", data=np.asarray(kernel, np.float32))
                group.create_dataset("bias", data=np.asarray(bias, np.float32))


def read(path: str | os.PathLike) -> tuple[LayerArrays, Preprocessing, dict]:
    """Reads and verifies a weights file. Returns (layers, preprocessing, root attributes)."""
    origin = str(path)
    if not os.path.isfile(path):
        raise WeightsError(f"{origin}: no such weights file")
    try:
        with h5py.File(path, "r") as f:
            attrs = {key: _plain(value) for key, value in f.attrs.items()}
            if attrs.get("format") != FORMAT:
                raise WeightsError(
                    f"{origin}: not a stylejax weights file (convert one with "
                    f"scripts/convert_weights.py)"
                )
            if attrs.get("format_version") != FORMAT_VERSION:
                raise WeightsError(
                    f"{origin}: format version {attrs.get('format_version')} is not supported "
                    f"(this stylejax reads version {FORMAT_VERSION}); convert it again"
                )
            layers = {}
            for name in f:
                group = f[name]
                if not isinstance(group, h5py.Group) or set(group) != {"kernel", "bias"}:
                    raise WeightsError(f"{origin}: entry {name!r} is not a kernel/bias group")
                layers[name] = (group["kernel"][()], group["bias"][()])
    except (OSError, KeyError, RuntimeError) as e:
        raise WeightsError(f"{origin}: unreadable or truncated HDF5 file ({e})") from None
    check_layer_arrays(layers, origin)
    if params_digest(layers) != attrs.get("params_sha256"):
        raise WeightsError(f"{origin}: checksum mismatch, the file is corrupt; convert it again")
    preprocessing = Preprocessing(
        name=str(attrs["preprocessing"]),
        channel_order=tuple(int(c) for c in attrs["input_channel_order"]),
        scale=float(attrs["input_scale"]),
        mean=tuple(float(m) for m in attrs["input_mean"]),
        std=tuple(float(s) for s in attrs["input_std"]),
    )
    return layers, preprocessing, attrs


def _plain(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def to_params(layers: LayerArrays) -> dict:
    """Flax params for `stylejax.model.vgg.VGG19`, as device arrays."""
    return {
        "params": {
            name: {"kernel": jnp.asarray(kernel), "bias": jnp.asarray(bias)}
            for name, (kernel, bias) in layers.items()
        }
    }


def load(path: str | os.PathLike) -> Weights:
    """Loads a weights file onto the default device, cached per (path, size, mtime)."""
    path = os.path.abspath(path)
    try:
        stat = os.stat(path)
    except OSError:
        raise WeightsError(f"{path}: no such weights file") from None
    return _load_cached(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, size: int, mtime_ns: int) -> Weights:
    del size, mtime_ns  # only part of the cache key
    layers, preprocessing, attrs = read(path)
    return Weights(
        params=to_params(layers),
        preprocessing=preprocessing,
        source=str(attrs["source"]),
        path=path,
        sha256=sha256_of(path),
    )
