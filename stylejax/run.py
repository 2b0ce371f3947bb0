"""Command line: `python -m stylejax.run --content photo.jpg --style painting.jpg`.

Parses flags into a `Config` (defaults come from it) and sweep axes, runs them, writes the
outputs. Several values on a sweepable flag (`--style-weight 1e4 1e5 1e6`) make a sweep: one
batched run, one image per member and a labelled contact sheet; a single run is a sweep of
one. Bad input is one line on stderr and exit code 2; Ctrl-C keeps the latest images.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import os
import signal
import sys
import time
from pathlib import Path

import jax
import numpy as np

from stylejax import images, plot
from stylejax.atomic import atomic_write
from stylejax.config import PRESETS, STYLE_SCALE, Config, preset
from stylejax.objective import LossWeights
from stylejax.optimize import OPTIMIZERS, Progress, Result, load_state, save_state
from stylejax.stylize import Problem, check
from stylejax.sweep import (
    SWEEPABLE,
    check_memory,
    label,
    members,
    prepare_sweep,
    run_sweep,
)
from stylejax.vgg import POOLINGS

DEFAULTS = Config()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m stylejax.run",
        description="Neural style transfer (Gatys et al.) in JAX. With no arguments it "
        "stylizes the bundled sample images.",
        argument_default=argparse.SUPPRESS,  # unset flags fall back to the preset or Config
        epilog=f"Sweeps: give several values to any of "
        f"{', '.join('--' + n.replace('_', '-') for n in SWEEPABLE)}; two such flags make a grid.",
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
    add("--content-weight", type=float, nargs="+", help=f"default: {DEFAULTS.content_weight:g}")
    add(
        "--style-weight",
        type=float,
        nargs="+",
        help=f"at torchvision's scale, rescaled for other weight sets "
        f"(default: {DEFAULTS.style_weight:g})",
    )
    add("--tv-weight", type=float, nargs="+", help="total-variation weight (default: 0)")
    add("--content-layer", nargs="+", help=f"default: {DEFAULTS.content_layer}")
    add("--style-layers", nargs="+", help=f"default: {' '.join(DEFAULTS.style_layers)}")
    add("--pooling", choices=POOLINGS, help=f"default: {DEFAULTS.pooling}")
    add("--init", help="content, random or an image path (default: random)")
    add("--seed", type=int, nargs="+", help="seed of the random initial image (default: 0)")
    add(
        "--remat",
        action="store_true",
        help="recompute VGG blocks in the backward pass: less memory, slower",
    )
    add("--optimizer", choices=OPTIMIZERS, help=f"default: {DEFAULTS.optimizer}")
    add("--learning-rate", type=float, help="Adam's step size (default: 0.02)")
    add("--max-pixels", type=int, help="refuse larger input images (default: 100 megapixels)")
    add("--weights", help="converted VGG19 .h5 (default: the Caffe VGG19, fetched once)")
    add("--save-every", type=int, help="save a frame every N evaluations, and a GIF")
    add("--log", help="write a JSON log here")
    add(
        "--checkpoint-every",
        type=int,
        help="save the optimizer state every N evaluations (next to --output, .ckpt.npz)",
    )
    add("--resume", action="store_true", help="continue an interrupted run from its checkpoint")
    add(
        "--preset", choices=sorted(PRESETS), help="seed: the reference algorithm; tiny: a smoke run"
    )
    add("--overwrite", action="store_true", help="replace existing outputs")
    group = p.add_argument_group(
        "multi-host sweeps (JAX's multi-controller runtime; process 0 writes the outputs)"
    )
    group.add_argument(
        "--distributed",
        action="store_true",
        help="join a multi-process run (auto-detected on SLURM, Open MPI and "
        "TPU pods; else give the three flags below)",
    )
    group.add_argument("--coordinator", help="HOST:PORT of process 0")
    group.add_argument("--num-processes", type=int)
    group.add_argument("--process-id", type=int)
    return p


DISTRIBUTED_FLAGS = ("distributed", "coordinator", "num_processes", "process_id")


def start_distributed(args: dict) -> None:
    """Initializes JAX's multi-process runtime if any distributed flag was given."""
    given = {k: args.pop(k) for k in DISTRIBUTED_FLAGS if k in args}
    if not given:
        return
    # CPU devices talk over gloo; GPU and TPU use their own collectives.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=given.get("coordinator"),
        num_processes=given.get("num_processes"),
        process_id=given.get("process_id"),
    )


def parse(argv: list[str] | None) -> tuple[Config, dict[str, tuple]]:
    """The config (a sweep's first member) and the sweep axes {field: values}."""
    args = vars(parser().parse_args(argv))
    start_distributed(args)
    name = args.pop("preset", None)
    axes = {}
    for key in SWEEPABLE:
        if key in args:
            values = tuple(dict.fromkeys(args[key]))
            if len(values) > 1:
                axes[key] = values
            args[key] = values[0]
    for key in ("style", "style_blend", "style_layers"):
        if key in args:
            args[key] = tuple(args[key])
    return (preset(name, **args) if name else Config(**args)), axes


@dataclasses.dataclass(frozen=True)
class Outputs:
    """Where one member's files go."""

    label: str
    image: Path
    curve: Path
    frames: Path | None
    gif: Path | None

    def paths(self) -> list[Path]:
        return [p for p in (self.image, self.curve, self.frames, self.gif) if p is not None]


def member_outputs(config: Config, labels: list[str]) -> list[Outputs]:
    output = Path(config.output)
    if output.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ValueError(f"--output must end in .png or .jpg, got {output.name}")
    result = []
    for name in labels:
        stem = f"{output.stem}_{name}" if name else output.stem
        frames = config.save_every is not None
        result.append(
            Outputs(
                label=name,
                image=output.with_name(stem + output.suffix),
                curve=output.with_name(f"{stem}_loss.png"),
                frames=output.with_name(f"{stem}_frames") if frames else None,
                gif=output.with_name(f"{stem}.gif") if frames else None,
            )
        )
    return result


def check_outputs(paths: list[Path], overwrite: bool) -> None:
    taken = [str(p) for p in paths if p.exists()]
    if taken and not overwrite:
        shown = ", ".join(taken[:3]) + (f" and {len(taken) - 3} more" if len(taken) > 3 else "")
        raise ValueError(f"{shown} already exist(s); pass --overwrite to replace")


class Reporter:
    """The progress bar on stderr, frames and checkpoints; remembers the latest state."""

    def __init__(self, config: Config, outputs: list[Outputs], fingerprint: str):
        self.config, self.outputs, self.fingerprint = config, outputs, fingerprint
        self.budget = config.evaluations
        self.latest: dict[int, np.ndarray] = {}
        self.histories: dict[int, list[dict]] = {}
        self.passes: dict[int, Progress] = {}
        self.frames: dict[int, list[Path]] = {i: [] for i in range(len(outputs))}

    def checkpoint(self, first: int) -> None:
        progress = self.passes.get(first)
        if progress is not None and jax.process_index() == 0:
            save_state(
                checkpoint_path(self.config, first),
                progress.carry,
                progress.histories,
                self.fingerprint,
            )

    def __call__(self, first: int, progress: Progress) -> None:
        every = self.config.checkpoint_every
        previous = self.passes.get(first)
        self.passes[first] = progress
        before = previous.evaluations if previous else 0
        if every and progress.evaluations // every > before // every:
            self.checkpoint(first)
        for offset, history in enumerate(progress.histories):
            if first + offset < len(self.outputs):
                self.histories[first + offset] = history
        for offset, image in enumerate(progress.images):
            member = first + offset
            if member >= len(self.outputs):  # padding of the last pass
                continue
            self.latest[member] = image
            folder = self.outputs[member].frames
            if folder is not None:
                path = folder / f"{progress.evaluations:05d}.png"
                images.save(image, path)
                self.frames[member].append(path)
        done = progress.evaluations / self.budget
        bar = "#" * round(30 * done) + "." * (30 - round(30 * done))
        t = progress.terms[0]
        members = f"members {first + 1}-{min(first + len(progress.images), len(self.outputs))}  "
        print(
            f"\r[{bar}] {progress.evaluations}/{self.budget} evals  "
            f"{members if len(self.outputs) > 1 else ''}loss {t['total']:.4g}  "
            f"(content {t['content']:.3g}, style {t['style']:.3g})  {progress.seconds:.0f}s ",
            end="",
            file=sys.stderr,
            flush=True,
        )


def checkpoint_path(config: Config, first: int) -> Path:
    """The checkpoint of the sweep pass starting at member `first`, next to --output."""
    output = Path(config.output)
    return output.with_name(f"{output.stem}{f'.{first}' if first else ''}.ckpt.npz")


def fingerprint(config: Config, axes: dict, weights_sha256: str) -> str:
    """What must match for a checkpoint to continue a run exactly."""
    free = ("evaluations", "iterations", "output", "log", "overwrite", "resume", "checkpoint_every")
    fields = {k: v for k, v in dataclasses.asdict(config).items() if k not in free}
    text = json.dumps([fields, sorted(axes.items()), weights_sha256], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def member_weights(weights: LossWeights, index: int) -> dict:
    pick = lambda d: {k: float(v[index]) for k, v in d.items()}  # noqa: E731
    return {
        "content": pick(weights.content),
        "style": pick(weights.style),
        "tv": float(weights.tv[index]),
    }


def write_log(
    path: Path,
    config: Config,
    axes: dict,
    configs: list[Config],
    problem: Problem,
    results: list[Result | None],
    partial: dict[int, list[dict]] | None = None,
) -> None:
    """The JSON log; after an interruption `results` are None and `partial` holds the records
    so far."""
    source = problem.weights.source
    members = []
    for i, (member, result) in enumerate(zip(configs, results, strict=True)):
        members.append(
            {
                "label": label(member, axes),
                "params": {name: getattr(member, name) for name in axes},
                "effective_weights": member_weights(problem.loss_weights, i),
                "status": result.status if result else "interrupted",
                "compile_seconds": result.compile_seconds if result else None,
                "seconds": result.seconds if result else None,
                "records": result.history if result else (partial or {}).get(i, []),
            }
        )
    log = {
        "config": dataclasses.asdict(config),
        "sweep": {name: list(values) for name, values in axes.items()},
        "weights": {
            "path": problem.weights.path,
            "sha256": problem.weights.sha256,
            "source": source,
            "preprocessing": problem.weights.preprocessing.name,
        },
        "weights_note": f"effective style weights = --style-weight x {STYLE_SCALE[source]:g}, "
        f"the scale factor of the {source} weight set (stylejax.config.STYLE_SCALE); "
        f"logged losses are unweighted except total",
        "device": str(jax.devices()[0]),
        "devices": jax.device_count(),
        "image_size": list(problem.content.shape[:2]),
    }
    if axes:
        log["members"] = members
    else:
        log |= members[0]
    with atomic_write(path) as tmp:
        Path(tmp).write_text(json.dumps(log, indent=1))


def write_grid(path: Path, axes: dict, results: list[Result], title: str) -> None:
    """Contact sheet: the last swept flag across, the others down (as in the study's grids).
    Cells are labelled by value; the title names the flags."""
    names = list(axes)
    columns = axes[names[-1]]
    rows = [results[i : i + len(columns)] for i in range(0, len(results), len(columns))]
    fmt = lambda v: f"{v:g}" if isinstance(v, float) else str(v)  # noqa: E731
    row_labels = [
        ", ".join(map(fmt, values)) for values in itertools.product(*(axes[n] for n in names[:-1]))
    ]
    layout = f"across: {names[-1]}" + (f"; down: {', '.join(names[:-1])}" if names[:-1] else "")
    plot.contact_sheet(
        [[r.image for r in row] for row in rows],
        path,
        row_labels=row_labels,
        column_labels=[fmt(v) for v in columns],
        title=f"{title} ({layout})",
    )


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; `code` is the exit code (130 or 143)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def _interrupt(signum, frame) -> None:
    raise Interrupted(128 + signum)


def resumer(config: Config, print_: str):
    """Reads each sweep pass's checkpoint for `run_sweep(resume=...)`; the first must exist."""
    first = checkpoint_path(config, 0)
    if not first.exists():
        raise ValueError(f"--resume: no checkpoint at {first}; run with --checkpoint-every")
    load_state(first, print_)  # fail now, not mid-run, if it belongs to other settings

    def resume(start: int):
        path = checkpoint_path(config, start)
        return load_state(path, print_) if path.exists() else None

    return resume


def save_interrupted(config, axes, configs, problem, outputs, reporter: Reporter) -> None:
    """After SIGINT/SIGTERM: the latest images, the log so far and, if enabled, checkpoints."""
    if jax.process_index() != 0:
        return
    for member, image in reporter.latest.items():
        images.save(image, outputs[member].image)
    if config.checkpoint_every:
        for first in reporter.passes:
            reporter.checkpoint(first)
    if config.log:
        write_log(
            Path(config.log),
            config,
            axes,
            configs,
            problem,
            [None] * len(configs),
            partial=reporter.histories,
        )
    saved = f"latest image(s) saved ({outputs[0].image}{' ...' if len(outputs) > 1 else ''})"
    resume = "; continue with --resume" if config.checkpoint_every else ""
    print(
        f"stylejax: interrupted; {saved if reporter.latest else 'nothing to save yet'}{resume}",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    try:
        config, axes = parse(argv)
        configs = members(config, axes)
        for member in configs:
            check(member)
        outputs = member_outputs(config, [label(c, axes) for c in configs])
        grid = Path(config.output).with_name(f"{Path(config.output).stem}_grid.png")
        extra = ([grid] if axes else []) + ([Path(config.log)] if config.log else [])
        check_outputs(
            [p for o in outputs for p in o.paths()] + extra, config.overwrite or config.resume
        )
        check_memory(config, tuple(c.content_layer for c in configs) + config.style_layers)
        for folder in {Path(config.output).parent} | (
            {Path(config.log).parent} if config.log else set()
        ):
            folder.mkdir(parents=True, exist_ok=True)  # fail now, not after the run
        configs, problem = prepare_sweep(config, axes)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"stylejax: error: {e}", file=sys.stderr)
        return 2
    if jax.process_index() != 0:  # in a multi-host run, process 0 writes everything
        outputs = [dataclasses.replace(o, frames=None, gif=None) for o in outputs]
    for o in outputs:
        if o.frames is not None:
            o.frames.mkdir(parents=True, exist_ok=True)
    print_ = fingerprint(config, axes, problem.weights.sha256)
    reporter = Reporter(config, outputs, print_)
    try:
        resume = resumer(config, print_) if config.resume else None
    except ValueError as e:
        print(f"stylejax: error: {e}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        results = run_sweep(config, problem, callback=reporter, resume=resume)
    except Interrupted as stop:
        # A second signal while the latest state is written ends the process at once.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_, code=stop.code: os._exit(code))
        print(file=sys.stderr)
        save_interrupted(config, axes, configs, problem, outputs, reporter)
        return stop.code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(file=sys.stderr)
    if jax.process_index() != 0:
        return 0
    try:
        write_outputs(config, axes, configs, problem, outputs, reporter, results, grid)
    except (ValueError, OSError) as e:
        print(f"stylejax: error: {e}", file=sys.stderr)
        return 1
    first = results[0]
    written = [str(p) for p in outputs[0].paths()] + [str(p) for p in extra]
    print(
        f"stylejax: {len(results)} run(s), {first.evaluations} evaluations each in "
        f"{first.seconds:.1f}s (+{first.compile_seconds:.1f}s compile, "
        f"{time.perf_counter() - started:.0f}s total); wrote {', '.join(written)}"
        + (f" and {len(outputs) - 1} more members' files" if len(outputs) > 1 else ""),
        file=sys.stderr,
    )
    return 0


def write_outputs(config, axes, configs, problem, outputs, reporter, results, grid) -> None:
    """Images, loss curves, GIFs, the contact sheet and the log of a finished run."""
    source = problem.weights.source
    for o, result, member in zip(outputs, results, configs, strict=True):
        images.save(result.image, o.image)
        plot.loss_curve(
            result.history, o.curve, title=f"{o.image.name}: {member.optimizer}, {source} VGG19"
        )
        if o.gif is not None:
            plot.animated_gif([images.load(p) for p in reporter.frames[outputs.index(o)]], o.gif)
        if result.status == "nonfinite":
            print(
                f"stylejax: {o.image.name}: the loss became non-finite after iteration "
                f"{result.iterations}; kept the last finite image (try lower weights)",
                file=sys.stderr,
            )
    if axes:
        write_grid(
            grid,
            axes,
            results,
            title=f"{Path(config.output).name}: {len(configs)} "
            f"members, {config.evaluations} evaluations, {source} VGG19",
        )
    if config.log:
        write_log(Path(config.log), config, axes, configs, problem, results)


if __name__ == "__main__":
    sys.exit(main())
