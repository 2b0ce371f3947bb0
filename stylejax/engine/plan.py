"""The plan step: settings and decoded images become a `Plan`, and every check that needs more
than one field, the images, the weights or the machine happens here, before any work starts.

Single-field checks live in `Config.__post_init__`. Errors are `ConfigError`s naming the
Config field; only the CLI translates a field into its flag.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from stylejax import samples
from stylejax.config import AUTO_PYRAMID, MAX_SIDE, Config, ConfigError, members
from stylejax.engine import devices, margin, pyramid, regions
from stylejax.engine.sweep import batched_weights, objective_for
from stylejax.files import images
from stylejax.model.load import load_weights
from stylejax.model.vgg import deepest, pooling_count
from stylejax.model.weights import Weights
from stylejax.objective.total import LossInputs, LossWeights, Objective, compute_targets
from stylejax.optim import checkpoint
from stylejax.optim.loop import init_carry
from stylejax.optim.solvers import ONE_EVALUATION_PER_STEP, Solver

# Settings a resumed run may change: the budget grows, outputs move.
RESUMABLE_CHANGES = (
    "evaluations",
    "iterations",
    "output",
    "log",
    "overwrite",
    "resume",
    "checkpoint_every",
    "tensorboard",
)


@dataclasses.dataclass(frozen=True)
class Scale:
    size: int  # longest side
    shape: tuple[int, int]  # (height, width) of the picture
    evaluations: int  # this scale's share of the budget
    margin: int = 0  # pixels of canvas around the picture (stylejax.engine.margin)

    @property
    def canvas(self) -> tuple[int, int]:
        """(height, width) of what is optimized: the picture and its margin."""
        return self.shape[0] + 2 * self.margin, self.shape[1] + 2 * self.margin


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything a run needs, prepared and checked once."""

    config: Config  # the first member's; what members share
    axes: dict[str, tuple]  # swept fields and their values
    members: list[Config]
    content: Image.Image  # decoded RGB, resized per scale
    styles: list[Image.Image]
    init: Image.Image | None  # a given start image, else None
    weights: Weights
    objective: Objective
    loss_weights: LossWeights  # batched: every leaf has a leading member axis
    scales: list[Scale]
    at_once: int  # members per pass: what fits in memory, padded to the device count
    fingerprint: str  # what a checkpoint must match
    regions: regions.Regions | None = None  # spatial control (issue 18); None without masks

    @property
    def schedule(self) -> list[list[int]]:
        return [[s.size, s.evaluations] for s in self.scales]

    @property
    def budget(self) -> int:
        return sum(s.evaluations for s in self.scales)

    @property
    def passes(self) -> int:
        """How many sweep passes the run takes (memory may split a sweep)."""
        return -(-len(self.members) // self.at_once)


def check_settings(config: Config, axes: Mapping[str, tuple]) -> None:
    """The checks that need several settings but no images; raises ConfigError."""
    if axes and config.optimizer not in ONE_EVALUATION_PER_STEP:
        # Under vmap a line search runs until its slowest member: every member would pay the
        # worst case. The one-evaluation optimizers have no inner loop.
        raise ConfigError(
            "optimizer",
            f"must have one evaluation per step in a sweep "
            f"({', '.join(ONE_EVALUATION_PER_STEP)}), got {config.optimizer!r}",
        )
    if config.min_size is not None and config.min_size > config.size:
        raise ConfigError(
            "min_size", f"must not exceed size ({config.size}), got {config.min_size}"
        )
    if config.save_every is not None and config.save_every > config.evaluations:
        raise ConfigError(
            "save_every",
            f"must be between 1 and the evaluation budget ({config.evaluations}), "
            f"got {config.save_every}",
        )
    if config.style and config.style_blend and len(config.style_blend) != len(config.style):
        raise ConfigError(
            "style_blend",
            f"has {len(config.style_blend)} values for {len(config.style)} style images",
        )
    weights = config.style_layer_weights
    if not isinstance(weights, str) and len(weights) != len(config.style_layers):
        raise ConfigError(
            "style_layer_weights",
            f"has {len(weights)} values for {len(config.style_layers)} style layers",
        )
    sizes = scale_sizes(config)
    if config.evaluations < len(sizes):
        raise ConfigError(
            "evaluations",
            f"({config.evaluations}) cannot cover the {len(sizes)} scales "
            f"{'-'.join(map(str, sizes))} (at least one each); raise it, or raise min_size",
        )
    layer = deepest((config.content_layer, *config.style_layers))
    minimum = 2 ** pooling_count(layer)
    if sizes[0] < minimum:
        raise ConfigError(
            "size" if len(sizes) == 1 else "min_size",
            f"gives a first scale of {sizes[0]} pixels, smaller than the {minimum} pixels "
            f"layer {layer} needs; raise it",
        )
    largest_style = round(sizes[-1] * config.style_scale)
    if largest_style > MAX_SIDE:
        raise ConfigError(
            "style_scale",
            f"makes the style image's longest side {largest_style} pixels, more than "
            f"{MAX_SIDE}; lower it",
        )
    if round(sizes[0] * config.style_scale) < minimum:
        raise ConfigError(
            "style_scale",
            f"makes the style image {round(sizes[0] * config.style_scale)} pixels at the "
            f"first scale, smaller than the {minimum} pixels layer {layer} needs; raise it",
        )


def scale_sizes(config: Config) -> list[int]:
    """The pyramid's longest sides: from `min_size` (automatic when None, see AUTO_PYRAMID)
    to `size`."""
    threshold, start = AUTO_PYRAMID
    first = config.min_size
    if first is None:
        first = start if config.size >= threshold else config.size
    return pyramid.sizes(first, config.size, config.scale_step)


def prepare(
    config: Config,
    axes: Mapping[str, tuple] | None,
    *,
    content: Image.Image,
    styles: list[Image.Image],
    weights: Weights,
    init: Image.Image | None = None,
    mask: regions.MaskLike | None = None,
    style_masks: list[regions.MaskLike | None] | None = None,
) -> Plan:
    """The plan of a run: `content` and `styles` are decoded RGB images (any size); `mask`
    and `style_masks` (paths, PIL images or arrays) ask for spatial control."""
    axes = dict(axes or {})
    check_settings(config, axes)
    if not styles:
        raise ConfigError("style", "got no style image; give at least one")
    if config.style_blend and len(config.style_blend) != len(styles):
        raise ConfigError(
            "style_blend", f"has {len(config.style_blend)} values for {len(styles)} style images"
        )
    for role, image in [("content", content), ("init", init)] + [("style", s) for s in styles]:
        if image is not None and min(image.size) < 1:
            raise ConfigError(role, f"is an empty image ({image.size[0]}x{image.size[1]})")
    configs = members(config, axes)
    objective = objective_for(configs, weights.preprocessing)
    if objective.precision == "bfloat16":
        check_bfloat16()
    sizes = scale_sizes(config)
    budgets = pyramid.budget_split(sizes, config.evaluations, config.scale_split)
    width, height = content.size
    scales = [
        Scale(
            size,
            images.shape_for(height, width, size),
            evaluations,
            margin.at_size(config.margin, size),
        )
        for size, evaluations in zip(sizes, budgets, strict=True)
    ]
    check_image_sizes(config, objective, scales[0], styles)
    spatial = read_regions(config, scales, styles, mask, style_masks)
    if spatial is not None:
        # Style octaves are not yet guided: a masked run matches each region's style at the
        # picture's own size only.
        objective = dataclasses.replace(objective, guided=True, style_octaves=0)
    free = devices.available_bytes()
    check_memory(scales[-1].canvas, objective, free)
    need = devices.bytes_per_member(
        *scales[-1].canvas,
        objective.layers,
        remat=objective.remat,
        precision=objective.precision,
        octaves=objective.style_octaves,
    )
    count, device_count = len(configs), jax.device_count()
    at_once = min(devices.members_per_pass(count, need, free, device_count), count)
    plan = Plan(
        config=config,
        axes=axes,
        members=configs,
        content=content,
        styles=styles,
        init=init,
        weights=weights,
        objective=objective,
        loss_weights=batched_weights(configs, objective.content_layers, weights.source),
        scales=scales,
        at_once=devices.pad_to(at_once, device_count),
        fingerprint=fingerprint(config, axes, weights.sha256),
        regions=spatial,
    )
    if config.resume:
        check_resume(plan)
    return plan


def check_image_sizes(
    config: Config, objective: Objective, first: Scale, styles: list[Image.Image]
) -> None:
    """The smallest scale's content image and every style image (at `style_scale` times a
    scale's size; the first scale is the smallest) must be large enough for the deepest
    layer."""
    layer = deepest(objective.layers)
    minimum = 2 ** pooling_count(layer)
    if min(first.shape) < minimum:
        field = "size" if first.size == config.size else "min_size"
        raise ConfigError(
            field,
            f"gives a {first.shape[1]}x{first.shape[0]} image, smaller than the {minimum} "
            f"pixels layer {layer} needs; raise it",
        )
    for style in styles:
        width, height = style.size
        shape = images.shape_for(height, width, style_size(config, first))
        if min(shape) < minimum:
            raise ConfigError(
                "style_scale",
                f"makes a style image {shape[1]}x{shape[0]} pixels, smaller than the "
                f"{minimum} pixels layer {layer} needs; raise it",
            )


def read_regions(
    config: Config,
    scales: list[Scale],
    styles: list[Image.Image],
    mask: regions.MaskLike | None,
    style_masks: list[regions.MaskLike | None] | None,
) -> regions.Regions | None:
    """The run's masks read and checked (`engine.regions.read`), or None without any."""
    if mask is not None and config.style_blend:
        raise ConfigError(
            "style_blend", "cannot be used with a mask: each region takes one style image whole"
        )
    style_shapes = [
        [images.shape_for(s.size[1], s.size[0], style_size(config, scale)) for scale in scales]
        for s in styles
    ]
    try:
        return regions.read(
            mask,
            style_masks,
            style_count=len(styles),
            colors=config.mask_colors,
            keep_content=config.keep_content,
            blur=config.mask_blur,
            erode=config.mask_erode,
            content_shape=scales[-1].shape,
            style_shapes=style_shapes,
        )
    except regions.RegionsError as e:
        raise ConfigError(e.field, e.problem) from None


def style_size(config: Config, scale: Scale) -> int:
    """The style images' longest side at a scale."""
    return max(1, round(scale.size * config.style_scale))


def check_memory(shape: tuple[int, int], objective: Objective, free: int) -> None:
    """Raises ConfigError, before anything is compiled, when not even one run of an image of
    `shape` (height, width) fits in the usable share of the device's free memory."""
    need = devices.bytes_per_member(
        *shape,
        objective.layers,
        remat=objective.remat,
        precision=objective.precision,
        octaves=objective.style_octaves,
    )
    if need > free * devices.USABLE_SHARE:
        hint = "a smaller size" + ("" if objective.remat else ", remat")
        hint += "" if objective.precision == "bfloat16" else ", precision bfloat16"
        raise ConfigError(
            "size",
            f"gives a {shape[1]}x{shape[0]} image that needs about {need / 2**30:.1f} GiB per "
            f"run, more than half of the {free / 2**30:.1f} GiB free on "
            f"{jax.devices()[0].platform}; use {hint} or fewer sweep members",
        )


def check_bfloat16() -> None:
    """Raises ConfigError unless the default backend runs a bfloat16 convolution."""
    try:
        _bf16_conv()
    except Exception as e:  # noqa: BLE001 - any failure means: not on this backend
        raise ConfigError(
            "precision",
            f"bfloat16 is not supported on {jax.default_backend()} "
            f"({str(e).splitlines()[0][:120]}); use float32",
        ) from None


@functools.cache
def _bf16_conv() -> None:
    x = jnp.ones((1, 4, 4, 3), jnp.bfloat16)
    kernel = jnp.ones((3, 3, 3, 2), jnp.bfloat16)
    out = jax.lax.conv_general_dilated(
        x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    jax.block_until_ready(out)


def fingerprint(config: Config, axes: Mapping[str, tuple], weights_sha256: str) -> str:
    """What must match for a checkpoint to continue a run exactly."""
    fields = {k: v for k, v in dataclasses.asdict(config).items() if k not in RESUMABLE_CHANGES}
    text = json.dumps([fields, sorted(axes.items()), weights_sha256], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def resumed(plan: Plan, first: int) -> checkpoint.Checkpoint | None:
    """The checkpoint of the pass starting at member `first`, or None for a later pass that
    had not started. Raises ConfigError for a missing or foreign first checkpoint."""
    path = checkpoint.path_for(plan.config.output, first)
    if not path.exists():
        if first == 0:
            raise ConfigError("resume", f"found no checkpoint at {path}; run with checkpoint_every")
        return None
    try:
        return checkpoint.load(path, plan.fingerprint, plan.schedule)
    except ValueError as e:
        raise ConfigError("resume", f"cannot continue: {e}") from None


def check_resume(plan: Plan) -> None:
    """Every pass's checkpoint is readable, matches this run and holds arrays of the shapes
    this run's optimizer state has (checked by tracing, before anything is compiled)."""
    for first in range(0, len(plan.members), plan.at_once):
        saved = resumed(plan, first)
        if saved is None:
            continue
        expected = carry_shapes(plan, saved.scale)
        found = [tuple(np.shape(leaf)) for leaf in saved.leaves]
        if found != expected:
            raise ConfigError(
                "resume",
                f"cannot continue: {checkpoint.path_for(plan.config.output, first)} holds "
                f"arrays of other shapes than this run's optimizer state",
            )


def solver_for(config: Config) -> Solver:
    average = config.average or None  # 0 is off
    return Solver(config.optimizer, learning_rate=config.learning_rate, average=average)


def carry_shapes(plan: Plan, index: int) -> list[tuple[int, ...]]:
    """The shapes of the optimizer state's arrays at scale `index`, found by tracing the
    targets and the loop's start (nothing is computed or compiled)."""
    scale = plan.scales[index]
    struct = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.float32)  # noqa: E731
    size = style_size(plan.config, scale)
    styles = [struct(*images.shape_for(s.size[1], s.size[0], size), 3) for s in plan.styles]
    blend = plan.config.style_blend or (1.0,) * len(styles)
    # The carry does not depend on the targets: spatial control's are traced as plain ones.
    objective = dataclasses.replace(plan.objective, guided=False)
    targets = jax.eval_shape(
        lambda params, content, styles: compute_targets(objective, params, content, styles, blend),
        plan.weights.params,
        struct(*scale.canvas, 3),
        styles,
    )
    weights = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct((plan.at_once, *np.shape(a)[1:]), jnp.float32),
        plan.loss_weights,
    )
    carry = jax.eval_shape(
        functools.partial(init_carry, objective=objective, solver=solver_for(plan.config)),
        struct(plan.at_once, *scale.canvas, 3),
        LossInputs(plan.weights.params, targets, weights),
    )
    return [tuple(leaf.shape) for leaf in jax.tree.leaves(carry)]


def from_config(
    config: Config, axes: Mapping[str, tuple] | None = None, weights: Weights | None = None
) -> Plan:
    """`prepare` with the images the config names (the bundled samples by default), decoded
    with the guarded loader, and its weights (or `weights`)."""
    check_settings(config, axes or {})  # before decoding anything
    decode = lambda path: images.decode(path, max_pixels=config.max_pixels)  # noqa: E731
    return prepare(
        config,
        axes,
        content=decode(config.content or samples.CONTENT),
        styles=[decode(path) for path in config.style or (samples.STYLE,)],
        init=None if config.init in ("content", "random") else decode(config.init),
        weights=weights or load_weights(config.weights),
        mask=config.mask,
        style_masks=list(config.style_masks) or None,
    )
