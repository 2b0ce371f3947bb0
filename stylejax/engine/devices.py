"""Devices and memory: how much one run needs, how many runs fit at once, and placing a batch
on every device (of every process) of a one-axis mesh."""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from stylejax.model.vgg import LAYERS, PARAM_SHAPES, deepest
from stylejax.objective.total import PRECISIONS

# Copies of each convolution's output alive at the peak of the backward pass: the convolution
# output, its ReLU and the incoming gradient.
ACTIVATION_COPIES = 3
# Image-sized float32 buffers besides the L-BFGS history: the image, its gradient, the search
# direction, the previous image and gradient, the loss's clipped input and two temporaries.
IMAGE_BUFFERS = 8
# L-BFGS keeps two image-sized vectors (s and y) per history entry.
VECTORS_PER_HISTORY_ENTRY = 2
# Assumed free memory where the operating system does not say (no sysconf): a small machine.
FALLBACK_FREE_BYTES = 8 << 30
# Share of the free memory a run may plan to use; the rest is left for XLA's own buffers,
# fragmentation and the estimate's error (BENCHMARKS.md compares it with measured peaks).
USABLE_SHARE = 0.5


def bytes_per_member(
    height: int,
    width: int,
    layers: tuple[str, ...],
    *,
    remat: bool = False,
    history: int = 10,
    precision: str = "float32",
    octaves: int = 0,
) -> int:
    """Rough device memory one member needs: activations kept for the backward pass (conv and
    ReLU outputs up to the deepest layer, ACTIVATION_COPIES of each at the peak; with remat
    only the largest block's), at 2 bytes each under bfloat16 `precision`, plus the L-BFGS
    history and the image-sized state (float32 in every precision). Each style octave the
    objective may use adds its halved picture's activations (a quarter of the last's)."""
    blocks, h, w = [0], height, width
    for name in LAYERS[: LAYERS.index(deepest(layers)) + 1]:
        if name.startswith("pool"):
            h, w = h // 2, w // 2
            blocks.append(0)
        elif name.startswith("conv"):
            blocks[-1] += ACTIVATION_COPIES * h * w * PARAM_SHAPES[name][1][0]
    # Under remat the largest block is recomputed while the next one's gradient is alive.
    activations = 2 * max(blocks) if remat else sum(blocks)
    activations *= sum(0.25**k for k in range(octaves + 1))
    image = height * width * 3
    activation_bytes = jnp.dtype(PRECISIONS[precision]).itemsize
    buffers = VECTORS_PER_HISTORY_ENTRY * history + IMAGE_BUFFERS
    return round(activation_bytes * activations + 4 * buffers * image)


def available_bytes() -> int:
    """Free memory of the first device: the allocator's limit on accelerators, free RAM on
    CPU."""
    stats = jax.local_devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return FALLBACK_FREE_BYTES


def members_per_pass(count: int, per_member: int, free: int, devices: int) -> int:
    """How many members run at once: all of them if they fit in the usable share of `free`
    per device, else the largest multiple of `devices` that does (at least one per device)."""
    fits = max(1, int(free * USABLE_SHARE) // max(per_member, 1)) * devices
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
