"""Sweeps: many runs as one batched, compiled optimization, sharded over every device.

A sweep is a product grid over a few config fields. Each member is an ordinary `Config`;
what differs between members is data (loss weights, the random start), never the compiled
program, so the whole grid is one `optimize_batch`. Content-layer sweeps work the same way:
the objective looks at every candidate layer and each member's content weights are one-hot.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import os
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from PIL import Image

from stylejax import samples
from stylejax.config import Config, effective_weights
from stylejax.objective import PRECISIONS, LossWeights, Objective
from stylejax.optimize import ONE_EVALUATION_PER_STEP, Progress, Result, Solver, optimize_batch
from stylejax.stylize import Problem, initial_image, load_inputs, targets_for
from stylejax.vgg import LAYERS, PARAM_SHAPES, deepest

# Config fields a sweep may vary: each is data to the compiled program.
SWEEPABLE = ("style_weight", "content_weight", "tv_weight", "content_layer", "seed")


def members(config: Config, axes: dict[str, tuple]) -> list[Config]:
    """The product grid of `axes` ({field: values}) over `config`, first axis slowest."""
    unknown = [name for name in axes if name not in SWEEPABLE]
    if unknown:
        raise ValueError(f"cannot sweep {', '.join(unknown)}; sweepable: {', '.join(SWEEPABLE)}")
    if axes and config.optimizer not in ONE_EVALUATION_PER_STEP:
        # Under vmap a line search runs until its slowest member: every member would pay the
        # worst case. The one-evaluation optimizers have no inner loop.
        raise ValueError(
            f"sweeps need an optimizer with one evaluation per step "
            f"({', '.join(ONE_EVALUATION_PER_STEP)}), got {config.optimizer!r}"
        )
    names = list(axes)
    return [
        dataclasses.replace(config, **dict(zip(names, values, strict=True)))
        for values in itertools.product(*(axes[name] for name in names))
    ]


def label(member: Config, axes: dict[str, tuple]) -> str:
    """A file-name-safe label naming a member by its swept values, e.g. style_weight=1e+05."""
    parts = []
    for name in axes:
        value = getattr(member, name)
        parts.append(f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}")
    return "_".join(parts)


def batched_weights(
    configs: list[Config], content_layers: tuple[str, ...], weight_set: str
) -> LossWeights:
    """Each member's effective weights, stacked; content weights spread over `content_layers`
    (zero where a member does not use a layer)."""
    singles = [effective_weights(c, weight_set) for c in configs]
    zero = jnp.float32(0)
    return LossWeights(
        content={
            layer: jnp.stack([w.content.get(layer, zero) for w in singles])
            for layer in content_layers
        },
        style={layer: jnp.stack([w.style[layer] for w in singles]) for layer in singles[0].style},
        tv=jnp.stack([w.tv for w in singles]),
    )


def objective_for(configs: list[Config], preprocessing) -> Objective:
    """One objective for every member: the union of their content layers."""
    content = tuple(dict.fromkeys(c.content_layer for c in configs))
    first = configs[0]
    return Objective(
        content, tuple(first.style_layers), first.pooling, preprocessing, remat=first.remat
    )


def bytes_per_member(
    height: int,
    width: int,
    layers: tuple[str, ...],
    *,
    remat: bool = False,
    history: int = 10,
    precision: str = "float32",
) -> int:
    """Rough device memory one member needs: activations kept for the backward pass (conv and
    ReLU outputs up to the deepest layer, about three copies of each at the peak; with remat
    only the largest block's), at 2 bytes each under bfloat16 `precision`, plus the L-BFGS
    history and the image-sized state (float32 in every precision)."""
    blocks, h, w = [0], height, width
    for name in LAYERS[: LAYERS.index(deepest(layers)) + 1]:
        if name.startswith("pool"):
            h, w = h // 2, w // 2
            blocks.append(0)
        elif name.startswith("conv"):
            blocks[-1] += 3 * h * w * PARAM_SHAPES[name][1][0]
    activations = 2 * max(blocks) if remat else sum(blocks)
    image = height * width * 3
    activation_bytes = jnp.dtype(PRECISIONS[precision]).itemsize
    return activation_bytes * activations + 4 * (2 * history + 8) * image


def available_bytes() -> int:
    """Free memory of the first device: the allocator's limit on accelerators, free RAM on
    CPU."""
    stats = jax.local_devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 8 << 30


def planned_shape(config: Config) -> tuple[int, int] | None:
    """(height, width) the content image will have at --size, from its header alone; None if
    it cannot be read (loading it will then say why)."""
    try:
        with Image.open(config.content or samples.CONTENT) as image:
            width, height = image.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    scale = config.size / max(width, height, 1)
    return max(1, round(height * scale)), max(1, round(width * scale))


def check_memory(config: Config, layers: tuple[str, ...]) -> None:
    """Raises ValueError, before anything is loaded, when not even one run fits in half of the
    device's free memory."""
    shape = planned_shape(config)
    if shape is None:
        return
    need = bytes_per_member(*shape, layers, remat=config.remat)
    free = available_bytes()
    if need > free * 0.5:
        hint = "a smaller --size" + ("" if config.remat else ", --remat")
        raise ValueError(
            f"a {shape[1]}x{shape[0]} image needs about {need / 2**30:.1f} GiB per run, more "
            f"than half of the {free / 2**30:.1f} GiB free on {jax.devices()[0].platform}; use "
            f"{hint} or fewer sweep members"
        )


def members_per_pass(count: int, per_member: int, budget: int, devices: int) -> int:
    """How many members run at once: all of them if they fit in half of `budget` per device,
    else the largest multiple of `devices` that does (at least one per device)."""
    fits = max(1, int(budget * 0.5) // max(per_member, 1)) * devices
    if fits >= count:
        return count
    return max(devices, fits // devices * devices)


def mesh() -> Mesh:
    """A one-axis mesh over every device of every process."""
    return Mesh(np.asarray(jax.devices()), ("batch",))


def shard(tree, batch_mesh: Mesh, batched: bool):
    """Places host data on the mesh: split along the leading axis, or replicated.

    Works across processes: every process holds the same host data and contributes the
    shards of its own devices.
    """
    spec = PartitionSpec("batch") if batched else PartitionSpec()
    sharding = NamedSharding(batch_mesh, spec)

    def put(leaf):
        leaf = np.asarray(leaf)
        return jax.make_array_from_callback(leaf.shape, sharding, lambda index: leaf[index])

    return jax.tree.map(put, tree)


def pad_to(count: int, multiple: int) -> int:
    return math.ceil(count / multiple) * multiple


def prepare_sweep(config: Config, axes: dict[str, tuple]) -> tuple[list[Config], Problem]:
    """The member configs and one batched problem: inits (B, H, W, 3), weights (B,) each."""
    configs = members(config, axes)
    content, styles, weights = load_inputs(config)
    objective = objective_for(configs, weights.preprocessing)
    problem = Problem(
        content=content,
        styles=styles,
        init=np.stack([initial_image(c, content) for c in configs]),
        weights=weights,
        objective=objective,
        targets=targets_for(objective, config, content, styles, weights),
        loss_weights=batched_weights(configs, objective.content_layers, weights.source),
    )
    return configs, problem


def run_sweep(
    config: Config,
    problem: Problem,
    *,
    callback: Callable[[int, Progress], None] | None = None,
    members_at_once: int | None = None,
    loop: str | None = None,
    resume: Callable[[int], tuple | None] | None = None,
) -> list[Result]:
    """Runs every member of a prepared sweep, as few compiled passes as memory allows.

    The batch is sharded over all devices (of all processes); each pass is padded to the same
    size, a multiple of the device count, so one compilation serves every pass. `callback`
    gets the index of the pass's first member and the pass's `Progress`; `resume`, given that
    index, returns the pass's checkpoint (`optimize.load_state`) or None.
    """
    count, height, width = problem.init.shape[:3]
    devices = jax.device_count()
    at_once = members_at_once or members_per_pass(
        count,
        bytes_per_member(
            height,
            width,
            problem.objective.layers,
            remat=problem.objective.remat,
            precision=problem.objective.precision,
        ),
        available_bytes(),
        devices,
    )
    at_once = pad_to(min(at_once, count), devices)
    batch_mesh = mesh()
    params = shard(problem.weights.params, batch_mesh, batched=False)
    targets = shard(problem.targets, batch_mesh, batched=False)
    solver = Solver(config.optimizer, learning_rate=config.learning_rate)
    results: list[Result] = []
    for first in range(0, count, at_once):
        members = list(range(first, min(first + at_once, count)))
        padded = members + [members[-1]] * (at_once - len(members))  # repeats, then dropped
        pick = lambda tree: jax.tree.map(lambda a: np.asarray(a)[padded], tree)  # noqa: E731,B023
        report = None if callback is None else functools.partial(callback, first)
        results += optimize_batch(
            shard(pick(problem.init), batch_mesh, batched=True),
            params,
            targets,
            shard(pick(problem.loss_weights), batch_mesh, batched=True),
            problem.objective,
            solver,
            evaluations=config.evaluations,
            iterations=config.iterations,
            chunk=config.save_every or 10,
            callback=report,
            loop=loop,
            resume=None if resume is None else resume(first),
        )[: len(members)]
    return results
