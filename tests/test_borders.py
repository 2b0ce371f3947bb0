"""The border fix: VGG's padding modes against torch, and the edge-to-interior step ratio."""

import jax
import numpy as np
import pytest

from stylejax.model.vgg import CAFFE, VGG19
from tests.reference import random_oihw_layers, to_flax, torch_vgg

NAMES = ("conv1_1", "relu1_2", "relu2_1")


@pytest.mark.parametrize("padding", ["replicate", "reflect", "replicate-all", "reflect-all"])
def test_padding_modes_match_torch(padding):
    torch = pytest.importorskip("torch")
    layers = random_oihw_layers(seed=5, upto="relu2_1")
    images = np.random.default_rng(2).uniform(size=(1, 18, 22, 3)).astype(np.float32)
    model = VGG19(preprocessing=CAFFE, padding=padding)
    ours = jax.jit(model.apply, static_argnums=2)(to_flax(layers), images, NAMES)
    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    with torch.no_grad():
        reference = torch_vgg(x, layers, CAFFE, "avg", NAMES, padding=padding)
        zeros = torch_vgg(x, layers, CAFFE, "avg", NAMES)
    for name in NAMES:
        want = reference[name].permute(0, 2, 3, 1).numpy()
        scale = np.abs(want).max()
        np.testing.assert_allclose(ours[name], want, rtol=1e-4, atol=1e-5 * scale, err_msg=name)
        # The border mode changes the edge, and only the edge, of the first conv's output.
        if name == "conv1_1":
            diff = np.abs(want - zeros[name].permute(0, 2, 3, 1).numpy()).max(axis=(0, 3))
            assert diff[1:-1, 1:-1].max() == 0 and diff[0].min() > 0 and diff[:, -1].min() > 0


def test_unknown_padding_is_refused():
    with pytest.raises(ValueError, match="padding must be one of zeros"):
        VGG19(preprocessing=CAFFE, padding="wrap").init(
            jax.random.key(0), np.zeros((1, 4, 4, 3), np.float32), ("conv1_1",)
        )
