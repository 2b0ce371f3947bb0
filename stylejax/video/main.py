"""The video command line, `python -m stylejax.video` and the `stylejax-video` script: flags,
reading the clip, the plan, the flow (cached beside the output), the schedule, and writing
the frames as they finish.

Bad input is one line on stderr and exit code 2, before anything is written. Every finished
frame is kept as it finishes (a folder output gets its PNG at once; the exact float frame goes
to `<output>.state/`), so Ctrl-C or SIGTERM loses at most the frame (or batch) in progress
(exit 130 or 143), and `--resume` continues at the first missing frame with the same frames
an uninterrupted run gives.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from stylejax import samples
from stylejax.cli import flags
from stylejax.cli.outputs import check_writable
from stylejax.cli.progress import ProgressBar
from stylejax.cli.start import INTERRUPTED, Interrupted, catch_signals
from stylejax.config import SEQUENCES, Config, ConfigError
from stylejax.engine import devices
from stylejax.engine.plan import check_memory, check_settings
from stylejax.engine.sweep import objective_for
from stylejax.files import cache, images
from stylejax.model.load import load_weights
from stylejax.optim.loop import Update
from stylejax.video import clip, schedule, state
from stylejax.video.extra import require
from stylejax.video.flow import cache_path, cached_clip_flow
from stylejax.video.settings import (
    DEFAULT_BLEND,
    DEFAULT_INIT,
    DEFAULT_OFFSETS,
    DEFAULT_PASSES,
    DEFAULT_TEMPORAL_WEIGHT,
    SCHEDULES,
    VideoSettingError,
    VideoSettings,
    check_part,
)
from stylejax.video.setup import VideoPlan, max_frames, prepare_video

# Still-image flags that a video run does not take: its own content, output and resume; the
# per-evaluation outputs of a still run; presets (sized for still images); multi-host runs.
NOT_FOR_VIDEO = (
    "help",
    "content",
    "output",
    "save_every",
    "log",
    "tensorboard",
    "checkpoint_every",
    "resume",
    "preset",
    "distributed",
    "coordinator",
    "num_processes",
    "process_id",
)
# Flags of the video group that are VideoSettings fields (the others pick the clip's part).
SETTINGS = (
    "temporal_weight",
    "temporal_offsets",
    "schedule",
    "passes",
    "blend",
    "first_frame_evaluations",
)
PART = ("start", "duration", "every", "fps")


def say(text: str) -> None:
    print(f"stylejax-video: {text}", file=sys.stderr)


def parser() -> argparse.ArgumentParser:
    p = flags.Parser(
        prog="python -m stylejax.video",
        description="Style transfer for videos (Ruder, Dosovitskiy & Brox): every frame "
        "stylized and tied to its neighbours by optical flow.",
        argument_default=argparse.SUPPRESS,
    )
    add = p.add_argument
    add(
        "--content",
        required=True,
        help="the clip: a video file (.mp4, .mov, .webm, .gif) or a "
        "folder of numbered images (00001.png, ...)",
    )
    add(
        "--output",
        required=True,
        help="a video file (.mp4, .webm, .gif: the rate and audio are "
        "kept) or, for any other name, a folder that gets 00001.png, 00002.png, ...",
    )
    still = p.add_argument_group("still-image options (as for python -m stylejax.run)")
    # The still-image command line's own flags, so that both stay one definition.
    for action in flags.parser()._actions:
        if action.dest in NOT_FOR_VIDEO:
            continue
        if action.dest == "evaluations":
            action.help = f"each frame's budget (default: {Config().evaluations})"
        if action.dest == "init":
            action.help = (
                f"frame 0's start: content, random or an image path (default: {DEFAULT_INIT})"
            )
        still._add_action(action)
    video = p.add_argument_group("video")
    video.add_argument(
        "--first-frame-evaluations",
        type=int,
        help="sequential: frame 0's budget, over its pyramid (default: --evaluations)",
    )
    video.add_argument(
        "--temporal-weight",
        type=float,
        help="weight of the temporal loss, on 0..255 pixels against content weight 1 "
        f"(default: {DEFAULT_TEMPORAL_WEIGHT:g}; 0: no temporal loss, but sequential frames "
        "still start from the warped previous one)",
    )
    video.add_argument(
        "--temporal-offsets",
        type=int,
        nargs="+",
        help=f"frames each frame is tied to (default: {' '.join(map(str, DEFAULT_OFFSETS))})",
    )
    video.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help="frame by frame, or all frames batched per pass (default: multipass on an "
        "accelerator, else sequential)",
    )
    video.add_argument(
        "--passes",
        type=int,
        help=f"multipass: passes over the clip, directions alternating (default: {DEFAULT_PASSES})",
    )
    video.add_argument(
        "--blend",
        type=float,
        help=f"multipass: share of the warped neighbour in a frame's start (default: "
        f"{DEFAULT_BLEND:g})",
    )
    video.add_argument("--start", type=float, help="seconds into the clip to begin (default: 0)")
    video.add_argument("--duration", type=float, help="seconds of the clip (default: to its end)")
    video.add_argument("--every", type=int, help="keep every Nth frame (default: 1)")
    video.add_argument("--fps", type=Fraction, help="the rate of a folder of images (default: 25)")
    video.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run at its first missing frame",
    )
    return p


def parse(argv: list[str] | None):
    """(Config, VideoSettings, the clip's part {start, duration, every, fps}, content path,
    output path, resume, command flags). Raises ConfigError; exits 2 on unparseable flags."""
    args = vars(parser().parse_args(sys.argv[1:] if argv is None else argv))
    content, output = args.pop("content"), args.pop("output")
    resume = args.pop("resume", False)
    command = {"compile_cache": args.pop("compile_cache", True)}
    settings = VideoSettings(**{k: args.pop(k) for k in SETTINGS if k in args})
    part = {k: args.pop(k) for k in PART if k in args}
    check_part(part.get("start", 0.0), part.get("duration"), part.get("every", 1))
    if "fps" in part and not part["fps"] > 0:
        raise VideoSettingError("fps", f"must be > 0 frames per second, got {part['fps']}")
    for key, value in list(args.items()):
        if isinstance(value, list) and key not in SEQUENCES and key != "style":
            if len(dict.fromkeys(value)) > 1:
                raise VideoSettingError(key, "takes one value in a video run (no sweeps)")
            args[key] = value[0]
    for key in ("style", *SEQUENCES):
        if key in args:
            args[key] = tuple(args[key])
    args.setdefault("init", DEFAULT_INIT)
    return Config(**args), settings, part, content, output, resume, command


def _numbered(folder: Path) -> list[Path]:
    return [p for p in folder.glob("*.png") if re.fullmatch(r"\d{5}\.png", p.name)]


def check_outputs(output: Path, overwrite: bool, resume: bool) -> None:
    """Nothing is replaced without --overwrite (or --resume), and every place is writable."""
    folder = state.folder_for(output)
    if folder.exists() and not (overwrite or resume):
        raise ValueError(
            f"{folder} holds an interrupted run's frames; continue it with --resume, or start "
            f"again with --overwrite"
        )
    if resume and not folder.exists():
        raise ValueError(f"found no interrupted run to continue ({folder} does not exist)")
    if clip.is_video_path(output):
        check_writable([output], [], overwrite=overwrite or resume, create=False)
        if not output.parent.is_dir():
            raise ValueError(f"{output}: the folder {output.parent} does not exist; create it")
        check_writable([output], [], overwrite=True)
    else:
        if output.is_file():
            raise ValueError(f"{output}: is a file; give a video file name or a folder")
        if output.is_dir() and _numbered(output) and not (overwrite or resume):
            raise ValueError(
                f"{output} already holds frames (00001.png, ...); pass --overwrite to replace"
            )


def read_clip(config: Config, settings: VideoSettings, content: str, part: dict) -> clip.Clip:
    return clip.read(
        content,
        size=config.size,
        start=part.get("start", 0.0),
        duration=part.get("duration"),
        every=part.get("every", 1),
        max_frames=max_frames(config.size, len(settings.temporal_offsets)),
        folder_fps=part.get("fps", clip.DEFAULT_FOLDER_FPS),
    )


def check_size(config: Config, content: str, weights) -> None:
    """Refuses a working size whose frames would not fit in the device's memory, from the
    clip's first frame, before the clip is read at that size."""
    width, height = clip.frame_size(content)
    check_memory(
        images.shape_for(height, width, config.size),
        objective_for([config], weights.preprocessing),
        devices.available_bytes(),
    )


def plan_video(
    config: Config, settings: VideoSettings, frames: np.ndarray, weights, resume_from
) -> VideoPlan:
    """The VideoPlan, with the styles and start image the config names; on resume the
    interrupted run's batch size."""
    decode = lambda path: images.decode(path, max_pixels=config.max_pixels)  # noqa: E731
    styles = [decode(path) for path in config.style or (samples.STYLE,)]
    init = None if config.init in ("content", "random") else decode(config.init)
    at_once = None
    if resume_from is not None:
        at_once = state.read_meta(resume_from)["at_once"]
    return prepare_video(
        config,
        settings,
        frames,
        styles=styles,
        init=init,
        weights=weights,
        at_once=at_once,
    )


class Progress:
    """The callback: one bar over the clip's evaluations, the frames done as its note."""

    def __init__(self, vplan: VideoPlan, bar: ProgressBar):
        self.vplan, self.bar = vplan, bar

    def __call__(self, update: Update) -> None:
        vplan = self.vplan
        if vplan.schedule == "sequential":
            note = f"frame {update.frame + 1}/{vplan.count}"
        else:
            per_pass = [vplan.count * b for b in vplan.budgets]
            done, index = update.evaluations, 0
            while index < len(per_pass) - 1 and done > sum(per_pass[: index + 1]):
                index += 1
            last = min(update.frame + vplan.at_once, vplan.count)
            note = (
                f"pass {index + 1}/{len(per_pass)} frames {update.frame + 1}-{last}/{vplan.count}"
            )
        self.bar.update(min(update.evaluations, vplan.total), update.loss, note)


class Writer:
    """Keeps each finished frame: its exact float copy in the state folder and, for a folder
    output, its PNG (written first, so a kept state frame always has its picture)."""

    def __init__(self, vplan: VideoPlan, output: Path, folder: Path):
        self.vplan, self.output, self.folder = vplan, output, folder
        self.finished = 0  # frames of the last pass written
        self.final = 0 if vplan.schedule == "sequential" else len(vplan.budgets) - 1

    def __call__(self, pass_index: int, frame: int, image: np.ndarray) -> None:
        if pass_index == self.final:
            if not clip.is_video_path(self.output):
                picture = schedule.present(self.vplan, image[None], [frame])[0]
                clip.write_frame(picture, self.output, frame)
            self.finished += 1
        state.save(self.folder, pass_index, frame, image)
        if pass_index > 0 and frame == self.vplan.count - 1 and self.final:
            state.drop_pass(self.folder, pass_index - 1)  # the pass is complete


def main(argv: list[str] | None = None) -> int:
    try:
        config, settings, part, content, output, resume, command = parse(argv)
        output = Path(output)
        cache.enable(enabled=command["compile_cache"] and not cache.opted_out())
        check_settings(config, {})
        check_outputs(output, config.overwrite, resume)
        # The extra's packages first: a missing one is found before anything is written.
        require("cv2")
        if clip.is_video_path(output) or not Path(content).is_dir():
            require("av")
        weights = load_weights(config.weights)
        check_size(config, content, weights)
        source = read_clip(config, settings, content, part)
        folder = state.folder_for(output)
        vplan = plan_video(config, settings, source.frames, weights, folder if resume else None)
        done = {}
        if resume:
            done, _ = state.load(folder, vplan.fingerprint)
    except ConfigError as e:
        say(f"error: {flags.message(e)}")
        return 2
    except (ValueError, OSError, RuntimeError) as e:
        say(f"error: {e}")
        return 2
    except KeyboardInterrupt:
        say("interrupted before the run started; nothing was written")
        return INTERRUPTED
    previous = catch_signals()
    bar = ProgressBar(vplan.total, desc="stylejax-video")
    writer = Writer(vplan, output, folder)
    started = time.perf_counter()
    try:
        if not clip.is_video_path(output):
            output.mkdir(parents=True, exist_ok=True)
            if config.overwrite and not resume:
                for old in _numbered(output):
                    old.unlink()
        if not resume:
            state.start(folder, vplan.fingerprint, vplan.at_once)
        say(
            f"{vplan.count} frames of {vplan.shape[1]}x{vplan.shape[0]}, {vplan.schedule}"
            + (
                f", {len(vplan.budgets)} passes of {vplan.at_once} frames"
                if vplan.schedule == "multipass"
                else ""
            )
            + (f"; resuming with {len(done)} frames kept" if resume else "")
        )
        flow = cached_clip_flow(source.frames, cache_path(output), settings.temporal_offsets)
        stylized = schedule.run(
            vplan, flow, done=done, on_frame=writer, callback=Progress(vplan, bar)
        )
    except Interrupted as stop:
        bar.close()
        say(
            f"interrupted; {writer.finished} finished frame(s) kept in {folder}"
            + ("" if clip.is_video_path(output) else f" and {output}")
            + "; continue with --resume"
        )
        return stop.code
    except (ValueError, OSError) as e:
        bar.close()
        say(f"error: {e}")
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    bar.close()
    try:
        pictures = schedule.present(vplan, stylized, list(range(vplan.count)))
        if clip.is_video_path(output):
            audio = source.source if source.source.is_file() else None
            clip.write(pictures, output, source.fps, audio_source=audio, audio_start=source.start)
        else:
            for index, picture in enumerate(pictures):
                if not clip.frame_path(output, index).exists():
                    clip.write_frame(picture, output, index)
        state.remove(folder)
    except (ValueError, OSError) as e:
        say(f"error: {e}; the frames are kept in {folder}")
        return 1
    say(
        f"{vplan.count} frames in {time.perf_counter() - started:.0f}s; wrote {output} "
        f"(flow cached in {cache_path(output)})"
    )
    return 0
