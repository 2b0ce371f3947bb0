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
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from PIL import Image

from stylejax.config import Config, from_options
from stylejax.engine.execute import execute
from stylejax.engine.plan import check_settings, prepare
from stylejax.files import images
from stylejax.model.load import load_weights
from stylejax.model.weights import Weights
from stylejax.optim.loop import Update
from stylejax.video import schedule as video_schedule
from stylejax.video.flow import clip_flow
from stylejax.video.settings import from_video_options
from stylejax.video.setup import prepare_video

ImageLike = Image.Image | np.ndarray | str | os.PathLike


def check_options(**options) -> tuple[Config, dict[str, tuple]]:
    """Validates options without loading anything: (the config, the sweep axes).

    Raises ConfigError naming the option."""
    config, axes = from_options(options)
    check_settings(config, axes)
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
        mask: ImageLike | None = None,
        style_masks: Sequence[ImageLike | None] | None = None,
        callback: Callable[[Update], bool | None] | None = None,
        **options,
    ):
        """The stylized image, in the kind of `content` (a list of them for a sweep).

        Args:
          content: a PIL image, a NumPy array (H, W, 3) of uint8 or of floats in [0, 1], or a
            path.
          style: one of those, or a list of them (blended; see `style_blend`).
          mask: spatial control (Gatys et al. 2017): a label image (PIL image, array or path,
            any size): each colour is a region, and region k takes the k-th style image
            (options `mask_colors`, `keep_content`, `mask_blur`, `mask_erode`).
          style_masks: per style image, a mask whose white part is learnt from, or None for
            the whole image.
          callback: gets an `Update` after every chunk (its `images` in the kind of
            `content`); returning True stops the run early and the latest images are
            returned.
          **options: `Config` fields (size, evaluations, style_weight, min_size, ...), and
            `preset` ("seed", "classic", "tiny"; as `--preset`) that they apply on top of.
        """
        config, axes = check_options(**options)
        styles = list(style) if isinstance(style, (list, tuple)) else [style]
        as_input = lambda value, role: _to_pil(value, role, config.max_pixels)  # noqa: E731
        init = None
        if config.init not in ("content", "random"):
            init = as_input(config.init, "init")
        plan = prepare(
            config,
            axes,
            content=as_input(content, "content"),
            styles=[as_input(s, "style") for s in styles],
            weights=self.weights,
            init=init,
            mask=mask,
            style_masks=_listed(style_masks),
        )
        profile = images.icc_profile(plan.content)
        like = lambda array: _like(array, content, profile)  # noqa: E731
        relay = None
        if callback is not None:

            def relay(update: Update) -> bool:
                pictures = [like(image) for image in update.images]
                return bool(callback(dataclasses.replace(update, images=pictures)))

        results = execute(plan, callback=relay)
        out = [None if r is None else like(r.image) for r in results]
        return out if axes else out[0]

    def stylize_video(
        self,
        frames: Iterable[Image.Image | np.ndarray],
        style: ImageLike | Sequence[ImageLike],
        *,
        callback: Callable[[Update], bool | None] | None = None,
        **options,
    ) -> list:
        """A stylized clip: one picture per frame, each in the kind of its frame, at the
        working size (`size`). Needs the `[video]` extra (OpenCV's optical flow).

        Args:
          frames: the clip's frames in order, PIL images or NumPy arrays (H, W, 3) of uint8 or
            floats in [0, 1], all of one size.
          style: as for `stylize`.
          callback: gets an `Update` after every chunk; `update.frame` is the index of
            `update.images[0]` in the clip. Returning True stops the run: the frames
            finished so far come back (sequential), or every frame's latest picture
            (multipass).
          **options: `Config` fields (size, evaluations: each frame's budget, ...) and the
            video settings (`stylejax.video.settings.VideoSettings`: temporal_weight,
            temporal_offsets, schedule, passes, blend, first_frame_evaluations).
        """
        config, settings = from_video_options(options)
        check_settings(config, {})
        frames = list(frames)
        if not frames:
            raise ValueError("frames: got no frames; give at least one")
        decoded = [
            _to_pil(frame, f"frame {i}", config.max_pixels) for i, frame in enumerate(frames)
        ]
        for index, picture in enumerate(decoded):
            if picture.size != decoded[0].size:
                raise ValueError(
                    f"frame {index} is {picture.size[0]}x{picture.size[1]}, frame 0 is "
                    f"{decoded[0].size[0]}x{decoded[0].size[1]}; give frames of one size"
                )
        styles = list(style) if isinstance(style, (list, tuple)) else [style]
        init = None
        if config.init not in ("content", "random"):
            init = _to_pil(config.init, "init", config.max_pixels)
        vplan = prepare_video(
            config,
            settings,
            np.stack([images.to_array(picture, config.size) for picture in decoded]),
            styles=[_to_pil(s, "style", config.max_pixels) for s in styles],
            weights=self.weights,
            init=init,
        )
        relay = None
        if callback is not None:

            def relay(update: Update) -> bool:
                pictures = [
                    _like(image, frames[update.frame + i], None)
                    for i, image in enumerate(update.images)
                ]
                return bool(callback(dataclasses.replace(update, images=pictures)))

        flow = clip_flow(vplan.frames, settings.temporal_offsets)
        try:
            stylized = video_schedule.run(vplan, flow, callback=relay)
        except video_schedule.Stopped as stop:
            stylized = stop.frames
        pictures = video_schedule.present(vplan, stylized, list(range(len(stylized))))
        return [_like(picture, frames[i], None) for i, picture in enumerate(pictures)]


def stylize(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    *,
    weights: str | os.PathLike | Weights | None = None,
    mask: ImageLike | None = None,
    style_masks: Sequence[ImageLike | None] | None = None,
    callback: Callable[[Update], bool | None] | None = None,
    **options,
):
    """One-off `Stylizer(weights).stylize(content, style, mask=, style_masks=, callback=,
    **options)`."""
    return Stylizer(weights).stylize(
        content, style, mask=mask, style_masks=style_masks, callback=callback, **options
    )


def _listed(masks: ImageLike | Sequence[ImageLike | None] | None) -> list | None:
    """Style masks as a list: one mask alone (for one style image) is a list of one."""
    if masks is None:
        return None
    if isinstance(masks, (str, os.PathLike, Image.Image, np.ndarray)):
        return [masks]
    return list(masks)


def _to_pil(value: ImageLike, role: str, max_pixels: int) -> Image.Image:
    """Any accepted image as an RGB Pillow image, through the CLI's guarded decoding."""
    if isinstance(value, (str, os.PathLike)):
        return images.decode(value, max_pixels=max_pixels)
    if isinstance(value, Image.Image):
        width, height = value.size
        if min(width, height) < 1:
            raise images.ImageError(f"{role}: the image is empty ({width}x{height} pixels)")
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
    if value.ndim != 3 or value.shape[-1] != 3 or min(value.shape[:2]) < 1:
        raise images.ImageError(
            f"{role}: an array must be (H, W, 3) RGB with H, W >= 1, got shape {value.shape}"
        )
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
