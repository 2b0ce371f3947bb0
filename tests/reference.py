"""Independent references for the tests: random VGG19 weights and a plain-PyTorch VGG19.

Nothing here reads stylejax's own layer table or input conventions: the network is written
from the published definition, so a wrong table or mean in stylejax fails the parity tests.
"""

import numpy as np
import pytest

# VGG19, configuration "E" of Simonyan & Zisserman (2015), Table 1: output channels of each
# 3x3 convolution per block; every block ends in a 2x2 pooling.
CHANNELS_PER_BLOCK = ((64, 64), (128, 128), (256, 256, 256, 256), (512,) * 4, (512,) * 4)


def _layer_table() -> tuple[list[str], dict[str, tuple[int, int]]]:
    """(every layer name in order, {conv name: (in channels, out channels)})."""
    names, convs, channels = [], {}, 3
    for block, outs in enumerate(CHANNELS_PER_BLOCK, start=1):
        for index, out in enumerate(outs, start=1):
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
            convs[f"conv{block}_{index}"] = (channels, out)
            channels = out
        names.append(f"pool{block}")
    return names, convs


LAYERS, CONVS = _layer_table()
# torchvision's `features` Sequential: each conv's index (conv, ReLU, ..., pool, ...).
TORCHVISION_INDEX = {name: LAYERS.index(name) for name in CONVS}

# Input conventions, from their sources. torchvision: RGB in [0, 1], ImageNet mean and
# standard deviation (torchvision.models docs). Caffe VGG: BGR in [0, 255] minus the mean pixel
# of the VGG release (the Caffe model zoo's VGG_ILSVRC_19_layers deploy notes).
INPUTS = {
    "torchvision": dict(
        order=(0, 1, 2), scale=1.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)
    ),
    "caffe": dict(
        order=(2, 1, 0), scale=255.0, mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0)
    ),
}


def convs_upto(layer: str | None) -> list[str]:
    """The conv layers computed to reach `layer` (all 16 when None)."""
    if layer is None:
        return list(CONVS)
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
        cin, cout = CONVS[name]
        kernel = rng.normal(0, np.sqrt(2 / (3 * 3 * cin)), (cout, cin, 3, 3))
        layers[name] = (kernel.astype(np.float32), rng.normal(0, 0.05, cout).astype(np.float32))
    return layers


def to_flax(layers_oihw: dict) -> dict:
    """{name: (OIHW kernel, bias)} as Flax params for stylejax.model.vgg.VGG19 (HWIO kernels)."""
    from stylejax.model.weights import to_params

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
    conv).

    `preprocessing` names the weight set's input convention ("torchvision" or "caffe", or
    an object with that `name`); the convention itself comes from INPUTS above."""
    import torch
    import torch.nn.functional as F

    given = INPUTS[getattr(preprocessing, "name", preprocessing)]
    x = x[:, list(given["order"])] * given["scale"]
    mean = torch.tensor(given["mean"], dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(given["std"], dtype=torch.float32).view(1, 3, 1, 1)
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
