"""Session fixtures shared by the pipeline, API, CLI and fault tests: random VGG19 weights,
written once per session.

conftest.py loads them for every test module (`pytest_plugins`); modules import nothing from
here, which would defeat pytest's assertion rewriting.
"""

from pathlib import Path

import pytest

from stylejax.model import weights
from stylejax.model.load import load_weights
from stylejax.model.vgg import CAFFE
from stylejax.model.weights import Weights
from tests.reference import random_oihw_layers


def write_random_weights(path: Path, seed: int = 7) -> Path:
    """Random He-initialized VGG19 weights saved as a Caffe weight set, like the default one:
    the same preprocessing and style-weight scale, without the download."""
    layers = random_oihw_layers(seed)
    hwio = {name: (w.transpose(2, 3, 1, 0), b) for name, (w, b) in layers.items()}
    weights.save(path, hwio, CAFFE, source="caffe", source_file="random", source_sha256="0" * 64)
    return path


@pytest.fixture(scope="session")
def weights_file(tmp_path_factory) -> Path:
    return write_random_weights(tmp_path_factory.mktemp("weights") / "random-vgg19.h5")


@pytest.fixture(scope="session")
def random_weights(weights_file) -> Weights:
    """The random weights loaded, as `stylejax.Stylizer(weights=...)` and the pipeline take."""
    return load_weights(weights_file)
