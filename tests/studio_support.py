"""Shared helpers for the studio tests: random weights, tiny images, a gated stylizer, SSE."""

from __future__ import annotations

import atexit
import functools
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

import stylejax
from stylejax.model import weights
from stylejax.model.vgg import TORCHVISION
from tests.reference import random_oihw_layers


def write_random_weights(path: Path, seed: int = 3) -> Path:
    """A random VGG19 (torchvision layout) as an .h5 that Stylizer(weights=path) accepts."""
    layers = {
        name: (kernel.transpose(2, 3, 1, 0), bias)
        for name, (kernel, bias) in random_oihw_layers(seed).items()
    }
    weights.save(
        path,
        layers,
        TORCHVISION,
        source="torchvision",
        source_file="random",
        source_sha256="0" * 64,
    )
    return path


@functools.cache
def random_weights_file() -> Path:
    """One random-weights file for the whole test session (removed at exit)."""
    folder = Path(tempfile.mkdtemp(prefix="stylejax-studio-test-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return write_random_weights(folder / "random.h5")


@functools.cache
def warm_stylizer() -> stylejax.Stylizer:
    """One Stylizer on those weights for the whole session: its compiled programs are reused
    by every test that runs the same shapes and options."""
    return stylejax.Stylizer(random_weights_file())


def png_bytes(seed: int, size: tuple[int, int] = (40, 32)) -> bytes:
    """A small random RGB PNG (width, height)."""
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def job_files(content: bytes, styles: list[bytes], options: dict | None = None) -> list:
    """The multipart `files` argument of httpx for POST /api/jobs."""
    files = [("content", ("photo.png", content, "image/png"))]
    files += [("style", (f"painting{i}.png", s, "image/png")) for i, s in enumerate(styles)]
    if options is not None:
        files.append(("options", (None, json.dumps(options))))
    return files


def parse_events(text: str) -> list[tuple[str, dict]]:
    """(event name, JSON data) of every event in a text/event-stream body."""
    events = []
    for block in text.split("\n\n"):
        name, data = "message", None
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data = json.loads(line[len("data: ") :])
        if data is not None:
            events.append((name, data))
    return events


class GatedStylizer:
    """A stand-in for stylejax.Stylizer whose runs wait on a gate, for tests that must
    control timing (queue order and positions). Each run sends an update, then waits for
    `gate` before finishing; it records the order in which jobs ran."""

    def __init__(self):
        self.gate = threading.Event()
        self.started = threading.Event()
        self.ran: list[str] = []

    def stylize(self, content, style, callback=None, **options):
        self.ran.append(Path(content).parent.name)
        image = Image.new("RGB", (8, 8), (options.get("seed", 0) % 256, 0, 0))
        losses = [{"total": 1.0, "content": 1.0, "style": 0.0, "tv": 0.0}]
        record = losses[0] | {"iteration": 0, "evaluations": 1, "seconds": 0.0, "size": [8, 8]}
        update = stylejax.Update(1, 10, 0.0, (8, 8), losses, [[record]], [image])
        stop = callback(update) if callback else False
        self.started.set()
        if not stop:
            self.gate.wait(30)
        return image


def free_port() -> int:
    """A TCP port on localhost that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`python -m stylejax.serve` in a subprocess on localhost; SIGTERM on exit."""

    def __init__(self, workdir: Path, weights, port: int, *extra: str):
        self.workdir, self.port = Path(workdir), port
        self.url = f"http://127.0.0.1:{port}/"
        self.command = [
            sys.executable,
            "-m",
            "stylejax.serve",
            "--port",
            str(port),
            "--workdir",
            str(workdir),
            "--weights",
            str(weights),
            *extra,
        ]
        self.process: subprocess.Popen | None = None
        self.returncode: int | None = None

    def __enter__(self) -> ServerProcess:
        root = Path(__file__).resolve().parents[1]
        # Hermetic: no persistent compilation cache (measured: no faster here), and nothing
        # written to the user's stylejax cache.
        cache = str(random_weights_file().parent / "cache")
        env = os.environ | {"STYLEJAX_CACHE": cache, "STYLEJAX_NO_COMPILE_CACHE": "1"}
        env["PYTHONPATH"] = os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])
        self.log = open(self.workdir.parent / f"server-{self.port}.log", "w+")  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command, cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.output()}")
            try:
                if json.loads(self.get("api/health")) == {"status": "ok"}:
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the server did not answer within 120 s: {self.output()}")

    def __exit__(self, *exc) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.returncode = self.process.wait()
        self.output()
        self.log.close()

    def output(self) -> str:
        """What the server printed (kept after it exited)."""
        if not self.log.closed:
            self.log.flush()
            self.log.seek(0)
            self._output = self.log.read()
        return self._output

    @property
    def stopped_cleanly(self) -> bool:
        """Exited after SIGTERM: uvicorn re-raises the signal once its shutdown is done."""
        return self.returncode in (0, -signal.SIGTERM) and "Traceback" not in self.output()

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=30) as response:
            return response.read()
