"""Video: the building blocks of frame-coherent style transfer (Ruder, Dosovitskiy & Brox 2016,
2018).

- `clip`: reading and writing clips (video files through PyAV, folders of numbered images);
- `flow`: DIS optical flow both ways and the forward-backward consistency check, cached;
- `warp`: bilinear backward warping in JAX;
- `temporal`: the temporal loss, long-term weights, warped init and multi-pass blend;
- `metric`: the temporal error of a stylized clip.

`clip` and `flow` need the `[video]` extra (PyAV, OpenCV), imported only when used; without it
they raise VideoExtraMissingError naming `pip install "stylejax[video]"`.
"""

from stylejax.video.clip import Clip, VideoError, read, write
from stylejax.video.extra import VideoExtraMissingError
from stylejax.video.flow import ClipFlow, cached_clip_flow, clip_flow, reliability
from stylejax.video.metric import temporal_error, temporal_errors
from stylejax.video.temporal import (
    long_term_temporal_loss,
    long_term_weights,
    multipass_blend,
    temporal_loss,
    warp_neighbours,
    warped_init,
)
from stylejax.video.warp import warp

__all__ = [
    "Clip",
    "ClipFlow",
    "VideoError",
    "VideoExtraMissingError",
    "cached_clip_flow",
    "clip_flow",
    "long_term_temporal_loss",
    "long_term_weights",
    "multipass_blend",
    "read",
    "reliability",
    "temporal_error",
    "temporal_errors",
    "temporal_loss",
    "warp",
    "warp_neighbours",
    "warped_init",
    "write",
]
