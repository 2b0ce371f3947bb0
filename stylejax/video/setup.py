"""The plan of a video run: the engine's plan of the first frame (objective, weights, the first
frame's pyramid, every still-image check), the clip's content frames at the working size, how
many frames fit in one batch, and the fingerprint a resumed run must match.

Memory: a clip is held on the host at the working size (content frames, flow both ways for
every offset, the stylized frames of two passes); `max_frames` refuses a clip larger than the
usable share of the free memory before it is decoded. On the device a batch holds what one
still-image run needs per frame plus the frame's temporal inputs; a pass of more frames than
fit is split into batches, as a sweep is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import jax
import numpy as np
from PIL import Image

from stylejax.config import NOT_OPTIONS, Config
from stylejax.engine import devices, pyramid
from stylejax.engine.plan import Plan, Scale, prepare, scale_sizes
from stylejax.files import images
from stylejax.model.vgg import LAYERS, PARAM_SHAPES, pooling_count
from stylejax.model.weights import Weights
from stylejax.video.settings import (
    TEMPORAL_WEIGHT_FACTOR,
    VideoSettingError,
    VideoSettings,
    check_video,
    resolved_schedule,
)

# Float32 (H, W) planes a frame keeps on the host: the content frame (3), flow to the past and
# to the future for each offset (2 x 2) and their consistency weights (2 x 1) per offset, and
# the stylized frame of the previous and of the current pass (2 x 3).
HOST_PLANES_PER_FRAME = 3 + 2 * 3
HOST_PLANES_PER_OFFSET = 2 * 2 + 2 * 1


@dataclasses.dataclass(frozen=True)
class VideoPlan:
    """Everything a video run needs, prepared and checked once."""

    config: Config  # the run's settings; `evaluations` is each frame's budget
    plan: Plan  # the engine's plan of frame 0 (its config has frame 0's budget)
    settings: VideoSettings
    schedule: str  # "sequential" or "multipass"
    frames: np.ndarray  # (N, H, W, 3) float32 content frames at the working size
    first_scales: list[Scale]  # frame 0's (sequential) or pass 0's (multipass) pyramid
    budgets: list[int]  # sequential: [frame 0, later frames]; multipass: one per pass
    at_once: int  # frames per batch of a multipass pass, a multiple of the device count
    temporal_weight: float  # effective (TEMPORAL_WEIGHT_FACTOR applied), for [0, 1] images
    fingerprint: str  # what the state of an interrupted run must match

    @property
    def count(self) -> int:
        return len(self.frames)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.frames.shape[1:3])

    @property
    def end(self) -> Scale:
        """The working size, where every frame but the first (or every pass but the first)
        is optimized."""
        return self.first_scales[-1]

    @property
    def total(self) -> int:
        """Evaluations of the whole clip (the progress bar's total)."""
        if self.schedule == "sequential":
            return self.budgets[0] + (self.count - 1) * self.budgets[1]
        return self.count * sum(self.budgets)


def host_bytes_per_frame(height: int, width: int, offsets: int) -> int:
    """Host memory one frame of a clip takes during a run (HOST_PLANES_*), in bytes."""
    return 4 * height * width * (HOST_PLANES_PER_FRAME + HOST_PLANES_PER_OFFSET * offsets)


def free_host_bytes() -> int:
    """Free RAM, or devices.FALLBACK_FREE_BYTES where the system does not say."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return devices.FALLBACK_FREE_BYTES


def max_frames(size: int, offsets: int, free: int | None = None) -> int:
    """The most frames of a clip whose longest side is `size` that fit in the usable share of
    the host's free memory (every frame counted as square, before the clip is decoded)."""
    free = free_host_bytes() if free is None else free
    return max(1, int(free * devices.USABLE_SHARE) // host_bytes_per_frame(size, size, offsets))


def frame_input_bytes(height: int, width: int, offsets: int, content_layers) -> int:
    """Device memory of one frame's temporal inputs: warped neighbours (J, H, W, 3), their
    weights (J, H, W) and its content features, float32."""
    features = 0
    for name in content_layers:
        scale = 2 ** pooling_count(name)
        # The channels of the last convolution at or before the layer.
        conv = [c for c in LAYERS[: LAYERS.index(name) + 1] if c.startswith("conv")][-1]
        features += (height // scale) * (width // scale) * PARAM_SHAPES[conv][1][0]
    return 4 * (offsets * height * width * 4 + features)


def pass_budgets(evaluations: int, passes: int) -> list[int]:
    """Each multipass pass's share of the per-frame budget: half for pass 0, which stylizes
    every frame on its own, and the other half shared equally by the later passes (the
    remainder to the first of them, pyramid.budget_split): the later passes start from
    stylized frames and need less. Provisional: compared with an equal split only in
    exploratory runs; `scripts/bench_video.py` is to measure it (issue 17)."""
    if passes == 1:
        return [evaluations]
    first = max(1, evaluations // 2)
    rest = pyramid.budget_split([1] * (passes - 1), evaluations - first, "equal")
    return [first, *rest]


def prepare_video(
    config: Config,
    settings: VideoSettings,
    frames: np.ndarray,
    *,
    styles: list[Image.Image],
    weights: Weights,
    init: Image.Image | None = None,
    at_once: int | None = None,
) -> VideoPlan:
    """The plan of a video run over `frames` ((N, H, W, 3) float32 in [0, 1], already at the
    working size: the longest side is `config.size`). `at_once` overrides the batch size (a
    resumed run keeps its own). Raises ConfigError (VideoSettingError) and ValueError."""
    frames = np.asarray(frames, np.float32)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) < 1:
        raise ValueError(f"expected (N, H, W, 3) frames, got shape {frames.shape}")
    schedule = resolved_schedule(settings, jax.default_backend())
    check_video(config, settings, schedule)
    if schedule == "sequential":
        first_budget = settings.first_frame_evaluations or config.evaluations
        budgets = [first_budget, config.evaluations]
    else:
        budgets = pass_budgets(config.evaluations, settings.passes)
        first_budget = budgets[0]
    if first_budget < len(scale_sizes(config)):
        field = "first_frame_evaluations" if settings.first_frame_evaluations else "evaluations"
        raise VideoSettingError(
            field,
            f"({first_budget}) cannot cover the first frame's {len(scale_sizes(config))} "
            f"scales; raise it, or raise min_size",
        )
    # The engine's plan of frame 0, with the first frame's budget: its scales, objective,
    # loss weights and every check of the settings and images. Frames are optimized without
    # the still image's margin (engine.margin): flows, warps and the temporal loss are at
    # the frame's own size.
    plan = prepare(
        dataclasses.replace(config, evaluations=first_budget, margin=0),
        {},
        content=images.to_pil(frames[0]),
        styles=styles,
        weights=weights,
        init=init,
    )
    height, width = frames.shape[1:3]
    if plan.scales[-1].shape != (height, width):
        raise ValueError(
            f"the frames are {width}x{height}; at size {config.size} they should be "
            f"{plan.scales[-1].shape[1]}x{plan.scales[-1].shape[0]}"
        )
    objective = plan.objective
    offsets = len(settings.temporal_offsets)
    need = devices.bytes_per_member(
        height,
        width,
        objective.layers,
        remat=objective.remat,
        precision=objective.precision,
        octaves=objective.style_octaves,
    ) + frame_input_bytes(height, width, offsets, objective.content_layers)
    count, device_count = len(frames), jax.device_count()
    if at_once is None:
        at_once = 1 if schedule == "sequential" else count
        at_once = devices.members_per_pass(at_once, need, devices.available_bytes(), device_count)
    at_once = devices.pad_to(min(at_once, count), device_count)
    return VideoPlan(
        config=config,
        plan=plan,
        settings=settings,
        schedule=schedule,
        frames=frames,
        first_scales=plan.scales,
        budgets=budgets,
        at_once=at_once,
        temporal_weight=settings.temporal_weight * TEMPORAL_WEIGHT_FACTOR[weights.source],
        fingerprint=fingerprint(config, settings, schedule, frames, styles, init, weights.sha256),
    )


def fingerprint(
    config: Config,
    settings: VideoSettings,
    schedule: str,
    frames: np.ndarray,
    styles: list[Image.Image],
    init: Image.Image | None,
    weights: str,
) -> str:
    """What must match for an interrupted run's frames to continue it exactly: the settings
    that change results, the content frames', style images' and start image's pixels and the
    weights."""
    fields = dataclasses.asdict(config)
    # Paths are left out: the pixels and the weights' checksum stand for them.
    for name in NOT_OPTIONS:
        fields.pop(name, None)
    digest = hashlib.sha256()
    text = json.dumps(
        [fields, dataclasses.asdict(settings), schedule, weights, frames.shape],
        sort_keys=True,
        default=str,
    )
    digest.update(text.encode())
    digest.update(memoryview(np.ascontiguousarray(frames, np.float32)).cast("B"))
    for picture in [*styles, *([init] if init is not None else [])]:
        digest.update(repr(picture.size).encode())
        digest.update(picture.tobytes())
    return digest.hexdigest()
