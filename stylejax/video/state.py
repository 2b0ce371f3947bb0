"""What an interrupted video run leaves for `--resume`: a folder beside the output,
`<output>.state/`, holding every finished frame as the optimizer left it (float32 .npy, so a
resumed run reads back exactly what the uninterrupted one would have kept in memory) and
`run.json` with the fingerprint of the run and its batch size.

Files are written atomically: a frame's file exists whole or not at all. A multipass run keeps
the frames of the last complete pass and of the pass in progress; older passes are removed as
a pass completes. The folder is removed when the outputs are written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np

from stylejax.files.atomic import atomic_write

_FRAME = re.compile(r"^p(\d+)-(\d+)\.npy$")
STATE_VERSION = 1  # bumped whenever what the folder holds changes


class StateError(ValueError):
    """The state folder does not belong to this run or cannot be read."""


def folder_for(output: str | os.PathLike) -> Path:
    """`<output>.state` beside the output (a file or a folder)."""
    output = Path(output)
    return output.with_name(output.name + ".state")


def _frame_path(folder: Path, pass_index: int, frame: int) -> Path:
    return folder / f"p{pass_index}-{frame + 1:05d}.npy"


def start(folder: Path, fingerprint: str, at_once: int) -> None:
    """A fresh state folder (anything there before is removed) with its run.json."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    meta = {"version": STATE_VERSION, "fingerprint": fingerprint, "at_once": at_once}
    with atomic_write(folder / "run.json") as tmp:
        tmp.write_text(json.dumps(meta))


def read_meta(folder: Path) -> dict:
    """run.json of a state folder; StateError when missing or unreadable."""
    try:
        meta = json.loads((folder / "run.json").read_text())
        if meta.get("version") != STATE_VERSION or not isinstance(meta.get("at_once"), int):
            raise ValueError("another version")
        return meta
    except FileNotFoundError:
        raise StateError(f"{folder}: no interrupted run to continue (no run.json)") from None
    except (OSError, ValueError, AttributeError) as e:
        raise StateError(f"{folder}/run.json: cannot be read ({e}); start again") from None


def load(folder: Path, fingerprint: str) -> tuple[dict[tuple[int, int], np.ndarray], int]:
    """({(pass, frame): image} of the finished frames, the run's batch size). StateError if
    the folder belongs to another run (other settings, clip, styles or weights)."""
    meta = read_meta(folder)
    if meta["fingerprint"] != fingerprint:
        raise StateError(
            f"{folder}: the interrupted run had other settings, frames, styles or weights; "
            f"run with the same ones, or start again"
        )
    done = {}
    for path in sorted(folder.iterdir()):
        match = _FRAME.match(path.name)
        if match is None:
            continue
        try:
            image = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise StateError(f"{path}: cannot be read ({e}); start again") from None
        done[(int(match[1]), int(match[2]) - 1)] = image
    return done, meta["at_once"]


def save(folder: Path, pass_index: int, frame: int, image: np.ndarray) -> None:
    """One finished frame, atomically."""
    with atomic_write(_frame_path(folder, pass_index, frame)) as tmp, open(tmp, "wb") as file:
        np.save(file, np.asarray(image, np.float32), allow_pickle=False)


def drop_pass(folder: Path, pass_index: int) -> None:
    """Removes the frames of a pass no longer needed (a later pass is complete)."""
    for path in folder.glob(f"p{pass_index}-*.npy"):
        path.unlink(missing_ok=True)


def remove(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
