"""What the benchmark scripts share: the machine, timed child processes, the bundled images,
a single-scale problem, pairs, tables and contact sheets."""

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
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from stylejax.config import Config
from stylejax.engine import execute
from stylejax.engine import plan as planning
from stylejax.model.weights import Weights
from stylejax.objective.total import LossInputs, Objective

REPO = Path(__file__).resolve().parents[1]
STDERR_TAIL = 2000  # characters of a failed child's stderr worth showing
FONT_SIZE = 15
LINE = FONT_SIZE + 4  # pixels per line of text on a contact sheet


def processor_name() -> str:
    """The CPU's model name (Linux), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    """Where and when a benchmark ran."""
    return dict(
        processor=processor_name(),
        cpus=os.cpu_count(),
        python=platform.python_version(),
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        load_average=os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    )


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python: this checkout first on the path (so it runs the
    stylejax next to the script, not whichever one is installed), plus `extra`."""
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@dataclasses.dataclass(frozen=True)
class Timing:
    wall: float  # seconds, the whole process
    cpu: float  # user + system seconds of the process and all its threads
    load_before: float | None  # 1-minute load average when it started


class ChildFailed(RuntimeError):
    """A benchmarked process exited non-zero."""


def run_timed(argv: Sequence[str], *, env: dict[str, str] | None = None) -> Timing:
    """Runs `argv` to completion; its wall and CPU seconds (from the kernel, via wait4).
    Raises ChildFailed with the end of its stderr if it fails."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    start = time.perf_counter()
    child = subprocess.Popen(
        list(argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    child.stderr.close()
    if child.returncode != 0:
        raise ChildFailed(
            f"{' '.join(argv[:4])} ... exited {child.returncode}:\n{stderr[-STDERR_TAIL:]}"
        )
    return Timing(wall=wall, cpu=usage.ru_utime + usage.ru_stime, load_before=load)


def parse_pair(text: str) -> tuple[Path, Path]:
    """'CONTENT:STYLE' (two image paths) -> (content, style)."""
    content, sep, style = text.partition(":")
    if not sep or not content or not style:
        raise ValueError(f"a pair is CONTENT:STYLE (two image paths), got {text!r}")
    return Path(content), Path(style)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; floats as given (format them first)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


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
    info = machine() | dict(
        machine=platform.machine(),
        jax=jax.__version__,
        jax_device=str(jax.devices()[0]),
        jax_platform=jax.default_backend(),
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


# --- contact sheets ---------------------------------------------------------------------------


def font(size: int = FONT_SIZE) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def tile(image: np.ndarray | Image.Image, height: int, lines: list[str]) -> Image.Image:
    """The image scaled to `height` with `lines` of text above it."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8))
    width = max(1, round(image.width * height / image.height))
    top = LINE * len(lines) + 4
    out = Image.new("RGB", (width, height + top), "white")
    out.paste(image.resize((width, height), Image.Resampling.LANCZOS), (0, top))
    draw = ImageDraw.Draw(out)
    for i, line in enumerate(lines):
        draw.text((4, 2 + i * LINE), line, fill="black", font=font())
    return out


def contact_sheet(rows: list[tuple[str, list[Image.Image]]], gap: int = 8) -> Image.Image:
    """Rows of tiles side by side, each row under its caption."""
    width = max(sum(t.width for t in tiles) + gap * (len(tiles) - 1) for _, tiles in rows)
    height = sum(LINE + max(t.height for t in tiles) + gap for _, tiles in rows)
    sheet = Image.new("RGB", (width, height), "white")
    draw, y = ImageDraw.Draw(sheet), 0
    for caption, tiles in rows:
        draw.text((4, y), caption, fill="black", font=font())
        y, x = y + LINE, 0
        for t in tiles:
            sheet.paste(t, (x, y))
            x += t.width + gap
        y += max(t.height for t in tiles) + gap
    return sheet
