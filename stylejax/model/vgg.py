"""VGG19 feature extractor (Simonyan & Zisserman 2014) as a Flax module.

The layout is the torchvision/Caffe VGG19 `features` stack: 16 3x3 convolutions in five
blocks, each block closed by a 2x2 pooling. Activations are NHWC and named as in the
style-transfer literature (`conv1_1`, `relu1_1`, ..., `pool5`). Those names are the contract
between this module and the losses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

# Output channels of each conv layer, block by block.
BLOCK_WIDTHS: tuple[tuple[int, ...], ...] = (
    (64, 64),
    (128, 128),
    (256, 256, 256, 256),
    (512, 512, 512, 512),
    (512, 512, 512, 512),
)

CONV_LAYERS: tuple[str, ...] = tuple(
    f"conv{b}_{i}" for b, widths in enumerate(BLOCK_WIDTHS, 1) for i in range(1, len(widths) + 1)
)


# Each block's named activations, in forward order.
BLOCKS: tuple[tuple[str, ...], ...] = tuple(
    tuple(n for i in range(1, len(widths) + 1) for n in (f"conv{b}_{i}", f"relu{b}_{i}"))
    + (f"pool{b}",)
    for b, widths in enumerate(BLOCK_WIDTHS, 1)
)
# Every named activation, in forward order.
LAYERS: tuple[str, ...] = tuple(name for block in BLOCKS for name in block)
_DEPTH = {name: i for i, name in enumerate(LAYERS)}

# (kernel HWIO, bias) shape of each conv layer.
PARAM_SHAPES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
_in = 3
for _b, _widths in enumerate(BLOCK_WIDTHS, 1):
    for _i, _out in enumerate(_widths, 1):
        PARAM_SHAPES[f"conv{_b}_{_i}"] = ((3, 3, _in, _out), (_out,))
        _in = _out

POOLINGS = ("avg", "max")
# How the first convolution sees beyond the image's border: "zeros" is VGG's own padding (the
# mean pixel, after normalization); "replicate" repeats the edge pixels, "reflect" mirrors the
# image about them. A "-all" suffix applies the mode to every convolution.
PADDINGS = ("zeros", "replicate", "reflect", "replicate-all", "reflect-all")
_NUMPY_PAD = {"replicate": "edge", "reflect": "reflect"}


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """The input convention a weight set was trained with; the network's first layer.

    An RGB image in [0, 1] becomes `(rgb[..., channel_order] * scale - mean) / std`.
    """

    name: str
    channel_order: tuple[int, int, int]
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


# torchvision: RGB in [0, 1], normalized by the ImageNet mean and standard deviation.
TORCHVISION = Preprocessing(
    name="torchvision",
    channel_order=(0, 1, 2),
    scale=1.0,
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
)
# Caffe (the original Oxford release): BGR in 0-255 minus the mean pixel, no scaling.
CAFFE = Preprocessing(
    name="caffe",
    channel_order=(2, 1, 0),
    scale=255.0,
    mean=(103.939, 116.779, 123.68),
    std=(1.0, 1.0, 1.0),
)


def check_layers(layers: Sequence[str]) -> tuple[str, ...]:
    """Returns `layers` as a tuple, or raises ValueError naming any unknown layer."""
    if isinstance(layers, str):
        layers = (layers,)
    layers = tuple(layers)
    if not layers:
        raise ValueError("no layers requested; name at least one, e.g. 'relu4_1'")
    unknown = [name for name in layers if name not in _DEPTH]
    if unknown:
        raise ValueError(
            f"unknown VGG19 layer(s) {', '.join(map(repr, unknown))}; "
            f"valid names are conv1_1..conv5_4, relu1_1..relu5_4 and pool1..pool5"
        )
    return layers


def deepest(layers: Sequence[str]) -> str:
    """The layer of `layers` that is computed last."""
    return max(layers, key=_DEPTH.__getitem__)


def pooling_count(layer: str) -> int:
    """How many 2x2 poolings an input passes through before reaching `layer`."""
    return sum(1 for name in LAYERS[: _DEPTH[layer] + 1] if name.startswith("pool"))


class Normalize(nn.Module):
    """Maps RGB in [0, 1] to the weight set's input convention (the first layer)."""

    preprocessing: Preprocessing

    def __call__(self, rgb: jax.Array) -> jax.Array:
        p = self.preprocessing
        x = rgb[..., list(p.channel_order)] * p.scale
        per_channel = (1,) * (x.ndim - 1) + (3,)
        mean = jnp.asarray(p.mean, x.dtype).reshape(per_channel)
        return (x - mean) / jnp.asarray(p.std, x.dtype).reshape(per_channel)


class VGG19(nn.Module):
    """VGG19 `features`, returning the requested named activations.

    Only the layers up to the deepest requested one are computed. With `remat`, each block's
    inner activations are recomputed in the backward pass instead of stored (`jax.checkpoint`
    per block): less memory for large images or sweeps, about one more forward pass of time.
    With `dtype=jnp.bfloat16` the convolutions, ReLUs and poolings run in bfloat16 (half the
    activation memory) while the parameters stay float32; the input normalization is computed
    in float32 and then cast, and the returned activations are bfloat16.
    """

    preprocessing: Preprocessing
    # Deviation from VGG: Gatys et al. replace max pooling by average pooling for nicer gradients.
    pooling: str = "avg"
    remat: bool = False
    dtype: jnp.dtype = jnp.float32  # computation and activation dtype; params are float32
    # Deviation from VGG: crowsonkb replicates the border at the first convolution "to reduce
    # edge artifacts"; zero padding there gives a 1-pixel line along the picture's edges.
    padding: str = "zeros"  # see PADDINGS

    @nn.compact
    def __call__(self, images: jax.Array, layers: Sequence[str]) -> dict[str, jax.Array]:
        """images: (N, H, W, 3) RGB in [0, 1]. Returns {name: (N, h, w, C)} for `layers`."""
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if self.padding not in PADDINGS:
            raise ValueError(f"padding must be one of {', '.join(PADDINGS)}, got {self.padding!r}")
        layers = check_layers(layers)
        last = _DEPTH[deepest(layers)]
        x = Normalize(self.preprocessing)(images).astype(self.dtype)
        out = {}
        block = nn.remat(_block, static_argnums=(2, 3)) if self.remat else _block
        for names in BLOCKS:
            names = tuple(n for n in names if _DEPTH[n] <= last)
            if not names:
                break
            x, found = block(self, x, names, layers)
            out |= found
        return out


def _border_mode(padding: str, conv: str) -> str | None:
    """jnp.pad's mode for `conv`'s 1-pixel border, or None for the convolution's zeros."""
    mode, _, scope = padding.partition("-")
    if mode == "zeros" or (conv != "conv1_1" and scope != "all"):
        return None
    return _NUMPY_PAD[mode]


def _block(module: VGG19, x: jax.Array, names: tuple[str, ...], wanted: tuple[str, ...]):
    """Runs one block's `names` in order (convs created in `module`'s scope, so parameters
    keep flat names); returns the output and the `wanted` activations."""
    pool = nn.avg_pool if module.pooling == "avg" else nn.max_pool
    found = {}
    for name in names:
        if name.startswith("conv"):
            features = PARAM_SHAPES[name][1][0]
            mode = _border_mode(module.padding, name)
            if mode is not None:
                x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode=mode)
            conv = nn.Conv(
                features,
                (3, 3),
                padding="VALID" if mode is not None else ((1, 1), (1, 1)),
                dtype=module.dtype,
                param_dtype=jnp.float32,
                name=name,
                parent=module,
            )
            x = conv(x)
        elif name.startswith("relu"):
            x = nn.relu(x)
        else:
            x = pool(x, (2, 2), strides=(2, 2))
        if name in wanted:
            found[name] = x
    return x, found
