"""Video (issue 17): temporal error, style loss and speed of the video schedules, measured on
synthetic clips whose motion is known exactly.

    STYLEJAX_WEIGHTS=weights/vgg19-caffe.h5 python scripts/bench_video.py \
        --content photo.jpg [--style painting.jpg] [--occluder-image other.jpg] \
        --size 256 --frames 12 --evaluations 60 --passes 6 [--temporal-weights 20 50 200] \
        --out video-bench/ [-- more flags for python -m stylejax.video]

Clips, each written as a folder of numbered PNGs at the working size (`<out>/<clip>/content/`):

- `pan`: a crop window over the photo that moves by `--pan` (shares of the frame's width and
  height) and closes in by `--zoom` per frame, so the picture drifts and grows;
- `occluded`: the same pan with a rectangle sliding across the frame on its own course
  (`--occluder-speed`), flat `--occluder-color` or a cut-out of `--occluder-image`, which covers
  the background on one side and uncovers it on the other.

Ground truth: every frame is rendered from the photo through a known map (its cubic spline
sampled at the window's points; the occluder's edges anti-aliased by their exact coverage), so
the flow from frame i to frame i-1 is known at every pixel (`SyntheticClip.to_past`), and so is
where it cannot be trusted (`SyntheticClip.reliable`, c = 0): where the point lies outside
frame i-1, and where frame i-1 shows another surface there (the occluder against the
background, either way round) or an edge pixel that mixes both. The judge never uses the DIS
flow the method itself uses; that flow is only compared with the ground truth (`flow_check`:
endpoint error, and the share of occluded pixels its consistency check catches).

Runs, each one `python -m stylejax.video` process on the clip's folder, timed, at equal
`--evaluations` per frame, with the compile cache off so that every run compiles alike:

- `independent`, the baseline: every frame stylized on its own (`--schedule multipass --passes
  1`: one pass without a temporal term, every frame started from its content frame);
- `sequential`: `--schedule sequential` at the default temporal weight;
- `multipass`: `--schedule multipass --passes P` at the default temporal weight;
- `<schedule>-w<W>`: each of `--schedules` at each of `--temporal-weights`, for choosing the
  default by measurement.

Scores per run, on the frames as written (PNG, [0, 1]):

- temporal error: `stylejax.video.metric.temporal_errors` with the ground-truth flow and c,
  mean over frames 1..N-1;
- style loss: each frame's unweighted style term of `stylejax.objective.total.total_loss`
  against the run's style targets at the frame's size (the objective the CLI optimizes, from
  the same flags), mean over the frames; the content loss likewise, against its own content
  frame;
- on the occluded clip, the temporal error also apart on the background's and the occluder's
  pixels (`temporal_error_background`, `temporal_error_occluder`, pooled): a flat occluder has
  no texture for the flow to follow, so DIS cannot see its motion, while the ground truth moves
  its stylized texture with it;
- wall and CPU seconds of the process, and seconds per frame (wall / N: start-up, compilation
  and flow included).

The issue's targets, against `independent`: temporal error <= 0.3x, style loss <= 1.2x.

Writes into `--out`: `results.json` (after every run), `table.md`, and per clip
`<clip>_strip.png`: a few frames of the content and of every run, and a map of where each run
flickers (c |x_i - w(x_{i-1})|, averaged over the frames and channels, times FLICKER_GAIN).
With `--reuse`, a run whose frames and record exist with the same command is judged again
without running. The method's flow cache (`<run>.flow.npz`, tens of MB at 256 px) is deleted
after each run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
from scipy import ndimage

# This checkout's stylejax and the scripts next to this one, whatever else is installed.
sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

import common  # noqa: E402

from stylejax.files import images  # noqa: E402
from stylejax.objective import colors  # noqa: E402
from stylejax.objective.total import total_loss  # noqa: E402
from stylejax.video import clip as clips  # noqa: E402
from stylejax.video import metric  # noqa: E402
from stylejax.video.flow import cache_path, clip_flow  # noqa: E402
from stylejax.video.settings import DEFAULT_PASSES, DEFAULT_TEMPORAL_WEIGHT  # noqa: E402
from stylejax.video.warp import warp  # noqa: E402

PAN = (0.012, 0.004)  # the window's move per frame, shares of the frame's width and height
ZOOM = 0.01  # the window's shrinking per frame: the picture grows by about 1 % a frame
OCCLUDER_SIZE = (0.3, 0.4)  # the occluder's width and height, shares of the frame's
OCCLUDER_SPEED = (0.05, -0.01)  # its move per frame, shares of the frame's width and height
OCCLUDER_COLOR = (0.85, 0.2, 0.15)  # flat red, unlike anything in most photos
SOURCE_MARGIN = 4  # photo pixels kept around every window (the cubic spline's support)
SAME_COVER = 1e-6  # coverage this close to 0 or 1 is pure background or pure occluder
CLIPS = ("pan", "occluded")
SCHEDULES = ("sequential", "multipass")
BASELINE = "independent"
TARGETS = {"temporal": 0.3, "style": 1.2}  # the issue's: ratios against the baseline
SHEET_FRAMES = 4  # frames per run on the contact strip
SHEET_HEIGHT = 128  # the strip's tile height, pixels (tiles are scaled up for tiny clips)
FLICKER_GAIN = 4.0
NO_COMPILE_CACHE = {"STYLEJAX_NO_COMPILE_CACHE": "1"}


# --- synthetic clips with known motion ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Motion:
    """A slow pan and zoom over a photo, and optionally an occluder sliding across it."""

    frames: int = 12
    pan: tuple[float, float] = PAN
    zoom: float = ZOOM
    occluder: bool = False
    occluder_speed: tuple[float, float] = OCCLUDER_SPEED
    occluder_size: tuple[float, float] = OCCLUDER_SIZE
    occluder_color: tuple[float, float, float] = OCCLUDER_COLOR


@dataclasses.dataclass(frozen=True)
class SyntheticClip:
    """Frames and their exact motion.

    frames: (N, H, W, 3) float32 in [0, 1], quantized to 8 bits (what the PNGs hold).
    to_past: (N, H, W, 2) float32, (x, y); [i] is the flow from frame i to frame i - 1 at frame
        i's pixels (warping frame i - 1 with it aligns it with frame i); [0] is 0.
    reliable: (N, H, W) float32 in {0, 1}; c of to_past[i] ([0] is 0).
    cover: (N, H, W) float32, the occluder's coverage of each pixel (0 without one).
    """

    frames: np.ndarray
    to_past: np.ndarray
    reliable: np.ndarray
    cover: np.ndarray

    @property
    def inside(self) -> np.ndarray:
        """(N, H, W) bool: where to_past points inside the previous frame ([0] is False)."""
        return _inside(self.to_past) & (np.arange(len(self.frames)) > 0)[:, None, None]


def _inside(flow: np.ndarray) -> np.ndarray:
    height, width = flow.shape[-3:-1]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    x, y = xs + flow[..., 0], ys + flow[..., 1]
    return (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)


def windows(shape: tuple[int, int], motion: Motion) -> tuple[np.ndarray, np.ndarray]:
    """The windows' centres (N, 2), (x, y), relative to frame 0's, and their scales (N,), both
    in photo pixels once the photo is scaled so that frame 0's window is the frame's size."""
    height, width = shape
    k = np.arange(motion.frames, dtype=np.float64)
    centres = np.stack([k * motion.pan[0] * width, k * motion.pan[1] * height], -1)
    return centres, (1.0 - motion.zoom) ** k


def occluder_corners(shape: tuple[int, int], motion: Motion) -> np.ndarray:
    """The occluder's top-left corner per frame (N, 2), (x, y), in frame pixels: it crosses the
    frame's middle at half-time."""
    height, width = shape
    size = np.array(motion.occluder_size) * (width, height)
    step = np.array(motion.occluder_speed) * (width, height)
    k = np.arange(motion.frames, dtype=np.float64)[:, None]
    start = (np.array([width, height]) - size) / 2 - step * (motion.frames - 1) / 2
    return start + k * step


def coverage(shape: tuple[int, int], corner: np.ndarray, size: np.ndarray) -> np.ndarray:
    """(H, W): the share of each pixel (the unit square around its centre) that the rectangle
    [corner, corner + size] covers."""
    height, width = shape

    def along(n: int, low: float, extent: float) -> np.ndarray:
        centres = np.arange(n, dtype=np.float64)
        return np.clip(
            np.minimum(centres + 0.5, low + extent) - np.maximum(centres - 0.5, low), 0, 1
        )

    return along(height, corner[1], size[1])[:, None] * along(width, corner[0], size[0])[None]


def _spline(image: np.ndarray) -> list[np.ndarray]:
    """Cubic spline coefficients of each channel (sampled with map_coordinates, no prefilter)."""
    return [ndimage.spline_filter(image[..., c], order=3, mode="mirror") for c in range(3)]


def _sample(coefficients: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack(
        [
            ndimage.map_coordinates(c, [y, x], order=3, prefilter=False, mode="mirror")
            for c in coefficients
        ],
        -1,
    )


def synthetic_clip(
    photo: Image.Image,
    size: int,
    motion: Motion,
    occluder_image: Image.Image | None = None,
) -> SyntheticClip:
    """The clip of `motion` over `photo`, frames of the photo's aspect with the longest side
    `size` (as the CLI's --size gives them), and its ground truth (module docstring)."""
    if motion.frames < 2:
        raise ValueError(f"a clip needs at least 2 frames, got {motion.frames}")
    pw, ph = photo.size
    height, width = images.shape_for(ph, pw, size)
    middle = np.array([(width - 1) / 2, (height - 1) / 2])
    centres, scales = windows((height, width), motion)
    half = scales[:, None] * np.array([width, height]) / 2
    low, high = (centres - half).min(0), (centres + half).max(0)
    # The photo scaled (aspect kept) so that every window fits, with a margin, and the windows'
    # box centred in it.
    factor = max((high - low + 2 * SOURCE_MARGIN) / np.array([pw, ph]))
    source_size = (math.ceil(pw * factor), math.ceil(ph * factor))
    source = images.to_array(photo.convert("RGB").resize(source_size, Image.Resampling.LANCZOS))
    centres = centres + (np.array(source_size) - 1) / 2 - (low + high) / 2
    coefficients = _spline(source)

    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    pixels = np.stack([xs, ys], -1)
    count = motion.frames
    backgrounds = np.stack(
        [
            _sample(coefficients, *(centres[k] + scales[k] * (pixels - middle)).transpose(2, 0, 1))
            for k in range(count)
        ]
    )
    to_past = np.zeros((count, height, width, 2))
    for i in range(1, count):
        # p in frame i shows the photo at S_i(p) = C_i + s_i (p - m), which frame i-1 shows at
        # m + (S_i(p) - C_{i-1}) / s_{i-1}.
        source_points = centres[i] + scales[i] * (pixels - middle)
        to_past[i] = middle + (source_points - centres[i - 1]) / scales[i - 1] - pixels
    cover = np.zeros((count, height, width))
    frames = backgrounds
    if motion.occluder:
        size_px = np.array(motion.occluder_size) * (width, height)
        corners = occluder_corners((height, width), motion)
        cover = np.stack([coverage((height, width), c, size_px) for c in corners])
        if occluder_image is None:
            surfaces = np.broadcast_to(np.array(motion.occluder_color), backgrounds.shape)
        else:
            # A cut-out that moves rigidly with the rectangle.
            cut = (
                math.ceil(size_px[0]) + 2 * SOURCE_MARGIN,
                math.ceil(size_px[1]) + 2 * SOURCE_MARGIN,
            )
            texture = _spline(
                images.to_array(occluder_image.convert("RGB").resize(cut, Image.Resampling.LANCZOS))
            )
            surfaces = np.stack(
                [
                    _sample(texture, *(pixels - corner + SOURCE_MARGIN).transpose(2, 0, 1))
                    for corner in corners
                ]
            )
        frames = cover[..., None] * surfaces + (1 - cover[..., None]) * backgrounds
        for i in range(1, count):
            occluded = cover[i] > SAME_COVER
            to_past[i][occluded] = corners[i - 1] - corners[i]
    frames = np.round(np.clip(frames, 0, 1) * 255) / 255
    reliable = np.zeros((count, height, width))
    for i in range(1, count):
        reliable[i] = _trusted(to_past[i], _surface(cover[i]), _surface(cover[i - 1]))
    return SyntheticClip(
        frames.astype(np.float32),
        to_past.astype(np.float32),
        reliable.astype(np.float32),
        cover.astype(np.float32),
    )


def _surface(cover: np.ndarray) -> np.ndarray:
    """1 where a pixel shows only the background, 2 only the occluder, 0 both (an edge)."""
    return np.where(cover <= SAME_COVER, 1, np.where(cover >= 1 - SAME_COVER, 2, 0))


def _trusted(flow: np.ndarray, surface: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """c of one flow: 1 where p + flow(p) lies inside the previous frame and the four pixels a
    bilinear warp reads there show the surface p shows, and only it."""
    height, width = surface.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    x, y = xs + flow[..., 0], ys + flow[..., 1]
    x0 = np.clip(np.floor(x), 0, width - 1).astype(int)
    y0 = np.clip(np.floor(y), 0, height - 1).astype(int)
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    same = surface > 0
    for row, col in ((y0, x0), (y0, x1), (y1, x0), (y1, x1)):
        same &= previous[row, col] == surface
    return (_inside(flow) & same).astype(np.float32)


def write_clip(synthetic: SyntheticClip, folder: Path) -> Path:
    """The frames as 00001.png, 00002.png, ... (the CLI's folder input), old ones replaced."""
    if folder.exists():
        for old in clips.numbered_images(folder):
            old.unlink()
    return clips.write(synthetic.frames, folder, clips.DEFAULT_FOLDER_FPS)


def flow_check(synthetic: SyntheticClip) -> dict:
    """The method's DIS flow (offset 1) and its consistency check against the ground truth."""
    dis = clip_flow(synthetic.frames, (1,))
    flow, c = dis.to_past[0, 1:], dis.reliable_past[0, 1:] > 0
    truth, trusted = synthetic.to_past[1:], synthetic.reliable[1:] > 0
    occluded = synthetic.inside[1:] & ~trusted  # inside the frame, yet another surface
    error = np.linalg.norm(flow - truth, axis=-1)
    return dict(
        endpoint_error=float(error[trusted].mean()),
        endpoint_error_where_checked=float(error[trusted & c].mean())
        if (trusted & c).any()
        else None,
        kept=float(c[trusted].mean()),
        occluded_share=float(occluded.mean()),
        occlusions_caught=float((~c[occluded]).mean()) if occluded.any() else None,
    )


# --- runs --------------------------------------------------------------------------------------


def schedule_flags(schedule: str, passes: int) -> list[str]:
    if schedule == "sequential":
        return ["--schedule", "sequential"]
    return ["--schedule", "multipass", "--passes", str(passes)]


def run_flags(schedules, passes: int, weights) -> dict[str, list[str]]:
    """{run name: its flags}: the baseline, each schedule at the default weight, each at every
    weight of `weights`."""
    runs = {BASELINE: ["--schedule", "multipass", "--passes", "1", "--temporal-weight", "0"]}
    runs |= {schedule: schedule_flags(schedule, passes) for schedule in schedules}
    for weight in weights:
        for schedule in schedules:
            runs[f"{schedule}-w{weight:g}"] = [
                *schedule_flags(schedule, passes),
                "--temporal-weight",
                f"{weight:g}",
            ]
    return runs


def video_command(
    content: Path, output: Path, args, flags: list[str], extra: list[str]
) -> list[str]:
    """The CLI's arguments (after `python -m stylejax.video`) for one run."""
    return [
        "--content",
        str(content),
        "--style",
        str(args.style),
        "--size",
        str(args.size),
        "--evaluations",
        str(args.evaluations),
        "--output",
        str(output),
        "--overwrite",
        *flags,
        *extra,
    ]


def run_once(command: list[str], output: Path, count: int, record: Path, reuse: bool) -> dict:
    """Runs the CLI (or, with `reuse`, takes an earlier identical run whose frames are all
    there); returns the record {command, wall, cpu, load_before} kept beside the frames."""
    if reuse and record.is_file():
        old = json.loads(record.read_text())
        if old.get("command") == command and all(
            clips.frame_path(output, k).is_file() for k in range(count)
        ):
            return old
    argv = [sys.executable, "-m", "stylejax.video", *command]
    timing = common.run_timed(argv, env=common.child_env(**NO_COMPILE_CACHE))
    cache_path(output).unlink(missing_ok=True)
    done = dict(command=command, **dataclasses.asdict(timing))
    record.write_text(json.dumps(done, indent=1))
    return done


# --- judging -----------------------------------------------------------------------------------


def judge_config(command: list[str], first_frame: Path):
    """The still-image Config the CLI runs under for `command`, with the clip's first frame as
    its content (the style targets of a video run are computed against frame 0)."""
    from stylejax.video import main as video_main

    config = video_main.parse(command)[0]
    return dataclasses.replace(config, content=str(first_frame))


@jax.jit
def _warped_differences(pictures, to_past):
    """[i] = |x_i - w(x_{i-1})| for i >= 1 (and [0] = 0), (N, H, W, 3)."""
    warped = jax.vmap(warp)(pictures[:-1], to_past[1:])
    return jnp.concatenate([jnp.zeros_like(pictures[:1]), jnp.abs(pictures[1:] - warped)])


def _frame_terms(objective, mode, picture, content, inputs):
    """(style, content) terms of `total_loss` for one picture, its own content frame's
    features as the content target."""
    own = objective.features(
        inputs.params, colors.content_input(mode, content)[None], objective.content_layers
    )
    inputs = inputs._replace(targets=inputs.targets._replace(content=own))
    _, terms = total_loss(colors.content_input(mode, picture), inputs, objective)
    return terms["style"], terms["content"]


_frame_terms_jit = jax.jit(_frame_terms, static_argnums=(0, 1))


class Judge:
    """Scores the runs of one clip against its ground truth and the objective."""

    def __init__(self, synthetic: SyntheticClip, config):
        self.clip = synthetic
        self.problem = common.prepare(config)
        self.mode = config.preserve_colors
        shape = tuple(self.problem.plan.scales[-1].shape)
        if shape != synthetic.frames.shape[1:3]:
            raise ValueError(
                f"the judge's size {shape} is not the frames' {synthetic.frames.shape}"
            )

    def losses(self, pictures: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per frame: (style losses, content losses), (N,) each."""
        problem, out = self.problem, []
        for picture, content in zip(pictures, self.clip.frames, strict=True):
            terms = _frame_terms_jit(
                problem.objective,
                self.mode,
                jnp.asarray(picture),
                jnp.asarray(content),
                problem.inputs,
            )
            out.append([float(t) for t in terms])
        return tuple(np.array(column) for column in zip(*out, strict=True))

    def temporal_errors(self, pictures: np.ndarray) -> np.ndarray:
        return metric.temporal_errors(pictures, self.clip.to_past, self.clip.reliable)

    def flicker(self, pictures: np.ndarray) -> np.ndarray:
        """(H, W): c |x_i - w(x_{i-1})| averaged over frames 1..N-1 and the channels."""
        differences = np.asarray(_warped_differences(jnp.asarray(pictures), self.clip.to_past))
        weighted = self.clip.reliable[..., None] * differences
        return weighted[1:].mean(axis=(0, 3))

    def score(self, pictures: np.ndarray) -> dict:
        errors = self.temporal_errors(pictures)
        style, content = self.losses(pictures)
        out = dict(
            temporal_error=float(np.nanmean(errors)),
            temporal_errors=[None if math.isnan(e) else float(e) for e in errors],
            style_loss=float(style.mean()),
            style_losses=style.tolist(),
            content_loss=float(content.mean()),
        )
        if self.clip.cover.any():  # the occluder's pixels and the background's apart
            for name, part in (
                ("background", self.clip.cover == 0),
                ("occluder", self.clip.cover == 1),
            ):
                pooled = _pooled(pictures, self.clip.to_past, self.clip.reliable * part)
                out[f"temporal_error_{name}"] = pooled
        return out


def _pooled(pictures, to_past, reliable) -> float | None:
    """metric.temporal_error (all kept pixels pooled), None where nothing is kept."""
    return metric.temporal_error(pictures, to_past, reliable) if reliable[1:].any() else None


def read_frames(folder: Path, count: int) -> np.ndarray:
    return np.stack([images.load(clips.frame_path(folder, k)) for k in range(count)])


def add_ratios(runs: dict) -> None:
    """Each run's ratios against the baseline, and whether it meets the issue's targets."""
    base = runs.get(BASELINE)
    for result in runs.values():
        if base is None:
            continue
        result["temporal_ratio"] = result["temporal_error"] / base["temporal_error"]
        result["style_ratio"] = result["style_loss"] / base["style_loss"]
        result["seconds_per_frame_ratio"] = result["seconds_per_frame"] / base["seconds_per_frame"]
        result["meets_targets"] = bool(
            result["temporal_ratio"] <= TARGETS["temporal"]
            and result["style_ratio"] <= TARGETS["style"]
        )


# --- reporting ---------------------------------------------------------------------------------


def sheet_indices(count: int) -> list[int]:
    return sorted({round(k * (count - 1) / (SHEET_FRAMES - 1)) for k in range(SHEET_FRAMES)})


def strip_rows(
    clip_name: str, synthetic: SyntheticClip, shown: dict[str, np.ndarray], report: dict
):
    """Contact-strip rows: the content (frames and c of the middle frame), then every run
    (frames and its flicker map)."""
    count = len(synthetic.frames)
    height = max(SHEET_HEIGHT, synthetic.frames.shape[1])
    indices = sheet_indices(count)
    middle = max(1, count // 2)
    rows = []
    tiles = [common.tile(synthetic.frames[k], height, [f"frame {k + 1}"]) for k in indices]
    mask = np.repeat(synthetic.reliable[middle][..., None], 3, -1)
    tiles.append(common.tile(mask, height, [f"c, frame {middle + 1}"]))
    rows.append((f"{clip_name}: content (ground truth c: white = trusted)", tiles))
    for name, (pictures, flicker) in shown.items():
        r = report["runs"][name]
        caption = (
            f"{clip_name} / {name}: temporal error {r['temporal_error']:.4f}"
            f" ({common.number(r.get('temporal_ratio'), '.2f')}x), style loss "
            f"{r['style_loss']:.3g} ({common.number(r.get('style_ratio'), '.2f')}x), "
            f"{r['seconds_per_frame']:.1f} s/frame"
        )
        tiles = [common.tile(pictures[k], height, [f"frame {k + 1}"]) for k in indices]
        grey = np.repeat(np.clip(FLICKER_GAIN * flicker, 0, 1)[..., None], 3, -1)
        tiles.append(common.tile(grey, height, [f"flicker x{FLICKER_GAIN:g}"]))
        rows.append((caption, tiles))
    return rows


def tables(report: dict) -> str:
    rows, flows = [], []
    for clip_name, c in report["clips"].items():
        f = c["flow_check"]
        flows.append(
            [
                clip_name,
                f"{c['content_temporal_error']:.4f}",
                f"{f['endpoint_error']:.3f}",
                f"{f['kept']:.3f}",
                f"{f['occluded_share']:.3f}",
                common.number(f["occlusions_caught"], ".3f"),
            ]
        )
        for name, r in c["runs"].items():
            rows.append(
                [
                    clip_name,
                    name,
                    f"{r['temporal_weight']:g}",
                    r["passes"] if r["schedule"] == "multipass" else "–",
                    f"{r['temporal_error']:.4f}",
                    common.number(r.get("temporal_ratio"), ".2f"),
                    f"{r['style_loss']:.4g}",
                    common.number(r.get("style_ratio"), ".2f"),
                    f"{r['content_loss']:.4g}",
                    f"{r['wall']:.0f}",
                    f"{r['seconds_per_frame']:.2f}",
                    f"{r['cpu']:.0f}",
                    {True: "yes", False: "no", None: "–"}[r.get("meets_targets")],
                ]
            )
    runs = common.markdown_table(
        [
            "clip",
            "run",
            "temporal weight",
            "passes",
            "temporal error",
            "× independent",
            "style loss",
            "× independent",
            "content loss",
            "wall s",
            "s/frame",
            "CPU s",
            f"≤ {TARGETS['temporal']}x, ≤ {TARGETS['style']}x",
        ],
        rows,
    )
    flow = common.markdown_table(
        [
            "clip",
            "content's own temporal error",
            "DIS endpoint error (px)",
            "DIS check keeps (of trusted)",
            "occluded pixels",
            "occlusions DIS check catches",
        ],
        flows,
    )
    return runs + "\n\n" + flow


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    argv = sys.argv[1:] if argv is None else list(argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog="Flags after -- go to every video run."
    )
    add = p.add_argument
    default_content, default_style = common.default_images()
    add("--content", type=Path, default=default_content, help="the photo the clips pan over")
    add("--style", type=Path, default=default_style, help="the style image")
    add("--occluder-image", type=Path, help="the occluder's picture (default: a flat colour)")
    add("--occluder-color", type=float, nargs=3, default=OCCLUDER_COLOR, help="RGB in [0, 1]")
    add("--size", type=int, default=256, help="the frames' longest side (default: 256)")
    add("--frames", type=int, default=12, help="frames per clip (default: 12)")
    add("--evaluations", type=int, default=60, help="each frame's budget (default: 60)")
    add(
        "--passes", type=int, default=DEFAULT_PASSES, help="multipass passes (default: %(default)s)"
    )
    add("--pan", type=float, nargs=2, default=PAN, help="shares of width, height per frame")
    add("--zoom", type=float, default=ZOOM, help="share the window shrinks per frame")
    add("--occluder-speed", type=float, nargs=2, default=OCCLUDER_SPEED)
    add("--clips", nargs="+", choices=CLIPS, default=list(CLIPS))
    add("--schedules", nargs="+", choices=SCHEDULES, default=list(SCHEDULES))
    add("--temporal-weights", type=float, nargs="*", default=[], help="extra runs per schedule")
    add("--reuse", action="store_true", help="judge earlier identical runs again, not rerun them")
    add("--out", type=Path, required=True)
    args = p.parse_args(own)
    if args.frames < 2:
        p.error("--frames must be at least 2")
    if args.size < 32:
        p.error("--size must be at least 32")
    return args, extra


def main(argv: list[str] | None = None) -> dict:
    args, extra = parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    photo = images.decode(args.content)
    occluder_image = images.decode(args.occluder_image) if args.occluder_image else None
    flags = run_flags(args.schedules, args.passes, args.temporal_weights)
    report = dict(
        machine=common.machine() | dict(jax=jax.__version__, jax_device=str(jax.devices()[0])),
        command="python "
        + " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        settings=dict(
            content=str(args.content),
            style=str(args.style),
            size=args.size,
            frames=args.frames,
            evaluations=args.evaluations,
            passes=args.passes,
            default_temporal_weight=DEFAULT_TEMPORAL_WEIGHT,
            video_flags=extra,
        ),
        targets=TARGETS,
        clips={},
    )
    results = out / "results.json"
    for clip_name in args.clips:
        motion = Motion(
            frames=args.frames,
            pan=tuple(args.pan),
            zoom=args.zoom,
            occluder=clip_name == "occluded",
            occluder_speed=tuple(args.occluder_speed),
            occluder_color=tuple(args.occluder_color),
        )
        synthetic = synthetic_clip(photo, args.size, motion, occluder_image)
        folder = out / clip_name
        content = write_clip(synthetic, folder / "content")
        entry = report["clips"][clip_name] = dict(
            motion=dataclasses.asdict(motion),
            shape=list(synthetic.frames.shape[1:3]),
            content_temporal_error=float(
                np.nanmean(
                    metric.temporal_errors(synthetic.frames, synthetic.to_past, synthetic.reliable)
                )
            ),
            flow_check=flow_check(synthetic),
            runs={},
        )
        judge, shown = None, {}
        for name, run in flags.items():
            output = folder / name
            command = video_command(content, output, args, run, extra)
            print(f"{clip_name} / {name} ...", file=sys.stderr, flush=True)
            record = run_once(command, output, args.frames, folder / f"{name}.run.json", args.reuse)
            if judge is None:
                judge = Judge(synthetic, judge_config(command, clips.frame_path(content, 0)))
            pictures = read_frames(output, args.frames)
            settings = _run_settings(run)
            entry["runs"][name] = dict(
                settings,
                frames_folder=str(output),
                wall=record["wall"],
                cpu=record["cpu"],
                load_before=record["load_before"],
                seconds_per_frame=record["wall"] / args.frames,
                **judge.score(pictures),
            )
            shown[name] = (pictures, judge.flicker(pictures))
            add_ratios(entry["runs"])
            results.write_text(json.dumps(report, indent=1))
        common.contact_sheet(strip_rows(clip_name, synthetic, shown, entry)).save(
            out / f"{clip_name}_strip.png"
        )
    results.write_text(json.dumps(report, indent=1))
    table = tables(report)
    (out / "table.md").write_text(table + "\n")
    print(table)
    return report


def _run_settings(flags: list[str]) -> dict:
    """The schedule, passes and temporal weight a run's flags give (the CLI's defaults else)."""
    value = lambda name, default: flags[flags.index(name) + 1] if name in flags else default  # noqa: E731
    return dict(
        schedule=value("--schedule", "sequential"),
        passes=int(value("--passes", DEFAULT_PASSES)),
        temporal_weight=float(value("--temporal-weight", DEFAULT_TEMPORAL_WEIGHT)),
    )


if __name__ == "__main__":
    main()
