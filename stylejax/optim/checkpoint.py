"""Checkpoints: the whole optimizer state of a sweep pass, written atomically, and resuming it.

A checkpoint holds every array of the carry (image, L-BFGS history, counters), the members'
records so far, the pyramid scale it was taken at, and a fingerprint of the settings that must
match for the continued run to equal an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import zipfile
from pathlib import Path

import jax
import numpy as np

from stylejax.files.atomic import atomic_write
from stylejax.optim.loop import Carry, fetch


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    scale: int  # index of the pyramid scale the carry belongs to
    offset: int  # evaluations spent at earlier scales
    schedule: list[list[int]]  # the run's [size, evaluations] per scale
    leaves: list[np.ndarray]  # the carry's arrays
    histories: list[list[dict]]  # each member's records so far


def save(
    path: str | Path,
    carry: Carry,
    histories: list[list[dict]],
    *,
    scale: int,
    offset: int,
    schedule: list[list[int]],
    fingerprint: str,
) -> None:
    """Writes a checkpoint atomically."""
    leaves = jax.tree.leaves(fetch(carry))
    meta = dict(
        fingerprint=fingerprint,
        scale=scale,
        offset=offset,
        schedule=schedule,
        histories=histories,
    )
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
    if not isinstance(meta, dict) or meta.get("fingerprint") != fingerprint:
        raise ValueError(f"{path}: the checkpoint belongs to a run with other settings")
    problem = _meta_problem(meta)
    if problem:
        raise ValueError(f"{path}: not a valid stylejax checkpoint ({problem})")
    scale, saved = meta["scale"], meta["schedule"]
    sizes = [size for size, _ in saved]
    # The scales must be the same, and so must the budgets of the scales already done: only
    # the current and later scales may get more evaluations.
    if sizes != [size for size, _ in schedule] or saved[:scale] != schedule[:scale]:
        raise ValueError(
            f"{path}: the checkpoint was taken on the pyramid {_describe(saved)}, this run's is "
            f"{_describe(schedule)}; resume with the same sizes and evaluations"
        )
    return Checkpoint(scale, meta["offset"], saved, leaves, meta["histories"])


def _whole(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0


def _record(record) -> bool:
    """A loss record as the loop writes it: at least whole evaluations and real seconds."""
    return (
        isinstance(record, dict)
        and _whole(record.get("evaluations"))
        and isinstance(record.get("seconds"), numbers.Real)
    )


def _meta_problem(meta: dict) -> str | None:
    """What is wrong with a checkpoint's metadata (a matching fingerprint does not prove its
    structure), or None."""
    schedule = meta.get("schedule")
    if not (
        isinstance(schedule, list)
        and schedule
        and all(isinstance(s, list) and len(s) == 2 and all(map(_whole, s)) for s in schedule)
    ):
        return "its schedule is not a list of [size, evaluations]"
    if not (_whole(meta.get("scale")) and meta["scale"] < len(schedule)):
        return "its scale is not an index into its schedule"
    if not _whole(meta.get("offset")):
        return "its offset is not a whole number"
    histories = meta.get("histories")
    if not (
        isinstance(histories, list)
        and all(isinstance(h, list) and h and all(map(_record, h)) for h in histories)
    ):
        return "its histories are not lists of records"
    return None


def _describe(schedule: list[list[int]]) -> str:
    return " -> ".join(f"{size}px x{evaluations}" for size, evaluations in schedule)


def path_for(output: str | Path, first: int) -> Path:
    """The checkpoint of the sweep pass starting at member `first`, next to the output."""
    output = Path(output)
    return output.with_name(f"{output.stem}{f'.{first}' if first else ''}.ckpt.npz")
