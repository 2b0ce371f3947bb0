"""Jobs and the queue that runs them, one at a time, on one warm Stylizer.

One worker thread takes jobs first in, first out and calls `stylizer.stylize` (the Stylizer is
not thread-safe, and one device runs one optimization well). Progress reaches the job through
the stylize callback, which only stores the latest state and returns the job's cancel flag: the
optimization never waits for a client. HTTP handlers read that state under the queue's lock.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from stylejax.config import Config
from stylejax.files import images, plot
from stylejax.files.images import one_line
from stylejax.studio.store import (
    JOB_FILE,
    LOG_FILE,
    JobStore,
    preview_name,
    result_name,
)

TERMINAL = frozenset({"finished", "failed", "cancelled"})
DEFAULT_EVALUATIONS = Config().evaluations
PREVIEW_WRITE_SECONDS = 2.0  # write the running preview to disk at most this often
MAX_FRAMES = 120  # frames kept per member for the GIF (halved by decimation past it)

log = logging.getLogger("stylejax.studio")


class QueueFull(Exception):
    """The queue holds its maximum number of waiting jobs."""


def to_pil(image: Any) -> Image.Image:
    """A preview image as PIL RGB: the Stylizer returns the kind of its content, and the
    queue gives it a path, so PIL images; float (H, W, 3) arrays in [0, 1] are taken too."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    return images.to_pil(np.asarray(image, np.float32))


@dataclasses.dataclass(eq=False)
class Job:
    """One stylization request and its progress (mutated only under the queue's lock)."""

    id: str
    options: dict
    styles: int  # number of style images
    members: int  # images it makes: 1, or the product of a sweep's axis lengths
    names: dict  # uploaded file names, as data only: {"content": str, "style": [str], "mask"?}
    created: float
    mask: bool = False  # spatial control: the job's folder holds a `mask` upload
    status: str = "queued"
    started: float | None = None
    finished: float | None = None
    evaluations: int = 0
    budget: int = DEFAULT_EVALUATIONS
    seconds: float = 0.0
    size: list[int] | None = None
    losses: list[dict] = dataclasses.field(default_factory=list)
    histories: list[list[dict]] = dataclasses.field(default_factory=list)
    error: str | None = None
    version: int = 0  # bumped on every change; subscribers send only the latest state
    images: list[Image.Image] = dataclasses.field(default_factory=list, repr=False)
    frames: list[list[Image.Image]] = dataclasses.field(default_factory=list, repr=False)
    cancel: threading.Event = dataclasses.field(default_factory=threading.Event, repr=False)
    png_cache: dict = dataclasses.field(default_factory=dict, repr=False)

    def __post_init__(self):
        self.budget = self.options.get("evaluations", DEFAULT_EVALUATIONS)  # a checked int

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    def record(self) -> dict:
        """job.json: everything but the loss history and the images."""
        return {
            "id": self.id,
            "status": self.status,
            "options": self.options,
            "styles": self.styles,
            "names": self.names,
            "mask": self.mask,
            "members": self.members,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "evaluations": self.evaluations,
            "budget": self.budget,
            "seconds": self.seconds,
            "size": self.size,
            "losses": self.losses,
            "loss": self.losses[0] if self.losses else None,
            "error": self.error,
        }

    def log(self) -> dict:
        """log.json: the record plus every member's loss history."""
        return self.record() | {"histories": self.histories}

    @classmethod
    def restore(cls, record: dict, histories: list[list[dict]]) -> Job:
        """A job of an earlier server from its job.json and loss histories, both checked by
        stylejax.studio.schema (JobStore.saved_jobs)."""
        job = cls(
            id=record["id"],
            options=record["options"],
            styles=record["styles"],
            members=record["members"],
            names=record["names"],
            created=float(record["created"]),
            mask=bool(record.get("mask", False)),
        )
        for name in ("status", "started", "finished", "evaluations", "budget", "seconds"):
            if record.get(name) is not None:
                setattr(job, name, record[name])
        job.size, job.error = record.get("size"), record.get("error")
        job.losses = record.get("losses") or []
        job.histories = histories
        return job


class JobQueue:
    """A bounded FIFO of jobs and the one worker thread that runs them."""

    def __init__(self, stylizer, store: JobStore, *, max_queued: int = 16, max_pixels: int):
        if max_queued < 1:
            raise ValueError(f"the queue must hold at least 1 job, got {max_queued}")
        self.stylizer = stylizer
        self.store = store
        self.max_queued = max_queued
        self.max_pixels = max_pixels  # the server's limit, passed to every run
        self.lock = threading.RLock()  # re-entrant: _save_record runs inside and outside it
        self._wake = threading.Condition(self.lock)
        self.jobs: dict[str, Job] = {}
        self._pending: collections.deque[Job] = collections.deque()
        self._running: Job | None = None
        self._thread: threading.Thread | None = None
        self.stopping = False
        self._restore()

    # --- life cycle -------------------------------------------------------------------------

    def _restore(self) -> None:
        """Lists the jobs of an earlier server; unfinished ones are marked cancelled."""
        for record, histories in self.store.saved_jobs():
            job = Job.restore(record, histories)
            if not job.done:
                job.status = "cancelled"
                job.error = "the server stopped before this job finished"
                self._save_record(job)
            self.jobs[job.id] = job

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="stylejax-studio", daemon=True)
            self._thread.start()

    def begin_shutdown(self) -> None:
        """Cancels the running job (it keeps its latest image) and every queued one."""
        with self.lock:
            self.stopping = True
            cancelled = list(self._pending)
            self._pending.clear()
            for job in cancelled:
                self._finish(job, "cancelled", error="the server shut down before this job ran")
            if self._running is not None:
                self._running.cancel.set()
            self._wake.notify_all()
        for job in cancelled:
            self._save_record(job)

    def shutdown(self, timeout: float | None = None) -> None:
        """begin_shutdown, then waits for the running job to save its latest image."""
        self.begin_shutdown()
        if self._thread is not None:
            self._thread.join(timeout)

    # --- requests ---------------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        """Queues `job` (its inputs already in its folder); QueueFull when full or stopping."""
        with self.lock:
            if self.stopping:
                raise QueueFull("the server is shutting down")
            if len(self._pending) >= self.max_queued:
                raise QueueFull(
                    f"the queue is full ({self.max_queued} jobs waiting); try again later"
                )
            self.jobs[job.id] = job
            self._pending.append(job)
            self._save_record(job)
            self._wake.notify_all()

    def get(self, job_id: str) -> Job | None:
        with self.lock:
            return self.jobs.get(job_id)

    def position(self, job: Job) -> int | None:
        """0 while running, 1.. while queued (1: next), None once done. Call under the lock."""
        if job.done:  # the worker may not have cleared `_running` yet
            return None
        if job is self._running:
            return 0
        try:
            return self._pending.index(job) + 1
        except ValueError:
            return None

    def cancel(self, job_id: str) -> Job | None:
        """Cancels a queued job now, or asks the running one to stop after its current chunk."""
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None or job.done:
                return job
            if job is self._running:
                job.cancel.set()
                return job
            self._pending.remove(job)
            self._finish(job, "cancelled")
        self._save_record(job)
        return job

    def summary(self, job: Job) -> dict:
        with self.lock:
            return self.summary_locked(job)

    def summary_locked(self, job: Job) -> dict:
        rate = (job.evaluations - 1) / job.seconds if job.seconds > 0 else None
        return job.record() | {
            "position": self.position(job),
            "version": job.version,
            "rate": rate,  # evaluations per second, compilation excluded
            "eta": eta_seconds(job),
        }

    def list(self) -> list[dict]:
        with self.lock:
            return [self.summary_locked(job) for job in reversed(self.jobs.values())]

    # --- the worker -------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self.lock:
                while not self._pending and not self.stopping:
                    self._wake.wait()
                if self.stopping:
                    return
                job = self._pending.popleft()
                self._running = job
                job.status, job.started = "running", time.time()
                job.version += 1
            self._save_record(job)
            try:
                self._run(job)
            except Exception as e:  # a bug in saving results: the worker goes on regardless
                log.exception("job %s: cannot finish it", job.id)
                with self.lock:
                    self._finish(job, "failed", f"{type(e).__name__}: {one_line(e)}")
                self._save_record(job)
            finally:
                with self.lock:
                    self._running = None

    def _run(self, job: Job) -> None:
        content = str(self.store.path(job.id, "content"))
        styles = [str(self.store.path(job.id, f"style-{i}")) for i in range(job.styles)]
        mask = str(self.store.path(job.id, "mask")) if job.mask else None
        last_write = [0.0]
        overflow: list[str] = []  # why the loss is not finite, once it is not

        def callback(update) -> bool:
            self._progress(job, update, last_write)
            problem = nonfinite_loss(update, sweep=job.members > 1)
            if problem is not None and not overflow:
                overflow.append(problem)
            return job.cancel.is_set() or bool(overflow)

        status, error, returned = "finished", None, None
        try:
            returned = self.stylizer.stylize(
                content,
                styles,
                mask=mask,
                callback=callback,
                **job.options,
                max_pixels=self.max_pixels,
            )
        except ValueError as e:  # user errors: bad options or images the library refused
            status, error = "failed", one_line(e)
        except Exception as e:  # a bug or the device failing: keep the server up, say what
            log.exception("job %s failed", job.id)
            status, error = "failed", f"{type(e).__name__}: {one_line(e)}"
        if returned is not None:
            results = returned if isinstance(returned, list) else [returned]
            with self.lock:  # a member a cancelled sweep never reached keeps its latest preview
                for member, image in enumerate(results):
                    if image is not None and member < len(job.images):
                        job.images[member] = to_pil(image)
        if status == "finished" and overflow:  # stopped by the callback: nothing more to gain
            status, error = "failed", overflow[0]
        elif status == "finished" and job.cancel.is_set():
            status = "cancelled"
        self._save_results(job)
        with self.lock:
            self._finish(job, status, error)
            job.images, job.png_cache = [], {}  # served from the result files from now on
        self._save_record(job)

    def _progress(self, job: Job, update, last_write: list[float]) -> None:
        """Stores the update as the job's latest state (called in the worker thread).

        A sweep too large for memory runs in passes: `update.first` is the index of the
        update's first member, and its lists cover the members of the current pass."""
        images = [to_pil(image) for image in update.images]
        members = range(update.first, update.first + len(images))
        with self.lock:
            job.evaluations, job.budget = int(update.evaluations), int(update.budget)
            job.seconds, job.size = float(update.seconds), list(update.size)
            if len(job.images) != job.members:
                job.images = [None] * job.members
                job.frames = [[] for _ in range(job.members)]
                job.losses = [{} for _ in range(job.members)]
                job.histories = [[] for _ in range(job.members)]
            for k, member in enumerate(members):
                job.images[member] = images[k]
                job.losses[member] = dict(update.losses[k])
                job.histories[member] = list(update.histories[k])
                frames = job.frames[member]
                frames.append(images[k])
                if len(frames) > MAX_FRAMES:
                    del frames[1::2]  # keep the first and every other frame
            job.png_cache = {}
            job.version += 1
        now = time.monotonic()
        if now - last_write[0] >= PREVIEW_WRITE_SECONDS:
            last_write[0] = now
            for member, image in zip(members, images, strict=True):
                self.store.save_png(job.id, preview_name(member), image)

    def _finish(self, job: Job, status: str, error: str | None = None) -> None:
        """Marks a job done. Call under the lock."""
        job.status, job.error, job.finished = status, error, time.time()
        job.cancel.set()
        job.version += 1

    def _save_results(self, job: Job) -> None:
        """The latest images as result PNGs, the frames as GIFs, and the loss log."""
        with self.lock:
            images, frames = list(job.images), [list(f) for f in job.frames]
            job.frames = []
        try:
            for member, image in enumerate(images):
                if image is None:
                    continue
                self.store.save_png(job.id, result_name(member, "png"), image)
                if len(frames) > member and frames[member]:
                    plot.animated_gif(
                        frames[member], self.store.path(job.id, result_name(member, "gif"))
                    )
            for member in range(job.members):
                self.store.path(job.id, preview_name(member)).unlink(missing_ok=True)
        except (OSError, ValueError) as e:  # a full disk; frames a GIF cannot hold
            log.error("job %s: cannot write its results: %s", job.id, one_line(e))

    def _save_record(self, job: Job) -> None:
        """Writes job.json and log.json; under the lock, so that writes land in order."""
        with self.lock:
            try:
                self.store.write_json(job.id, LOG_FILE, job.log())
                self.store.write_json(job.id, JOB_FILE, job.record())
            except OSError as e:
                log.error("job %s: cannot write its record: %s", job.id, one_line(e))

    def result_path(self, job: Job, member: int, extension: str) -> Path | None:
        """A finished job's result file, if it was written."""
        path = self.store.path(job.id, result_name(member, extension))
        return path if path.is_file() else None


def nonfinite_loss(update, sweep: bool = False) -> str | None:
    """Why a job must stop, when a member's latest loss is not finite (a weight too large for
    float32 makes it inf at the first evaluation); None while every loss is finite."""
    for k, losses in enumerate(update.losses):
        for term in ("total", "content", "style", "tv"):
            value = losses.get(term)
            if isinstance(value, float) and not math.isfinite(value):
                member = f" in sweep member {update.first + k}" if sweep else ""
                return (
                    f"the {term} loss is {value} at evaluation {update.evaluations}{member}: "
                    f"the loss overflowed float32 (about 3.4e38 at most); lower style_weight, "
                    f"content_weight or tv_weight"
                )
    return None


def eta_seconds(job: Job) -> float | None:
    """Seconds left at the current rate, or None before there is a rate."""
    if job.seconds <= 0 or job.evaluations <= 1 or job.done:
        return None
    rate = (job.evaluations - 1) / job.seconds
    return math.ceil((job.budget - job.evaluations) / rate) if rate > 0 else None
