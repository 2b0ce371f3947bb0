"""The two schedules of a video run (Ruder, Dosovitskiy & Brox 2016; IJCV 2018).

Every frame being optimized is one member of a batched, sharded `optimize_batch`: its content
target, its warped neighbours, their consistency weights and the temporal weight are the
member's own data (`stylejax.objective.total.FrameInputs`); the style targets and VGG's
parameters are shared.

- `sequential`: frame by frame. Frame 0 starts as a still image does (Config.init) and may go
  through the pyramid with its own budget; frame i > 0 starts from the stylized frame i - 1
  warped onto it, with the content frame where the flow is not trusted, and is tied by the
  long-term temporal loss to the stylized frames i - j, j in the offsets.
- `multipass`: pass 0 stylizes every frame on its own (the pyramid too), with half the
  per-frame budget. Pass p > 0 runs in the direction forward (p odd) or backward (p even):
  every frame starts from its previous result blended with its neighbour's (the frame before
  it in that direction) warped onto it, and is tied to the blended frames at the offsets on
  both sides, warped onto it.

  .. note:: Deviations from Ruder et al. 2018 (to be measured by scripts/bench_video.py): there a
     pass visits the frames one after the other, so a frame sees its neighbour's result of
     the same pass and is tied to the frames before it in the pass's direction. Here every
     frame of a pass sees the previous pass's results, so a pass is one batch of independent
     members (a Jacobi sweep instead of Gauss-Seidel). Tied to the previous pass's results
     in one direction, a frame only copies its neighbour's flicker; tied to the blended
     frames on both sides the flicker is averaged away pass by pass.

Both schedules report each finished frame through `on_frame(pass, frame, image)` (for saving
as it finishes) and continue an interrupted run from `done`, the frames an earlier run
finished, giving the same frames bit for bit.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from stylejax.engine import pyramid
from stylejax.engine.devices import mesh, shard
from stylejax.engine.execute import CHUNK, targets_for
from stylejax.engine.plan import Scale, solver_for
from stylejax.files import images
from stylejax.objective import colors
from stylejax.objective.total import FrameInputs, LossInputs, Targets
from stylejax.optim.loop import Result, Update, optimize_batch
from stylejax.video.flow import ClipFlow
from stylejax.video.setup import VideoPlan
from stylejax.video.temporal import long_term_weights, multipass_blend, warped_init
from stylejax.video.warp import warp

FrameDone = Callable[[int, int, np.ndarray], None]
"""on_frame(pass index, frame index, stylized frame (H, W, 3) float32) after each frame."""


class Stopped(Exception):
    """The callback asked to stop; `frames` are the latest results, `done` how many frames
    (from frame 0) of the last pass are finished."""

    def __init__(self, frames: np.ndarray, done: int):
        super().__init__("stopped by the callback")
        self.frames, self.done = frames, done


def run(
    vplan: VideoPlan,
    flow: ClipFlow,
    *,
    done: dict[tuple[int, int], np.ndarray] | None = None,
    on_frame: FrameDone | None = None,
    callback: Callable[[Update], bool | None] | None = None,
) -> np.ndarray:
    """Stylizes the clip under `vplan.schedule`; returns (N, H, W, 3) float32 frames in the
    optimized colour space (`present` gives the pictures). `done` {(pass, frame): image}
    holds an interrupted run's finished frames. Raises Stopped when the callback stops."""
    if tuple(flow.offsets) != vplan.settings.temporal_offsets:
        raise ValueError(
            f"the flow has offsets {flow.offsets}, the settings {vplan.settings.temporal_offsets}"
        )
    if flow.to_past.shape[1:4] != (vplan.count, *vplan.shape):
        raise ValueError("the flow was computed for another clip")
    schedule = sequential if vplan.schedule == "sequential" else multipass
    return schedule(vplan, flow, Hooks(done or {}, on_frame, callback))


# Per-frame inputs


def frame_at(frame: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A content frame (H, W, 3) at a scale's (height, width): Lanczos, as the engine resizes
    the content image; the working size itself is the frame as it is."""
    if tuple(frame.shape[:2]) == tuple(shape):
        return frame
    return images.to_array(images.to_pil(frame).resize(shape[::-1], Image.Resampling.LANCZOS))


@functools.partial(jax.jit, static_argnames="mode")
def _content_inputs(frames, mode):
    return jax.vmap(lambda frame: colors.content_input(mode, frame))(frames)


def content_inputs(vplan: VideoPlan, frames: np.ndarray) -> np.ndarray:
    """The frames as the loss sees its content (grey in luminance mode), (B, H, W, 3)."""
    return np.asarray(_content_inputs(jnp.asarray(frames), vplan.config.preserve_colors))


@functools.partial(jax.jit, static_argnames=("objective", "layers"))
def _features(objective, params, frames, layers):
    return objective.features(params, frames, layers)


def content_features(vplan: VideoPlan, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """{layer: (B, 1, h, w, C)}: each frame's content target, from `content_inputs`."""
    objective = vplan.plan.objective
    out = _features(
        objective, vplan.plan.weights.params, jnp.asarray(inputs), objective.content_layers
    )
    return {name: np.asarray(f)[:, None] for name, f in out.items()}


def style_targets(vplan: VideoPlan, scale: Scale) -> Targets:
    """The clip's style targets at a scale (frame 0's content features fill `content`, which
    a frame's own target replaces). In histogram colour mode the styles take frame 0's colour
    statistics: one target for the whole clip, so that it does not flicker with the frames'
    colours."""
    return targets_for(vplan.plan, scale, frame_at(vplan.frames[0], scale.shape))


def start_images(vplan: VideoPlan, indices: list[int], scale: Scale) -> np.ndarray:
    """Frames' starts without a neighbour (frame 0, pass 0), as a still image starts
    (engine.execute.initial_images): the content, seeded noise or the given image."""
    config, plan = vplan.config, vplan.plan
    if config.init == "random":
        noise = np.random.default_rng(config.seed).uniform(0.0, 1.0, (*scale.shape, 3))
        return np.stack([noise.astype(np.float32)] * len(indices))
    if config.init == "content":
        frames = [frame_at(vplan.frames[i], scale.shape) for i in indices]
    else:
        start = images.to_array(plan.init.resize(scale.shape[::-1], Image.Resampling.LANCZOS))
        frames = [start] * len(indices)
    return content_inputs(vplan, np.stack(frames))


@jax.jit
def _warp_many(sources, flows):
    return jax.vmap(jax.vmap(warp))(sources, flows)


def neighbours(
    results: np.ndarray,
    flow: ClipFlow,
    indices: list[int],
    direction: int,
    *,
    nearest_only: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The stylized neighbours of frames `indices`, warped onto them, and their weights.

    results: (N, H, W, 3) stylized frames (those at the neighbours' places are read).
    direction: +1 for the frames before (i - j), -1 for the frames after (i + j).
    Returns warped (B, J, H, W, 3) and reliable (B, J, H, W); a neighbour outside the clip has
    weight 0 (ClipFlow), and its warped picture is a stand-in that the weight switches off.
    `nearest_only`: only the closest offset (J = 1).
    """
    count, offsets = len(results), flow.offsets[:1] if nearest_only else flow.offsets
    flows = flow.to_past if direction > 0 else flow.to_future
    weights = flow.reliable_past if direction > 0 else flow.reliable_future
    flows, weights = flows[: len(offsets)], weights[: len(offsets)]
    sources = np.stack(
        [[results[min(max(i - direction * j, 0), count - 1)] for j in offsets] for i in indices]
    )
    chosen = np.swapaxes(flows[:, indices], 0, 1)
    warped = np.asarray(_warp_many(jnp.asarray(sources), jnp.asarray(chosen)))
    return warped, np.ascontiguousarray(np.swapaxes(weights[:, indices], 0, 1))


@functools.partial(jax.jit, static_argnames="mode")
def _present(stylized, content, mode):
    return jax.vmap(lambda image, frame: colors.output(mode, image, frame))(stylized, content)


def present(vplan: VideoPlan, stylized: np.ndarray, indices: list[int]) -> np.ndarray:
    """The pictures the user sees of frames `indices`: in luminance mode each frame's chroma
    is put back."""
    mode = vplan.config.preserve_colors
    if mode is None:
        return np.asarray(stylized)
    content = vplan.frames[list(indices)]
    return np.asarray(_present(jnp.asarray(stylized), jnp.asarray(content), mode))


# One batch of frames through one or more scales


@dataclasses.dataclass(frozen=True)
class _Batch:
    """Frames optimized together: `indices` (the real ones), padded to `vplan.at_once`."""

    indices: list[int]
    padded: list[int]
    pass_index: int
    before: int  # evaluations of the clip spent before this batch (for progress)


def _optimize(
    vplan: VideoPlan,
    batch: _Batch,
    starts: np.ndarray,
    scales: list[Scale],
    temporal: tuple[np.ndarray, np.ndarray] | None,
    weight: float,
    callback,
    targets: dict[tuple[int, int], Targets],
) -> tuple[np.ndarray, list[Result]]:
    """Optimizes the batch's frames from `starts` (at scales[0]) through `scales`; `temporal`
    is (warped neighbours, their weights) of `ties` at the last scale (None: no temporal
    term, as for frame 0). `targets` caches the style targets per scale shape."""
    plan, config = vplan.plan, vplan.config
    size = len(batch.padded)
    pad = lambda array: np.asarray(array)[  # noqa: E731
        list(range(len(batch.indices))) + [len(batch.indices) - 1] * (size - len(batch.indices))
    ]
    batch_mesh = mesh()
    params = shard(plan.weights.params, batch_mesh, batched=False)
    loss_weights = jax.tree.map(lambda a: np.repeat(np.asarray(a)[:1], size, 0), plan.loss_weights)
    loss_weights = shard(loss_weights, batch_mesh, batched=True)
    slots = slots_for(vplan)
    current = pad(starts)
    histories, offset, results = None, 0, []
    for index, scale in enumerate(scales):
        if index > 0:
            current = np.asarray(pyramid.upsample(jnp.asarray(current), *scale.shape))
        frames = np.stack([frame_at(vplan.frames[i], scale.shape) for i in batch.padded])
        if temporal is None or index < len(scales) - 1:
            warped = np.zeros((size, slots, *scale.shape, 3), np.float32)
            tied = np.zeros((size, slots, *scale.shape), np.float32)
            frame_weight = 0.0
        else:
            warped, tied = pad(temporal[0]), pad(temporal[1])
            frame_weight = weight
        inputs = FrameInputs(
            content=content_features(vplan, content_inputs(vplan, frames)),
            warped=warped,
            weights=tied,
            temporal_weight=np.full((size,), frame_weight, np.float32),
        )
        relay = None
        if callback is not None:
            relay = functools.partial(_relay, callback, vplan, batch, index)
        results = optimize_batch(
            shard(current, batch_mesh, batched=True),
            LossInputs(
                params,
                shard(_cached(targets, vplan, scale), batch_mesh, batched=False),
                loss_weights,
                shard(inputs, batch_mesh, batched=True),
            ),
            plan.objective,
            solver_for(config),
            evaluations=scale.evaluations,
            iterations=config.iterations,
            chunk=CHUNK,
            offset=offset,
            histories=histories,
            callback=relay,
            tag={"size": list(scale.shape), "pass": batch.pass_index},
        )
        histories = [r.history for r in results]
        current = np.stack([r.image for r in results])
        offset = max(r.evaluations for r in results)
        if any(r.status == "stopped" for r in results):
            break
    return current[: len(batch.indices)], results[: len(batch.indices)]


def slots_for(vplan: VideoPlan) -> int:
    """How many warped neighbours a frame is tied to: J offsets, in both directions for
    multipass."""
    return len(vplan.settings.temporal_offsets) * (2 if vplan.schedule == "multipass" else 1)


def ties(results, flow, indices, directions):
    """Warped neighbours (B, K, H, W, 3) and their long-term weights (B, K, H, W) in each of
    `directions` (+1: the frames before, -1: the frames after), concatenated."""
    warped, weights = [], []
    for direction in directions:
        w, c = neighbours(results, flow, indices, direction)
        warped.append(w)
        weights.append(np.asarray(jax.vmap(long_term_weights)(jnp.asarray(c))))
    return np.concatenate(warped, 1), np.concatenate(weights, 1)


def _cached(targets: dict, vplan: VideoPlan, scale: Scale) -> Targets:
    if scale.shape not in targets:
        targets[scale.shape] = style_targets(vplan, scale)
    return targets[scale.shape]


def _relay(callback, vplan: VideoPlan, batch: _Batch, scale: int, update: Update):
    """The loop's update as the clip's: evaluations and budget over the whole clip, the frame
    index of images[0], the frames' pictures as the user sees them."""
    real = len(batch.indices)
    return callback(
        dataclasses.replace(
            update,
            evaluations=batch.before + real * update.evaluations,
            budget=vplan.total,
            first=batch.indices[0],
            frame=batch.indices[0],
            scale=scale,
            initial=update.initial and scale == 0,
            losses=update.losses[:real],
            histories=update.histories[:real],
            images=present(vplan, update.images[:real], batch.indices),
        )
    )


def _stopped(results: list[Result]) -> bool:
    return any(r.status == "stopped" for r in results)


# The schedules


class Hooks(NamedTuple):
    """What a schedule reports to and resumes from."""

    done: dict[tuple[int, int], np.ndarray]  # {(pass, frame): image} already finished
    on_frame: FrameDone | None  # called with each finished frame
    callback: Callable[[Update], bool | None] | None  # progress; True stops the run


def sequential(vplan: VideoPlan, flow: ClipFlow, hooks: Hooks) -> np.ndarray:
    """Frame by frame (module docstring); continues after the first frames in `done`."""
    done, on_frame, callback = hooks
    count = vplan.count
    results = np.zeros((count, *vplan.shape, 3), np.float32)
    first_missing = 0
    while (0, first_missing) in done and first_missing < count:
        results[first_missing] = done[(0, first_missing)]
        first_missing += 1
    pad, targets = vplan.at_once - 1, {}
    for i in range(first_missing, count):
        before = (vplan.budgets[0] + (i - 1) * vplan.budgets[1]) if i else 0
        batch = _Batch([i], [i] + [i] * pad, 0, before)
        if i == 0:
            starts = start_images(vplan, [0], vplan.first_scales[0])
            image, out = _optimize(
                vplan, batch, starts, vplan.first_scales, None, 0.0, callback, targets
            )
        else:
            end = dataclasses.replace(vplan.end, evaluations=vplan.budgets[1])
            temporal = ties(results, flow, [i], [+1])
            content = content_inputs(vplan, vplan.frames[i : i + 1])[0]
            start = warped_init(
                results[i - 1], flow.to_past[0, i], flow.reliable_past[0, i], content
            )
            starts = np.asarray(start)[None]
            image, out = _optimize(
                vplan, batch, starts, [end], temporal, vplan.temporal_weight, callback, targets
            )
        results[i] = image[0]
        if _stopped(out):
            raise Stopped(results[: i + 1], i)
        if on_frame is not None:
            on_frame(0, i, results[i])
    return results


def blended_clip(
    vplan: VideoPlan, results: np.ndarray, flow: ClipFlow, direction: int
) -> np.ndarray:
    """Every frame blended with its neighbour in `direction` warped onto it (Ruder et al.
    2018's multi-pass start), (N, H, W, 3), computed batch by batch."""
    out = np.empty_like(results)
    for first in range(0, len(results), vplan.at_once):
        indices = list(range(first, min(first + vplan.at_once, len(results))))
        warped, reliable = neighbours(results, flow, indices, direction, nearest_only=True)
        out[indices] = np.asarray(
            jax.vmap(multipass_blend, in_axes=(0, 0, 0, None))(
                results[indices], warped[:, 0], reliable[:, 0], vplan.settings.blend
            )
        )
    return out


def multipass(vplan: VideoPlan, flow: ClipFlow, hooks: Hooks) -> np.ndarray:
    """Every frame of a pass in batches of `vplan.at_once` (module docstring); continues an
    interrupted run at its first unfinished batch (`done`)."""
    done, on_frame, callback = hooks
    count, passes = vplan.count, len(vplan.budgets)
    batches = [
        list(range(s, min(s + vplan.at_once, count))) for s in range(0, count, vplan.at_once)
    ]
    # The last pass every frame of which is done, and the results it gave.
    start_pass, results = 0, None
    for p in reversed(range(passes)):
        if all((p, i) in done for i in range(count)):
            start_pass, results = p + 1, np.stack([done[(p, i)] for i in range(count)])
            break
    if start_pass == passes:
        return results
    spent, targets = count * sum(vplan.budgets[:start_pass]), {}
    for p in range(start_pass, passes):
        new = np.zeros((count, *vplan.shape, 3), np.float32)
        direction = 1 if p % 2 == 1 else -1  # forward on odd passes, backward on even ones
        if p > 0:
            blended = blended_clip(vplan, results, flow, direction)
        for indices in batches:
            if all((p, i) in done for i in indices):
                new[indices] = np.stack([done[(p, i)] for i in indices])
                spent += len(indices) * vplan.budgets[p]
                continue
            padded = indices + [indices[-1]] * (vplan.at_once - len(indices))
            batch = _Batch(indices, padded, p, spent)
            if p == 0:
                starts = start_images(vplan, indices, vplan.first_scales[0])
                scales, temporal, weight = vplan.first_scales, None, 0.0
            else:
                temporal = ties(blended, flow, indices, [+1, -1])
                starts = blended[indices]
                end = dataclasses.replace(vplan.end, evaluations=vplan.budgets[p])
                scales, weight = [end], vplan.temporal_weight
            images_now, out = _optimize(
                vplan, batch, starts, scales, temporal, weight, callback, targets
            )
            new[indices] = images_now
            spent += len(indices) * vplan.budgets[p]
            if _stopped(out):
                latest = (
                    new
                    if results is None
                    else np.where(
                        np.arange(count)[:, None, None, None] < indices[-1] + 1, new, results
                    )
                )
                raise Stopped(latest, indices[0] if p == passes - 1 else 0)
            if on_frame is not None:
                for i in indices:
                    on_frame(p, i, new[i])
        results = new
    return results
