"""Large pictures: single scale against coarse-to-fine pyramids, at equal time or equal budget.

    python scripts/bench_large.py --pairs CONTENT:STYLE [CONTENT:STYLE ...] \
        --size 768 --evaluations 150 --out large/
    python scripts/bench_large.py --equal evaluations --pairs CONTENT:STYLE \
        --size 512 --min-size 128 --evaluations 160 --steps 2 1.4142 --splits equal pixels

Each run is a whole `python -m stylejax.run` process (its peak resident memory is read from
the kernel with wait4). For every pair:
- single scale, `--evaluations` evaluations at `--size`;
- a pyramid from `--min-size` for every `--steps` x `--splits` (default: the Config defaults),
  with a budget set by `--equal`:
  - "time" (the default): the budget whose evaluations cost the same time as the single-scale
    run's. A scale's evaluation costs its pixel count relative to the end size (convolutions
    are linear in pixels), so the pyramid gets more, cheaper evaluations;
  - "evaluations": the same `--evaluations`, summed over the scales (the pyramid study of
    issue 8: which step and which split form the style's large shapes for a given budget);
- for the first pair, single scale again in bfloat16 (`--skip-bf16`).

Reported: the evaluations, per scale and as a cost (evaluations weighted by their scale's
pixels relative to the end size: a machine-independent proxy for time), optimization and
whole-process seconds, peak memory, the end-size loss (total, content, style), and the style
loss of the result downsampled to 1/2 and 1/4 against the style image at those sizes (the
style's large shapes), all recomputed here in float32 with the same weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np

from stylejax.config import AUTO_PYRAMID, Config
from stylejax.engine import execute, pyramid
from stylejax.engine import plan as planning
from stylejax.files import images
from stylejax.model.load import load_weights
from stylejax.objective.total import LossInputs, total_loss


def run_cli(argv: list[str], log: Path) -> dict:
    """A whole CLI process: its log, wall seconds and peak resident memory (bytes)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "stylejax.run", *argv, "--log", str(log), "--overwrite"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"stylejax.run failed: {process.stderr.read().decode()[-2000:]}")
    return dict(log=json.loads(log.read_text()), wall=wall, peak_bytes=usage.ru_maxrss * 1024)


def cost(shapes: list[tuple[int, int]], evaluations: list[int]) -> float:
    """Evaluations at each scale's (height, width), weighted by its pixels relative to the last."""
    pixels = np.array([h * w for h, w in shapes], float)
    return float(np.dot(evaluations, pixels) / pixels[-1])


def equal_time_budget(config: Config, evaluations: int, shape_of) -> int:
    """The pyramid budget whose evaluations cost what `evaluations` cost at the end size."""
    sizes = pyramid.sizes(config.min_size, config.size, config.scale_step)
    shapes = [shape_of(s) for s in sizes]
    spent = lambda budget: cost(  # noqa: E731
        shapes, pyramid.budget_split(sizes, budget, config.scale_split)
    )
    budget = evaluations
    while spent(budget + 1) <= evaluations:
        budget += 1
    return budget


def spent_per_scale(records: list[dict]) -> tuple[list[tuple[int, int]], list[int]]:
    """Each scale's (height, width) and the evaluations it really spent, from a run's log."""
    ends = {tuple(r["size"]): r["evaluations"] for r in records}  # cumulative, per scale
    return list(ends), np.diff([0, *ends.values()]).tolist()


def style_losses(image: np.ndarray, config: Config, weights) -> dict:
    """Losses of `image` at the end size, and its style loss downsampled to 1/2 and 1/4."""
    out = {}
    for name, factor in (("end", 1), ("half", 2), ("quarter", 4)):
        size = max(1, round(config.size / factor))
        small = dataclasses.replace(config, size=size, min_size=size, init="content")
        plan = planning.from_config(small, weights=weights)
        scale = plan.scales[-1]
        inputs = LossInputs(
            plan.weights.params,
            execute.targets_at(plan, scale),
            jax.tree.map(lambda a: a[0], plan.loss_weights),
        )
        resized = images.to_array(images.to_pil(image).resize(scale.shape[::-1]))
        _, terms = jax.jit(total_loss, static_argnames="objective")(
            resized, inputs, objective=plan.objective
        )
        if name == "end":
            out |= {k: float(terms[k]) for k in ("total", "content", "style")}
        else:
            out[f"style_{name}"] = float(terms["style"])
    return out


def runs_for(args, base: Config, shape_of) -> list[tuple[str, list[str]]]:
    """(label, CLI flags) of every run of one pair."""
    single = ["--evaluations", str(args.evaluations), "--min-size", str(args.size)]
    runs = [("single", single)]
    for step in args.steps:
        for split in args.splits:
            config = dataclasses.replace(base, scale_step=step, scale_split=split)
            budget = args.evaluations
            if args.equal == "time":
                budget = equal_time_budget(config, args.evaluations, shape_of)
            flags = ["--evaluations", str(budget), "--min-size", str(config.min_size)]
            flags += ["--scale-step", str(step), "--scale-split", split]
            runs.append((f"pyramid {step:g} {split}", flags))
    return runs


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", nargs="+", required=True, help="CONTENT:STYLE image paths")
    p.add_argument("--size", type=int, default=768)
    p.add_argument("--min-size", type=int, default=AUTO_PYRAMID[1])
    p.add_argument("--evaluations", type=int, default=150, help="the single-scale budget")
    p.add_argument(
        "--equal",
        choices=("time", "evaluations"),
        default="time",
        help="what the pyramids share with single scale (default: time)",
    )
    p.add_argument("--steps", type=float, nargs="+", default=[Config.scale_step])
    p.add_argument("--splits", nargs="+", choices=pyramid.SPLITS, default=[Config.scale_split])
    p.add_argument("--weights", help="converted VGG19 .h5 (default: stylejax's default)")
    p.add_argument("--out", default="large", help="folder for images and logs")
    p.add_argument("--json", help="write the raw numbers here")
    p.add_argument("--skip-bf16", action="store_true")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    weights = load_weights(args.weights)
    min_size = args.min_size
    rows = []
    for index, pair in enumerate(args.pairs):
        content, style = pair.split(":")
        name = f"{Path(content).stem}+{Path(style).stem}"
        common = ["--content", content, "--style", style, "--size", str(args.size)]
        common += ["--weights", weights.path]
        base = Config(content=content, style=(style,), size=args.size, min_size=min_size)
        decoded = images.decode(content)
        runs = runs_for(
            args,
            base,
            lambda s, decoded=decoded: images.shape_for(decoded.height, decoded.width, s),
        )
        if index == 0 and not args.skip_bf16:  # single scale again in bf16
            runs += [("single bf16", runs[0][1] + ["--precision", "bfloat16"])]
        for label, extra in runs:
            stem = f"{name}_{label.replace(' ', '_')}"
            image_path = out / f"{stem}.png"
            print(f"[{time.strftime('%H:%M:%S')}] {name}: {label}", file=sys.stderr, flush=True)
            done = run_cli([*common, *extra, "--output", str(image_path)], out / f"{stem}.json")
            log = done["log"]
            shapes, spent = spent_per_scale(log["records"])
            row = dict(
                pair=name,
                run=label,
                evaluations=log["records"][-1]["evaluations"],
                scales=shapes,
                per_scale=spent,
                cost=cost(shapes, spent),
                seconds=log["seconds"],
                compile_seconds=log["compile_seconds"],
                wall=done["wall"],
                peak_gib=done["peak_bytes"] / 2**30,
                **style_losses(images.load(image_path), base, weights),
            )
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    table = markdown(rows)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return dict(rows=rows, markdown=table)


def markdown(rows: list[dict]) -> str:
    lines = [
        "| pair | run | evals | scales (evals) | cost | opt s | wall s | peak GiB | total "
        "| content | style | style @1/2 | style @1/4 |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        scales = " → ".join(
            f"{w}x{h} ({n})" for (h, w), n in zip(r["scales"], r["per_scale"], strict=True)
        )
        lines.append(
            f"| {r['pair']} | {r['run']} | {r['evaluations']} | {scales} | {r['cost']:.0f} "
            f"| {r['seconds']:.0f} | {r['wall']:.0f} | {r['peak_gib']:.2f} | {r['total']:.4g} "
            f"| {r['content']:.4g} | {r['style']:.4g} | {r['style_half']:.4g} "
            f"| {r['style_quarter']:.4g} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
