"""stylejax.files.cache: a second process reads the programs the first one compiled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from stylejax.files import cache as compile_cache

ROOT = Path(__file__).resolve().parents[1]

# Compiles one jitted function in a fresh process and reports JAX's cache events.
SCRIPT = """
import json, sys
import jax, jax.numpy as jnp
events = []
jax.monitoring.register_event_listener(lambda name, **kw: events.append(name))
from stylejax.files import cache as compile_cache
folder = compile_cache.enable(None if sys.argv[1] == "default" else sys.argv[1],
                              enabled=sys.argv[2] == "on")
x = jnp.arange(12.0).reshape(3, 4)  # made before the jit, so its own programs count too
before = len(events)
y = jax.jit(lambda a: jnp.tanh(a) @ a.T + 1.0)(x)
print(json.dumps({
    "folder": None if folder is None else str(folder),
    "requests": events[before:].count("/jax/compilation_cache/compile_requests_use_cache"),
    "hits": events[before:].count("/jax/compilation_cache/cache_hits"),
    "value": float(y.sum()),
    "min_seconds": jax.config.jax_persistent_cache_min_compile_time_secs,
    "max_bytes": jax.config.jax_compilation_cache_max_size,
}))
"""


def _compile(folder: str, state: str = "on", environ: dict | None = None) -> dict:
    env = os.environ | {"PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"} | (environ or {})
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, folder, state],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_second_process_reads_what_the_first_compiled(tmp_path):
    folder = tmp_path / compile_cache.FOLDER
    first = _compile("default", environ={"STYLEJAX_CACHE": str(tmp_path)})
    entries = sorted(p.name for p in folder.iterdir())
    assert first["folder"] == str(folder) and first["min_seconds"] == 0.0
    assert first["max_bytes"] == compile_cache.MAX_BYTES
    assert first["requests"] == 1 and first["hits"] == 0
    assert any(name.endswith("-cache") for name in entries)

    second = _compile(str(folder))
    assert second["requests"] == 1 and second["hits"] == 1
    assert second["value"] == first["value"]
    assert sorted(p.name for p in folder.iterdir()) == entries  # read, nothing new written

    opted_out = _compile(str(folder), state="off")
    assert opted_out["folder"] is None and opted_out["hits"] == 0


def test_the_environment_opt_out():
    assert compile_cache.opted_out({"STYLEJAX_NO_COMPILE_CACHE": "1"})
    assert not compile_cache.opted_out({"STYLEJAX_NO_COMPILE_CACHE": "0"})
    assert not compile_cache.opted_out({})


def test_an_unwritable_folder_leaves_the_cache_off(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert compile_cache.enable(blocker / "cache") is None
