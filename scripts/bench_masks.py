"""Spatial control (issue 18): separation, seams and cost of masked runs.

    STYLEJAX_WEIGHTS=weights/vgg19-caffe.h5 python scripts/bench_masks.py \
        --content tuebingen.jpg --mask sky_ground.png --styles starry_night.jpg composition_7.jpg \
        --size 512 --out masks/ --json masks/bench.json [--three-mask M3.png --third-style S.jpg]

The mask's regions take the styles in order of `--mask-colors` (default: black, white), under
the default style loss unless `--style-loss` names another. Every
variant is one run through the library's plan and engine (the CLI's path, pyramid included),
its picture saved as `<out>/<variant>.png`:

- `blend`: no mask, the styles blended over the whole picture: what one gets without spatial
  control;
- `hard`: the mask with hard seams (mask_blur 0), plain guides;
- `soft<B>`: soft seams (mask_blur B pixels), plain guides, for every B of `--blurs`;
- `hard-erode` / `soft<B>-erode`: the paper's eroded guides.

Separation: on the result at its final size, each region's style loss on its own pixels
(guided Grams under the mask's hard, plain guides, summed over the style layers, as the log's
`style` term) against its own style image's Gram and against the other's; the issue's target is
own/other <= 0.5.

Cost: one value-and-gradient of the total loss at the final size (warm, median of `--repeats`,
the variants interleaved so that a busy machine slows them alike): unmasked with one style,
the two-region mask, and the three-region mask when given; each mask also with every region
reading every position (`guided`'s plain einsums), against its own positions only (the
default).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from stylejax.config import Config
from stylejax.engine import execute, regions
from stylejax.engine import plan as planning
from stylejax.files import images
from stylejax.model.load import load_weights
from stylejax.objective import guided, guides, losses
from stylejax.objective.total import STYLE_LOSSES, LossInputs, total_loss


def variants(blurs: list[float], erode: bool) -> dict[str, dict]:
    """{name: Config overrides} of the runs."""
    out = {"blend": dict(mask=None, mask_colors=())}
    for blur in blurs:
        name = "hard" if blur == 0 else f"soft{blur:g}"
        out[name] = dict(mask_blur=blur, mask_erode=False)
        if erode:
            out[f"{name}-erode"] = dict(mask_blur=blur, mask_erode=True)
    return out


def separation(plan: planning.Plan, image: np.ndarray, mask: str, colors) -> list[dict]:
    """Per region: its style loss on its own pixels against each style image."""
    scale = plan.scales[-1]
    layers = plan.objective.style_layers
    region_map = regions.read(
        mask,
        None,
        style_count=len(plan.styles),
        colors=colors,
        blur=0.0,
        erode=False,
        content_shape=scale.shape,
        style_shapes=[[scale.shape]] * len(plan.styles),
    )
    labels = jnp.asarray(regions.labels_at(region_map, scale.shape))
    hard = guides.guides_at_layers(guides.soft_guides(labels, region_map.count), layers)
    params = plan.weights.params
    features = plan.objective.features(params, jnp.asarray(image)[None], layers)
    style_grams = [
        {n: losses.gram(f)[0] for n, f in plan.objective.features(params, s[None], layers).items()}
        for s in map(jnp.asarray, execute.styles_at(plan, scale))
    ]
    out = []
    for r in range(region_map.count):
        grams = {n: guided.guided_gram(features[n], hard[n][None, r : r + 1])[0, 0] for n in layers}
        against = [
            float(sum(jnp.mean(jnp.square(grams[n] - g[n])) for n in layers)) for g in style_grams
        ]
        out.append(
            {
                "region": r,
                "color": "#{:02x}{:02x}{:02x}".format(*region_map.colors[r]),
                "pixels": int(jnp.sum(labels == r)),
                "style_loss_against": against,
                "own_over_other": against[r] / against[1 - r] if len(against) == 2 else None,
            }
        )
    return out


def run_variant(base: Config, overrides: dict, weights, out: Path, mask: str) -> dict:
    config = dataclasses.replace(base, output=str(out), **overrides)
    plan = planning.from_config(config, weights=weights)
    started = time.perf_counter()
    (result,) = execute.execute(plan)
    wall = time.perf_counter() - started
    images.save(result.image, out, icc_profile=images.icc_profile(plan.content))
    last = result.history[-1]
    return {
        "config": {k: overrides.get(k, getattr(config, k)) for k in ("mask_blur", "mask_erode")}
        | {"mask": config.mask, "style_loss": config.style_loss},
        "scales": [list(s.shape) for s in plan.scales],
        "evaluations": result.evaluations,
        "seconds": result.seconds,
        "compile_seconds": result.compile_seconds,
        "wall_seconds": wall,
        "final": {k: last[k] for k in ("total", "content", "style")},
        "separation": separation(plan, result.image, mask, base.mask_colors),
        "image": str(out),
    }


def timed_function(plan, scale, targets) -> tuple:
    """(jitted value-and-gradient, start image, inputs, compile seconds, shape) at `scale`."""
    inputs = LossInputs(
        plan.weights.params, targets, jax.tree.map(lambda a: a[0], plan.loss_weights)
    )
    grad = jax.jit(jax.value_and_grad(lambda x, i, o=plan.objective: total_loss(x, i, o)[0]))
    image = jnp.asarray(execute.initial_images(plan)[0])
    started = time.perf_counter()
    jax.block_until_ready(grad(image, inputs))
    return grad, image, inputs, time.perf_counter() - started, scale.shape


def cost(base: Config, weights, three: tuple[str, str] | None, repeats: int) -> dict:
    """Seconds per value-and-gradient at the final size: unmasked, 2 and 3 regions."""
    single = dataclasses.replace(
        base, min_size=base.size, mask=None, mask_colors=(), style=base.style[:1]
    )
    setups = {
        "unmasked, 1 style": single,
        "2 regions": dataclasses.replace(base, min_size=base.size),
    }
    if three is not None:
        mask3, style3 = three
        setups["3 regions"] = dataclasses.replace(
            base, min_size=base.size, mask=mask3, mask_colors=(), style=(*base.style, style3)
        )
    functions = {}
    for name, config in list(setups.items()):
        plan = planning.from_config(config, weights=weights)
        scale = plan.scales[-1]
        targets = execute.targets_at(plan, scale)
        variants = {name: targets}
        if targets.guides is not None and targets.guides.positions is not None:
            # The same loss with every region reading every position (the plain einsums).
            dense = targets._replace(guides=targets.guides._replace(positions=None))
            variants[f"{name}, every position"] = dense
        for label, chosen in variants.items():
            functions[label] = timed_function(plan, scale, chosen)
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, (grad, image, inputs, _, _) in functions.items():
            started = time.perf_counter()
            jax.block_until_ready(grad(image, inputs))
            times[name].append(time.perf_counter() - started)
    baseline = statistics.median(times["unmasked, 1 style"])
    return {
        name: {
            "seconds_per_evaluation": statistics.median(times[name]),
            "all": times[name],
            "compile_seconds": functions[name][3],
            "ratio": statistics.median(times[name]) / baseline,
            "shape": list(functions[name][4]),
        }
        for name in functions
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--content", required=True)
    p.add_argument("--mask", required=True)
    p.add_argument("--styles", nargs=2, required=True)
    p.add_argument("--mask-colors", nargs=2, default=["black", "white"])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--evaluations", type=int, default=300)
    p.add_argument("--style-loss", choices=STYLE_LOSSES, default=Config.style_loss)
    p.add_argument("--blurs", type=float, nargs="+", default=[0.0, 4.0])
    p.add_argument("--erode", action="store_true", help="also run every blur with erosion")
    p.add_argument("--only", nargs="+", help="run only these variants")
    p.add_argument("--tag", default="", help="appended to the variants' names (e.g. -swapped)")
    p.add_argument("--three-mask", help="a 3-region mask, for the cost alone")
    p.add_argument("--third-style", help="its third style image")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--skip-cost", action="store_true")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--json", type=Path, required=True)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    weights = load_weights(os.environ.get("STYLEJAX_WEIGHTS"))
    base = Config(
        content=args.content,
        style=tuple(args.styles),
        mask=args.mask,
        mask_colors=tuple(args.mask_colors),
        size=args.size,
        evaluations=args.evaluations,
        style_loss=args.style_loss,
    )
    report = json.loads(args.json.read_text()) if args.json.exists() else {}
    report |= {
        "command": "python " + " ".join(sys.argv),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "device": str(jax.devices()[0]),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg()[0],
    }
    runs = report.setdefault("runs", {})
    for name, overrides in variants(args.blurs, args.erode).items():
        if args.only and name not in args.only:
            continue
        name += args.tag
        print(f"{name} ...", file=sys.stderr, flush=True)
        runs[name] = run_variant(base, overrides, weights, args.out / f"{name}.png", args.mask)
        runs[name]["load_average_after"] = os.getloadavg()[0]
        print(json.dumps({name: runs[name]["separation"]}), file=sys.stderr, flush=True)
        args.json.write_text(json.dumps(report, indent=1))
    if not args.skip_cost:
        three = (args.three_mask, args.third_style) if args.three_mask else None
        report["cost"] = cost(base, weights, three, args.repeats)
        report["cost_load_average_after"] = os.getloadavg()[0]
        print(json.dumps(report["cost"], indent=1), file=sys.stderr)
    args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
