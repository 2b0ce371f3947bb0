"""Accelerator benchmark: one command, sized to finish in under 8 minutes on one GPU.

    python scripts/bench_accelerator.py [--weights vgg19.h5] [--json out.json]
    python scripts/bench_accelerator.py --quick     # tiny sizes: a CPU smoke test

Every measurement uses the default objective unless `--style-loss` names another.

Measures, on the first device:
1. seconds per evaluation (loss and gradient, warm, median) at 512² and 1024² in float32
   (matmul precision "highest"), TF32 (JAX's default precision, which uses TF32 tensor cores on
   NVIDIA GPUs) and bfloat16 (`precision="bfloat16"`: VGG in bf16, losses in float32);
2. an 8-member style-weight sweep at 512² as one batched run, against a single run;
3. the largest end size that runs with remat + bfloat16: sizes double until one fails, then
   bisect; every probe is a fresh process that runs two evaluations, so a failed allocation
   (or the kernel's OOM killer, on CPU) cannot take the benchmark down. The memory estimator's
   prediction is printed next to what the probe measured.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
from PIL import Image

from stylejax import samples
from stylejax.config import Config
from stylejax.engine import execute
from stylejax.engine import plan as planning
from stylejax.engine.devices import bytes_per_member
from stylejax.model.load import load_weights
from stylejax.objective.total import STYLE_LOSSES, LossInputs, total_loss

PRECISIONS = {  # name: (Config.precision, jax matmul precision)
    "float32": ("float32", "highest"),
    "tf32": ("float32", None),
    "bfloat16": ("bfloat16", None),
}


def square_plan(size: int, weights, **options) -> planning.Plan:
    """A single-scale plan on a `size`² crop of the bundled content sample."""
    content = Image.open(samples.CONTENT).convert("RGB").resize((size, size))
    style = Image.open(samples.STYLE).convert("RGB")
    config = Config(size=size, min_size=size, **options)  # no automatic pyramid
    return planning.prepare(config, {}, content=content, styles=[style], weights=weights)


def seconds_per_evaluation(plan: planning.Plan, matmul: str | None, timed: int) -> dict:
    """Median warm seconds of one jitted value-and-gradient evaluation, and its compile time."""
    scale = plan.scales[-1]
    inputs = LossInputs(
        plan.weights.params,
        execute.targets_at(plan, scale),
        jax.tree.map(lambda a: a[0], plan.loss_weights),
    )
    image = jax.device_put(execute.initial_images(plan)[0])
    fn = jax.jit(jax.value_and_grad(total_loss, has_aux=True), static_argnames="objective")
    with jax.default_matmul_precision(matmul):
        start = time.perf_counter()
        compiled = fn.lower(image, inputs, objective=plan.objective).compile()
        compile_seconds = time.perf_counter() - start
    (value, _), _ = jax.block_until_ready(compiled(image, inputs))
    seconds = []
    for _ in range(timed):
        start = time.perf_counter()
        jax.block_until_ready(compiled(image, inputs))
        seconds.append(time.perf_counter() - start)
    return dict(s_per_eval=statistics.median(seconds), compile_s=compile_seconds, loss=float(value))


def sweep_against_single(size: int, members: int, evaluations: int, weights, **options) -> dict:
    """Per-member seconds per evaluation: a batched sweep of `members` against one run."""
    rows = {}
    single = square_plan(size, weights, evaluations=evaluations, **options)
    for count in (1, members):
        plan = single
        if count > 1:
            axes = {"style_weight": tuple(10.0 ** (3 + i * 5 / (count - 1)) for i in range(count))}
            plan = planning.prepare(
                single.config, axes, content=single.content, styles=single.styles, weights=weights
            )
        results = execute.execute(plan, at_once=count)
        seconds = results[0].seconds
        rows[count] = dict(
            members=count,
            seconds=seconds,
            compile_s=results[0].compile_seconds,
            s_per_eval_per_member=seconds / evaluations / count,
        )
    rows["speedup_per_member"] = (
        rows[1]["s_per_eval_per_member"] / rows[members]["s_per_eval_per_member"]
    )
    return rows


def probe(size: int, weights_path: str | None, memory_limit: int | None = None, **options) -> dict:
    """One evaluation at `size` with remat + bfloat16 in a fresh process; on CPU
    `memory_limit` (bytes of address space) makes a failed allocation end the probe rather
    than wake the kernel's OOM killer."""
    # The child caps its own address space before JAX starts (a `preexec_fn` would fork a
    # multithreaded JAX process).
    cap = f"resource.setrlimit(resource.RLIMIT_AS, ({memory_limit},) * 2); " if memory_limit else ""
    code = (
        f"import json, resource, sys; {cap}sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        "import bench_accelerator as b; "
        f"print(json.dumps(b.probe_here({size}, {weights_path!r}, **{options!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["killed"])[-1]
        return dict(size=size, ok=False, error=last[-200:], returncode=done.returncode)
    return json.loads(done.stdout.strip().splitlines()[-1])


def probe_here(size: int, weights_path: str | None, **options) -> dict:
    # Measure what fits, not what the estimator would allow (it refuses past half the free
    # memory): the probe runs in its own process, which a failure may end.
    planning.check_memory = lambda *args, **kwargs: None
    weights = load_weights(weights_path)
    plan = square_plan(size, weights, evaluations=1, remat=True, precision="bfloat16", **options)
    start = time.perf_counter()
    (result,) = execute.execute(plan)
    stats = jax.local_devices()[0].memory_stats() or {}
    # Peak device memory where the runtime reports it; else this process's peak RSS.
    peak = stats.get("peak_bytes_in_use") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = peak if stats.get("peak_bytes_in_use") else peak * 1024
    height, width = plan.scales[-1].shape
    predicted = bytes_per_member(
        height, width, plan.objective.layers, remat=True, precision="bfloat16"
    )
    return dict(
        size=size,
        ok=bool(np.isfinite(result.history[-1]["total"])),
        seconds=time.perf_counter() - start,
        peak_bytes=int(peak),
        predicted_bytes=int(predicted),
    )


def largest_size(
    start: int,
    limit: int,
    weights_path: str | None,
    deadline: float,
    memory_limit: int | None,
    **options,
) -> dict:
    """Doubles from `start` until a probe fails (or `limit`), then bisects to 64 pixels."""
    probes, good, bad = [], None, None
    size = start
    while size <= limit and time.perf_counter() < deadline:
        row = probe(size, weights_path, memory_limit, **options)
        probes.append(row)
        if not row["ok"]:
            bad = size
            break
        good, size = size, size * 2
    while good and bad and bad - good > 64 and time.perf_counter() < deadline:
        size = (good + bad) // 2
        row = probe(size, weights_path, memory_limit, **options)
        probes.append(row)
        good, bad = (size, bad) if row["ok"] else (good, size)
    return dict(largest=good, first_failure=bad, probes=probes)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", help="converted VGG19 .h5 (default: stylejax's default)")
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    p.add_argument("--timed", type=int, default=10, help="timed evaluations (median)")
    p.add_argument("--sweep-size", type=int, default=512)
    p.add_argument("--sweep-members", type=int, default=8)
    p.add_argument("--sweep-evaluations", type=int, default=50)
    p.add_argument("--largest-start", type=int, default=2048)
    p.add_argument("--largest-limit", type=int, default=16384)
    p.add_argument("--minutes", type=float, default=7.5, help="stop probing sizes after this")
    p.add_argument(
        "--memory-limit-gib",
        type=float,
        help="CPU: cap each probe's address space, so that a probe too large fails cleanly",
    )
    p.add_argument("--only-largest", action="store_true", help="skip timings and the sweep")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a CPU smoke test")
    p.add_argument("--json", help="write the raw numbers here")
    p.add_argument("--style-loss", choices=STYLE_LOSSES, default=Config.style_loss)
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.timed, args.sweep_size = [32], 1, 32
        args.sweep_members, args.sweep_evaluations = 2, 2
        args.largest_start, args.largest_limit = 32, 48  # one probe; 64 is past the limit
    deadline = time.perf_counter() + args.minutes * 60
    weights = load_weights(args.weights)
    options = dict(style_loss=args.style_loss)
    report = dict(
        device=str(jax.devices()[0]),
        backend=jax.default_backend(),
        style_loss=args.style_loss,
        per_eval=[],
    )
    for size in [] if args.only_largest else args.sizes:
        for name, (precision, matmul) in PRECISIONS.items():
            plan = square_plan(size, weights, precision=precision, **options)
            row = dict(size=size, mode=name) | seconds_per_evaluation(plan, matmul, args.timed)
            report["per_eval"].append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    if not args.only_largest:
        report["sweep"] = sweep_against_single(
            args.sweep_size, args.sweep_members, args.sweep_evaluations, weights, **options
        )
        print(json.dumps(report["sweep"]), file=sys.stderr, flush=True)
    limit = int(args.memory_limit_gib * 2**30) if args.memory_limit_gib else None
    report["largest"] = largest_size(
        args.largest_start, args.largest_limit, args.weights, deadline, limit, **options
    )
    print(markdown(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return report


def markdown(report: dict) -> str:
    lines = [f"Device: {report['device']} ({report['backend']})", ""]
    lines += ["| size | mode | s/eval | compile s | loss |", "|---:|---|---:|---:|---:|"]
    for r in report["per_eval"]:
        lines.append(
            f"| {r['size']}² | {r['mode']} | {r['s_per_eval']:.4f} | {r['compile_s']:.1f} "
            f"| {r['loss']:.5g} |"
        )
    sweep = report.get("sweep")
    if sweep:
        members = max(k for k in sweep if isinstance(k, int))
        lines += [
            "",
            f"Sweep of {members} members: {sweep[members]['s_per_eval_per_member']:.4f} s/eval "
            f"per member, single run {sweep[1]['s_per_eval_per_member']:.4f} "
            f"({sweep['speedup_per_member']:.2f}x per member)",
        ]
    largest = report["largest"]
    lines += [
        "",
        f"Largest size with remat + bf16: {largest['largest']} px (first failure: "
        f"{largest['first_failure']})",
        "",
    ]
    lines += ["| size | ok | s (1 eval) | peak GiB | predicted GiB |", "|---:|---|---:|---:|---:|"]
    for r in largest["probes"]:
        if r.get("ok"):
            lines.append(
                f"| {r['size']} | yes | {r['seconds']:.1f} | {r['peak_bytes'] / 2**30:.2f} "
                f"| {r['predicted_bytes'] / 2**30:.2f} |"
            )
        else:
            lines.append(f"| {r['size']} | no: {r.get('error', '')[:60]} | | | |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
