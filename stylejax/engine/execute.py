"""Running a plan: every member through every scale.

At each scale the content target is recomputed at that size and the style targets at
`style_scale` times it, and each scale starts from the previous result upsampled on the
device. Members run in passes of `plan.at_once`, each pass one batched, sharded program. A
single run is a sweep of one member and a pyramid of one scale; `--preset seed` is exactly
that.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from stylejax.engine import margin, pyramid, regions
from stylejax.engine.devices import mesh, pad_to, shard
from stylejax.engine.plan import Plan, Scale, resumed, solver_for, style_size
from stylejax.files import images
from stylejax.objective import colors
from stylejax.objective.total import LossInputs, Targets, compute_targets
from stylejax.optim import checkpoint
from stylejax.optim.loop import Carry, Result, Update, optimize_batch

# Evaluations between the host's looks at a run (updates, frames) when `save_every` is not
# set: the seed's frame interval.
CHUNK = 10


def content_at(plan: Plan, scale: Scale) -> np.ndarray:
    return images.to_array(plan.content.resize(scale.shape[::-1], Image.Resampling.LANCZOS))


def styles_at(plan: Plan, scale: Scale) -> list[np.ndarray]:
    """The style images at `style_scale` times the scale's longest side. As in the seed they
    may be upscaled beyond their own size (a small style image at a large scale)."""
    return [images.to_array(style, style_size(plan.config, scale)) for style in plan.styles]


def targets_at(plan: Plan, scale: Scale) -> Targets:
    """Content features and blended style Grams at one scale, colour modes applied; with
    masks, each region's Grams and the guides (`engine.regions.targets`). The content target
    covers the scale's canvas: the photo with its margin mirrored around it."""
    return targets_for(plan, scale, content_at(plan, scale))


def targets_for(plan: Plan, scale: Scale, content: np.ndarray) -> Targets:
    """`targets_at` for a given (H, W, 3) content image at the scale (a video's frame)."""
    styles = styles_at(plan, scale)
    # Colour control (Gatys et al. 2017, not in the 2015 paper): "histogram" recolours the
    # styles to the content's colour statistics; "luminance" transfers on luminance only and
    # `present` puts the content's chroma back.
    mode = plan.config.preserve_colors
    styles = [np.asarray(colors.style_input(mode, s, content)) for s in styles]
    content = margin.pad(np.asarray(colors.content_input(mode, content)), scale.margin)
    blend = plan.config.style_blend or (1.0,) * len(styles)
    if plan.regions is not None:  # spatial control: the masks resized to this scale
        return regions.targets(
            plan.objective,
            plan.weights.params,
            jnp.asarray(content),
            [jnp.asarray(s) for s in styles],
            plan.regions,
            blend,
            scale.size / plan.config.size,
            margin=scale.margin,
        )
    return _compute_targets(
        plan.objective,
        plan.weights.params,
        jnp.asarray(content),
        [jnp.asarray(s) for s in styles],
        tuple(blend),
    )


# One compiled program per scale: run op by op, the style statistics of the Wasserstein loss
# were about 230 small programs compiled one by one (6 of a 64-px run's 23 seconds).
_compute_targets = jax.jit(compute_targets, static_argnames=("objective", "blend"))


def initial_images(plan: Plan) -> np.ndarray:
    """Each member's start at the first scale, on its canvas: the content, seeded uniform noise
    in [0, 1], or the given image (the photo and the given image mirrored into the margin)."""
    scale = plan.scales[0]
    mode = plan.config.preserve_colors
    content = np.asarray(colors.content_input(mode, content_at(plan, scale)))
    starts = []
    for member in plan.members:
        if member.init == "content":
            starts.append(margin.pad(content, scale.margin))
        elif member.init == "random":
            rng = np.random.default_rng(member.seed)
            noise = rng.uniform(0.0, 1.0, content.shape).astype(np.float32)
            starts.append(margin.pad(noise, scale.margin))  # the picture's noise is the seed's
        else:
            start = images.to_array(plan.init.resize(scale.shape[::-1], Image.Resampling.LANCZOS))
            starts.append(margin.pad(np.asarray(colors.content_input(mode, start)), scale.margin))
    return np.stack(starts)


def present(plan: Plan, scale: Scale, batch: np.ndarray) -> np.ndarray:
    """The pictures the user sees from a batch of canvases: the margin cut away and, in
    luminance mode, the content's chroma put back."""
    batch = margin.crop(np.asarray(batch), scale.margin)
    mode = plan.config.preserve_colors
    if mode is None:
        return batch
    return np.asarray(_output(jnp.asarray(batch), jnp.asarray(content_at(plan, scale)), mode))


@functools.partial(jax.jit, static_argnames="mode")
def _output(batch, content, mode):
    return jax.vmap(lambda image: colors.output(mode, image, content))(batch)


def execute(
    plan: Plan,
    *,
    callback: Callable[[Update], bool | None] | None = None,
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
    at_once = pad_to(min(at_once or plan.at_once, count), jax.device_count())
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
    resume = resumed(plan, first) if config.resume else None
    histories, scale_index, images_now = None, 0, jnp.asarray(starts)
    offset = 0  # evaluations spent at earlier scales
    if resume is not None:
        scale_index, histories, offset = resume.scale, resume.histories, resume.offset
    results: list[Result] = []
    compile_seconds = 0.0
    for index in range(scale_index, len(plan.scales)):
        scale = plan.scales[index]
        if resume is not None and index == resume.scale:
            images_now = np.zeros((len(starts), *scale.canvas, 3), np.float32)  # restored below
        elif index > 0:  # the picture upsampled, a new margin mirrored around it
            picture = margin.crop(jnp.asarray(images_now), plan.scales[index - 1].margin)
            images_now = margin.pad(pyramid.upsample(picture, *scale.shape), scale.margin)
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
            solver_for(config),
            evaluations=scale.evaluations,
            iterations=config.iterations,
            chunk=config.save_every or CHUNK,
            offset=offset,
            histories=histories,
            callback=None
            if callback is None
            else functools.partial(_relay, callback, plan, first, real, index),
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


def _relay(callback, plan: Plan, first: int, real: int, index: int, update: Update):
    """The loop's update with the run's fields set: sweep padding dropped, colours restored."""
    scale = plan.scales[index]
    return callback(
        dataclasses.replace(
            update,
            budget=plan.budget,
            first=first,
            scale=index,
            size=scale.shape,  # the picture's, without the margin
            initial=update.initial and index == 0,
            losses=update.losses[:real],
            histories=update.histories[:real],
            images=present(plan, scale, update.images[:real]),
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
