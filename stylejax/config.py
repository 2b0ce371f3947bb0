"""The run configuration: one frozen dataclass whose defaults the CLI, the API and the studio
read, and the parsing of library options into it.

`Config.__post_init__` checks every field on its own (type and range) and raises `ConfigError`
naming the field. Checks that need several fields or the images live in the plan step
(`stylejax.engine.plan`). Only the CLI translates a field into its flag
(`style_weight` -> `--style-weight`); the library API and the studio report the field itself.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import numbers
import os
from collections.abc import Mapping
from pathlib import Path

from stylejax.files.images import DEFAULT_MAX_PIXELS
from stylejax.model.vgg import LAYERS, PADDINGS, POOLINGS
from stylejax.objective.colors import MODES as COLOR_MODES
from stylejax.objective.masks import MaskError, parse_color
from stylejax.objective.total import ACTIVATION_SCALE, PRECISIONS, STYLE_LOSSES
from stylejax.optim.solvers import ADAM_LEARNING_RATE, OPTIMIZERS

SEED_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

# Style-weight factor per weight set. Caffe's VGG19 sees 0-255 BGR input and its activations
# are far larger than torchvision's, so the same raw weights would mean a different balance.
# `style_weight` is expressed at torchvision's scale (the seed's 1e6 against content 1) and
# multiplied by this factor for the weight set in use. Caffe's factor puts 1e6 at a
# style:content ratio of 20:1, the balance of the long-standing Caffe-VGG19 reference,
# jcjohnson/neural-style (content 5, style 100, same Gram and MSE definitions), which we also
# checked by eye (BENCHMARKS.md).
STYLE_WEIGHT_FACTOR = {"torchvision": 1.0, "caffe": 2e-5}
# The same for the Wasserstein style loss, whose units are squared activations like the content
# loss's, so one factor serves every weight set. It puts `style_weight` 1e6 at crowsonkb's
# balance: content weight 0.015 against style layer weights summing to 1, i.e. per layer
# (1/5) / 0.015 = 13.3 times the content weight on average, = 1e6 / 75000.
W2_STYLE_WEIGHT_FACTOR = 1 / 75_000
# Under `style_normalize` each style layer's loss is relative (dimensionless) while the content
# loss stays in squared activations. These factors keep `style_weight`'s average meaning: at
# Caffe's scale they give the normalized losses the same balance as the raw ones at the same
# style_weight, as a geometric mean over the 4 shared styles x 5 shared contents at 256 px
# (scripts/measure_balance.py). Other weight sets: x (activation scale / Caffe's)², the content
# loss's units.
NORMALIZED_STYLE_WEIGHT_FACTOR = {"gram": 0.066, "wasserstein": 0.37}
# Named per-layer style weights (`style_layer_weights`), relative, in the order of
# `style_layers`. "kc": crowsonkb's 256:64:16:4:1 over relu1_1..relu5_1, each layer 4 times the
# next, for any number of layers.
LAYER_WEIGHTS = ("equal", "kc")

# How the evaluation budget is spread over a pyramid's scales (stylejax.engine.pyramid).
SPLITS = ("equal", "pixels", "front")
# With no `min_size`, pictures of at least AUTO_PYRAMID[0] pixels start a pyramid at
# AUTO_PYRAMID[1] (BENCHMARKS.md, "Large pictures"); smaller ones are one scale.
AUTO_PYRAMID = (512, 128)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
# Other spellings users type for a precision.
PRECISION_ALIASES = {"bf16": "bfloat16", "fp32": "float32", "f32": "float32"}
# Config fields a sweep may vary: each is data to the compiled program (stylejax.engine.sweep).
SWEEPABLE = ("style_weight", "content_weight", "tv_weight", "content_layer", "seed")

# Limits on single values, each with its reason.
# The longest side an image may have: JPEG's limit, and far beyond any device's memory at VGG19.
MAX_SIDE = 65_535
# The largest evaluation budget: weeks of work at any size, and far from the int32 overflow of
# the on-device evaluation counters (which add a chunk's worth to it).
MAX_EVALUATIONS = 10_000_000
# The largest seed: a uint32, which every seeding scheme (NumPy's, JAX's keys) takes as is.
MAX_SEED = 2**32 - 1
# Loss weights are float32 on the device; a larger weight is infinite there.
MAX_WEIGHT = 3.4e38
# Spatial control (issue 18): the default softening of region seams, in pixels of the result
# (the Gaussian's standard deviation; at a pyramid's coarser scales it shrinks in proportion),
# and whether guides are eroded as in Gatys et al. 2017. Both chosen by measurement
# (BENCHMARKS.md, "Spatial control").
MASK_BLUR = 4.0
MASK_ERODE = False
# Against the edge line (issue 16): pixels of mirrored photo optimized around the picture at
# every scale and cut away (stylejax.engine.margin). Measured (BENCHMARKS.md, "Borders"): 8
# pixels still left a line along one side of one of two pictures at 256 px, 16 none.
MARGIN = 16
# Style octaves (issue 16): the style also matched on the picture halved, and halved again
# (stylejax.objective.octaves). Measured (BENCHMARKS.md, "Style octaves").
STYLE_OCTAVES = 2
MAX_STYLE_OCTAVES = 16  # far beyond MAX_SIDE / 128
# The widest margin: far beyond VGG19's receptive field, on any picture.
MAX_MARGIN = 1024


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
    # Largest ratio between successive pyramid scales. 2 (issue 16): the picture of √2's steps
    # (crowsonkb's) in 0.92x the time, fewer scales to compile and start (BENCHMARKS.md, "An
    # accurate Wasserstein loss"); `--preset classic` keeps √2.
    scale_step: float = 2.0
    # How the budget is spread over the scales (see SPLITS). "front": the first scale twice
    # each later one's share, at equal judged quality in 0.88x the time of "equal" (issue 16,
    # BENCHMARKS.md, "Budget shape"); `--preset classic` keeps "equal".
    scale_split: str = "front"
    style_scale: float = 1.0  # style image size relative to the content image's longest side
    # 250: with the style octaves, about the time that 300 took without them (issue 16)
    evaluations: int = 250  # loss-and-gradient evaluations, summed over all scales
    iterations: int | None = None  # optimizer iteration limit per scale; None: the budget
    # The defaults below that differ from the seed's (style_weight, content_layer, pooling,
    # init, style_loss, style_layer_weights, padding) are issue 16's, chosen by measurement
    # against crowsonkb/style-transfer-pytorch at equal time (BENCHMARKS.md, "Picture quality");
    # `--preset classic` restores the earlier ones, `--preset seed` is the reference algorithm.
    content_weight: float = 1.0
    # 1.5e6: 1.5 times crowsonkb's balance (W2_STYLE_WEIGHT_FACTOR). Without style octaves
    # 4e6 was needed for a painting; with them 2.5e6 put two of three pictures past the
    # stylized end of crowsonkb's range (BENCHMARKS.md, "Style octaves").
    style_weight: float = 1.5e6  # at torchvision's scale; see STYLE_WEIGHT_FACTOR
    tv_weight: float = 0.0  # total variation; not in the paper, off in the seed
    # Gatys et al. match content at conv4_2; this default takes it after its ReLU (relu4_2),
    # as crowsonkb does. Deviation from the paper in the seed: relu4_1, as most PyTorch ports.
    content_layer: str = "relu4_2"
    style_layers: tuple[str, ...] = SEED_STYLE_LAYERS
    # Deviation from the paper (average pooling, the seed's and `classic`'s): VGG's own max
    # pooling, as crowsonkb. At 512 px it put all four measured pairs inside crowsonkb's span
    # at 0.51-0.64x its front's sliced distance, against 0.59-0.91x with average pooling;
    # the judge also pools by max (BENCHMARKS.md, "Max pooling"). Judges that do not pool by
    # max prefer average pooling on most pairs (BENCHMARKS.md, "Judges without VGG").
    pooling: str = "max"
    preserve_colors: str | None = None  # "luminance" or "histogram" (Gatys et al. 2017)
    precision: str = "float32"  # "bfloat16" (or "bf16"): VGG in bf16; Grams, losses in f32
    # Deviation from the paper (white noise): start from the photo, as crowsonkb does; the seed
    # starts from seeded uniform noise ("random").
    init: str = "content"  # "content", "random" (seeded uniform [0, 1]) or an image path
    seed: int = 0  # 0 to MAX_SEED
    remat: bool = False  # recompute VGG blocks in the backward pass: less memory, more time
    optimizer: str = "lbfgs"  # see BENCHMARKS.md
    learning_rate: float = ADAM_LEARNING_RATE  # Adam's step size, in [0, 1] pixel units
    # Deviation from the paper (Gram matrices): Gaussian W2, crowsonkb's; "gram" is Gatys'.
    style_loss: str = "wasserstein"
    # relative weight of each style layer: "equal", "kc" (256:64:16:4:1) or one number per
    # layer; scaled to average 1, so style_weight is the weight of an average layer
    style_layer_weights: str | tuple[float, ...] = "kc"  # the paper's: "equal"
    style_normalize: bool = False  # divide each style layer's loss by its target's magnitude
    average: float | None = None  # EMA decay of the iterates (e.g. 0.99): the output; None/0: off
    # VGG's first conv border: zeros (VGG's, the seed's), replicate, reflect. Alone, none of
    # them removes the 1-pixel line along the picture's edges; `margin` does (BENCHMARKS.md).
    padding: str = "replicate"
    # Deviation from the paper: optimize a canvas MARGIN pixels wider on every side, the photo
    # mirrored into it, and cut it away; 0: the picture alone (the seed's).
    margin: int = MARGIN
    # Deviation from the paper: the style also matched on the picture halved, up to this many
    # times while the halved picture keeps 128 pixels (its longest side); 0: off (the seed's).
    style_octaves: int = STYLE_OCTAVES
    max_pixels: int = DEFAULT_MAX_PIXELS  # refuse larger input images before decoding them
    weights: str | None = None  # converted .h5; None: the default Caffe VGG19
    save_every: int | None = None  # frames every N evaluations, plus a GIF; None: no frames
    log: str | None = None  # JSON log path
    tensorboard: str | None = None  # TensorBoard log folder
    checkpoint_every: int | None = None  # save the optimizer state every N evaluations
    resume: bool = False  # continue from the checkpoint next to `output`
    overwrite: bool = False  # replace existing outputs
    # Spatial control (Gatys et al. 2017, section 4; issue 18). Without `mask` and
    # `style_masks` the run is exactly the unmasked one.
    mask: str | None = None  # label image: each colour a region, region k takes style k
    # The regions' colours, in style order; empty: every colour, by first appearance in
    # reading order.
    mask_colors: tuple[str, ...] = ()
    style_masks: tuple[str, ...] = ()  # per style image, the part to learn from (white)
    keep_content: str | None = None  # the colour of a region left as the photo (no style)
    mask_blur: float = MASK_BLUR  # soft seams: Gaussian sigma in pixels of the result; 0: hard
    mask_erode: bool = MASK_ERODE  # erode guides to whole receptive fields (the paper's way)

    def __post_init__(self):
        for name in ("content", "output", "weights", "log", "tensorboard"):
            _path(self, name, optional=name != "output")
        _paths(self, "style")
        _whole(self, "size", 1, MAX_SIDE)
        _whole(self, "min_size", 1, MAX_SIDE, optional=True)
        _whole(self, "evaluations", 1, MAX_EVALUATIONS)
        _whole(self, "iterations", 1, MAX_EVALUATIONS, optional=True)
        _whole(self, "save_every", 1, MAX_EVALUATIONS, optional=True)
        _whole(self, "checkpoint_every", 1, MAX_EVALUATIONS, optional=True)
        _whole(self, "max_pixels", 1, MAX_SIDE**2)
        _whole(self, "seed", 0, MAX_SEED)
        _whole(self, "margin", 0, MAX_MARGIN)
        _whole(self, "style_octaves", 0, MAX_STYLE_OCTAVES)
        for name in ("content_weight", "style_weight", "tv_weight", "learning_rate"):
            _real(self, name, 0.0, MAX_WEIGHT)
        _real(self, "style_scale", 0.0, MAX_SIDE, low_open=True)
        _real(self, "scale_step", 1.0, MAX_SIDE, low_open=True)
        _reals(self, "style_blend")
        if self.style_blend and not sum(self.style_blend) > 0:
            raise ConfigError("style_blend", "values must be >= 0 with a positive sum")
        for name in ("remat", "resume", "overwrite", "style_normalize", "mask_erode"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(name, f"must be true or false, got {getattr(self, name)!r}")
        if isinstance(self.precision, str):
            _set(self, "precision", PRECISION_ALIASES.get(self.precision, self.precision))
        _one_of(self, "optimizer", OPTIMIZERS)
        _one_of(self, "pooling", POOLINGS)
        _one_of(self, "precision", tuple(PRECISIONS))
        _one_of(self, "scale_split", SPLITS)
        _one_of(self, "preserve_colors", COLOR_MODES, optional=True)
        _one_of(self, "style_loss", STYLE_LOSSES)
        _one_of(self, "padding", PADDINGS)
        if self.average is not None:
            value = self.average
            if not (isinstance(value, numbers.Real) and not isinstance(value, bool)) or not (
                0 <= value < 1
            ):
                raise ConfigError(
                    "average", f"must be a decay in [0, 1) such as 0.99 (0: off), got {value!r}"
                )
            _set(self, "average", float(value))
        if isinstance(self.style_layer_weights, str):
            _one_of(self, "style_layer_weights", LAYER_WEIGHTS)
        else:
            _reals(self, "style_layer_weights")
            if not sum(self.style_layer_weights) > 0:
                raise ConfigError("style_layer_weights", "values must be >= 0 with a positive sum")
        if self.content_layer not in LAYERS:
            raise ConfigError(
                "content_layer",
                f"must be a VGG19 layer such as relu4_1, got {self.content_layer!r}",
            )
        _strings(self, "style_layers")
        unknown = [name for name in self.style_layers if name not in LAYERS]
        if unknown or not self.style_layers:
            raise ConfigError(
                "style_layers",
                f"must be VGG19 layers such as relu1_1 (unknown: {', '.join(unknown) or 'none'})",
            )
        if not isinstance(self.init, str):
            raise ConfigError("init", f"must be 'content', 'random' or a path, got {self.init!r}")
        if self.init not in ("content", "random") and not Path(self.init).is_file():
            raise ConfigError(
                "init", f"must be 'content', 'random' or an image file, got {self.init!r}"
            )
        _path(self, "mask", optional=True)
        _paths(self, "style_masks")
        _colors(self, "mask_colors")
        _colors(self, "keep_content", optional=True)
        _real(self, "mask_blur", 0.0, MAX_SIDE)
        if Path(self.output).suffix.lower() not in IMAGE_EXTENSIONS:
            raise ConfigError(
                "output", f"must end in {', '.join(IMAGE_EXTENSIONS)}, got {self.output!r}"
            )


def _set(config: Config, name: str, value) -> None:
    object.__setattr__(config, name, value)  # normalizing in __post_init__ of a frozen class


def _whole(config: Config, name: str, low: int, high: int, *, optional: bool = False) -> None:
    value = getattr(config, name)
    if value is None and optional:
        return
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise ConfigError(name, f"must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(name, f"must be between {low} and {high}, got {value}")
    _set(config, name, int(value))


def _real(config: Config, name: str, low: float, high: float, *, low_open: bool = False) -> None:
    value = getattr(config, name)
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ConfigError(name, f"must be a number, got {value!r}")
    value = float(value)
    above = value > low if low_open else value >= low
    if not (math.isfinite(value) and above and value <= high):
        relation = ">" if low_open else ">="
        raise ConfigError(
            name, f"must be a finite number {relation} {low:g} and <= {high:g}, got {value}"
        )
    _set(config, name, value)


def _reals(config: Config, name: str) -> None:
    values = _sequence(config, name)
    for value in values:
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise ConfigError(name, f"values must be numbers, got {value!r}")
        if not (math.isfinite(value) and 0 <= value <= MAX_WEIGHT):
            raise ConfigError(name, f"values must be >= 0 with a positive sum, got {value}")
    _set(config, name, tuple(float(v) for v in values))


def _strings(config: Config, name: str) -> None:
    values = _sequence(config, name)
    if not all(isinstance(v, str) for v in values):
        raise ConfigError(name, f"must be a list of names, got {getattr(config, name)!r}")
    _set(config, name, tuple(values))


def _sequence(config: Config, name: str) -> tuple:
    values = getattr(config, name)
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, (list, tuple)):
        raise ConfigError(name, f"must be a list, got {values!r}")
    return tuple(values)


def _path(config: Config, name: str, *, optional: bool) -> None:
    value = getattr(config, name)
    if value is None and optional:
        return
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise ConfigError(name, f"must be a file path, got {value!r}")
    _set(config, name, os.fspath(value))


def _paths(config: Config, name: str) -> None:
    values = _sequence(config, name)
    if not all(isinstance(v, (str, os.PathLike)) and os.fspath(v) for v in values):
        raise ConfigError(name, f"must be a list of file paths, got {values!r}")
    _set(config, name, tuple(os.fspath(v) for v in values))


def _colors(config: Config, name: str, optional: bool = False) -> None:
    """A colour (or, for a tuple field, a list of them) as text: '#rrggbb', a name or a grey
    level, checked by parsing; kept as written."""
    value = getattr(config, name)
    if optional and value is None:
        return
    listed = isinstance(value, (list, tuple))
    values = _sequence(config, name) if listed else (value,)
    for color in values:
        if not isinstance(color, str):
            raise ConfigError(name, f"must be a colour as text such as '#ff0000', got {color!r}")
        try:
            parse_color(color)
        except MaskError as e:
            raise ConfigError(name, str(e)) from None
    if listed:
        _set(config, name, tuple(values))


def _one_of(config: Config, name: str, choices: tuple[str, ...], optional: bool = False) -> None:
    value = getattr(config, name)
    if optional and value is None:
        return
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(name, f"must be one of {', '.join(choices)}, got {value!r}")


# The settings of the algorithm itself before issue 16 changed any default: what `--preset
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
    learning_rate=ADAM_LEARNING_RATE,
    style_loss="gram",
    style_layer_weights="equal",
    style_normalize=False,
    average=None,
    padding="zeros",
    margin=0,
    style_octaves=0,
)

PRESETS: dict[str, dict] = {
    # The reference algorithm of the developers' brief, exactly: the classic algorithm (Gram
    # style loss, random start, L-BFGS, float32), single scale (see `preset`), 600 evaluations
    # at 512 px and a frame every 10.
    "seed": {k: v for k, v in CLASSIC.items() if k != "min_size"}
    | dict(size=512, evaluations=600, save_every=10),
    # The defaults before issue 16, so that earlier results can be reproduced.
    "classic": CLASSIC,
    # A first run on a laptop CPU and the smoke tests: small and quick.
    "tiny": dict(size=64, evaluations=30),
}


def preset_fields(name: str, overrides: Mapping | None = None) -> dict:
    """The named preset's Config fields, with `overrides` applied on top."""
    if not isinstance(name, str) or name not in PRESETS:
        raise ConfigError("preset", f"must be one of {', '.join(PRESETS)}, got {name!r}")
    fields = PRESETS[name] | dict(overrides or {})
    if name == "seed":
        # The reference algorithm is single scale at whatever size it is asked for.
        fields.setdefault("min_size", fields["size"])
    return fields


def preset(name: str, **overrides) -> Config:
    """The named preset's Config, with `overrides` applied on top."""
    return Config(**preset_fields(name, overrides))


# Config fields that belong to the command line (files it writes, how it resumes) or that the
# library API takes as arguments of their own.
NOT_OPTIONS = (
    "content",
    "style",
    "weights",
    "output",
    "log",
    "tensorboard",
    "checkpoint_every",
    "resume",
    "overwrite",
    "mask",  # the API takes the masks as images: Stylizer.stylize(mask=, style_masks=)
    "style_masks",
)
OPTIONS = tuple(f.name for f in dataclasses.fields(Config) if f.name not in NOT_OPTIONS)
# Not a Config field: the options `from_options` starts from (a name in PRESETS), every other
# option applied on top, as `--preset` on the command line.
PRESET_OPTION = "preset"
# Options whose value is a sequence by nature, not a sweep.
SEQUENCES = ("style_layers", "style_blend", "style_layer_weights", "mask_colors")


def from_options(options: Mapping) -> tuple[Config, dict[str, tuple]]:
    """Library options ({Config field: value}; a list on a SWEEPABLE field is a sweep; and
    `preset`, a name in PRESETS that the other options apply on top of) as (the config of the
    first member, the sweep axes {field: values}). Raises ConfigError."""
    has_preset, preset_name = PRESET_OPTION in options, options.get(PRESET_OPTION)
    if has_preset:
        preset_fields(preset_name)  # a bad name, refused before the other options
    options = {k: v for k, v in options.items() if k != PRESET_OPTION}
    for name in options:
        if name in NOT_OPTIONS:
            raise ConfigError(
                name, "is not an option of the library API (a CLI setting or an argument)"
            )
        if name not in OPTIONS:
            raise ConfigError(
                str(name), f"is not an option; options are {', '.join((*OPTIONS, PRESET_OPTION))}"
            )
    scalars, axes = {}, {}
    for name, value in options.items():
        if isinstance(value, (list, tuple)) and name not in SEQUENCES:
            if name not in SWEEPABLE:
                raise ConfigError(
                    name, f"takes one value; only {', '.join(SWEEPABLE)} can be swept with a list"
                )
            values = sweep_values(name, value)
            if len(values) > 1:
                axes[name] = values
            value = values[0]
        scalars[name] = value
    if has_preset:
        scalars = preset_fields(preset_name, scalars)
    return Config(**scalars), axes


def sweep_values(name: str, values) -> tuple:
    """A list of values for one swept field, duplicates dropped, each checked as a Config
    value would be."""
    if not values:
        raise ConfigError(name, "got an empty list; give at least one value")
    for value in values:
        Config(**{name: value})
    return tuple(dict.fromkeys(values))


def member_count(axes: Mapping[str, tuple]) -> int:
    """How many members a sweep has (the product of its axes' lengths), without making them."""
    return math.prod(len(values) for values in axes.values())


def members(config: Config, axes: Mapping[str, tuple]) -> list[Config]:
    """The product grid of `axes` ({field: values}) over `config`, first axis slowest."""
    names = list(axes)
    return [
        dataclasses.replace(config, **dict(zip(names, values, strict=True)))
        for values in itertools.product(*(axes[name] for name in names))
    ]


def label(member: Config, axes: Mapping[str, tuple]) -> str:
    """A file-name-safe label naming a member by its swept values, e.g. style_weight=1e+05."""
    parts = []
    for name in axes:
        value = getattr(member, name)
        parts.append(f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}")
    return "_".join(parts)


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


def style_weight_factor(config: Config, weight_set: str) -> float:
    """The factor from `style_weight` to the effective weight of an average style layer."""
    if weight_set not in STYLE_WEIGHT_FACTOR:
        raise ValueError(f"no style-weight factor for weight set {weight_set!r}")
    if config.style_normalize:
        activations = ACTIVATION_SCALE[weight_set] / ACTIVATION_SCALE["caffe"]
        return NORMALIZED_STYLE_WEIGHT_FACTOR[config.style_loss] * activations**2
    if config.style_loss == "wasserstein":
        return W2_STYLE_WEIGHT_FACTOR
    return STYLE_WEIGHT_FACTOR[weight_set]
