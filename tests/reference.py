"""Independent references for the tests: random VGG19 weights and a plain-PyTorch VGG19."""

import numpy as np
import pytest

from stylejax.convert import TORCHVISION_INDEX
from stylejax.vgg import LAYERS, PARAM_SHAPES


def convs_upto(layer: str | None) -> list[str]:
    """The conv layers computed to reach `layer` (all 16 when None)."""
    if layer is None:
        return list(PARAM_SHAPES)
    return [name for name in LAYERS[: LAYERS.index(layer) + 1] if name.startswith("conv")]


def random_oihw_layers(
    seed: int, upto: str | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """He-initialized random VGG19 convs {name: (OIHW kernel, bias)}, so activations stay O(1).

    Only the convs that `upto` (a layer name such as "relu4_1") needs are made; a weights file
    needs all 16 (upto=None). A seed gives the same values to the layers both sets share.
    """
    rng = np.random.default_rng(seed)
    layers = {}
    for name in convs_upto(upto):
        (kh, kw, cin, cout), _ = PARAM_SHAPES[name]
        kernel = rng.normal(0, np.sqrt(2 / (kh * kw * cin)), (cout, cin, kh, kw))
        layers[name] = (kernel.astype(np.float32), rng.normal(0, 0.05, cout).astype(np.float32))
    return layers


def to_flax(layers_oihw: dict) -> dict:
    """{name: (OIHW kernel, bias)} as Flax params for stylejax.vgg.VGG19 (HWIO kernels)."""
    from stylejax.weights import to_params

    return to_params({k: (w.transpose(2, 3, 1, 0), b) for k, (w, b) in layers_oihw.items()})


def random_params(seed: int, upto: str | None = None) -> dict:
    """The same random VGG19 as Flax params (HWIO kernels), up to `upto` as above."""
    return to_flax(random_oihw_layers(seed, upto))


def torchvision_state_dict(layers):
    """The torchvision VGG19 key layout, with a (small) classifier head that must be skipped."""
    torch = pytest.importorskip("torch")
    state = {}
    for name, index in TORCHVISION_INDEX.items():
        state[f"features.{index}.weight"] = torch.tensor(layers[name][0])  # a copy
        state[f"features.{index}.bias"] = torch.tensor(layers[name][1])
    state["classifier.0.weight"] = torch.zeros(8, 16)
    state["classifier.0.bias"] = torch.zeros(8)
    state["classifier.6.weight"] = torch.zeros(10, 8)
    return state


def torch_reference_features(images_nhwc, layers_oihw, preprocessing, pooling, names):
    """VGG19 in plain PyTorch (F.conv2d, F.relu, avg/max pool) -> {name: NHWC numpy}."""
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(np.asarray(images_nhwc, np.float32)).permute(0, 3, 1, 2)
    with torch.no_grad():
        out = torch_vgg(x, layers_oihw, preprocessing, pooling, names)
    return {name: f.permute(0, 2, 3, 1).numpy().copy() for name, f in out.items()}


def torch_vgg(x, layers_oihw, preprocessing, pooling, names, padding="zeros"):
    """VGG19 on an NCHW torch tensor (RGB in [0, 1]) -> {name: NCHW tensor}, differentiable.

    `padding`: zeros, or torch's "replicate" / "reflect" at the first conv ("-all": every
    conv)."""
    import torch
    import torch.nn.functional as F

    x = x[:, list(preprocessing.channel_order)] * preprocessing.scale
    mean = torch.tensor(preprocessing.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(preprocessing.std, dtype=torch.float32).view(1, 3, 1, 1)
    x = (x - mean) / std
    pool = F.avg_pool2d if pooling == "avg" else F.max_pool2d
    out = {}
    last = max(LAYERS.index(n) for n in names)
    for name in LAYERS[: last + 1]:
        if name.startswith("conv"):
            w, b = layers_oihw[name]
            mode, _, scope = padding.partition("-")
            if mode != "zeros" and (name == "conv1_1" or scope == "all"):
                x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode=mode), torch.tensor(w), torch.tensor(b))
            else:
                x = F.conv2d(x, torch.tensor(w), torch.tensor(b), padding=1)
        elif name.startswith("relu"):
            x = F.relu(x)
        else:
            x = pool(x, 2, 2)
        if name in names:
            out[name] = x
    return out
