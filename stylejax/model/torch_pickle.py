"""Read PyTorch ``torch.save`` files (state dicts) into NumPy arrays without torch.

Both on-disk formats are supported:

* the zip format written by current ``torch.save``: ``<top>/data.pkl`` holds the pickle and
  ``<top>/data/<key>`` the raw bytes of each storage (``<top>`` is often the file stem);
* the legacy format (``_use_new_zipfile_serialization=False``): five consecutive pickles
  (magic number, protocol version, sys_info, the object, the list of storage keys) followed,
  for each key in that list, by an int64 element count and the raw storage bytes.

The pickles are never given to a general unpickler: only an explicit allowlist of globals
is resolved, to local stand-ins that build NumPy arrays (see ``_GLOBALS``). Big-endian files
are refused rather than byteswapped: nothing in practice writes them.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import re
import struct
import zipfile
from collections.abc import Callable
from typing import Any, BinaryIO, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["TorchFileError", "load_state_dict"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


class TorchFileError(ValueError):
    """A file that is not a readable, safe PyTorch state dict."""


# Objects the pickle can reach are OrderedDict, immutable NamedTuples, or plain functions with
# no defaults, so BUILD opcodes in a hostile file cannot change how tensors are rebuilt.
class _StorageType(NamedTuple):
    dtype: np.dtype  # element type of a typed storage (uint8 for UntypedStorage)


class _DType(NamedTuple):
    dtype: np.dtype  # a torch.<dtype> object, as passed to _rebuild_tensor_v3


class _Storage(NamedTuple):
    key: str
    dtype: np.dtype
    view: tuple[int, int] | None  # legacy storage views: (element offset, element count)


class _TensorRef(NamedTuple):
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: np.dtype


def _naturals(values: Any) -> bool:
    """True for a tuple of non-negative ints (a tensor's size or stride)."""
    return isinstance(values, tuple) and all(type(v) is int and v >= 0 for v in values)


def _rebuild(storage: Any, offset: Any, size: Any, stride: Any, dtype: Any) -> _TensorRef:
    if not isinstance(storage, _Storage):
        raise TorchFileError(f"tensor built from {type(storage).__name__}, not a storage")
    shape_ok = _naturals(size) and _naturals(stride) and len(size) == len(stride)
    if not (shape_ok and _naturals((offset,))):
        raise TorchFileError("malformed tensor offset, size or stride")
    return _TensorRef(storage, offset, size, stride, dtype)


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_: Any) -> _TensorRef:
    # Also serves _rebuild_tensor_v2; the extra arguments (requires_grad, hooks, metadata)
    # do not affect the data.
    dtype = storage.dtype if isinstance(storage, _Storage) else None
    return _rebuild(storage, offset, size, stride, dtype)


def _rebuild_tensor_v3(storage: Any, offset: Any, size: Any, stride: Any, *rest: Any) -> _TensorRef:
    # v3 is used for dtypes without a typed storage class: an UntypedStorage (bytes) plus a
    # torch dtype after (requires_grad, hooks); offset and strides count elements of it.
    dtype = rest[2] if len(rest) > 2 else None
    if not isinstance(dtype, _DType):
        raise TorchFileError("malformed dtype in _rebuild_tensor_v3")
    return _rebuild(storage, offset, size, stride, dtype.dtype)


def _rebuild_parameter(data: Any, *_: Any) -> _TensorRef:
    if not isinstance(data, _TensorRef):
        raise TorchFileError("parameter built from something that is not a tensor")
    return data


# fmt: off
_NUMPY_DTYPES = {  # torch dtype name: (typed storage class prefix or None, numpy dtype)
    "float32": ("Float", "<f4"), "float64": ("Double", "<f8"), "float16": ("Half", "<f2"),
    "uint8": ("Byte", "|u1"), "int8": ("Char", "|i1"), "int16": ("Short", "<i2"),
    "int32": ("Int", "<i4"), "int64": ("Long", "<i8"), "bool": ("Bool", "|b1"),
    "uint16": (None, "<u2"), "uint32": (None, "<u4"), "uint64": (None, "<u8"),
}
# fmt: on
_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.storage", "UntypedStorage"): _StorageType(np.dtype("u1")),
    **{("torch", name): _DType(np.dtype(np_name)) for name, (_, np_name) in _NUMPY_DTYPES.items()},
    **{("torch", f"{s}Storage"): _StorageType(np.dtype(n)) for s, n in _NUMPY_DTYPES.values() if s},
}


class _SafeUnpickler(pickle.Unpickler):
    """Resolves only allowlisted globals; records every storage the pickle refers to."""

    def __init__(self, file: BinaryIO) -> None:
        super().__init__(file)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _GLOBALS:
            return _GLOBALS[module, name]
        if module == "torch" and re.fullmatch(r"\w+Storage|[a-z]+\d+\w*", name):
            raise TorchFileError(f"unsupported dtype torch.{name}")
        raise TorchFileError(f"forbidden global {module}.{name} in pickle")

    def persistent_load(self, pid: Any) -> _Storage:
        # zip:    ('storage', storage_type, key, location, numel)
        # legacy: ('storage', storage_type, root_key, location, numel, view_metadata), where
        #         view_metadata is None or (view_key, element_offset, element_count).
        if not isinstance(pid, tuple) or len(pid) not in (5, 6) or pid[0] != "storage":
            raise TorchFileError(f"unsupported persistent id {str(pid)[:80]}")
        kind, key, view = pid[1], pid[2], pid[5] if len(pid) == 6 else None
        if not isinstance(kind, _StorageType) or not isinstance(key, str):
            raise TorchFileError(f"malformed storage reference {str(pid)[:80]}")
        if view is not None:
            if not (isinstance(view, tuple) and len(view) == 3 and _naturals(view[1:])):
                raise TorchFileError("malformed storage view")
            view = view[1:]
        self.storages.setdefault(key, _Storage(key, kind.dtype, None))
        return _Storage(key, kind.dtype, view)


def _materialize(t: _TensorRef, data: bytes) -> np.ndarray:
    """Copy the (possibly strided, offset) tensor ``t`` out of its storage bytes."""
    if t.storage.view is not None:
        start, count = t.storage.view
        item = t.storage.dtype.itemsize
        data = data[start * item : (start + count) * item]
    buf = np.frombuffer(data, dtype=t.dtype, count=len(data) // t.dtype.itemsize)
    if 0 in t.size:
        return np.zeros(t.size, dtype=t.dtype)
    last = t.offset + sum((n - 1) * s for n, s in zip(t.size, t.stride, strict=True))
    if last >= buf.size:
        raise TorchFileError(f"tensor data out of range of storage {t.storage.key!r}")
    strides = [s * t.dtype.itemsize for s in t.stride]
    return as_strided(buf[t.offset :], shape=t.size, strides=strides).copy()


def _to_arrays(obj: Any, read: Callable[[str], bytes]) -> dict[str, np.ndarray]:
    # An OrderedDict keeps torch's `_metadata` (set by BUILD) in __dict__; dict() drops it.
    if not isinstance(obj, dict):
        raise TorchFileError(f"expected a dict of tensors, got {type(obj).__name__}")
    cache: dict[str, bytes] = {}
    out: dict[str, np.ndarray] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, _TensorRef):
            raise TorchFileError(f"entry {str(key)[:80]!r} is not a tensor")
        skey = value.storage.key
        if skey not in cache:
            cache[skey] = read(skey)
        out[key] = _materialize(value, cache[skey])
    return out


def _load_zip(file: BinaryIO) -> dict[str, np.ndarray]:
    try:
        zf = zipfile.ZipFile(file)
    except zipfile.BadZipFile as exc:
        raise TorchFileError(f"corrupt or truncated zip archive ({exc})") from exc
    with zf:
        pkls = [n for n in zf.namelist() if re.fullmatch(r"[^/]+/data\.pkl", n)]
        if len(pkls) != 1:
            raise TorchFileError("zip archive has no single <top>/data.pkl record")
        top = pkls[0][: -len("data.pkl")]
        if top + "byteorder" in zf.namelist() and zf.read(top + "byteorder") != b"little":
            raise TorchFileError("big-endian tensor data is not supported")
        obj = _SafeUnpickler(io.BytesIO(zf.read(pkls[0]))).load()

        def read(key: str) -> bytes:
            try:
                return zf.read(f"{top}data/{key}")
            except KeyError:
                raise TorchFileError(f"missing storage record data/{key}") from None

        return _to_arrays(obj, read)


def _read_exact(file: BinaryIO, n: int, end: int, what: str) -> bytes:
    if n < 0 or n > end - file.tell():
        raise TorchFileError(f"truncated file: {what} needs {n} bytes, {end - file.tell()} left")
    return file.read(n)


def _load_legacy(file: BinaryIO) -> dict[str, np.ndarray]:
    start = file.tell()
    end = file.seek(0, os.SEEK_END)
    file.seek(start)
    if _SafeUnpickler(file).load() != _LEGACY_MAGIC:
        raise TorchFileError("not a PyTorch file (bad legacy magic number)")
    if (protocol := _SafeUnpickler(file).load()) != _LEGACY_PROTOCOL:
        raise TorchFileError(f"unsupported legacy protocol version {protocol!r}")
    sys_info = _SafeUnpickler(file).load()
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise TorchFileError("big-endian (or unknown byte order) file is not supported")
    unpickler = _SafeUnpickler(file)
    obj = unpickler.load()
    keys = _SafeUnpickler(file).load()
    if not isinstance(keys, list):
        raise TorchFileError("malformed legacy storage key list")
    data: dict[str, bytes] = {}
    for key in keys:  # raw storages follow in the order of this list
        if key not in unpickler.storages:
            raise TorchFileError(f"storage {str(key)[:80]!r} is not used by any tensor")
        (count,) = struct.unpack("<q", _read_exact(file, 8, end, f"storage {key!r} header"))
        itemsize = unpickler.storages[key].dtype.itemsize
        data[key] = _read_exact(file, count * itemsize, end, f"storage {key!r}")

    def read(key: str) -> bytes:
        if key not in data:
            raise TorchFileError(f"missing storage record {key!r}")
        return data[key]

    return _to_arrays(obj, read)


def _load(file: BinaryIO) -> dict[str, np.ndarray]:
    if not file.seekable():
        file = io.BytesIO(file.read())
    head = file.read(4)
    file.seek(-len(head), os.SEEK_CUR)
    if head.startswith(b"PK"):
        return _load_zip(file)
    if head.startswith(b"\x80"):  # pickle PROTO opcode: the legacy format
        return _load_legacy(file)
    raise TorchFileError("empty file" if not head else "not a PyTorch file (unknown header)")


def load_state_dict(source: str | os.PathLike[str] | bytes | BinaryIO) -> dict[str, np.ndarray]:
    """Read a torch.save'd dict of tensors (state dict) without torch. Keys keep their order.

    ``source`` is a path, the file's contents as ``bytes``, or a binary file object. Returns
    a plain ``dict`` of C-contiguous arrays that own their data (float32, float64, float16,
    uint8, int8, int16, int32, int64, bool, and uint16/32/64). Raises TorchFileError for
    anything else: other dtypes (bfloat16, complex, ...), non-tensor values, globals outside
    the allowlist, big-endian data, and damaged or truncated files.
    """
    name = os.fsdecode(source) if isinstance(source, (str, os.PathLike)) else None
    try:
        if name is not None:
            with open(name, "rb") as file:
                return _load(file)
        if isinstance(source, bytes):
            return _load(io.BytesIO(source))
        name = source.name if isinstance(getattr(source, "name", None), str) else None
        return _load(source)
    except TorchFileError as exc:
        cause, msg = exc, str(exc)
    except EOFError as exc:
        cause, msg = exc, "truncated file (unexpected end of data)"
    except OSError as exc:
        cause, msg = exc, f"cannot read file: {exc.strerror or exc}"
    except Exception as exc:  # any other parse failure (EOFError, UnpicklingError, ...)
        cause, msg = exc, f"corrupt file ({type(exc).__name__}: {exc})"
    msg = " ".join(msg.split())  # always one line
    raise TorchFileError(f"{name}: {msg}" if name is not None else msg) from cause
