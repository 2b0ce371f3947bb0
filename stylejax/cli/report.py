"""What a CLI run shows and keeps while it optimizes: the progress bar, frames, TensorBoard
and each member's latest image (written if the run is interrupted)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from stylejax.cli.outputs import Outputs, frame_path
from stylejax.cli.progress import ProgressBar
from stylejax.engine.plan import Plan
from stylejax.files import images
from stylejax.optim.loop import Update
from stylejax.optim.solvers import ONE_EVALUATION_PER_STEP


def bar_total(plan: Plan) -> int:
    """The evaluation count that will actually end the run: the budget, or fewer when an
    iteration limit stops each scale first (one-evaluation optimizers: 1 + iterations)."""
    limit = plan.config.iterations
    if limit is None or plan.config.optimizer not in ONE_EVALUATION_PER_STEP:
        return plan.config.evaluations
    return sum(min(s.evaluations, limit + 1) for s in plan.scales)


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

    def __call__(self, update: Update) -> None:
        end = self.plan.scales[-1].shape
        # The start image is frame 0, as in the seed's animations.
        number = 0 if update.initial else update.evaluations
        for offset, image in enumerate(update.images):
            member = update.first + offset
            self.latest[member] = image
            self.histories[member] = update.histories[offset]
            folder = self.outputs[member].frames
            if folder is not None and self._frame_due(update):
                frame = to_frame(image, end)
                images.save(frame, frame_path(folder, number))
                self.frames[member].append(frame)
            if self.tensorboard is not None:
                self._tensorboard(member, update, offset)
        members = len(self.outputs)
        note = (
            f"members {update.first + 1}-{update.first + len(update.images)}" if members > 1 else ""
        )
        if len(self.plan.scales) > 1:
            note += f"{'  ' if note else ''}scale {update.size[1]}x{update.size[0]}"
        # A sweep in several passes counts on across them.
        done_before = update.first // self.plan.at_once * bar_total(self.plan)
        self.bar.update(done_before + update.evaluations, update.loss, note)

    def _frame_due(self, update: Update) -> bool:
        """Frames at the start, every `save_every` evaluations and at the end (the budget, or
        the iteration limit, or a line search's overshoot); not at a scale's start."""
        every = self.plan.config.save_every
        end = update.evaluations >= bar_total(self.plan)
        return update.initial or update.evaluations % every == 0 or end

    def _tensorboard(self, member: int, update: Update, offset: int) -> None:
        label = self.outputs[member].label  # "" for a single run: the writer's own folder
        seen = self.logged.get(member, 0)
        for record in update.histories[offset]:
            if record["evaluations"] > seen:
                self.tensorboard.scalars(record["evaluations"], record, member=label)
        self.logged[member] = update.histories[offset][-1]["evaluations"]
        self.tensorboard.image(update.evaluations, update.images[offset], member=label)
