"""Large pictures: single scale against the coarse-to-fine pyramid at equal wall-clock time.

    python scripts/benchmark.py --large --pairs CONTENT:STYLE [CONTENT:STYLE ...] \
        --size 768 --evaluations 150 --out large/

Each run is a whole `python -m stylejax.run` process (its peak resident memory is read from
the kernel with wait4). For every pair:
- single scale, `--evaluations` evaluations at `--size`;
- the pyramid (`--min-size`, the default step and split), with a budget chosen so that its
  evaluations cost the same time: a scale's evaluation costs its pixel count relative to the end
  size (convolutions are linear in pixels), so the pyramid gets more, cheaper evaluations. The
  wall times actually measured are reported side by side;
- for the first pair, single scale again in bfloat16.

Reported: optimization and whole-process seconds, peak memory, the end-size loss (total, content,
style), and the style loss of the result downsampled to 1/2 and 1/4 against the style image at
those sizes (the style's large shapes), all recomputed here with the same weights.
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

from stylejax import images, pipeline, pyramid
from stylejax.config import AUTO_PYRAMID, Config
from stylejax.features import load_weights
from stylejax.objective import LossInputs, total_loss


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


def equal_time_budget(config: Config, evaluations: int, shape_of) -> int:
    """The pyramid budget whose evaluations cost what `evaluations` cost at the end size."""
    sizes = pyramid.sizes(config.min_size, config.size, config.scale_step)
    end = np.prod(shape_of(config.size))
    cost = lambda budget: sum(  # noqa: E731
        n * np.prod(shape_of(s)) / end
        for s, n in zip(sizes, pyramid.budget_split(sizes, budget, config.scale_split), strict=True)
    )
    budget = evaluations
    while cost(budget + 1) <= evaluations:
        budget += 1
    return budget


def style_losses(image: np.ndarray, config: Config, content: str, style: str, weights) -> dict:
    """Losses of `image` at the end size, and its style loss downsampled to 1/2 and 1/4."""
    out = {}
    for name, factor in (("end", 1), ("half", 2), ("quarter", 4)):
        size = max(1, round(config.size / factor))
        small = dataclasses.replace(config, size=size, min_size=None, init="content")
        plan = pipeline.from_config(small, weights=weights)
        scale = plan.scales[-1]
        inputs = LossInputs(
            plan.weights.params,
            pipeline.targets_at(plan, scale),
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


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", nargs="+", required=True, help="CONTENT:STYLE image paths")
    p.add_argument("--size", type=int, default=768)
    p.add_argument("--min-size", type=int, default=AUTO_PYRAMID[1])
    p.add_argument("--evaluations", type=int, default=150, help="the single-scale budget")
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
        plan = pipeline.from_config(dataclasses.replace(base, min_size=None), weights=weights)
        shape_of = lambda s, plan=plan: pipeline.shape_at(plan.content, s)  # noqa: E731
        budget = equal_time_budget(base, args.evaluations, shape_of)
        runs = [
            ("single", ["--evaluations", str(args.evaluations)]),
            ("pyramid", ["--evaluations", str(budget), "--min-size", str(min_size)]),
        ]
        if index == 0 and not args.skip_bf16:
            runs += [("single bf16", runs[0][1] + ["--precision", "bfloat16"])]
        for label, extra in runs:
            stem = f"{name}_{label.replace(' ', '_')}"
            image_path = out / f"{stem}.png"
            print(f"[{time.strftime('%H:%M:%S')}] {name}: {label}", file=sys.stderr, flush=True)
            done = run_cli([*common, *extra, "--output", str(image_path)], out / f"{stem}.json")
            log = done["log"]
            config = dataclasses.replace(base, precision="float32")
            losses = style_losses(images.load(image_path), config, content, style, weights)
            row = dict(
                pair=name,
                run=label,
                evaluations=log["records"][-1]["evaluations"],
                scales=[s["size"] for s in log["scales"]],
                seconds=log["seconds"],
                compile_seconds=log["compile_seconds"],
                wall=done["wall"],
                peak_gib=done["peak_bytes"] / 2**30,
                **losses,
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
        "| pair | run | evals | scales | opt s | wall s | peak GiB | total | content | style "
        "| style @1/2 | style @1/4 |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        scales = " → ".join(f"{w}x{h}" for h, w in r["scales"])
        lines.append(
            f"| {r['pair']} | {r['run']} | {r['evaluations']} | {scales} | {r['seconds']:.0f} "
            f"| {r['wall']:.0f} | {r['peak_gib']:.2f} | {r['total']:.4g} | {r['content']:.4g} "
            f"| {r['style']:.4g} | {r['style_half']:.4g} | {r['style_quarter']:.4g} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
