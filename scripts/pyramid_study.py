"""Coarse-to-fine against single scale at an equal evaluation budget: which step, which split.

    STYLEJAX_CACHE=/work/cache python scripts/pyramid_study.py \
        --content ../shared/images/content/tuebingen.jpg \
        --style ../shared/images/style/starry_night.jpg --size 384 --evaluations 150 \
        --out /work/notes/pyramid

Each run is a chain of ordinary `stylize` runs, one per scale: the content image reloaded at
that scale's size, the style image at `--style-scale` x that size (never larger than its own
size unless --upscale-style), the targets recomputed, and the start image the previous scale's
result upsampled in float on the device (`stylejax.pyramid.upsample`). The first scale starts
from the seeded noise of `Config.init`, like the single-scale run.

Measured, per run: the end-size total, content and style losses (the last record of the last
scale), and the large-scale style: the style loss (unweighted sum of the per-layer Gram MSEs)
of the result downsampled (Lanczos) to 1/2 and 1/4 of its size against the style image at
those sizes; plus the optimization wall time and each scale's first and last loss.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from stylejax import images, pyramid
from stylejax.config import Config
from stylejax.objective import total_loss
from stylejax.stylize import prepare, stylize, targets_for


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--content", required=True)
    p.add_argument("--style", required=True)
    p.add_argument("--size", type=int, default=384)
    p.add_argument("--min-size", type=int, default=96)
    p.add_argument("--evaluations", type=int, default=150)
    p.add_argument("--weights", default=None)
    p.add_argument("--out", required=True, help="folder for the images and results.json")
    p.add_argument(
        "--runs",
        nargs="+",
        default=["single", "2:equal", "2:pixels", "1.41421356:equal", "1.41421356:pixels"],
        help="'single' or STEP:SPLIT",
    )
    p.add_argument("--method", default="cubic", choices=pyramid.METHODS)
    p.add_argument("--upscale-style", action="store_true")
    return p.parse_args(argv)


def scale_config(args, size: int, evaluations: int) -> Config:
    return Config(
        content=args.content,
        style=(args.style,),
        size=size,
        evaluations=evaluations,
        weights=args.weights,
    )


def style_loss_at(problem, image: np.ndarray, fraction: int, args) -> float:
    """Style loss of `image` downsampled to 1/fraction against the style image at that size."""
    height, width = image.shape[:2]
    small = images.resize_to(image, round(height / fraction), round(width / fraction))
    config = scale_config(args, max(small.shape[:2]), 1)
    content = images.resize_to(problem.content, *small.shape[:2])
    style = images.load(args.style, style_size(args, max(small.shape[:2])))
    targets = targets_for(problem.objective, config, content, [style], problem.weights)
    _, terms = total_loss(
        jnp.asarray(small), problem.weights.params, targets, problem.loss_weights, problem.objective
    )
    return float(terms["style"])


def style_size(args, size: int) -> int:
    """The style image's longest side at a scale: `size`, capped at its own size."""
    if args.upscale_style:
        return size
    from PIL import Image

    with Image.open(args.style) as opened:
        return min(size, max(opened.size))


def run(args, step: float | None, split: str) -> dict:
    scale_sizes = [args.size] if step is None else pyramid.sizes(args.min_size, args.size, step)
    budget = pyramid.budget_split(scale_sizes, args.evaluations, split)
    image, scales, seconds, compile_seconds = None, [], 0.0, 0.0
    for size, evaluations in zip(scale_sizes, budget, strict=True):
        config = scale_config(args, size, evaluations)
        problem = prepare(config)
        if style_size(args, size) != size:  # reload the style image no larger than its own size
            style = images.load(args.style, style_size(args, size))
            problem = dataclasses.replace(
                problem,
                styles=[style],
                targets=targets_for(
                    problem.objective, config, problem.content, [style], problem.weights
                ),
            )
        if image is not None:
            start = pyramid.upsample(image, *problem.content.shape[:2], method=args.method)
            problem = dataclasses.replace(problem, init=np.asarray(start))
        started = time.perf_counter()
        result = stylize(config, problem)
        wall = time.perf_counter() - started
        seconds += result.seconds
        compile_seconds += wall - result.seconds
        image = result.image
        scales.append(
            dict(
                size=list(problem.content.shape[:2]),
                evaluations=result.evaluations,
                first=result.history[0]["total"],
                last=result.history[-1]["total"],
            )
        )
        print(f"  {size}px x{evaluations}: {scales[-1]['first']:.4g} -> {scales[-1]['last']:.4g}")
    final = result.history[-1]
    return dict(
        sizes=scale_sizes,
        budget=budget,
        scales=scales,
        total=final["total"],
        content=final["content"],
        style=final["style"],
        style_half=style_loss_at(problem, image, 2, args),
        style_quarter=style_loss_at(problem, image, 4, args),
        seconds=seconds,
        compile_seconds=compile_seconds,
        image=image,
    )


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in args.runs:
        step, split = (None, "equal") if name == "single" else name.split(":")
        step = None if step is None else float(step)
        label = "single" if step is None else f"step{step:g}-{split}"
        print(label, flush=True)
        row = run(args, step, split)
        images.save(row.pop("image"), out / f"{label}-{args.size}.png")
        results[label] = row
        print(json.dumps(row), flush=True)
        (out / f"results-{args.size}.json").write_text(json.dumps(results, indent=1))
    print()
    print("| run | sizes | evaluations | total | content | style | style 1/2 | style 1/4 | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, r in results.items():
        print(
            f"| {label} | {'-'.join(map(str, r['sizes']))} | {'+'.join(map(str, r['budget']))} "
            f"| {r['total']:.4g} | {r['content']:.4g} | {r['style']:.4g} | {r['style_half']:.4g} "
            f"| {r['style_quarter']:.4g} | {r['seconds']:.0f} |"
        )


if __name__ == "__main__":
    main()
