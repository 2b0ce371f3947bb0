"""Runs a small sweep in a fresh process, for tests that need their own JAX setup.

    python tests/sweep_worker.py OUT.npz [--devices N] [--process I --processes P --port PORT]

Forced CPU devices and the multi-process runtime must be configured before JAX starts, so
each configuration is its own interpreter. Process 0 writes the members' final images and
losses to OUT.npz.
"""

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--process", type=int, default=0)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.devices}"

    import jax

    if args.processes > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=f"127.0.0.1:{args.port}",
            num_processes=args.processes,
            process_id=args.process,
        )
    import numpy as np
    from PIL import Image

    from stylejax.config import Config
    from stylejax.engine import execute
    from stylejax.engine import plan as planning
    from stylejax.model.vgg import TORCHVISION
    from stylejax.model.weights import Weights
    from tests.reference import random_params

    params = random_params(seed=4)
    rng = np.random.default_rng(0)
    content, style = rng.integers(0, 256, size=(2, 24, 24, 3), dtype=np.uint8)
    base = Config(
        style_layers=("relu1_1", "relu2_1"),
        content_layer="relu2_1",
        size=24,
        evaluations=12,
        style_weight=1e2,
        # The machinery under test, on the classic objective: the seeds differ from noise, and
        # the Gram loss keeps members equal to 1e-4 across device layouts.
        style_loss="gram",
        init="random",
    )
    weights = Weights(params, TORCHVISION, source="torchvision", path="random", sha256="")
    plan = planning.prepare(
        base,
        {"style_weight": (1e1, 1e2, 1e3), "seed": (0, 1)},
        content=Image.fromarray(content),
        styles=[Image.fromarray(style)],
        weights=weights,
    )
    results = execute.execute(plan, loop="host")
    if jax.process_index() == 0:
        np.savez(
            args.out,
            images=np.stack([r.image for r in results]),
            totals=np.array([[h["total"] for h in r.history] for r in results]),
            devices=jax.device_count(),
        )


if __name__ == "__main__":
    main()
