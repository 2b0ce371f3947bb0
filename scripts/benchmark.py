"""Benchmark stylejax against a plain-PyTorch implementation of the same algorithm.

    python scripts/benchmark.py                      # defaults sized for <~40 min on 2 cores
    python scripts/benchmark.py --quick              # smoke run, 64 px, 20 evaluations
    python scripts/benchmark.py --skip-torch         # stylejax only (e.g. a GPU without torch)
    python scripts/benchmark.py --json bench.json    # also write the raw numbers
    python scripts/benchmark.py --compile-cache      # repeated CLI runs: compile seconds
    python scripts/bench_accelerator.py              # GPU: precisions, sweep, largest size
    python scripts/bench_large.py --pairs C:S        # pyramid against single scale, >= 768 px
    python scripts/benchmark.py --quality --pairs C:S --out q/   # picture quality against
                                                     # the KC port: scripts/bench_quality.py

Both sides solve the same problem on the same machine: the same converted VGG19 weights (read
with `stylejax.model.weights.read`, kernels transposed HWIO -> OIHW for torch), the same
preprocessing (channel order, scale, mean, std of the file's `Preprocessing`), the same loss
(content MSE at the content layer, Gram = F Fᵀ/(C·H·W), style = Σ MSE(G, A) over the style
layers, each term weighted exactly by `stylejax.engine.sweep.effective_weights`) and the same
initial image (stylejax's `prepare(config).init`, the seeded uniform noise, bit for bit): the
algorithm of `--preset seed`. At every size the torch loss at that shared init is checked
against stylejax's (rtol 1e-4; the gradients too, to 1e-3 in relative L2 distance), and so is
the first loss of every whole run; the script fails loudly when they differ, since the
comparison would then be meaningless.

What is measured:

1. Time per function evaluation (value and gradient w.r.t. the image) at each `--sizes`:
   stylejax's jitted `jax.value_and_grad(total_loss)` (warm, `block_until_ready`) against torch's
   forward + backward (warm), the median of `--timing-evals` calls each. Also the time stylejax
   takes to lower and compile that function.
2. Whole runs of `--evaluations` evaluations at `--run-size`: torch's `optim.LBFGS` as the classic
   PyTorch tutorial (the seed) runs it (lr 1, history 10, no line search, the closure clamps the
   pixels to [0, 1] first; every closure call is one evaluation), and the pipeline with each
   optimizer of `stylejax.config.OPTIMIZERS`. Reported: optimization wall time (and, for
   stylejax, wall time including compilation), evaluations per iteration, and the total loss
   after `--loss-at` evaluations (the last record at or below that count).

torch is only the reference here; stylejax itself never imports it. Both libraries use every CPU
core (`torch.set_num_threads(os.cpu_count())`; XLA's CPU backend does so by default); the phases
run one after the other, never concurrently.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
from common import (
    Problem,
    default_images,
    machine_info,
    number,
    prepare,
    ratio,
    timed_cli,
)

from stylejax.config import OPTIMIZERS, PRESETS, Config, preset
from stylejax.engine import execute
from stylejax.engine.sweep import effective_weights
from stylejax.model.load import resolve
from stylejax.model.vgg import LAYERS
from stylejax.model.weights import read
from stylejax.objective.total import total_loss

RTOL = 1e-4  # torch vs stylejax loss at the shared init
GRAD_RTOL = 1e-3  # relative L2 distance of the two gradients at the shared init
PAUSE = 1.0  # seconds between phases, for one library's idle worker threads to stop spinning


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    content, style = default_images()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = p.add_argument
    add("--content", default=str(content), help="content image (default: the bundled sample)")
    add("--style", default=str(style), help="style image (default: the bundled sample)")
    add("--weights", help="converted VGG19 .h5 (default: stylejax's default Caffe VGG19)")
    add("--sizes", type=int, nargs="+", default=[256, 512], help="sizes for time per evaluation")
    add("--timing-evals", type=int, default=5, help="timed evaluations per size (median)")
    add("--warmup", type=int, default=2, help="untimed evaluations before timing")
    add("--run-size", type=int, default=256, help="size of the whole runs")
    add("--evaluations", type=int, default=300, help="evaluation budget of the whole runs")
    add("--loss-at", type=int, nargs="+", default=[100, 300], help="report the loss at these")
    add("--optimizers", nargs="+", choices=OPTIMIZERS, default=list(OPTIMIZERS))
    add("--skip-torch", action="store_true", help="stylejax only; torch is not imported")
    add("--quick", action="store_true", help="smoke run: 64 px, 20 evaluations")
    add("--json", help="write the raw numbers here")
    add(
        "--sweep",
        action="store_true",
        help="instead: a 5-member style-weight sweep against 5 separate runs, whole processes",
    )
    add("--sweep-sizes", type=int, nargs="+", default=[128, 256])
    add(
        "--compile-cache",
        action="store_true",
        help="instead: repeated identical CLI runs with and without the compilation cache",
    )
    add("--sweep-evaluations", type=int, default=100)
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.run_size, args.evaluations = [64], 64, 20
        args.loss_at, args.timing_evals, args.warmup = [10, 20], 3, 1
    args.loss_at = sorted({n for n in args.loss_at if n <= args.evaluations} | {args.evaluations})
    if min(args.sizes + [args.run_size, args.evaluations, args.timing_evals]) < 1:
        p.error("sizes, --evaluations and --timing-evals must be at least 1")
    return args


def make_config(args: argparse.Namespace, size: int, optimizer: str = "lbfgs") -> Config:
    """The stylejax run being measured: the seed's algorithm (`--preset seed`; the Config
    defaults are the painting defaults of issue 16, which the torch reference does not
    implement) at `size`, single scale (no automatic pyramid, whatever the size)."""
    return preset(
        "seed",
        content=args.content,
        style=(args.style,),
        size=size,
        min_size=size,
        evaluations=args.evaluations,
        optimizer=optimizer,
        weights=str(args.weights_path),
    )


# --- the PyTorch reference -------------------------------------------------------------------


def torch_vgg(weights_path: Path, pooling: str):
    """VGG19 in plain PyTorch from the same .h5: features(x NCHW RGB [0, 1], layers) -> dict."""
    import torch
    import torch.nn.functional as F

    layers, pre, attrs = read(weights_path)
    convs = {
        name: (torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1))), torch.from_numpy(b))
        for name, (k, b) in layers.items()
    }
    mean = torch.tensor(pre.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(pre.std, dtype=torch.float32).view(1, 3, 1, 1)
    pool = F.avg_pool2d if pooling == "avg" else F.max_pool2d

    def features(x, names):
        x = (x[:, list(pre.channel_order)] * pre.scale - mean) / std
        out = {}
        for name in LAYERS[: max(LAYERS.index(n) for n in names) + 1]:  # stop at the deepest
            if name.startswith("conv"):
                x = F.conv2d(x, *convs[name], padding=1)
            elif name.startswith("relu"):
                x = F.relu(x)
            else:
                x = pool(x, 2, 2)
            if name in names:
                out[name] = x
        return out

    features.source = str(attrs["source"])
    return features


def to_torch(image: np.ndarray):
    """(H, W, 3) numpy -> (1, 3, H, W) float32 tensor (a copy)."""
    import torch

    array = np.asarray(image, np.float32).transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array))[None].clone()


def torch_loss(vgg, problem: Problem, config: Config):
    """loss(img NCHW) -> scalar tensor: the seed's objective, targets computed in torch."""
    import torch
    import torch.nn.functional as F

    def gram(f):
        _, c, h, w = f.shape
        flat = f.reshape(c, h * w)
        return flat @ flat.T / (c * h * w)

    if len(problem.styles) != 1 or config.tv_weight:
        raise SystemExit("the torch reference covers one style image and no TV term")
    weights = effective_weights(config, vgg.source)
    w_content = {k: torch.tensor(np.asarray(v)) for k, v in weights.content.items()}
    w_style = {k: torch.tensor(np.asarray(v)) for k, v in weights.style.items()}
    content_layers, style_layers = tuple(w_content), tuple(w_style)
    names = tuple(dict.fromkeys(content_layers + style_layers))
    with torch.no_grad():
        content_targets = vgg(to_torch(problem.content), content_layers)
        style_targets = {
            k: gram(v) for k, v in vgg(to_torch(problem.styles[0]), style_layers).items()
        }

    def loss(img):
        features = vgg(img, names)
        total = sum(w_content[k] * F.mse_loss(features[k], content_targets[k]) for k in w_content)
        return total + sum(
            w_style[k] * F.mse_loss(gram(features[k]), style_targets[k]) for k in w_style
        )

    return loss


def time_per_eval_torch(loss_fn, init: np.ndarray, timed: int, warmup: int) -> dict:
    """Warm forward + backward w.r.t. the image; the value and gradient at `init` as well."""
    img = to_torch(init).requires_grad_(True)

    def evaluate():
        img.grad = None
        value = loss_fn(img)
        value.backward()
        return value

    value = evaluate()
    result = dict(value=value.item(), grad=img.grad.numpy()[0].transpose(1, 2, 0).copy())
    for _ in range(warmup):
        evaluate()
    seconds = []
    for _ in range(timed):
        start = time.perf_counter()
        evaluate()
        seconds.append(time.perf_counter() - start)
    return result | dict(seconds=seconds, median=statistics.median(seconds))


def run_torch_lbfgs(loss_fn, init: np.ndarray, evaluations: int) -> dict:
    """The seed: one `LBFGS.step` over the whole budget, each closure call one evaluation."""
    import torch

    img = to_torch(init).requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [img],
        lr=1,
        max_iter=evaluations,
        max_eval=evaluations,
        history_size=10,
        line_search_fn=None,
    )
    history = []
    start = time.perf_counter()

    def closure():
        img.data.clamp_(0, 1)
        optimizer.zero_grad()
        loss = loss_fn(img)
        loss.backward()
        history.append(
            dict(
                evaluations=len(history) + 1, total=loss.item(), seconds=time.perf_counter() - start
            )
        )
        return loss

    optimizer.step(closure)
    seconds = time.perf_counter() - start
    state = optimizer.state[img]
    return dict(
        name="torch LBFGS (seed)",
        seconds=seconds,
        seconds_with_compile=seconds,
        compile_seconds=0.0,
        evaluations=len(history),
        iterations=int(state["n_iter"]),
        history=history,
    )


# --- stylejax ---------------------------------------------------------------------------------


def time_per_eval_jax(problem: Problem, timed: int, warmup: int) -> dict:
    """Warm jitted `value_and_grad(total_loss)`; compile time of `.lower().compile()`."""
    fn = jax.jit(jax.value_and_grad(total_loss, has_aux=True), static_argnames="objective")
    image = jax.device_put(problem.init)
    start = time.perf_counter()
    compiled = fn.lower(image, problem.inputs, objective=problem.objective).compile()
    compile_seconds = time.perf_counter() - start

    def evaluate():
        return jax.block_until_ready(compiled(image, problem.inputs))

    (value, _), grad = evaluate()
    result = dict(value=float(value), grad=np.asarray(grad), compile_seconds=compile_seconds)
    for _ in range(warmup):
        evaluate()
    seconds = []
    for _ in range(timed):
        start = time.perf_counter()
        evaluate()
        seconds.append(time.perf_counter() - start)
    return result | dict(seconds=seconds, median=statistics.median(seconds))


def run_stylejax(config: Config, problem: Problem) -> dict:
    """The pipeline with `config.optimizer`; outer wall time includes compilation."""
    start = time.perf_counter()
    plan = dataclasses.replace(problem.plan, config=config, members=[config])
    (result,) = execute.execute(plan)
    wall = time.perf_counter() - start
    if result.status != "finished":
        print(f"warning: stylejax {config.optimizer} ended {result.status}", file=sys.stderr)
    return dict(
        name=f"stylejax {config.optimizer}",
        seconds=result.seconds,
        seconds_with_compile=wall,
        compile_seconds=result.compile_seconds,
        evaluations=result.evaluations,
        iterations=result.iterations,
        status=result.status,
        history=[
            {k: r[k] for k in ("iteration", "evaluations", "seconds", "total")}
            for r in result.history
        ],
    )


# --- checks and report ------------------------------------------------------------------------


def check_same_loss(what: str, torch_value: float, jax_value: float) -> dict:
    """Fails loudly unless the two losses at the shared init agree to RTOL."""
    rel = abs(torch_value - jax_value) / max(abs(jax_value), 1e-30)
    ok = rel <= RTOL
    print(
        f"check {what}: torch {torch_value:.7g}, stylejax {jax_value:.7g}, "
        f"rel. diff {rel:.2e} (rtol {RTOL:g}) {'OK' if ok else 'MISMATCH'}",
        flush=True,
    )
    if not ok:
        raise SystemExit(
            f"FAILED: the torch reference's loss differs from stylejax's at the shared init "
            f"({what}); the two sides do not compute the same objective"
        )
    return dict(what=what, torch=torch_value, stylejax=jax_value, rel_diff=rel)


def check_same_grad(what: str, torch_grad: np.ndarray, jax_grad: np.ndarray) -> dict:
    rel = float(np.linalg.norm(torch_grad - jax_grad) / max(np.linalg.norm(jax_grad), 1e-30))
    ok = rel <= GRAD_RTOL
    print(
        f"check {what}: gradient rel. L2 distance {rel:.2e} (tol {GRAD_RTOL:g}) "
        f"{'OK' if ok else 'MISMATCH'}",
        flush=True,
    )
    if not ok:
        raise SystemExit(f"FAILED: the gradients of torch and stylejax differ ({what})")
    return dict(grad_rel_l2=rel)


def loss_at(history: list[dict], evaluations: int) -> float | None:
    """Total loss of the last record at or below `evaluations`."""
    rows = [r for r in history if r["evaluations"] <= evaluations]
    return rows[-1]["total"] if rows else None


def markdown(report: dict) -> str:
    m, args = report["machine"], report["args"]
    torch = not args["skip_torch"]
    lines = [
        f"### stylejax{' vs PyTorch' if torch else ''}: {m['date'][:10]}",
        "",
        f"- Machine: {m['processor']} ({m['machine']}), {m['cpus']} CPUs; "
        f"jax {m['jax']} on `{m['jax_device']}`"
        + (f"; torch {m['torch']} ({m['torch_threads']} threads, CPU)" if torch else ""),
        f"- Command: `{m['command']}`; load average at the start "
        f"{number(m['load_average'], '.2f')}",
        f"- Problem: {report['problem']}",
    ]
    for row in report["per_eval"] if torch else []:
        c = row["check"]
        lines.append(
            f"- Same objective at the shared init, {row['shape']}: loss torch {c['torch']:.7g}, "
            f"stylejax {c['stylejax']:.7g} (rel. diff {c['rel_diff']:.1e}); gradients' rel. L2 "
            f"distance {c['grad_rel_l2']:.1e}"
        )
    if torch and report["runs"][1:]:
        worst = max(run["init_check"]["rel_diff"] for run in report["runs"][1:])
        lines.append(
            f"- Every stylejax run's first loss equals torch's first closure value, "
            f"{report['run_shape']} (max rel. diff {worst:.1e})"
        )
    lines += [
        "",
        f"Time per evaluation (loss and gradient, warm; median of {args['timing_evals']}):",
        "",
    ]
    head = "| size | stylejax s/eval | stylejax compile s |"
    rule = "|---|---:|---:|"
    if torch:
        head += " torch s/eval | torch / stylejax |"
        rule += "---:|---:|"
    lines += [head, rule]
    for row in report["per_eval"]:
        jax_row = row["jax"]
        line = (
            f"| {row['shape']} | {number(jax_row['median'])} | {jax_row['compile_seconds']:.1f} |"
        )
        if torch:
            line += f" {number(row['torch']['median'])} | "
            line += f"{ratio(row['torch']['median'], row['jax']['median'])} |"
        lines.append(line)

    marks = args["loss_at"]
    lines += ["", f"Whole runs, {report['run_shape']}, {args['evaluations']} evaluations:", ""]
    head = "| run | evals | iters | evals/iter | wall s | s/eval | wall s incl. compile |"
    head += "".join(f" loss @{n} |" for n in marks)
    rule = "|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(marks)
    if torch:
        head += " torch wall / wall |" + "".join(f" loss / torch @{n} |" for n in marks)
        rule += "---:|" * (1 + len(marks))
    lines += [head, rule]
    reference = report["runs"][0] if torch else None
    for run in report["runs"]:
        losses = [loss_at(run["history"], n) for n in marks]
        line = (
            f"| {run['name']} | {run['evaluations']} | {run['iterations']} | "
            f"{ratio(run['evaluations'], run['iterations'])} | {run['seconds']:.1f} | "
            f"{number(run['seconds'] / run['evaluations'])} | {run['seconds_with_compile']:.1f} |"
        )
        line += "".join(f" {number(x, '.4g')} |" for x in losses)
        if torch:
            line += f" {ratio(reference['seconds'], run['seconds'])} |"
            for x, n in zip(losses, marks, strict=True):
                line += f" {ratio(x, loss_at(reference['history'], n))} |"
        lines.append(line)
    lines += [
        "",
        "s/eval: one forward + backward pass (in the whole runs: wall s / evals, optimizer "
        "overhead included). wall s: optimization only; 'incl. compile' adds stylejax's tracing "
        "and XLA compilation (torch has none). evals may exceed the budget by the last "
        "iteration's line search. loss @N: total loss at the last iterate reached within N "
        "evaluations. Ratios > 1 favour stylejax for time, < 1 for loss.",
    ]
    return "\n".join(lines)


SWEEP_WEIGHTS = ("1e4", "1e5", "1e6", "1e7", "1e8")


def sweep_benchmark(args: argparse.Namespace, argv: list[str]) -> None:
    """Whole-process wall time of one 5-member sweep against 5 separate runs (compile included,
    which the sweep pays once), and the optimization seconds per member."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for size in args.sweep_sizes:
            common = [
                "--content",
                str(Path(args.content).resolve()),
                "--style",
                str(Path(args.style).resolve()),
                "--size",
                str(size),
                "--evaluations",
                str(args.sweep_evaluations),
            ]
            sweep_wall, sweep_log = timed_cli(
                [*common, "--style-weight", *SWEEP_WEIGHTS, "--output", "sweep.png"], folder
            )
            singles = [
                timed_cli([*common, "--style-weight", w, "--output", "one.png"], folder)
                for w in SWEEP_WEIGHTS
            ]
            member = sweep_log["members"][0]
            rows.append(
                dict(
                    size=size,
                    shape="x".join(map(str, reversed(sweep_log["image_size"]))),
                    sweep_wall=sweep_wall,
                    singles_wall=sum(wall for wall, _ in singles),
                    sweep_compile=member["compile_seconds"],
                    sweep_per_member=member["seconds"] / len(SWEEP_WEIGHTS),
                    single_per_member=statistics.mean(log["seconds"] for _, log in singles),
                    single_compile=statistics.mean(log["compile_seconds"] for _, log in singles),
                )
            )
    info = machine_info(["scripts/benchmark.py", *argv], skip_torch=True)
    lines = [
        f"Sweep benchmark, {info['date']}: `{info['command']}`",
        f"Machine: {info['processor']} ({info['cpus']} CPUs); JAX {info['jax']} on "
        f"{info['jax_device']}.",
        "",
        "| size | 5-member sweep, whole process s | 5 separate runs, whole processes s | "
        "ratio | sweep compile s | single compile s | optimization s per member: sweep | "
        "single | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['shape']} | {r['sweep_wall']:.1f} | {r['singles_wall']:.1f} | "
            f"{r['singles_wall'] / r['sweep_wall']:.2f} | {r['sweep_compile']:.1f} | "
            f"{r['single_compile']:.1f} | {r['sweep_per_member']:.2f} | "
            f"{r['single_per_member']:.2f} | {r['single_per_member'] / r['sweep_per_member']:.2f} |"
        )
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps(dict(machine=info, sweep=rows), indent=1) + "\n")


def compile_cache_benchmark(args: argparse.Namespace, argv: list[str]) -> None:
    """Compile seconds (as the log reports them) and whole-process wall time of identical CLI
    runs: the first with an empty compilation cache, two repeats, and one with the cache off."""
    weights = Path(resolve(args.weights)).resolve()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        common = ["--content", str(Path(args.content).resolve())]
        common += ["--style", str(Path(args.style).resolve()), "--weights", str(weights)]
        common += ["--size", str(args.run_size), "--evaluations", "20", "--output", "out.png"]
        # An empty stylejax cache folder: its compilation cache starts empty.
        os.environ["STYLEJAX_CACHE"] = str(folder / "cache")
        runs = [
            ("first", []),
            ("repeat", []),
            ("repeat", []),
            ("cache off", ["--no-compile-cache"]),
        ]
        for name, extra in runs:
            wall, log = timed_cli([*common, *extra], folder)
            rows.append(dict(run=name, compile=log["compile_seconds"], wall=wall))
    info = machine_info(["scripts/benchmark.py", *argv], skip_torch=True)
    lines = [
        f"Compilation cache, {info['date']}: `{info['command']}`",
        f"Machine: {info['processor']} ({info['cpus']} CPUs); JAX {info['jax']} on "
        f"{info['jax_device']}; {args.run_size} px, 20 evaluations.",
        "",
        "| run | compile s (log) | whole process s |",
        "|---|---:|---:|",
    ]
    lines += [f"| {r['run']} | {r['compile']:.2f} | {r['wall']:.1f} |" for r in rows]
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--quality"]:  # its own flags: see scripts/bench_quality.py
        import bench_quality

        bench_quality.main(argv[1:])
        return
    args = parse_args(argv)
    if args.sweep:
        sweep_benchmark(args, argv)
        return
    if args.compile_cache:
        compile_cache_benchmark(args, argv)
        return
    args.weights_path = resolve(args.weights)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > 0.25 * (os.cpu_count() or 1):
        print(
            f"warning: load average {load:.2f} on {os.cpu_count()} CPUs; other processes will "
            f"distort the timings (torch's OpenMP threads suffer most)",
            file=sys.stderr,
        )
    if not args.skip_torch:
        import torch

        torch.set_num_threads(os.cpu_count())
    report = dict(
        machine=machine_info(["scripts/benchmark.py", *argv], args.skip_torch),
        args={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        per_eval=[],
        runs=[],
    )
    vgg = None if args.skip_torch else torch_vgg(args.weights_path, PRESETS["seed"]["pooling"])

    def log(message):
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    # 1. Time per evaluation, after checking both sides compute the same loss and gradient.
    for size in args.sizes:
        config = make_config(args, size)
        problem = prepare(config)
        shape = f"{problem.init.shape[1]}x{problem.init.shape[0]}"
        log(f"time per evaluation at {shape}: stylejax")
        row = dict(
            size=size, shape=shape, jax=time_per_eval_jax(problem, args.timing_evals, args.warmup)
        )
        if vgg is not None:
            time.sleep(PAUSE)
            log(f"time per evaluation at {shape}: torch")
            loss_fn = torch_loss(vgg, problem, config)
            row["torch"] = time_per_eval_torch(
                loss_fn, problem.init, args.timing_evals, args.warmup
            )
            what = f"{shape} init"
            row["check"] = check_same_loss(what, row["torch"]["value"], row["jax"]["value"])
            row["check"] |= check_same_grad(what, row["torch"].pop("grad"), row["jax"]["grad"])
            time.sleep(PAUSE)
        row["jax"].pop("grad")
        report["per_eval"].append(row)

    # 2. Whole runs at --run-size.
    config = make_config(args, args.run_size)
    problem = prepare(config)
    report["run_shape"] = f"{problem.init.shape[1]}x{problem.init.shape[0]}"
    weights = problem.inputs.weights
    report["problem"] = (
        f"{Path(args.content).name} + {Path(args.style).name}; weights "
        f"{Path(problem.weights.path).name} ({problem.weights.source}); content "
        f"{config.content_layer} x{float(weights.content[config.content_layer]):g}, style "
        f"{', '.join(config.style_layers)} x{float(weights.style[config.style_layers[0]]):g} each; "
        f"{config.pooling} pooling; init uniform noise, seed {config.seed}"
    )
    if vgg is not None:
        log(f"whole run at {report['run_shape']}: torch LBFGS, {args.evaluations} evaluations")
        torch_run = run_torch_lbfgs(
            torch_loss(vgg, problem, config), problem.init, args.evaluations
        )
        report["runs"].append(torch_run)
        time.sleep(PAUSE)
    for name in args.optimizers:
        log(f"whole run at {report['run_shape']}: stylejax {name}, {args.evaluations} evaluations")
        run = run_stylejax(dataclasses.replace(config, optimizer=name), problem)
        if vgg is not None:
            run["init_check"] = check_same_loss(
                f"{report['run_shape']} init, {name} history[0]",
                torch_run["history"][0]["total"],
                run["history"][0]["total"],
            )
        report["runs"].append(run)

    table = markdown(report)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(report | dict(markdown=table), indent=1) + "\n")
        log(f"raw numbers written to {args.json}")


if __name__ == "__main__":
    main()
