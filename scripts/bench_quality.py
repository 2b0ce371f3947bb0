"""Picture quality at equal time: stylejax's defaults against the KC port's trade-off front.

    python scripts/bench_quality.py --pairs CONTENT:STYLE [CONTENT:STYLE ...] --size 512 \
        --out quality/ [--baseline "--preset classic"] [-- any stylejax.run flags]

For every pair, one after the other and never two at once:
1. stylejax: one `python -m stylejax.run` process with every default (plus the flags after
   `--`), timed as a whole (interpreter start, compilation and image writing included);
2. the KC port (scripts/kc_port.py) twice, each given exactly that much time: at KC's default
   content weight (0.015) and at a fifth of it (0.003). Its clock starts before it reads the
   weights, so its Python and torch imports are free: a second or two in KC's favour.
   `--kc-schedule fitted` (the default) shrinks KC's schedule to that time, every scale reached
   in its share of it, as a user short of time would run KC with fewer iterations; `cut` runs
   KC's whole schedule and stops it when the time is up (on a CPU inside its 128-px scale, so
   its picture is that scale's, enlarged).
Then every picture is judged (scripts/quality_metrics.py): sliced Wasserstein distance to the
style (VGG features, three sizes), exact Gaussian W2, content distance at relu4_2, and the
edge-to-interior step ratio. stylejax is placed against KC's front: the line through KC's two
(content distance, distance) points in log-log coordinates, read at stylejax's content
distance. Reported: sliced / front, W2 / front W2, and whether stylejax's content distance lies
between KC's two (outside that span the front is extrapolated and cannot be trusted).
The judge without VGG places it the same way on pixels alone: the pixel-patch sliced distance
against the front at stylejax's structure loss (1 - SSIM), and whether that lies in KC's span.

`--clock wall` (the default) gives KC the same wall seconds; `--clock cpu` the same CPU seconds
(user + system, all threads), steadier on a machine shared with other work. Both are recorded.

`--baseline FLAGS` adds a second stylejax picture per pair, judged and placed on the same front
(KC's time stays the first picture's): `--baseline "--preset classic"` sets the defaults before
issue 16 beside today's.

Writes into `--out`: each pair's pictures and run records, and, per clock, `results_wall.json`,
`table_wall.md` and `contact_sheet_wall.png` (content, style and the pictures of each pair,
labelled with their scores). With `--reuse`, runs whose picture and record already exist with
the same command are not repeated (to re-judge without re-running).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shlex
import sys
from pathlib import Path

import numpy as np
from PIL import Image

# This checkout's stylejax and the scripts next to this one, whatever else is installed.
sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

import common  # noqa: E402
import quality_metrics as qm  # noqa: E402

BASELINE = "baseline"  # the picture name of `--baseline`'s run
KC_CONTENT_WEIGHTS = (0.015, 0.003)  # KC's default and a fifth of it: the two-point front


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    argv = sys.argv[1:] if argv is None else list(argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = p.add_argument
    add("--pairs", nargs="+", required=True, help="CONTENT:STYLE image paths")
    add("--size", type=int, default=512, help="longest side of the pictures (default: 512)")
    add("--out", required=True, help="folder for pictures, records, table and contact sheet")
    add("--weights", help="VGG19 .h5 for both sides and the judge (default: the Caffe VGG19)")
    add("--clock", choices=("wall", "cpu"), default="wall", help="what 'equal time' counts")
    add(
        "--kc-schedule",
        choices=("fitted", "cut"),
        default="fitted",
        help="KC's schedule shrunk to the time (default) or its whole schedule cut off by it",
    )
    add(
        "--kc-content-weights",
        type=float,
        nargs=2,
        default=KC_CONTENT_WEIGHTS,
        help="the front's two KC runs (default: 0.015 0.003)",
    )
    add(
        "--baseline",
        help="stylejax flags of a second picture judged beside the first, e.g. '--preset "
        "classic' (old against new defaults); KC's time is still the first picture's",
    )
    add(
        "--no-kc",
        action="store_true",
        help="judge stylejax's pictures only (e.g. old against new defaults at a size where "
        "KC's schedule would not leave its first scale)",
    )
    add("--reuse", action="store_true", help="skip runs already done with the same command")
    args = p.parse_args(own)
    try:
        args.pairs = [common.parse_pair(text) for text in args.pairs]
    except ValueError as e:
        p.error(str(e))
    if args.no_kc:
        args.kc_content_weights = ()
    if args.size < 32:
        p.error("--size must be at least 32 (VGG's relu5_1 needs 16 px at 1/4 size)")
    return args, extra


# --- runs -------------------------------------------------------------------------------------


def pair_name(content: Path, style: Path) -> str:
    return f"{content.stem}_x_{style.stem}"


def kc_stem(weight: float, args: argparse.Namespace) -> str:
    return f"kc_{weight:g}_{args.clock}_{args.kc_schedule}"


def run_once(command: list[str], picture: Path, record: Path, reuse: bool) -> dict:
    """Runs `command` (which writes `picture`), or reuses an earlier identical run; returns the
    record {command, wall, cpu, load_before} kept next to the picture."""
    if reuse and picture.is_file() and record.is_file():
        old = json.loads(record.read_text())
        if old.get("command") == command:
            return old
    timing = common.run_timed(command, env=common.child_env())
    if not picture.is_file():  # a run that exits 0 without its picture is no measurement
        raise common.ChildFailed(f"{' '.join(command)} wrote no {picture}")
    done = dict(command=command, **dataclasses.asdict(timing))
    record.write_text(json.dumps(done, indent=1))
    return done


def run_pair(
    content: Path, style: Path, args: argparse.Namespace, extra: list[str], folder: Path
) -> dict:
    """stylejax once, then KC at each content weight in the same time. Returns the records."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = ["--weights", args.weights] if args.weights else []
    inputs = ["--content", str(content), "--style", str(style), "--size", str(args.size)]

    def stylejax_run(stem: str, flags: list[str]) -> dict:
        picture = folder / f"{stem}.png"
        command = [
            sys.executable,
            "-m",
            "stylejax.run",
            *inputs,
            "--output",
            str(picture),
            "--log",
            str(folder / f"{stem}.cli.log.json"),
            "--overwrite",
            *weights,
            *flags,
        ]
        print(f"{folder.name}: {stem} ...", file=sys.stderr, flush=True)
        return run_once(command, picture, folder / f"{stem}.run.json", args.reuse)

    stylejax = stylejax_run("stylejax", extra)
    baseline = stylejax_run(BASELINE, shlex.split(args.baseline)) if args.baseline else None
    budget = stylejax[args.clock]
    print(f"{folder.name}: stylejax took {budget:.0f} s ({args.clock})", file=sys.stderr)
    kc = {}
    for weight in args.kc_content_weights:
        stem = kc_stem(weight, args)
        picture, record = folder / f"{stem}.png", folder / f"{stem}.json"
        command = [
            sys.executable,
            str(Path(__file__).resolve().parent / "kc_port.py"),
            *inputs,
            "--content-weight",
            f"{weight:g}",
            "--budget",
            f"{budget:.3f}",
            "--clock",
            args.clock,
            *(["--fit-schedule"] if args.kc_schedule == "fitted" else []),
            "--output",
            str(picture),
            "--json",
            str(record),
            *weights,
        ]
        print(f"{folder.name}: KC port, content weight {weight:g} ...", file=sys.stderr)
        timing = run_once(command, picture, folder / f"{stem}.run.json", args.reuse)
        kc[weight] = dict(timing, port=json.loads(record.read_text()))
    return dict(stylejax=stylejax, baseline=baseline, kc=kc)


# --- the front --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Placement:
    """stylejax against the line through KC's two points, log-log, at stylejax's content
    distance."""

    front_sliced: float
    sliced_ratio: float  # stylejax / front; the issue asks for <= 0.8
    front_w2: float
    w2_ratio: float  # <= 1 asked
    in_span: bool  # stylejax's content distance between KC's two
    # The same on the judge without VGG: pixel-patch distance against structure loss.
    front_patches: float
    patches_ratio: float
    in_structure_span: bool


def log_log_at(x: float, points: list[tuple[float, float]]) -> float:
    """The value at `x` of the straight line through two (x, y) points in log-log coordinates
    (extrapolated outside them); NaN when the two x coincide."""
    (x1, y1), (x2, y2) = points
    if x1 == x2:
        return math.nan
    t = (math.log(x) - math.log(x1)) / (math.log(x2) - math.log(x1))
    return math.exp(math.log(y1) + t * (math.log(y2) - math.log(y1)))


def place(stylejax: qm.Scores, kc: list[qm.Scores]) -> Placement:
    sliced = log_log_at(stylejax.content, [(s.content, s.sliced) for s in kc])
    w2 = log_log_at(stylejax.content, [(s.content, s.w2) for s in kc])
    patches = log_log_at(stylejax.structure, [(s.structure, s.patches) for s in kc])
    low, high = sorted(s.content for s in kc)
    structure_low, structure_high = sorted(s.structure for s in kc)
    return Placement(
        front_sliced=sliced,
        sliced_ratio=stylejax.sliced / sliced,
        front_w2=w2,
        w2_ratio=stylejax.w2 / w2,
        in_span=low <= stylejax.content <= high,
        front_patches=patches,
        patches_ratio=stylejax.patches / patches,
        in_structure_span=structure_low <= stylejax.structure <= structure_high,
    )


# --- judging and reporting --------------------------------------------------------------------


def load(path: Path) -> np.ndarray:
    from stylejax.files import images

    return images.load(path)


def judge_pair(content: Path, style: Path, pictures: dict[str, Path], features):
    photo, painting = load(content), load(style)
    shots = {name: load(path) for name, path in pictures.items()}
    size = max(next(iter(shots.values())).shape[:2])
    reference = qm.style_reference(painting, size, features)
    return {name: qm.judge(shot, photo, reference, features) for name, shot in shots.items()}


def scores_dict(s: qm.Scores) -> dict:
    return dict(
        sliced=s.sliced,
        w2=s.w2,
        content=s.content,
        edges=s.edges,
        worst_edge=s.worst_edge,
        per_size={str(k): dict(sliced=v[0], w2=v[1]) for k, v in s.per_size.items()},
        patches=s.patches,
        patch_levels=list(s.patch_levels),
        structure=s.structure,
    )


def tables(results: list[dict]) -> str:
    picture_rows, front_rows = [], []
    for r in results:
        for name, s in r["scores"].items():
            picture_rows.append(
                [
                    r["pair"],
                    name,
                    f"{r['seconds'][name]:.0f}",
                    f"{s['content']:.3f}",
                    f"{s['sliced']:.3f}",
                    f"{s['w2']:.3f}",
                    " / ".join(f"{s['per_size'][k]['sliced']:.2f}" for k in ("1", "2", "4")),
                    f"{s['worst_edge']:.2f} ({max(s['edges'], key=s['edges'].get)})",
                    f"{s['structure']:.3f}",
                    f"{s['patches']:.3f}",
                ]
            )
        for name, p in r["placements"].items():
            front_rows.append(
                [
                    r["pair"],
                    name,
                    f"{r['budget']:.0f} s {r['clock']}",
                    f"{p['sliced_ratio']:.2f}",
                    f"{p['w2_ratio']:.2f}",
                    "yes" if p["in_span"] else "**no** (extrapolated)",
                    f"{p['patches_ratio']:.2f}",
                    "yes" if p["in_structure_span"] else "**no** (extrapolated)",
                ]
            )
    pictures = common.markdown_table(
        [
            "pair",
            "picture",
            "seconds",
            "content dist.",
            "sliced W",
            "Gaussian W2",
            "sliced at 1, 1/2, 1/4",
            "worst edge ratio",
            "structure loss",
            "patch SW",
        ],
        picture_rows,
    )
    if not front_rows:
        return pictures
    front = common.markdown_table(
        [
            "pair",
            "picture",
            "KC's time",
            "sliced / front",
            "W2 / front W2",
            "in KC's span",
            "patch SW / front",
            "in KC's structure span",
        ],
        front_rows,
    )
    return pictures + "\n\n" + front


def sheet_row(
    content: Path,
    style: Path,
    pictures: dict[str, Path],
    scores: dict[str, qm.Scores],
    placement: Placement | None,
    result: dict,
    record: dict,
) -> tuple[str, list[Image.Image]]:
    """One pair on the contact sheet: a caption, then content, style and the pictures, each
    labelled with its time and scores."""
    height = load(pictures["stylejax"]).shape[0]
    tiles = [
        common.tile(load(content), height, [content.stem, "content", ""]),
        common.tile(load(style), height, [style.stem, "style", ""]),
    ]
    for name, path in pictures.items():
        s, seconds = scores[name], result["seconds"][name]
        if "KC" not in name:
            head = f"{name}, {seconds:.0f} s"
        else:
            port = record["kc"][float(name.split()[1])]["port"]
            head = f"{name}, {seconds:.0f} s, {port['schedule_fraction']:.0%} of schedule"
        lines = [
            head,
            f"content {s.content:.3f}  edge {s.worst_edge:.2f}",
            f"sliced {s.sliced:.2f}  W2 {s.w2:.2f}",
            f"patches {s.patches:.3f}  structure {s.structure:.3f}",
        ]
        tiles.append(common.tile(load(path), height, lines))
    caption = f"{result['pair']}, stylejax {result['budget']:.0f} s ({result['clock']} clock)"
    if placement:
        caption += (
            f", KC as long: stylejax's sliced / KC front {placement.sliced_ratio:.2f}, W2 / front "
            f"{placement.w2_ratio:.2f}, content distance "
            f"{'inside' if placement.in_span else 'OUTSIDE'} KC's span; without VGG: patches / "
            f"front {placement.patches_ratio:.2f}, structure "
            f"{'inside' if placement.in_structure_span else 'OUTSIDE'} KC's span"
        )
    return caption, tiles


def main(argv: list[str] | None = None) -> list[dict]:
    args, extra = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    info = common.machine()
    runs = []
    for content, style in args.pairs:  # every run first, sequentially; judging after
        folder = out / pair_name(content, style)
        runs.append((content, style, folder, run_pair(content, style, args, extra, folder)))

    from stylejax.model.load import resolve

    features = qm.vgg_features(resolve(args.weights))
    results, rows = [], []
    for content, style, folder, record in runs:
        names = {"stylejax": folder / "stylejax.png"}
        if record["baseline"]:
            names[BASELINE] = folder / f"{BASELINE}.png"
        names |= {f"KC {w:g}": folder / f"{kc_stem(w, args)}.png" for w in args.kc_content_weights}
        print(f"{folder.name}: judging ...", file=sys.stderr, flush=True)
        scores = judge_pair(content, style, names, features)
        kc_scores = [scores[f"KC {w:g}"] for w in args.kc_content_weights]
        ours = [name for name in names if "KC" not in name]
        placements = {name: place(scores[name], kc_scores) for name in ours} if kc_scores else {}
        placement = placements.get("stylejax")
        seconds = {name: record[name][args.clock] for name in ours}
        seconds |= {f"KC {w:g}": record["kc"][w]["port"]["seconds"] for w in record["kc"]}
        results.append(
            dict(
                pair=folder.name,
                clock=args.clock,
                budget=record["stylejax"][args.clock],
                seconds=seconds,
                runs=dict(
                    stylejax=record["stylejax"],
                    baseline=record["baseline"],
                    kc={f"{w:g}": v for w, v in record["kc"].items()},
                ),
                scores={name: scores_dict(s) for name, s in scores.items()},
                placement=dataclasses.asdict(placement) if placement else None,
                placements={name: dataclasses.asdict(p) for name, p in placements.items()},
            )
        )
        rows.append(sheet_row(content, style, names, scores, placement, results[-1], record))

    report = dict(
        machine=info,
        size=args.size,
        kc_schedule=args.kc_schedule,
        stylejax_flags=extra,
        baseline_flags=args.baseline,
        results=results,
    )
    (out / f"results_{args.clock}.json").write_text(json.dumps(report, indent=1))
    table = tables(results)
    (out / f"table_{args.clock}.md").write_text(table + "\n")
    common.contact_sheet(rows).save(out / f"contact_sheet_{args.clock}.png")
    print(table)
    return results


if __name__ == "__main__":
    main()
