"""Test setup: JAX is strict about rank promotion in every test; random VGG19 weights are made
once per session."""

from pathlib import Path

import jax
import pytest

from tests.reference import random_oihw_layers, to_flax, torchvision_state_dict

jax.config.update("jax_numpy_rank_promotion", "raise")

# Random weights as a weights file (`weights_file`, `random_weights`), written once a session.
pytest_plugins = ["tests.fixtures"]


@pytest.fixture(scope="session")
def vgg_layers() -> dict:
    """Random VGG19 convs {name: (OIHW kernel, bias)}, all 16 (as a weights file needs them).
    Shared by every test, so the arrays are read-only."""
    layers = random_oihw_layers(seed=0)
    for arrays in layers.values():
        for array in arrays:
            array.flags.writeable = False
    return layers


@pytest.fixture(scope="session")
def vgg_params(vgg_layers) -> dict:
    """`vgg_layers` as Flax params for stylejax.model.vgg.VGG19."""
    return to_flax(vgg_layers)


@pytest.fixture(scope="session")
def torchvision_pth(tmp_path_factory, vgg_layers) -> Path:
    """`vgg_layers` saved by torch in torchvision's key layout (zip format). Read it, never
    change it."""
    torch = pytest.importorskip("torch")
    path = tmp_path_factory.mktemp("torchvision") / "vgg19.pth"
    torch.save(torchvision_state_dict(vgg_layers), path)
    return path
