"""The settings a video run adds to the still-image `Config`: the temporal loss, the schedule and
the part of the clip. A frozen dataclass whose defaults the command line and the API read, each
field checked on its own in `__post_init__`; checks that need the Config too are in
`check_video`.

Errors are `VideoSettingError`s, a `ConfigError` naming the field, so the command line shows
its flag (`temporal_weight` -> `--temporal-weight`) and the API the field itself.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping

from stylejax.config import (
    MAX_EVALUATIONS,
    MAX_WEIGHT,
    PRESET_OPTION,
    Config,
    ConfigError,
    from_options,
)
from stylejax.optim.solvers import ONE_EVALUATION_PER_STEP

SCHEDULES = ("sequential", "multipass")

DEFAULT_TEMPORAL_WEIGHT = 300.0
"""The temporal weight at Caffe's scale, in artistic-videos' units (the loss on 0..255 pixels),
against content weight 1. Chosen between 100 and 300 by `scripts/bench_video.py
--temporal-weights 300` (BENCHMARKS.md, "Video"; 256 px, 8 frames, 48 evaluations a frame):
300 lowers the temporal error on both clips under both schedules (pan: sequential 0.34x ->
0.26x, multipass 0.29x -> 0.25x of the independent frames'; with an occluder: 0.43x -> 0.36x,
0.35x -> 0.32x) for 1-2% more style loss (1.01x-1.08x of the independent frames'). Higher
weights were not measured; on the occluded clip the rest of the error sits where the
consistency check unties disoccluded pixels, which no weight reaches. artistic-videos uses 1e3
against its content weight 5, i.e. 200 against 1."""

TEMPORAL_WEIGHT_FACTOR = {"caffe": 255.0**2, "torchvision": 255.0**2 * 2e-5}
"""Effective weight per unit of `temporal_weight`, per weight set, for images in [0, 1].
255²: the loss is defined on 0..255 pixels (artistic-videos) and computed on [0, 1] ones. The
content loss of torchvision's VGG19 is about 5e4 times smaller than Caffe's (its activations
about 220 times: the inverse square root of `STYLE_WEIGHT_FACTOR["caffe"]`, which balances a
fourth power against a square), so the temporal term is scaled down by the same 2e-5 to keep
its balance with the content term. An estimate, not measured on torchvision's weights."""

DEFAULT_PASSES = 6
"""Passes of the multi-pass schedule. Provisional (exploratory runs, not recorded: 6 passes gave
a lower temporal error than 4 at the same per-frame budget); `scripts/bench_video.py`."""

DEFAULT_INIT = "content"
"""Where frame 0 (sequential) or every frame of pass 0 (multipass) starts, unless `init` is
given: the content frame, as a still image's default. At the budgets a clip can afford per
frame, a start from noise leaves noise in the frames, which flickers."""

DEFAULT_BLEND = 0.5
"""δ of the multi-pass blend (stylejax.video.temporal.DEFAULT_BLEND)."""

DEFAULT_OFFSETS = (1, 2, 4)
"""Long-term offsets (stylejax.video.flow.DEFAULT_OFFSETS, artistic-videos' example)."""

# The largest frame offset: a second and more at any common rate, and far beyond what a
# consistency check still trusts.
MAX_OFFSET = 64
# The most passes: each costs a full batch of the clip; Ruder et al. 2018 use far fewer.
MAX_PASSES = 1000
# The longest part of a clip, in seconds: a day.
MAX_SECONDS = 86_400.0


class VideoSettingError(ConfigError):
    """A video setting that cannot work; `field` is the VideoSettings (or Config) field."""


@dataclasses.dataclass(frozen=True)
class VideoSettings:
    temporal_weight: float = DEFAULT_TEMPORAL_WEIGHT  # see DEFAULT_TEMPORAL_WEIGHT
    temporal_offsets: tuple[int, ...] = DEFAULT_OFFSETS  # frame offsets of the temporal loss
    schedule: str | None = None  # SCHEDULES; None: multipass on accelerators, else sequential
    passes: int = DEFAULT_PASSES  # multipass: passes over the clip (1: independent frames)
    blend: float = DEFAULT_BLEND  # multipass: δ, the share of the warped neighbour
    first_frame_evaluations: int | None = None  # sequential: frame 0's budget; None: the same

    def __post_init__(self):
        _real(self, "temporal_weight", 0.0, MAX_WEIGHT)
        _real(self, "blend", 0.0, 1.0)
        _whole(self, "passes", 1, MAX_PASSES)
        _whole(self, "first_frame_evaluations", 1, MAX_EVALUATIONS, optional=True)
        offsets = self.temporal_offsets
        if isinstance(offsets, (str, bytes)) or not isinstance(offsets, (list, tuple)):
            raise VideoSettingError("temporal_offsets", f"must be a list, got {offsets!r}")
        if not offsets or not all(
            isinstance(j, numbers.Integral) and not isinstance(j, bool) and 1 <= j <= MAX_OFFSET
            for j in offsets
        ):
            raise VideoSettingError(
                "temporal_offsets",
                f"must be whole numbers of frames from 1 to {MAX_OFFSET}, got {offsets!r}",
            )
        # Closest first, as the long-term weights need; duplicates dropped.
        object.__setattr__(self, "temporal_offsets", tuple(sorted({int(j) for j in offsets})))
        if self.schedule is not None and self.schedule not in SCHEDULES:
            raise VideoSettingError(
                "schedule", f"must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}"
            )


VIDEO_OPTIONS = tuple(f.name for f in dataclasses.fields(VideoSettings))


def _whole(settings, name: str, low: int, high: int, *, optional: bool = False) -> None:
    value = getattr(settings, name)
    if value is None and optional:
        return
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise VideoSettingError(name, f"must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise VideoSettingError(name, f"must be between {low} and {high}, got {value}")
    object.__setattr__(settings, name, int(value))


def _real(settings, name: str, low: float, high: float) -> None:
    value = getattr(settings, name)
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise VideoSettingError(name, f"must be a number, got {value!r}")
    if not (math.isfinite(value) and low <= value <= high):
        raise VideoSettingError(
            name, f"must be a finite number >= {low:g} and <= {high:g}, got {value}"
        )
    object.__setattr__(settings, name, float(value))


def resolved_schedule(settings: VideoSettings, backend: str) -> str:
    """The schedule to run: the given one, else multipass on an accelerator (a pass is one
    batched program) and sequential on CPU (where a batch runs no faster per frame)."""
    if settings.schedule is not None:
        return settings.schedule
    return "sequential" if backend == "cpu" else "multipass"


def check_video(config: Config, settings: VideoSettings, schedule: str) -> None:
    """The checks that need the Config and the video settings together."""
    if schedule == "multipass":
        if settings.first_frame_evaluations is not None:
            raise VideoSettingError(
                "first_frame_evaluations",
                "applies to the sequential schedule only (multipass frames share each pass)",
            )
        # Half the budget for pass 0, at least one evaluation for every later pass.
        minimum = max(settings.passes, 2 * settings.passes - 3)
        if config.evaluations < minimum:
            raise VideoSettingError(
                "passes",
                f"({settings.passes}) needs a per-frame budget of at least {minimum} "
                f"evaluations (half for pass 0, one or more for each later pass); "
                f"evaluations is {config.evaluations}",
            )
        if settings.passes > 1 and config.optimizer not in ONE_EVALUATION_PER_STEP:
            # As in a sweep: under vmap a line search runs until its slowest member.
            raise VideoSettingError(
                "optimizer",
                f"must have one evaluation per step in a multipass run "
                f"({', '.join(ONE_EVALUATION_PER_STEP)}), got {config.optimizer!r}",
            )


def check_part(start: float, duration: float | None, every: int) -> None:
    """The part of a clip to read: start >= 0 s, duration > 0 s, every >= 1 frame."""
    if not isinstance(every, numbers.Integral) or isinstance(every, bool) or every < 1:
        raise VideoSettingError("every", f"must be a whole number of frames >= 1, got {every!r}")
    if not (isinstance(start, numbers.Real) and math.isfinite(start) and 0 <= start):
        raise VideoSettingError("start", f"must be a number of seconds >= 0, got {start!r}")
    if start > MAX_SECONDS:
        raise VideoSettingError("start", f"must be at most {MAX_SECONDS:g} seconds, got {start}")
    if duration is not None and not (
        isinstance(duration, numbers.Real) and math.isfinite(duration) and 0 < duration
    ):
        raise VideoSettingError("duration", f"must be a number of seconds > 0, got {duration!r}")


def from_video_options(options: Mapping) -> tuple[Config, VideoSettings]:
    """Library options (Config fields and VideoSettings fields) as (Config, VideoSettings).
    A video run is no sweep: a list of values on a Config field is refused."""
    if PRESET_OPTION in options:
        # As the video command line: presets are sized for still images, and a preset's start
        # (the seed's noise) would be overridden by the video's own default start unseen.
        raise VideoSettingError(PRESET_OPTION, "is for still images; a video run takes no preset")
    video = {name: value for name, value in options.items() if name in VIDEO_OPTIONS}
    still = {name: value for name, value in options.items() if name not in VIDEO_OPTIONS}
    still.setdefault("init", DEFAULT_INIT)
    if "temporal_offsets" in video and isinstance(video["temporal_offsets"], numbers.Integral):
        video["temporal_offsets"] = (video["temporal_offsets"],)
    config, axes = from_options(still)
    if axes:
        name = next(iter(axes))
        raise VideoSettingError(name, "takes one value in a video run (video runs do not sweep)")
    return config, VideoSettings(**video)
