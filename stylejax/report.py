"""What a CLI run shows and keeps while it optimizes: the progress bar, frames, TensorBoard
and each member's latest image (written if the run is interrupted)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from stylejax import images
from stylejax.outputs import Outputs, frame_path
from stylejax.pipeline import Plan, Snapshot, members_at_once
from stylejax.progress import ProgressBar


def bar_total(plan: Plan) -> int:
    """The evaluation count that will actually end the run: the budget, or fewer when an
    iteration limit stops each scale first (one-evaluation optimizers: 1 + iterations)."""
    limit = plan.config.iterations
    if limit is None or plan.config.optimizer not in ("lbfgs", "adam"):
        return plan.config.evaluations
    return sum(min(s.evaluations, limit + 1) for s in plan.scales)


def passes(plan: Plan) -> int:
    """How many sweep passes the run takes (memory may split a sweep)."""
    return -(-len(plan.members) // members_at_once(plan))


def to_frame(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """An 8-bit frame at the end size: a pyramid's coarse scales are enlarged, so the
    animation shows the picture growing."""
    frame = images.to_pil(image)
    if frame.size != shape[::-1]:
        frame = frame.resize(shape[::-1], Image.Resampling.LANCZOS)
    return np.asarray(frame)


class Reporter:
    """The pipeline callback of a CLI run."""

    def __init__(self, plan: Plan, outputs: list[Outputs], *, bar: ProgressBar, tensorboard=None):
        self.plan, self.outputs, self.bar, self.tensorboard = plan, outputs, bar, tensorboard
        self.latest: dict[int, np.ndarray] = {}
        self.histories: dict[int, list[dict]] = {}
        self.frames: dict[int, list[np.ndarray]] = {i: [] for i in range(len(outputs))}
        self.logged: dict[int, int] = {}  # the last evaluation count sent to TensorBoard
        self.at_once = members_at_once(plan)

    def __call__(self, snap: Snapshot) -> None:
        end = self.plan.scales[-1].shape
        # The start image is frame 0, as in the seed's animations.
        number = 0 if snap.initial else snap.evaluations
        for offset, image in enumerate(snap.images):
            member = snap.first + offset
            self.latest[member] = image
            self.histories[member] = snap.histories[offset]
            folder = self.outputs[member].frames
            if folder is not None and self._frame_due(snap):
                frame = to_frame(image, end)
                images.save(frame.astype(np.float32) / 255.0, frame_path(folder, number))
                self.frames[member].append(frame)
            if self.tensorboard is not None:
                self._tensorboard(member, snap, offset)
        members = len(self.outputs)
        note = f"members {snap.first + 1}-{snap.first + len(snap.images)}" if members > 1 else ""
        if len(self.plan.scales) > 1:
            note += f"{'  ' if note else ''}scale {snap.shape[1]}x{snap.shape[0]}"
        # A sweep in several passes counts on across them.
        done_before = snap.first // self.at_once * bar_total(self.plan)
        self.bar.update(done_before + snap.evaluations, snap.terms[0], note)

    def _frame_due(self, snap: Snapshot) -> bool:
        """Frames at the start and every `save_every` evaluations; not at a scale's start."""
        every = self.plan.config.save_every
        return snap.initial or snap.evaluations % every == 0 or snap.evaluations == snap.budget

    def _tensorboard(self, member: int, snap: Snapshot, offset: int) -> None:
        label = self.outputs[member].label or None
        seen = self.logged.get(member, 0)
        for record in snap.histories[offset]:
            if record["evaluations"] > seen:
                self.tensorboard.scalars(record["evaluations"], record, member=label)
        self.logged[member] = snap.histories[offset][-1]["evaluations"]
        self.tensorboard.image(snap.evaluations, snap.images[offset], member=label)
