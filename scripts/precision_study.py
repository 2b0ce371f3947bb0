"""bfloat16 VGG against float32 on this machine: loss along a short run, and time per evaluation.

    STYLEJAX_CACHE=/work/cache python scripts/precision_study.py            # Caffe weights
    python scripts/precision_study.py --random                              # random weights

1. Closeness: a bfloat16 run (bundled samples, `--size`, `--evaluations`, seeded noise start,
   stylejax's L-BFGS); at every iterate its loss against the float32 loss of the same image.
   Then the float32 loss of its final image against that of the same run in float32 (the two
   L-BFGS paths part after a few steps, so their curves are not compared point by point).
2. Speed: warm, jitted value-and-gradient at `--time-size`, median of `--repeats` calls per
   precision, alternating the two so that a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from stylejax import images, samples
from stylejax.config import Config, effective_weights
from stylejax.features import load_weights
from stylejax.objective import Objective, total_loss
from stylejax.stylize import Problem, initial_image, stylize, targets_for
from stylejax.vgg import TORCHVISION
from stylejax.weights import Weights


def random_weights() -> Weights:
    """He-initialized random VGG19 (as tests/reference.py), torchvision preprocessing."""
    from stylejax.vgg import PARAM_SHAPES
    from stylejax.weights import to_params

    rng = np.random.default_rng(0)
    layers = {}
    for name, ((kh, kw, cin, cout), _) in PARAM_SHAPES.items():
        kernel = rng.normal(0, np.sqrt(2 / (kh * kw * cin)), (kh, kw, cin, cout))
        layers[name] = (kernel.astype(np.float32), rng.normal(0, 0.05, cout).astype(np.float32))
    return Weights(to_params(layers), TORCHVISION, "torchvision", "random", "0" * 64)


def problem_for(config: Config, weights: Weights, precision: str) -> Problem:
    content = images.load(samples.CONTENT, config.size)
    style = images.load(samples.STYLE, config.size)
    objective = Objective(
        (config.content_layer,),
        tuple(config.style_layers),
        config.pooling,
        weights.preprocessing,
        precision=precision,
    )
    return Problem(
        content=content,
        styles=[style],
        init=initial_image(config, content),
        weights=weights,
        objective=objective,
        targets=targets_for(objective, config, content, [style], weights),
        loss_weights=effective_weights(config, weights.source),
    )


def closeness(config: Config, weights: Weights) -> None:
    f32_problem = problem_for(config, weights, "float32")
    f32_loss = jax.jit(total_loss, static_argnums=4)

    def true_loss(image) -> float:
        return float(
            f32_loss(
                jnp.asarray(image),
                weights.params,
                f32_problem.targets,
                f32_problem.loss_weights,
                f32_problem.objective,
            )[0]
        )

    pairs = []  # (bf16 loss, float32 loss) at each iterate of the bf16 run

    def record(progress):
        pairs.append((progress.terms[0]["total"], true_loss(progress.images[0])))

    every = dataclasses.replace(config, save_every=1)  # a callback after every evaluation
    f32_run = stylize(config, f32_problem)
    bf16_run = stylize(every, problem_for(config, weights, "bfloat16"), callback=record)
    bf16, f32 = np.asarray(pairs).T
    error = np.abs(bf16 / f32 - 1)
    print(f"closeness at {config.size}px, {config.evaluations} evaluations ({weights.path}):")
    print("  bf16 loss against the float32 loss of the same image, along the bf16 run:")
    for i in sorted({0, 4, 9, 19, len(error) // 2, len(error) - 1} & set(range(len(error)))):
        print(f"  iterate {i + 1:3d}: bf16 {bf16[i]:.6g}  f32 {f32[i]:.6g}  rel err {error[i]:.2e}")
    print(f"  max rel err {error.max():.2e}, median {np.median(error):.2e}")
    final = [true_loss(run.image) for run in (f32_run, bf16_run)]
    print(
        f"  final float32 loss: float32 run {final[0]:.6g}, bfloat16 run {final[1]:.6g} "
        f"(ratio {final[1] / final[0]:.4f})"
    )


def speed(config: Config, weights: Weights, repeats: int) -> None:
    fns, args = {}, {}
    for p in ("float32", "bfloat16"):
        problem = problem_for(config, weights, p)
        fns[p] = jax.jit(jax.value_and_grad(total_loss, has_aux=True), static_argnums=4)
        args[p] = (
            jnp.asarray(problem.init),
            weights.params,
            problem.targets,
            problem.loss_weights,
            problem.objective,
        )
        jax.block_until_ready(fns[p](*args[p]))  # compile and warm up
    times = {p: [] for p in fns}
    for _ in range(repeats):
        for p in fns:
            start = time.perf_counter()
            jax.block_until_ready(fns[p](*args[p]))
            times[p].append(time.perf_counter() - start)
    shape = "x".join(map(str, problem.init.shape[:2]))
    for p, t in times.items():
        print(f"speed at {shape}: {p} {statistics.median(t):.3f} s/eval (median of {repeats})")
    ratio = statistics.median(times["bfloat16"]) / statistics.median(times["float32"])
    print(f"  bfloat16 / float32 time: {ratio:.2f}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--random", action="store_true", help="random weights instead of Caffe's")
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--evaluations", type=int, default=40)
    p.add_argument("--time-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--skip-speed", action="store_true")
    args = p.parse_args(argv)
    weights = random_weights() if args.random else load_weights()
    config = Config(size=args.size, evaluations=args.evaluations)
    closeness(config, weights)
    if not args.skip_speed:
        speed(dataclasses.replace(config, size=args.time_size), weights, args.repeats)


if __name__ == "__main__":
    main()
