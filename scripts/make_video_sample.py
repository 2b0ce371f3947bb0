"""The README's video sample: a slow pan and zoom over the bundled content photo, stylized with
the bundled style by `python -m stylejax.video`, as an animated GIF under --max-bytes.

    STYLEJAX_WEIGHTS=weights/vgg19-caffe.h5 python scripts/make_video_sample.py \
        [--size 192 --frames 24 --evaluations 100 --first-frame-evaluations 300 --fps 10] \
        [--out docs/video_sample.gif] [-- more flags for python -m stylejax.video]

The clip is `bench_video.synthetic_clip` over stylejax/samples/content.jpg (no extra file); the
CLI stylizes it into a folder of PNGs (`--keep DIR` keeps it, else a temporary folder), and the
GIF is written from those frames by the CLI's own writer (`stylejax.video.clip.write`: one
palette per frame, looping). A GIF over --max-bytes is written again from frames scaled down
until it fits, and the scale is reported.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

import bench_video  # noqa: E402
import common  # noqa: E402

from stylejax.files import images  # noqa: E402
from stylejax.video import clip as clips  # noqa: E402

PAN = (0.006, 0.002)  # half bench_video's: slow enough to watch
ZOOM = 0.005
MAX_BYTES = 1_000_000
SHRINK_TRIES = 4


def gif_under(frames: np.ndarray, path: Path, fps: float, max_bytes: int) -> float:
    """Writes `frames` as a GIF at `path`, scaled down until it is at most `max_bytes`; returns
    the scale used (1: as given). Raises ValueError when it does not fit after SHRINK_TRIES."""
    scale = 1.0
    for _ in range(SHRINK_TRIES + 1):
        shown = frames if scale == 1.0 else _scaled(frames, scale)
        clips.write(shown, path, fps)
        size = path.stat().st_size
        if size <= max_bytes:
            return scale
        # GIF bytes grow about with the pixel count; aim a little under the limit.
        scale *= math.sqrt(0.9 * max_bytes / size)
    raise ValueError(f"{path}: {size} bytes after {SHRINK_TRIES} shrinks; use fewer frames")


def _scaled(frames: np.ndarray, scale: float) -> np.ndarray:
    height, width = frames.shape[1:3]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.stack(
        [images.to_array(images.to_pil(f).resize(size, Image.Resampling.LANCZOS)) for f in frames]
    )


def schedule_flags(extra: list[str], first_frame_evaluations: int) -> list[str]:
    """Sequential with frame 0's own budget (the schedule that takes one), unless the flags
    after -- choose the schedule."""
    first = ["--first-frame-evaluations", str(first_frame_evaluations)]
    if "--schedule" not in extra:
        return ["--schedule", "sequential", *first]
    chosen = extra[extra.index("--schedule") + 1 :][:1]
    return first if chosen == ["sequential"] else []


def main(argv: list[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else list(argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    content, style = common.default_images()
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog="Flags after -- go to the video run."
    )
    add = p.add_argument
    add("--size", type=int, default=192, help="the frames' longest side (default: 192)")
    add("--frames", type=int, default=24)
    add("--fps", type=float, default=10.0)
    add("--evaluations", type=int, default=100, help="each frame's budget (default: 100)")
    add("--first-frame-evaluations", type=int, default=300)
    add("--pan", type=float, nargs=2, default=PAN, help="shares of width, height per frame")
    add("--zoom", type=float, default=ZOOM, help="share the window shrinks per frame")
    add("--out", type=Path, default=common.REPO / "docs" / "video_sample.gif")
    add("--max-bytes", type=int, default=MAX_BYTES)
    add("--keep", type=Path, help="keep the clip and the stylized frames in this folder")
    args = p.parse_args(own)

    motion = bench_video.Motion(frames=args.frames, pan=tuple(args.pan), zoom=args.zoom)
    synthetic = bench_video.synthetic_clip(images.decode(content), args.size, motion)
    with tempfile.TemporaryDirectory() as temporary:
        work = args.keep or Path(temporary)
        folder = bench_video.write_clip(synthetic, work / "content")
        stylized = work / "stylized"
        command = [
            sys.executable,
            "-m",
            "stylejax.video",
            "--content",
            str(folder),
            "--style",
            str(style),
            "--size",
            str(args.size),
            "--evaluations",
            str(args.evaluations),
            "--output",
            str(stylized),
            "--overwrite",
            *schedule_flags(extra, args.first_frame_evaluations),
            *extra,
        ]
        print(f"stylizing {args.frames} frames at {args.size} px ...", file=sys.stderr, flush=True)
        timing = common.run_timed(command, env=common.child_env())
        frames = bench_video.read_frames(stylized, args.frames)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        scale = gif_under(frames, args.out, args.fps, args.max_bytes)
    note = "" if scale == 1.0 else f", frames scaled by {scale:.2f} to fit"
    print(
        f"wrote {args.out} ({args.out.stat().st_size} bytes{note}); "
        f"stylized in {timing.wall:.0f} s",
        file=sys.stderr,
    )
    return args.out


if __name__ == "__main__":
    main()
