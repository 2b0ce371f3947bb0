"""Checkpoints: the whole optimizer state of a sweep pass, written atomically, and resuming it.

A checkpoint holds every array of the carry (image, L-BFGS history, counters), the members'
records so far, the pyramid scale it was taken at, and a fingerprint of the settings that must
match for the continued run to equal an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile
from pathlib import Path

import jax
import numpy as np

from stylejax.atomic import atomic_write
from stylejax.config import Config
from stylejax.optimize import Carry, fetch

# Settings a resumed run may change: the budget grows, outputs move.
FREE = ("evaluations", "iterations", "output", "log", "overwrite", "resume", "checkpoint_every")
FREE += ("tensorboard",)


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    scale: int  # index of the pyramid scale the carry belongs to
    schedule: list[list[int]]  # the run's [size, evaluations] per scale
    leaves: list[np.ndarray]  # the carry's arrays
    histories: list[list[dict]]  # each member's records so far


def fingerprint(config: Config, axes: dict, weights_sha256: str) -> str:
    """What must match for a checkpoint to continue a run exactly."""
    fields = {k: v for k, v in dataclasses.asdict(config).items() if k not in FREE}
    text = json.dumps([fields, sorted(axes.items()), weights_sha256], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def save(
    path: str | Path,
    carry: Carry,
    histories: list[list[dict]],
    *,
    scale: int,
    schedule: list[list[int]],
    fingerprint: str,
) -> None:
    """Writes a checkpoint atomically."""
    leaves = jax.tree.leaves(fetch(carry))
    meta = dict(fingerprint=fingerprint, scale=scale, schedule=schedule, histories=histories)
    with atomic_write(path) as tmp, open(tmp, "wb") as f:
        np.savez(
            f,
            meta=np.asarray(json.dumps(meta)),
            **{f"leaf{i}": leaf for i, leaf in enumerate(leaves)},
        )


def load(path: str | Path, fingerprint: str, schedule: list[list[int]]) -> Checkpoint:
    """Reads a checkpoint. Raises ValueError if it is unreadable, was written for a run with
    other settings, or for another pyramid (its scales, or the budget of a finished scale)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            leaves = [data[f"leaf{i}"] for i in range(len(data.files) - 1)]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable stylejax checkpoint ({e})") from None
    if meta.get("fingerprint") != fingerprint:
        raise ValueError(f"{path}: the checkpoint belongs to a run with other settings")
    scale, saved = meta["scale"], meta["schedule"]
    sizes = [size for size, _ in saved]
    # The scales must be the same, and so must the budgets of the scales already done: only
    # the current and later scales may get more evaluations.
    if sizes != [size for size, _ in schedule] or saved[:scale] != schedule[:scale]:
        raise ValueError(
            f"{path}: the checkpoint was taken on the pyramid {_describe(saved)}, this run's is "
            f"{_describe(schedule)}; resume with the same sizes and evaluations"
        )
    return Checkpoint(scale, saved, leaves, meta["histories"])


def _describe(schedule: list[list[int]]) -> str:
    return " -> ".join(f"{size}px x{evaluations}" for size, evaluations in schedule)


def path_for(output: str | Path, first: int) -> Path:
    """The checkpoint of the sweep pass starting at member `first`, next to the output."""
    output = Path(output)
    return output.with_name(f"{output.stem}{f'.{first}' if first else ''}.ckpt.npz")
