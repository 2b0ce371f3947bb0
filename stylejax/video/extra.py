"""The optional `[video]` extra: PyAV (video files, with FFmpeg in its wheels) and OpenCV (optical
flow). Both are imported only when needed, through `require`, so that `stylejax.video` itself
imports without them and a missing extra is one line naming the install command."""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRA = "stylejax[video]"
INSTALL = f'pip install "{EXTRA}"'

# Import name -> the distribution that provides it (what the error message names).
_DISTRIBUTIONS = {"av": "av (PyAV)", "cv2": "opencv-python-headless"}


class VideoExtraMissingError(ImportError, ValueError):
    """A package of the `[video]` extra is not installed.

    An ImportError, and also a ValueError so that the command line treats it as bad input: one
    line on stderr and exit 2.
    """


def require(module: str) -> ModuleType:
    """Imports `module` ("av" or "cv2") or raises VideoExtraMissingError naming the install."""
    if module not in _DISTRIBUTIONS:
        raise ValueError(f"{module!r} is not part of the video extra; expected one of av, cv2")
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise VideoExtraMissingError(
            f"video needs {_DISTRIBUTIONS[module]}, which is not installed "
            f"({' '.join(str(e).split())}): {INSTALL}"
        ) from None
