"""bfloat16 VGG against float32 on this machine: loss along a short run, and time per evaluation.

    STYLEJAX_CACHE=/work/cache python scripts/precision_study.py        # the default Caffe VGG19
    python scripts/precision_study.py --weights random.h5 --size 64 --evaluations 10

1. Closeness: a bfloat16 pipeline run (bundled samples, single scale at `--size`,
   `--evaluations`, seeded noise start, L-BFGS); after every evaluation its loss against the
   float32 loss of the same image. Then the float32 loss of its final image against that of
   the same run in float32 (the two L-BFGS paths part after a few steps, so their curves are
   not compared point by point).
2. Speed: warm, jitted value-and-gradient at `--time-size`, median of `--repeats` calls per
   precision, alternating the two so that a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from common import Problem, prepare

from stylejax.config import Config
from stylejax.engine import execute
from stylejax.objective.total import total_loss
from stylejax.optim.loop import Update

PRECISIONS = ("float32", "bfloat16")


def problems(args, size: int) -> dict[str, Problem]:
    """The same single-scale run in each precision, saving a snapshot after every evaluation."""
    return {
        precision: prepare(
            Config(
                size=size,
                min_size=size,
                evaluations=args.evaluations,
                precision=precision,
                save_every=1,
                weights=args.weights,
            )
        )
        for precision in PRECISIONS
    }


def closeness(float32: Problem, bfloat16: Problem) -> None:
    loss = jax.jit(total_loss, static_argnames="objective")

    def true_loss(image: np.ndarray) -> float:
        return float(loss(jnp.asarray(image), float32.inputs, objective=float32.objective)[0])

    rows = []  # (evaluations, bf16 loss, float32 loss of the same image), along the bf16 run

    def record(snapshot: Update) -> None:
        rows.append(
            (snapshot.evaluations, snapshot.losses[0]["total"], true_loss(snapshot.images[0]))
        )

    (f32_run,) = execute.execute(float32.plan)
    (bf16_run,) = execute.execute(bfloat16.plan, callback=record)
    evaluations, bf16, f32 = np.asarray(rows).T
    error = np.abs(bf16 / f32 - 1)
    config = float32.plan.config
    print(f"closeness at {config.size}px, {config.evaluations} evaluations ({config.weights}):")
    print("  bf16 loss against the float32 loss of the same image, along the bf16 run:")
    for i in sorted({0, 5, 10, 20, len(rows) // 2, len(rows) - 1} & set(range(len(rows)))):
        print(
            f"  evaluation {evaluations[i]:3.0f}: bf16 {bf16[i]:.6g}  f32 {f32[i]:.6g}  "
            f"rel err {error[i]:.2e}"
        )
    print(f"  max rel err {error.max():.2e}, median {np.median(error):.2e}")
    final = [true_loss(run.image) for run in (f32_run, bf16_run)]
    print(
        f"  final float32 loss: float32 run {final[0]:.6g}, bfloat16 run {final[1]:.6g} "
        f"(ratio {final[1] / final[0]:.4f})"
    )


def speed(problems: dict[str, Problem], repeats: int) -> None:
    fn = jax.jit(jax.value_and_grad(total_loss, has_aux=True), static_argnames="objective")
    calls = {}
    for precision, problem in problems.items():
        image = jax.device_put(problem.init)
        calls[precision] = functools.partial(fn, image, problem.inputs, objective=problem.objective)
        jax.block_until_ready(calls[precision]())  # compile and warm up
    times = {precision: [] for precision in calls}
    for _ in range(repeats):
        for precision, call in calls.items():
            start = time.perf_counter()
            jax.block_until_ready(call())
            times[precision].append(time.perf_counter() - start)
    shape = "x".join(map(str, problems["float32"].init.shape[:2]))
    for precision, seconds in times.items():
        median = statistics.median(seconds)
        print(f"speed at {shape}: {precision} {median:.3f} s/eval (median of {repeats})")
    ratio = statistics.median(times["bfloat16"]) / statistics.median(times["float32"])
    print(f"  bfloat16 / float32 time: {ratio:.2f}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", help="converted VGG19 .h5 (default: stylejax's default)")
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--evaluations", type=int, default=40)
    p.add_argument("--time-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--skip-speed", action="store_true")
    args = p.parse_args(argv)
    closeness(*problems(args, args.size).values())
    if not args.skip_speed:
        speed(problems(args, args.time_size), args.repeats)


if __name__ == "__main__":
    main()
