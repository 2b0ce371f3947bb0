"""TensorBoard event files of a run: per-iteration losses and the image now and then.

Written with tensorboardX, the optional extra `stylejax[tensorboard]`. Each sweep member is
its own TensorBoard run (a subfolder of `logdir` named by the member's label), so TensorBoard
overlays the members on one chart per loss term; a single run writes into `logdir` itself.

Tags: `loss/total` (weighted), `loss/content`, `loss/style` (unweighted, as in the log), plus
`loss/tv` once it is non-zero, and `image`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from stylejax.files.images import to_uint8
from stylejax.objective.total import TERMS

EXTRA = "stylejax[tensorboard]"


class TensorBoardUnavailableError(RuntimeError):
    """tensorboardX is not installed."""


def _summary_writer_class() -> type:
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise TensorBoardUnavailableError(
            f"TensorBoard logging needs tensorboardX, which is not installed: pip install '{EXTRA}'"
        ) from None
    return SummaryWriter


def _to_uint8(image: Any) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {array.shape}")
    if array.dtype != np.uint8:
        array = to_uint8(array)
    return np.ascontiguousarray(array)


class Writer:
    """TensorBoard event files under `logdir`, one run per sweep member.

    `member` is the member's label ("" for a single run); `step` is the evaluation count.
    """

    def __init__(self, logdir: str | os.PathLike):
        self._summary_writer = _summary_writer_class()  # fail now, not at the first record
        self.logdir = Path(logdir)
        self._writers: dict[str, Any] = {}

    def _writer(self, member: str):
        if member in (".", "..") or "/" in member or os.sep in member:
            raise ValueError(f"a member label must be a plain folder name, got {member!r}")
        if member not in self._writers:
            folder = self.logdir / member if member else self.logdir
            self._writers[member] = self._summary_writer(logdir=str(folder), flush_secs=30)
        return self._writers[member]

    def scalars(self, step: int, terms: Mapping[str, float], *, member: str = "") -> None:
        """The losses of one iteration; tv only once it is non-zero."""
        writer = self._writer(member)
        for name in TERMS:
            if name in terms and (name != "tv" or float(terms[name]) != 0.0):
                writer.add_scalar(f"loss/{name}", float(terms[name]), int(step))

    def image(self, step: int, image: Any, *, member: str = "") -> None:
        """An (H, W, 3) image, float in [0, 1] or uint8."""
        self._writer(member).add_image("image", _to_uint8(image), int(step), dataformats="HWC")

    def flush(self) -> None:
        for writer in self._writers.values():
            writer.flush()

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
