"""The run configuration: one frozen dataclass, validated once, whose defaults the CLI reads.

Every check of a setting lives in `Config.__post_init__` and raises `ConfigError`, which names
the field; the CLI turns the field into its flag (`style_weight` -> `--style-weight`), the
library API and the studio report the field itself.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import jax.numpy as jnp

from stylejax import colors, objective, pyramid, vgg
from stylejax.objective import LossWeights
from stylejax.vgg import LAYERS, POOLINGS

SEED_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

# Weight-set scale. Caffe's VGG19 sees 0-255 BGR input and its activations are far larger than
# torchvision's, so the same raw weights would mean a different balance. `style_weight` is
# expressed at torchvision's scale (the seed's 1e6 against content 1) and multiplied by this
# factor for the weight set in use. Caffe's factor puts 1e6 at a style:content ratio of 20:1,
# the balance of the long-standing Caffe-VGG19 reference, jcjohnson/neural-style (content 5,
# style 100, same Gram and MSE definitions), which we also checked by eye (BENCHMARKS.md).
STYLE_SCALE = {"torchvision": 1.0, "caffe": 2e-5}
# The same for the Wasserstein style loss, whose units are squared activations like the content
# loss's, so one factor serves every weight set (their balance does not depend on the
# activations' scale). It puts `style_weight` 1e6 at crowsonkb's balance: content weight 0.015
# against style layer weights summing to 1, i.e. per layer (1/5) / 0.015 = 13.3 times the
# content weight on average, = 1e6 / 75000.
W2_STYLE_SCALE = 1 / 75_000
STYLE_LOSSES = objective.STYLE_LOSSES
PADDINGS = vgg.PADDINGS
# Named per-layer style weights (`style_layer_weights`), relative, in the order of
# `style_layers`. "kc": crowsonkb's 256:64:16:4:1 over relu1_1..relu5_1, each layer 4 times the
# next, for any number of layers.
LAYER_WEIGHTS = ("equal", "kc")

OPTIMIZERS = ("lbfgs", "jaxopt-lbfgsb", "jaxopt-lbfgs", "optax-lbfgs", "adam")
# Optimizers whose every step costs exactly one evaluation: the only ones a sweep may batch.
ONE_EVALUATION_PER_STEP = ("lbfgs", "adam")
COLOR_MODES = colors.MODES
PRECISIONS = tuple(objective.PRECISIONS)
SPLITS = pyramid.SPLITS
# With no `min_size`, pictures of at least AUTO_PYRAMID[0] pixels start a pyramid at
# AUTO_PYRAMID[1] (BENCHMARKS.md, "Large pictures"); smaller ones are one scale.
AUTO_PYRAMID = (512, 128)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


class ConfigError(ValueError):
    """A setting that cannot work. `field` is the Config field (the CLI shows its flag)."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field} {problem}")
        self.field, self.problem = field, problem


@dataclasses.dataclass(frozen=True)
class Config:
    content: str | None = None  # content image; None: the bundled sample
    style: tuple[str, ...] = ()  # style image(s); empty: the bundled sample
    style_blend: tuple[float, ...] = ()  # relative weight per style image; empty: equal
    output: str = "stylized.png"  # final image; .png, .jpg, or .tif (16 bits per channel)
    size: int = 256  # longest side of the result, in pixels
    min_size: int | None = None  # first scale's longest side; = size: one scale; None: auto
    scale_step: float = 2**0.5  # largest ratio between successive pyramid scales
    scale_split: str = "equal"  # how the budget is spread over the scales (stylejax.pyramid)
    style_scale: float = 1.0  # style image size relative to the content image's longest side
    evaluations: int = 300  # loss-and-gradient evaluations, summed over all scales
    iterations: int | None = None  # optimizer iteration limit per scale; None: the budget
    content_weight: float = 1.0
    style_weight: float = 1e6  # at torchvision's scale; see STYLE_SCALE
    tv_weight: float = 0.0  # total variation; not in the paper, off in the seed
    content_layer: str = "relu4_1"
    style_layers: tuple[str, ...] = SEED_STYLE_LAYERS
    pooling: str = "avg"  # Gatys et al.'s replacement for VGG's max pooling
    preserve_colors: str | None = None  # "luminance" or "histogram" (Gatys et al. 2017)
    precision: str = "float32"  # "bfloat16": VGG in bf16; Grams, losses, optimizer in f32
    init: str = "random"  # "content", "random" (seeded uniform [0, 1]) or an image path
    seed: int = 0
    remat: bool = False  # recompute VGG blocks in the backward pass: less memory, more time
    optimizer: str = "lbfgs"  # see BENCHMARKS.md
    learning_rate: float = 0.02  # Adam only
    style_loss: str = "gram"  # "gram" (Gatys) or "wasserstein" (Gaussian W2, crowsonkb)
    # relative weight of each style layer: "equal", "kc" (256:64:16:4:1) or one number per
    # layer; scaled to average 1, so style_weight is the weight of an average layer
    style_layer_weights: str | tuple[float, ...] = "equal"
    style_normalize: bool = False  # divide each style layer's loss by its target's magnitude
    average: float | None = None  # EMA decay of the iterates (e.g. 0.99): the output; None/0: off
    padding: str = "zeros"  # VGG's first conv border: zeros (VGG), replicate, reflect
    max_pixels: int = 100_000_000  # refuse larger input images before decoding them
    weights: str | None = None  # converted .h5; None: the default Caffe VGG19
    save_every: int | None = None  # frames every N evaluations, plus a GIF; None: no frames
    log: str | None = None  # JSON log path
    tensorboard: str | None = None  # TensorBoard log folder
    checkpoint_every: int | None = None  # save the optimizer state every N evaluations
    resume: bool = False  # continue from the checkpoint next to `output`
    overwrite: bool = False  # replace existing outputs

    def __post_init__(self):
        _at_least(self, 1, "size", "evaluations", "max_pixels")
        _at_least(self, 1, "iterations", "checkpoint_every", "min_size", optional=True)
        for name in ("content_weight", "style_weight", "tv_weight", "learning_rate"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(name, f"must be a finite number >= 0, got {value}")
        if not (math.isfinite(self.style_scale) and self.style_scale > 0):
            raise ConfigError("style_scale", f"must be a number > 0, got {self.style_scale}")
        if self.save_every is not None and not 1 <= self.save_every <= self.evaluations:
            raise ConfigError(
                "save_every",
                f"must be between 1 and the evaluation budget ({self.evaluations}), "
                f"got {self.save_every}",
            )
        if self.min_size is not None and self.min_size > self.size:
            raise ConfigError(
                "min_size", f"must not exceed size ({self.size}), got {self.min_size}"
            )
        if not (math.isfinite(self.scale_step) and self.scale_step > 1):
            raise ConfigError("scale_step", f"must be a number > 1, got {self.scale_step}")
        if any(not math.isfinite(b) or b < 0 for b in self.style_blend) or (
            self.style_blend and sum(self.style_blend) <= 0
        ):
            raise ConfigError("style_blend", "values must be >= 0 with a positive sum")
        if self.style and self.style_blend and len(self.style_blend) != len(self.style):
            raise ConfigError(
                "style_blend",
                f"has {len(self.style_blend)} values for {len(self.style)} style images",
            )
        _one_of(self, "optimizer", OPTIMIZERS)
        _one_of(self, "pooling", POOLINGS)
        _one_of(self, "precision", PRECISIONS)
        _one_of(self, "scale_split", SPLITS)
        _one_of(self, "style_loss", STYLE_LOSSES)
        _one_of(self, "padding", PADDINGS)
        if not isinstance(self.style_normalize, bool):
            raise ConfigError(
                "style_normalize", f"must be true or false, got {self.style_normalize!r}"
            )
        if self.average is not None and not (
            isinstance(self.average, (int, float))
            and not isinstance(self.average, bool)
            and 0 <= self.average < 1
        ):
            raise ConfigError(
                "average", f"must be a decay in [0, 1) such as 0.99 (0: off), got {self.average!r}"
            )
        _check_layer_weights(self)
        if self.preserve_colors is not None:
            _one_of(self, "preserve_colors", COLOR_MODES)
        if self.content_layer not in LAYERS:
            raise ConfigError(
                "content_layer",
                f"must be a VGG19 layer such as relu4_1, got {self.content_layer!r}",
            )
        unknown = [name for name in self.style_layers if name not in LAYERS]
        if unknown or not self.style_layers:
            raise ConfigError(
                "style_layers",
                f"must be VGG19 layers such as relu1_1 (unknown: {', '.join(unknown) or 'none'})",
            )
        if self.init not in ("content", "random") and not Path(self.init).is_file():
            raise ConfigError(
                "init", f"must be 'content', 'random' or an image file, got {self.init!r}"
            )
        if Path(self.output).suffix.lower() not in IMAGE_EXTENSIONS:
            raise ConfigError(
                "output", f"must end in {', '.join(IMAGE_EXTENSIONS)}, got {self.output!r}"
            )


def _check_layer_weights(config: Config) -> None:
    weights = config.style_layer_weights
    if isinstance(weights, str):
        if weights not in LAYER_WEIGHTS:
            raise ConfigError(
                "style_layer_weights",
                f"must be one of {', '.join(LAYER_WEIGHTS)} or one number per style layer, "
                f"got {weights!r}",
            )
        return
    if not isinstance(weights, tuple) or not all(
        isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights
    ):
        raise ConfigError(
            "style_layer_weights", f"must be a name or a sequence of numbers, got {weights!r}"
        )
    if len(weights) != len(config.style_layers):
        raise ConfigError(
            "style_layer_weights",
            f"has {len(weights)} values for {len(config.style_layers)} style layers",
        )
    if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError("style_layer_weights", "values must be >= 0 with a positive sum")


def layer_weights(config: Config) -> tuple[float, ...]:
    """Each style layer's relative weight, scaled to average 1 ("equal": all exactly 1).

    .. note:: crowsonkb scales its 256:64:16:4:1 to sum 1; here they average 1, so the total
       style weight stays `style_weight` × layers whatever the choice, as with "equal" (the
       seed's). crowsonkb's per-layer weights are ours divided by the number of layers.
    """
    weights = config.style_layer_weights
    count = len(config.style_layers)
    if weights == "equal":
        return (1.0,) * count
    if weights == "kc":
        weights = tuple(4.0 ** (count - 1 - i) for i in range(count))
    total = sum(weights)
    return tuple(count * w / total for w in weights)


def style_scale(config: Config, weight_set: str) -> float:
    """The factor from `style_weight` to the effective weight of an average style layer."""
    if weight_set not in STYLE_SCALE:
        raise ValueError(f"no style scale for weight set {weight_set!r}")
    if config.style_loss == "wasserstein":
        return W2_STYLE_SCALE
    return STYLE_SCALE[weight_set]


def first_size(config: Config) -> int:
    """The pyramid's first longest side: `min_size`, or automatic (AUTO_PYRAMID) when None."""
    if config.min_size is not None:
        return config.min_size
    threshold, start = AUTO_PYRAMID
    return start if config.size >= threshold else config.size


def _at_least(config: Config, minimum: int, *names: str, optional: bool = False) -> None:
    for name in names:
        value = getattr(config, name)
        if value is None and optional:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ConfigError(name, f"must be a whole number >= {minimum}, got {value!r}")


def _one_of(config: Config, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(config, name)
    if value not in choices:
        raise ConfigError(name, f"must be one of {', '.join(choices)}, got {value!r}")


# The settings of the algorithm itself, before issue 16 changed any default: what `--preset
# classic` pins, so that a later change of a default cannot change it.
CLASSIC = dict(
    size=256,
    min_size=None,
    scale_step=2**0.5,
    scale_split="equal",
    style_scale=1.0,
    evaluations=300,
    iterations=None,
    content_weight=1.0,
    style_weight=1e6,
    tv_weight=0.0,
    content_layer="relu4_1",
    style_layers=SEED_STYLE_LAYERS,
    pooling="avg",
    preserve_colors=None,
    precision="float32",
    init="random",
    seed=0,
    optimizer="lbfgs",
    learning_rate=0.02,
    style_loss="gram",
    style_layer_weights="equal",
    style_normalize=False,
    average=None,
    padding="zeros",
)

PRESETS: dict[str, dict] = {
    # The reference algorithm of DEVELOPERS.md, exactly: single scale, float32.
    "seed": dict(
        size=512,
        evaluations=600,
        content_weight=1.0,
        style_weight=1e6,
        tv_weight=0.0,
        content_layer="relu4_1",
        style_layers=SEED_STYLE_LAYERS,
        pooling="avg",
        preserve_colors=None,
        precision="float32",
        init="random",
        seed=0,
        save_every=10,
        optimizer="lbfgs",
        style_scale=1.0,
        style_loss="gram",
        style_layer_weights="equal",
        style_normalize=False,
        average=None,
        padding="zeros",
    ),
    # The defaults before issue 16, so that earlier results can be reproduced.
    "classic": CLASSIC,
    # A first run on a laptop CPU and the smoke tests: small and quick.
    "tiny": dict(size=64, evaluations=30),
}


def preset(name: str, **overrides) -> Config:
    """The named preset's Config, with `overrides` applied on top."""
    if name not in PRESETS:
        raise ConfigError("preset", f"must be one of {', '.join(PRESETS)}, got {name!r}")
    fields = PRESETS[name] | overrides
    if name == "seed":
        # The reference algorithm is single scale at whatever size it is asked for.
        fields.setdefault("min_size", fields["size"])
    return Config(**fields)


def effective_weights(config: Config, weight_set: str) -> LossWeights:
    """The loss weights actually used: the config's, scaled for the weight set and the style
    loss, each style layer by its `layer_weights` ("equal": all the same, as in the seed)."""
    style = config.style_weight * style_scale(config, weight_set)
    relative = layer_weights(config)
    return LossWeights(
        content={config.content_layer: jnp.float32(config.content_weight)},
        style={
            name: jnp.float32(style if config.style_layer_weights == "equal" else style * w)
            for name, w in zip(config.style_layers, relative, strict=True)
        },
        tv=jnp.float32(config.tv_weight),
    )
