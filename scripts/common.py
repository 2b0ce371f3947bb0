"""What the benchmark scripts share: the bundled images, a single-scale problem, the machine's
description, a timed CLI run and table formatting."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np

from stylejax.config import Config
from stylejax.engine import execute
from stylejax.engine import plan as planning
from stylejax.model.weights import Weights
from stylejax.objective.total import LossInputs, Objective


def default_images() -> tuple[Path, Path]:
    """The bundled content and style samples."""
    try:
        from stylejax import samples

        return Path(samples.CONTENT), Path(samples.STYLE)
    except (ImportError, AttributeError):
        folder = Path(__file__).resolve().parents[1] / "stylejax" / "samples"
        return folder / "content.jpg", folder / "style.jpg"


@dataclasses.dataclass(frozen=True)
class Problem:
    """A single-scale run as the benchmark measures it: the pipeline's plan and its inputs."""

    plan: planning.Plan
    content: np.ndarray  # (H, W, 3)
    styles: list[np.ndarray]
    init: np.ndarray  # (H, W, 3), the pipeline's own start image
    inputs: LossInputs  # unbatched loss weights
    objective: Objective

    @property
    def weights(self) -> Weights:
        return self.plan.weights


def prepare(config: Config) -> Problem:
    plan = planning.from_config(config)
    scale = plan.scales[-1]
    return Problem(
        plan=plan,
        content=execute.content_at(plan, scale),
        styles=execute.styles_at(plan, scale),
        init=execute.initial_images(plan)[0],
        inputs=LossInputs(
            plan.weights.params,
            execute.targets_at(plan, scale),
            jax.tree.map(lambda a: a[0], plan.loss_weights),
        ),
        objective=plan.objective,
    )


def machine_info(command: list[str], skip_torch: bool) -> dict:
    """The machine, the library versions and the command, for a benchmark report."""
    processor = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        processor = names[0] if names else processor
    except OSError:
        pass
    info = dict(
        processor=processor or "unknown",
        machine=platform.machine(),
        cpus=os.cpu_count(),
        python=platform.python_version(),
        jax=jax.__version__,
        jax_device=str(jax.devices()[0]),
        jax_platform=jax.default_backend(),
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        load_average=os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        command="python " + shlex.join(command),
    )
    if not skip_torch:
        import torch

        info |= dict(torch=torch.__version__, torch_threads=torch.get_num_threads())
    return info


def number(x, fmt=".3g") -> str:
    return "–" if x is None else format(x, fmt)


def ratio(a, b) -> str:
    return "–" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def timed_cli(argv: list[str], folder: Path) -> tuple[float, dict]:
    """Wall seconds of a whole `python -m stylejax.run` process, and its JSON log."""
    log = folder / f"log{len(list(folder.iterdir()))}.json"
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "stylejax.run", *argv, "--log", str(log), "--overwrite"],
        check=True,
        capture_output=True,
        cwd=folder,
    )
    return time.perf_counter() - start, json.loads(log.read_text())
