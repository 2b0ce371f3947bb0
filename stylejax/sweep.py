"""Sweeps: many runs as one batched, compiled optimization, sharded over every device.

A sweep is a product grid over a few config fields. Each member is an ordinary `Config`;
what differs between members is data (loss weights, the random start), never the compiled
program, so the whole grid is one `optimize_batch`. Content-layer sweeps work the same way:
the objective looks at every candidate layer and each member's content weights are one-hot.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from stylejax.config import ONE_EVALUATION_PER_STEP, Config, ConfigError, effective_weights
from stylejax.objective import PRECISIONS, LossWeights, Objective
from stylejax.vgg import LAYERS, PARAM_SHAPES, deepest

# Config fields a sweep may vary: each is data to the compiled program.
SWEEPABLE = ("style_weight", "content_weight", "tv_weight", "content_layer", "seed")


def members(config: Config, axes: dict[str, tuple]) -> list[Config]:
    """The product grid of `axes` ({field: values}) over `config`, first axis slowest."""
    unknown = [name for name in axes if name not in SWEEPABLE]
    if unknown:
        raise ConfigError(unknown[0], f"cannot be swept; sweepable: {', '.join(SWEEPABLE)}")
    if axes and config.optimizer not in ONE_EVALUATION_PER_STEP:
        # Under vmap a line search runs until its slowest member: every member would pay the
        # worst case. The one-evaluation optimizers have no inner loop.
        raise ConfigError(
            "optimizer",
            f"must have one evaluation per step in a sweep "
            f"({', '.join(ONE_EVALUATION_PER_STEP)}), got {config.optimizer!r}",
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
        content,
        tuple(first.style_layers),
        first.pooling,
        preprocessing,
        remat=first.remat,
        precision=first.precision,
        style_loss=first.style_loss,
        style_normalize=first.style_normalize,
        padding=first.padding,
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


def check_memory(
    shape: tuple[int, int], layers: tuple[str, ...], *, remat: bool, precision: str
) -> None:
    """Raises ConfigError, before anything is compiled, when not even one run of an image of
    `shape` (height, width) fits in half of the device's free memory."""
    need = bytes_per_member(*shape, layers, remat=remat, precision=precision)
    free = available_bytes()
    if need > free * 0.5:
        hint = "a smaller size" + ("" if remat else ", remat")
        hint += "" if precision == "bfloat16" else ", precision bfloat16"
        raise ConfigError(
            "size",
            f"gives a {shape[1]}x{shape[0]} image that needs about {need / 2**30:.1f} GiB per "
            f"run, more than half of the {free / 2**30:.1f} GiB free on "
            f"{jax.devices()[0].platform}; use {hint} or fewer sweep members",
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
