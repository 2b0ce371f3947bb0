"""Helpers the benchmark scripts share: the machine, timed child processes, pairs, tables."""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STDERR_TAIL = 2000  # characters of a failed child's stderr worth showing


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
