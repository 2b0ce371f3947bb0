"""The one pipeline behind the CLI, the library API, the studio and the benchmark.

`prepare` turns a config (and sweep axes) plus decoded images and weights into a `Plan`: the
members, one objective, the batched loss weights and the pyramid's scales. `run` optimizes
every member through every scale: at each scale the content target is recomputed at that size
and the style targets at `style_scale` times it, and each scale starts from the previous
result upsampled on the device. A single run is a sweep of one member and a pyramid of one
scale; `--preset seed` is exactly that.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from stylejax import checkpoint, colors, images, pyramid, samples
from stylejax.config import Config, ConfigError, first_size
from stylejax.features import load_weights
from stylejax.objective import LossInputs, LossWeights, Objective, Targets, compute_targets
from stylejax.optimize import Carry, Progress, Result, optimize_batch
from stylejax.solvers import Solver
from stylejax.sweep import (
    available_bytes,
    batched_weights,
    bytes_per_member,
    check_memory,
    members,
    members_per_pass,
    mesh,
    objective_for,
    pad_to,
    shard,
)
from stylejax.vgg import deepest, pooling_count
from stylejax.weights import Weights


@dataclasses.dataclass(frozen=True)
class Scale:
    size: int  # longest side
    shape: tuple[int, int]  # (height, width)
    evaluations: int  # this scale's share of the budget


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything a run needs, prepared once."""

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
    fingerprint: str  # what a checkpoint must match

    @property
    def schedule(self) -> list[list[int]]:
        return [[s.size, s.evaluations] for s in self.scales]


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """What a pipeline callback receives after every chunk, for the members of one pass."""

    first: int  # index of the pass's first member
    scale: int  # index into plan.scales
    shape: tuple[int, int]  # (height, width) of the current scale
    evaluations: int  # cumulative over the whole run
    budget: int  # the whole run's
    seconds: float  # cumulative optimization seconds
    initial: bool  # the start image, before any step
    terms: list[dict[str, float]]  # each member's latest record
    histories: list[list[dict]]  # each member's records so far
    images: np.ndarray  # (members, H, W, 3) in [0, 1], colours restored where asked


def shape_at(content: Image.Image, size: int) -> tuple[int, int]:
    """(height, width) of the content image with its longest side at `size`."""
    width, height = content.size
    scale = size / max(width, height)
    return max(1, round(height * scale)), max(1, round(width * scale))


def prepare(
    config: Config,
    axes: dict[str, tuple] | None,
    *,
    content: Image.Image,
    styles: list[Image.Image],
    weights: Weights,
    init: Image.Image | None = None,
) -> Plan:
    """The plan of a run: `content` and `styles` are decoded RGB images (any size)."""
    axes = axes or {}
    configs = members(config, axes)
    if config.style_blend and len(config.style_blend) != len(styles):
        raise ConfigError(
            "style_blend", f"has {len(config.style_blend)} values for {len(styles)} style images"
        )
    objective = objective_for(configs, weights.preprocessing)
    if objective.precision == "bfloat16":
        check_bfloat16()
    sizes = pyramid.sizes(first_size(config), config.size, config.scale_step)
    if config.evaluations < len(sizes):
        raise ConfigError(
            "evaluations",
            f"({config.evaluations}) cannot cover the {len(sizes)} scales "
            f"{'-'.join(map(str, sizes))} (at least one each); raise it, or raise min_size",
        )
    budgets = pyramid.budget_split(sizes, config.evaluations, config.scale_split)
    scales = [
        Scale(size, shape_at(content, size), evaluations)
        for size, evaluations in zip(sizes, budgets, strict=True)
    ]
    minimum = 2 ** pooling_count(deepest(objective.layers))
    smallest = scales[0].shape
    if min(smallest) < minimum:
        field = "min_size" if len(scales) > 1 else "size"
        raise ConfigError(
            field,
            f"gives a {smallest[1]}x{smallest[0]} image, smaller than the {minimum} pixels "
            f"layer {deepest(objective.layers)} needs; raise it",
        )
    check_memory(
        scales[-1].shape, objective.layers, remat=objective.remat, precision=objective.precision
    )
    return Plan(
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
        fingerprint=checkpoint.fingerprint(config, axes, weights.sha256),
    )


def from_config(
    config: Config, axes: dict[str, tuple] | None = None, weights: Weights | None = None
) -> Plan:
    """`prepare` with the images the config names (the bundled samples by default), decoded
    with the guarded loader, and its weights (or `weights`)."""
    decode = lambda path: images.decode(path, max_pixels=config.max_pixels)  # noqa: E731
    return prepare(
        config,
        axes,
        content=decode(config.content or samples.CONTENT),
        styles=[decode(path) for path in config.style or (samples.STYLE,)],
        init=None if config.init in ("content", "random") else decode(config.init),
        weights=weights or load_weights(config.weights),
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


def content_at(plan: Plan, scale: Scale) -> np.ndarray:
    return images.to_array(plan.content.resize(scale.shape[::-1], Image.Resampling.LANCZOS))


def styles_at(plan: Plan, scale: Scale) -> list[np.ndarray]:
    """The style images at `style_scale` times the scale's longest side. As in the seed they
    may be upscaled beyond their own size (a small style image at a large scale)."""
    size = max(1, round(scale.size * plan.config.style_scale))
    return [images.to_array(style, size) for style in plan.styles]


def targets_at(plan: Plan, scale: Scale) -> Targets:
    """Content features and blended style Grams at one scale, colour modes applied."""
    content = content_at(plan, scale)
    styles = styles_at(plan, scale)
    minimum = 2 ** pooling_count(deepest(plan.objective.layers))
    for style in styles:
        if min(style.shape[:2]) < minimum:
            raise ConfigError(
                "style_scale",
                f"makes a style image {style.shape[1]}x{style.shape[0]} pixels, smaller than "
                f"the {minimum} pixels layer {deepest(plan.objective.layers)} needs; raise it",
            )
    # Colour control (Gatys et al. 2017, not in the 2015 paper): "histogram" recolours the
    # styles to the content's colour statistics; "luminance" transfers on luminance only and
    # `present` puts the content's chroma back.
    mode = plan.config.preserve_colors
    styles = [np.asarray(colors.style_input(mode, s, content)) for s in styles]
    content = np.asarray(colors.content_input(mode, content))
    blend = plan.config.style_blend or (1.0,) * len(styles)
    return compute_targets(
        plan.objective,
        plan.weights.params,
        jnp.asarray(content),
        [jnp.asarray(s) for s in styles],
        blend,
    )


def initial_images(plan: Plan) -> np.ndarray:
    """Each member's start at the first scale: the content, seeded uniform noise in [0, 1], or
    the given image."""
    scale = plan.scales[0]
    mode = plan.config.preserve_colors
    content = np.asarray(colors.content_input(mode, content_at(plan, scale)))
    starts = []
    for member in plan.members:
        if member.init == "content":
            starts.append(content)
        elif member.init == "random":
            rng = np.random.default_rng(member.seed)
            starts.append(rng.uniform(0.0, 1.0, content.shape).astype(np.float32))
        else:
            start = images.to_array(plan.init.resize(scale.shape[::-1], Image.Resampling.LANCZOS))
            starts.append(np.asarray(colors.content_input(mode, start)))
    return np.stack(starts)


def present(plan: Plan, scale: Scale, batch: np.ndarray) -> np.ndarray:
    """The pictures the user sees: in luminance mode the content's chroma is put back."""
    mode = plan.config.preserve_colors
    if mode is None:
        return batch
    return np.asarray(_output(jnp.asarray(batch), jnp.asarray(content_at(plan, scale)), mode))


@functools.partial(jax.jit, static_argnames="mode")
def _output(batch, content, mode):
    return jax.vmap(lambda image: colors.output(mode, image, content))(batch)


def members_at_once(plan: Plan) -> int:
    """Members per pass: as many as fit in half the free memory at the largest scale."""
    height, width = plan.scales[-1].shape
    need = bytes_per_member(
        height,
        width,
        plan.objective.layers,
        remat=plan.objective.remat,
        precision=plan.objective.precision,
    )
    count = len(plan.members)
    devices = jax.device_count()
    return pad_to(min(members_per_pass(count, need, available_bytes(), devices), count), devices)


def run(
    plan: Plan,
    *,
    callback: Callable[[Snapshot], bool | None] | None = None,
    at_once: int | None = None,
    loop: str | None = None,
) -> list[Result | None]:
    """Runs every member of `plan` through every scale; returns one result per member.

    The batch is sharded over all devices (of all processes); passes are padded to the same
    size, a multiple of the device count, so one compilation per scale serves every pass.
    `callback` may return True to stop: the pass in progress returns its latest images and
    later passes are not run (their results are None). With `config.checkpoint_every` each
    pass checkpoints its state (next to `config.output`); with `config.resume` a pass
    continues from its checkpoint, at the scale it was taken.
    """
    count = len(plan.members)
    at_once = pad_to(min(at_once or members_at_once(plan), count), jax.device_count())
    batch_mesh = mesh()
    params = shard(plan.weights.params, batch_mesh, batched=False)
    inits = initial_images(plan)
    results: list[Result | None] = [None] * count
    for first in range(0, count, at_once):
        chosen = list(range(first, min(first + at_once, count)))
        padded = chosen + [chosen[-1]] * (at_once - len(chosen))  # repeats, then dropped
        weights = jax.tree.map(lambda a: np.asarray(a)[padded], plan.loss_weights)  # noqa: B023
        done = _run_pass(
            plan,
            first,
            len(chosen),
            inits[padded],
            params,
            shard(weights, batch_mesh, batched=True),
            batch_mesh,
            callback,
            loop,
        )
        results[first : first + len(chosen)] = done[: len(chosen)]
        if any(r.status == "stopped" for r in done):
            break
    return results


def _run_pass(plan, first, real, starts, params, weights, batch_mesh, callback, loop):
    """One pass of members through every scale."""
    config = plan.config
    resume = _resumed(plan, first) if config.resume else None
    histories, scale_index, images_now = None, 0, jnp.asarray(starts)
    offset = 0  # evaluations spent at earlier scales
    if resume is not None:
        scale_index, histories, offset = resume.scale, resume.histories, resume.offset
    budget = sum(s.evaluations for s in plan.scales)
    results: list[Result] = []
    compile_seconds = 0.0
    for index in range(scale_index, len(plan.scales)):
        scale = plan.scales[index]
        if resume is not None and index == resume.scale:
            images_now = np.zeros((len(starts), *scale.shape, 3), np.float32)  # restored below
        elif index > 0:
            images_now = pyramid.upsample(jnp.asarray(images_now), *scale.shape)
        targets = shard(targets_at(plan, scale), batch_mesh, batched=False)
        save = None
        if config.checkpoint_every and jax.process_index() == 0:
            save = functools.partial(
                _save_checkpoint, plan, checkpoint.path_for(config.output, first), index, offset
            )
        results = optimize_batch(
            shard(np.asarray(images_now), batch_mesh, batched=True),
            LossInputs(params, targets, weights),
            plan.objective,
            Solver(
                config.optimizer, learning_rate=config.learning_rate, average=config.average or None
            ),
            evaluations=scale.evaluations,
            iterations=config.iterations,
            chunk=config.save_every or 10,
            offset=offset,
            histories=histories,
            callback=None
            if callback is None
            else functools.partial(_relay, callback, plan, first, real, index, budget),
            checkpoint=save,
            checkpoint_every=config.checkpoint_every,
            resume=resume.leaves if resume is not None and index == resume.scale else None,
            loop=loop,
            tag={"size": list(scale.shape)},
        )
        compile_seconds += results[0].compile_seconds
        histories = [r.history for r in results]
        images_now = np.stack([r.image for r in results])
        # What the scale really spent: an iteration limit may end it before its budget.
        offset = max(r.evaluations for r in results)
        if any(r.status == "stopped" for r in results):
            break
    presented = present(plan, scale, images_now)
    return [
        dataclasses.replace(r, image=presented[b], compile_seconds=compile_seconds)
        for b, r in enumerate(results)
    ]


def _relay(callback, plan: Plan, first, real, index, budget, progress: Progress):
    """An optimizer `Progress` as a pipeline `Snapshot` (padding dropped, colours restored)."""
    scale = plan.scales[index]
    return callback(
        Snapshot(
            first=first,
            scale=index,
            shape=scale.shape,
            evaluations=progress.evaluations,
            budget=budget,
            seconds=progress.seconds,
            initial=progress.initial and index == 0,
            terms=progress.terms[:real],
            histories=progress.histories[:real],
            images=present(plan, scale, progress.images[:real]),
        )
    )


def _save_checkpoint(plan: Plan, path, index: int, offset: int, carry: Carry, histories) -> None:
    checkpoint.save(
        path,
        carry,
        histories,
        scale=index,
        offset=offset,
        schedule=plan.schedule,
        fingerprint=plan.fingerprint,
    )


def _resumed(plan: Plan, first: int) -> checkpoint.Checkpoint | None:
    path = checkpoint.path_for(plan.config.output, first)
    if not path.exists():
        if first == 0:
            raise ConfigError("resume", f"found no checkpoint at {path}; run with checkpoint_every")
        return None  # a later pass that had not started
    return checkpoint.load(path, plan.fingerprint, plan.schedule)


def check_resume(plan: Plan) -> None:
    """Raises before the run if `resume` cannot work (missing or foreign checkpoint)."""
    if plan.config.resume:
        _resumed(plan, 0)
