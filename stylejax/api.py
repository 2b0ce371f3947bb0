"""The library API: `stylejax.stylize(content, style, **options)` and `stylejax.Stylizer`.

Images go in and come out as the caller has them: a PIL image gives a PIL image, a NumPy array
an array of the same dtype, a path a PIL image. Options are `Config` field names; a list of
values on a sweepable option makes a sweep and returns one image per member.

    import stylejax
    from PIL import Image

    stylizer = stylejax.Stylizer()          # loads the weights once
    picture = stylizer.stylize(Image.open("photo.jpg"), Image.open("painting.jpg"), size=384)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from stylejax import images, pipeline
from stylejax.config import Config, ConfigError
from stylejax.features import load_weights
from stylejax.sweep import SWEEPABLE, members
from stylejax.weights import Weights

# Config fields that belong to the command line (files it writes, how it resumes) or that the
# API takes as arguments of their own.
NOT_OPTIONS = (
    "content",
    "style",
    "weights",
    "output",
    "log",
    "tensorboard",
    "checkpoint_every",
    "resume",
    "overwrite",
)
OPTIONS = tuple(f.name for f in dataclasses.fields(Config) if f.name not in NOT_OPTIONS)
# Options whose value is a sequence by nature, not a sweep.
SEQUENCES = ("style_layers", "style_blend", "style_layer_weights")

ImageLike = Image.Image | np.ndarray | str | os.PathLike


@dataclasses.dataclass(frozen=True)
class Update:
    """What a `callback` receives after every chunk of evaluations (every `save_every`,
    default 10), and once for the start image. Return True from the callback to stop."""

    evaluations: int  # cumulative over the whole run (all scales)
    budget: int  # the run's evaluation budget
    seconds: float  # optimization seconds so far (compilation excluded)
    size: tuple[int, int]  # (height, width) of the current scale
    losses: list[dict[str, float]]  # per member: latest total, content, style, tv
    histories: list[list[dict]]  # per member: every record so far
    images: list[Any]  # per member: the latest image, in the kind of `content`
    first: int = 0  # index of images[0] among a sweep's members (memory may split a sweep)

    @property
    def loss(self) -> dict[str, float]:
        return self.losses[0]

    @property
    def image(self) -> Any:
        return self.images[0]


def check_options(**options) -> tuple[Config, dict[str, tuple]]:
    """Validates options without loading anything: (the config, the sweep axes).

    Raises ConfigError naming the option."""
    for name in options:
        if name in NOT_OPTIONS:
            raise ConfigError(
                name, "is not an option of the library API (a CLI setting or an argument)"
            )
        if name not in OPTIONS:
            raise ConfigError(name, f"is not an option; options are {', '.join(OPTIONS)}")
    scalars, axes = {}, {}
    for name, value in options.items():
        if isinstance(value, (list, tuple)) and name not in SEQUENCES:
            if name not in SWEEPABLE:
                raise ConfigError(
                    name, f"takes one value; only {', '.join(SWEEPABLE)} can be swept with a list"
                )
            if not value:
                raise ConfigError(name, "got an empty list; give at least one value")
            values = tuple(dict.fromkeys(value))
            if len(values) > 1:
                axes[name] = values
            value = values[0]
        elif name in SEQUENCES and value is not None and not isinstance(value, str):
            value = tuple(value)
        scalars[name] = value
    try:
        config = Config(**scalars)
    except TypeError as e:
        raise ConfigError("options", f"are malformed ({e})") from None
    members(config, axes)  # every member is a valid Config; the optimizer can be swept
    return config, axes


class Stylizer:
    """Style transfer with the weights loaded once and compiled programs reused.

    Not thread-safe: call `stylize` from one thread at a time.
    """

    def __init__(self, weights: str | os.PathLike | Weights | None = None):
        self.weights = weights if isinstance(weights, Weights) else load_weights(weights)

    def stylize(
        self,
        content: ImageLike,
        style: ImageLike | Sequence[ImageLike],
        *,
        callback: Callable[[Update], bool | None] | None = None,
        **options,
    ):
        """The stylized image, in the kind of `content` (a list of them for a sweep).

        Args:
          content: a PIL image, a NumPy array (H, W, 3) of uint8 or of floats in [0, 1], or a
            path.
          style: one of those, or a list of them (blended; see `style_blend`).
          callback: gets an `Update` after every chunk; returning True stops the run early
            and the latest images are returned.
          **options: `Config` fields (size, evaluations, style_weight, min_size, ...).
        """
        config, axes = check_options(**options)
        styles = list(style) if isinstance(style, (list, tuple)) else [style]
        if not styles:
            raise ConfigError("style", "got an empty list; give at least one style image")
        as_input = lambda value, role: _to_pil(value, role, config.max_pixels)  # noqa: E731
        init = None
        if config.init not in ("content", "random"):
            init = as_input(config.init, "init")
        plan = pipeline.prepare(
            config,
            axes,
            content=as_input(content, "content"),
            styles=[as_input(s, "style") for s in styles],
            weights=self.weights,
            init=init,
        )
        profile = images.icc_profile(plan.content)
        like = lambda array: _like(array, content, profile)  # noqa: E731
        relay = None
        if callback is not None:

            def relay(snap: pipeline.Snapshot) -> bool:
                update = Update(
                    evaluations=snap.evaluations,
                    budget=snap.budget,
                    seconds=snap.seconds,
                    size=snap.shape,
                    losses=snap.terms,
                    histories=snap.histories,
                    images=[like(image) for image in snap.images],
                    first=snap.first,
                )
                return bool(callback(update))

        results = pipeline.run(plan, callback=relay)
        out = [None if r is None else like(r.image) for r in results]
        return out if axes else out[0]


def stylize(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    *,
    weights: str | os.PathLike | Weights | None = None,
    callback: Callable[[Update], bool | None] | None = None,
    **options,
):
    """One-off `Stylizer(weights).stylize(content, style, callback=callback, **options)`."""
    return Stylizer(weights).stylize(content, style, callback=callback, **options)


def _to_pil(value: ImageLike, role: str, max_pixels: int) -> Image.Image:
    """Any accepted image as an RGB Pillow image, through the CLI's guarded decoding."""
    if isinstance(value, (str, os.PathLike)):
        return images.decode(value, max_pixels=max_pixels)
    if isinstance(value, Image.Image):
        width, height = value.size
        if width * height > max_pixels:
            raise images.ImageError(
                f"{role}: the image is {width}x{height} pixels, more than max_pixels "
                f"({max_pixels}); downscale it or raise max_pixels"
            )
        return images.to_rgb(value)
    if isinstance(value, np.ndarray):
        return images.to_pil(_float_array(value, role))
    raise images.ImageError(
        f"{role}: expected a PIL image, a NumPy array or a path, got {type(value).__name__}"
    )


def _float_array(value: np.ndarray, role: str) -> np.ndarray:
    if value.ndim != 3 or value.shape[-1] != 3:
        raise images.ImageError(f"{role}: an array must be (H, W, 3) RGB, got shape {value.shape}")
    if value.dtype == np.uint8:
        return value.astype(np.float32) / 255.0
    if not np.issubdtype(value.dtype, np.floating):
        raise images.ImageError(f"{role}: an array must be uint8 or float, got {value.dtype}")
    if not np.all(np.isfinite(value)) or value.min() < 0 or value.max() > 1:
        raise images.ImageError(f"{role}: a float array must hold finite values in [0, 1]")
    return value.astype(np.float32)


def _like(array: np.ndarray, content: ImageLike, profile: bytes | None):
    """A float (H, W, 3) result in the kind of `content`; a PIL image carries the content's
    ICC profile, which `Image.save` then embeds."""
    if isinstance(content, np.ndarray):
        if content.dtype == np.uint8:
            return np.asarray(images.to_pil(array))
        return np.asarray(array, content.dtype)
    image = images.to_pil(array)
    if profile:
        image.info["icc_profile"] = profile
    return image
