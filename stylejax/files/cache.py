"""stylejax's cache folder, and JAX's persistent compilation cache, on by default in it.

The cache folder is $STYLEJAX_CACHE, else $XDG_CACHE_HOME/stylejax (~/.cache/stylejax): the
user's, never a source checkout.

A run compiles the same XLA programs for the same shapes every time (3-6 s on CPU). With the
cache on, the first run writes each compiled program to disk and later runs with the same
shapes, settings, JAX version and device read it back instead of compiling. Entries are keyed
by all of those, so a stale entry is never used; JAX keeps the folder under `MAX_BYTES`,
evicting the least recently used entries first.

Call `enable()` before the first computation; the CLI calls it unless told not to
(`STYLEJAX_NO_COMPILE_CACHE=1`, see `opted_out`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import jax
from jax.experimental.compilation_cache import compilation_cache

ENV_CACHE = "STYLEJAX_CACHE"
ENV_OPT_OUT = "STYLEJAX_NO_COMPILE_CACHE"
FOLDER = "jax-compilation-cache"  # inside cache_dir()
# JAX caches only programs that took at least 1 s to compile by default. A CPU run of the tiny
# preset asks for 131 programs: the loop's few big ones and many small eager ones (~20 ms
# each), which add up to seconds. Caching all of them costs 1.3 MB and, measured, saved more
# than caching only those over 0.1 s (4-9 programs), so every program is cached.
MIN_COMPILE_SECONDS = 0.0
MAX_BYTES = 2**30  # 1 GiB; JAX evicts under a file lock, hence the filelock dependency


def cache_dir() -> Path:
    """$STYLEJAX_CACHE, else $XDG_CACHE_HOME/stylejax, else ~/.cache/stylejax."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "stylejax"


def default_folder() -> Path:
    """`jax-compilation-cache/` in the stylejax cache folder (see `cache_dir`)."""
    return cache_dir() / FOLDER


def opted_out(environ: Mapping[str, str] = os.environ) -> bool:
    """True when $STYLEJAX_NO_COMPILE_CACHE is set to anything but "" or "0"."""
    return environ.get(ENV_OPT_OUT, "") not in ("", "0")


def enable(
    folder: str | os.PathLike | None = None,
    *,
    enabled: bool = True,
    min_compile_seconds: float = MIN_COMPILE_SECONDS,
) -> Path | None:
    """Turns on JAX's persistent compilation cache in `folder` (default: `default_folder()`).

    Returns the folder, or None when `enabled` is False (JAX's settings are then left as they
    are) or the folder cannot be created (a cache is never worth failing a run for).
    """
    if not enabled:
        return None
    path = Path(folder).expanduser() if folder is not None else default_folder()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_seconds))
    # -1: entries of any size (0 would let JAX substitute a file-system-specific minimum).
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    # JAX decides once per process, at the first compilation, whether the cache is in use; if
    # that already happened without a folder, this makes it decide again.
    compilation_cache.reset_cache()
    return path
