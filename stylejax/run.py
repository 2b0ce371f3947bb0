"""Command line: `python -m stylejax.run --content photo.jpg --style painting.jpg`.

Parses flags into a `Config` (defaults come from it), runs `stylize`, writes the outputs.
Bad input is one line on stderr and exit code 2; Ctrl-C keeps the latest image and log.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

from stylejax import images, plot
from stylejax.atomic import atomic_write
from stylejax.config import PRESETS, STYLE_SCALE, Config, preset
from stylejax.optimize import OPTIMIZERS, Progress
from stylejax.stylize import Problem, prepare, stylize
from stylejax.vgg import POOLINGS

DEFAULTS = Config()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m stylejax.run",
        description="Neural style transfer (Gatys et al.) in JAX. With no arguments it "
        "stylizes the bundled sample images.",
        argument_default=argparse.SUPPRESS,  # unset flags fall back to the preset or Config
    )
    add = p.add_argument
    add("--content", help="content image (default: the bundled sample)")
    add("--style", nargs="+", help="style image(s) (default: the bundled sample)")
    add("--style-blend", nargs="+", type=float, help="weight per style image (default: equal)")
    add("--output", help=f"final image, .png or .jpg (default: {DEFAULTS.output})")
    add("--size", type=int, help=f"longest side in pixels (default: {DEFAULTS.size})")
    add(
        "--style-scale",
        type=float,
        help="style image size relative to the content image (default: 1, as the seed)",
    )
    add(
        "--evaluations",
        type=int,
        help=f"loss-and-gradient evaluations (default: {DEFAULTS.evaluations})",
    )
    add("--iterations", type=int, help="optimizer iteration limit (default: none)")
    add("--content-weight", type=float, help=f"default: {DEFAULTS.content_weight:g}")
    add(
        "--style-weight",
        type=float,
        help=f"at torchvision's scale, rescaled for other weight sets "
        f"(default: {DEFAULTS.style_weight:g})",
    )
    add("--tv-weight", type=float, help="total-variation weight (default: 0)")
    add("--content-layer", help=f"default: {DEFAULTS.content_layer}")
    add("--style-layers", nargs="+", help=f"default: {' '.join(DEFAULTS.style_layers)}")
    add("--pooling", choices=POOLINGS, help=f"default: {DEFAULTS.pooling}")
    add("--init", help="content, random or an image path (default: random)")
    add("--seed", type=int, help="seed of the random initial image (default: 0)")
    add("--optimizer", choices=OPTIMIZERS, help=f"default: {DEFAULTS.optimizer}")
    add("--learning-rate", type=float, help="Adam's step size (default: 0.02)")
    add("--weights", help="converted VGG19 .h5 (default: the Caffe VGG19, fetched once)")
    add("--save-every", type=int, help="save a frame every N evaluations, and a GIF")
    add("--log", help="write a JSON log here")
    add(
        "--preset", choices=sorted(PRESETS), help="seed: the reference algorithm; tiny: a smoke run"
    )
    add("--overwrite", action="store_true", help="replace existing outputs")
    return p


def config_from_args(argv: list[str] | None) -> Config:
    args = vars(parser().parse_args(argv))
    name = args.pop("preset", None)
    for key in ("style", "style_blend", "style_layers"):
        if key in args:
            args[key] = tuple(args[key])
    return preset(name, **args) if name else Config(**args)


def output_paths(config: Config) -> dict[str, Path]:
    output = Path(config.output)
    paths = {"image": output, "curve": output.with_name(f"{output.stem}_loss.png")}
    if config.save_every:
        paths["gif"] = output.with_suffix(".gif")
        paths["frames"] = output.with_name(f"{output.stem}_frames")
    if config.log:
        paths["log"] = Path(config.log)
    return paths


def check_outputs(paths: dict[str, Path], overwrite: bool) -> None:
    taken = [str(p) for p in paths.values() if p.exists()]
    if taken and not overwrite:
        raise ValueError(f"{', '.join(taken)} already exist(s); pass --overwrite to replace")
    if paths["image"].suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ValueError(f"--output must end in .png or .jpg, got {paths['image'].name}")


class Reporter:
    """The progress bar on stderr, and the frames; remembers the latest image."""

    def __init__(self, budget: int, frames: Path | None):
        self.budget, self.frames = budget, frames
        self.latest: np.ndarray | None = None
        self.saved: list[Path] = []

    def __call__(self, progress: Progress) -> None:
        self.latest = progress.image
        if self.frames is not None:
            path = self.frames / f"{progress.evaluations:05d}.png"
            images.save(progress.image, path)
            self.saved.append(path)
        done = progress.evaluations / self.budget
        bar = "#" * round(30 * done) + "." * (30 - round(30 * done))
        t = progress.terms
        print(
            f"\r[{bar}] {progress.evaluations}/{self.budget} evals  loss {t['total']:.4g}  "
            f"(content {t['content']:.3g}, style {t['style']:.3g})  {progress.seconds:.0f}s ",
            end="",
            file=sys.stderr,
            flush=True,
        )


def write_log(path: Path, config: Config, problem: Problem, result, history) -> None:
    w = problem.loss_weights
    log = {
        "config": dataclasses.asdict(config),
        "weights": {
            "path": problem.weights.path,
            "sha256": problem.weights.sha256,
            "source": problem.weights.source,
            "preprocessing": problem.weights.preprocessing.name,
        },
        "effective_weights": {
            "content": {k: float(v) for k, v in w.content.items()},
            "style": {k: float(v) for k, v in w.style.items()},
            "tv": float(w.tv),
            "note": f"style weights = --style-weight x {STYLE_SCALE[problem.weights.source]:g}, "
            f"the scale factor of the {problem.weights.source} weight set "
            f"(stylejax.config.STYLE_SCALE); logged losses are unweighted",
        },
        "device": str(jax.devices()[0]),
        "image_size": list(problem.content.shape[:2]),
        "compile_seconds": getattr(result, "compile_seconds", None),
        "seconds": getattr(result, "seconds", None),
        "status": getattr(result, "status", "interrupted"),
        "records": history,
    }
    with atomic_write(path) as tmp:
        Path(tmp).write_text(json.dumps(log, indent=1))


def main(argv: list[str] | None = None) -> int:
    try:
        config = config_from_args(argv)
        paths = output_paths(config)
        check_outputs(paths, config.overwrite)
        problem = prepare(config)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"stylejax: error: {e}", file=sys.stderr)
        return 2
    if "frames" in paths:
        paths["frames"].mkdir(parents=True, exist_ok=True)
    reporter = Reporter(config.evaluations, paths.get("frames"))
    started = time.perf_counter()
    try:
        result = stylize(config, problem, callback=reporter)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        if reporter.latest is not None:
            images.save(reporter.latest, paths["image"])
            print(f"stylejax: interrupted; latest image saved to {paths['image']}", file=sys.stderr)
        return 130
    print(file=sys.stderr)
    images.save(result.image, paths["image"])
    plot.loss_curve(
        result.history,
        paths["curve"],
        title=f"{Path(config.output).name}: {config.optimizer}, {problem.weights.source} VGG19",
    )
    if "gif" in paths:
        frames = [images.load(p) for p in reporter.saved]
        plot.animated_gif(frames, paths["gif"])
    if "log" in paths:
        write_log(paths["log"], config, problem, result, result.history)
    if result.status == "nonfinite":
        print(
            f"stylejax: the loss became non-finite at iteration {result.iterations}; kept the "
            f"last finite image (try lower weights or --optimizer lbfgsb)",
            file=sys.stderr,
        )
    print(
        f"stylejax: {result.evaluations} evaluations in {result.seconds:.1f}s "
        f"(+{result.compile_seconds:.1f}s compile, {time.perf_counter() - started:.0f}s "
        f"total); wrote {', '.join(str(p) for p in paths.values())}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
