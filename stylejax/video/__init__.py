"""Video: frame-coherent style transfer (Ruder, Dosovitskiy & Brox 2016, 2018).

- `clip`: reading and writing clips (video files through PyAV, folders of numbered images);
- `flow`: DIS optical flow both ways and the forward-backward consistency check, cached;
- `warp`: bilinear backward warping in JAX;
- `temporal`: the temporal loss, long-term weights, warped init and multi-pass blend;
- `metric`: the temporal error of a stylized clip;
- `settings`, `setup`, `schedule`, `state`: a video run's settings, its plan, the sequential
  and multipass schedules, and what an interrupted run keeps;
- `main`: the command line, `python -m stylejax.video`.

`clip` and `flow` need the `[video]` extra (PyAV, OpenCV), imported only when used; without it
they raise VideoExtraMissingError naming `pip install "stylejax[video]"`. The names below are
imported on first use, so that `python -m stylejax.video` answers Ctrl-C while JAX loads.
"""

import importlib

# Public name -> the module that defines it.
_EXPORTS = {
    "Clip": "stylejax.video.clip",
    "VideoError": "stylejax.video.clip",
    "read": "stylejax.video.clip",
    "write": "stylejax.video.clip",
    "VideoExtraMissingError": "stylejax.video.extra",
    "ClipFlow": "stylejax.video.flow",
    "cached_clip_flow": "stylejax.video.flow",
    "clip_flow": "stylejax.video.flow",
    "reliability": "stylejax.video.flow",
    "temporal_error": "stylejax.video.metric",
    "temporal_errors": "stylejax.video.metric",
    "long_term_temporal_loss": "stylejax.video.temporal",
    "long_term_weights": "stylejax.video.temporal",
    "multipass_blend": "stylejax.video.temporal",
    "temporal_loss": "stylejax.video.temporal",
    "warp_neighbours": "stylejax.video.temporal",
    "warped_init": "stylejax.video.temporal",
    "warp": "stylejax.video.warp",
    "VideoSettings": "stylejax.video.settings",
    "VideoSettingError": "stylejax.video.settings",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'stylejax.video' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
