"""A video run: the temporal term in the loss (against NumPy), the two schedules lowering the
temporal error of independent frames, the library API (`Stylizer.stylize_video`) and the
video settings' errors. Tiny clips made here, random weights."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import stylejax
from stylejax import ConfigError
from stylejax.model.vgg import TORCHVISION
from stylejax.objective.total import (
    FrameInputs,
    LossInputs,
    LossWeights,
    Objective,
    compute_targets,
    total_loss,
)
from stylejax.video import metric
from stylejax.video.settings import VideoSettings, from_video_options
from tests.reference import random_params
from tests.tiny import FAST_OPTIONS, smooth_image
from tests.video_clips import panned

pytest.importorskip("cv2")

COUNT, HEIGHT, WIDTH = 8, 48, 64
SHIFT = (2, 1)  # (dx, dy) pixels a frame
STYLE = smooth_image(2, 48, 48)
OPTIONS = FAST_OPTIONS | dict(size=WIDTH, evaluations=24)


@pytest.fixture(scope="module")
def stylizer(random_weights):
    return stylejax.Stylizer(weights=random_weights)


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """8 frames of a texture panning by SHIFT a frame."""
    return panned(HEIGHT, WIDTH, [(SHIFT[0] * k, SHIFT[1] * k) for k in range(COUNT)])


def known_error(frames) -> float:
    """The temporal error under the pan's exact flow (pixels from outside the frame left out)."""
    to_past = np.zeros((COUNT, HEIGHT, WIDTH, 2), np.float32)
    to_past[..., 0], to_past[..., 1] = -SHIFT[0], -SHIFT[1]
    c = np.ones((COUNT, HEIGHT, WIDTH), np.float32)
    c[:, : SHIFT[1]], c[:, :, : SHIFT[0]] = 0, 0
    return metric.temporal_error(np.stack(frames).astype(np.float32) / 255, to_past, c)


# The loss


def test_the_frame_inputs_replace_the_content_target_and_add_the_temporal_loss():
    objective = Objective(("relu2_1",), ("relu1_1", "relu2_1"), "avg", TORCHVISION)
    params = random_params(seed=3)
    rng = np.random.default_rng(0)
    content, own, style, image = rng.uniform(size=(4, 16, 16, 3)).astype(np.float32)
    targets = compute_targets(objective, params, content, [style], [1.0])
    weights = LossWeights(
        {"relu2_1": jnp.float32(1.0)},
        {k: jnp.float32(50.0) for k in objective.style_layers},
        jnp.float32(0.0),
    )
    still = jax.jit(total_loss, static_argnums=2)
    plain, terms = still(image, LossInputs(params, targets, weights), objective)
    features = {
        name: np.asarray(f)
        for name, f in objective.features(params, own[None], objective.content_layers).items()
    }
    warped = rng.uniform(size=(3, 16, 16, 3)).astype(np.float32)
    tied_weights = rng.uniform(size=(3, 16, 16)).astype(np.float32)

    def with_frame(content_features, weight):
        frame = FrameInputs(content_features, warped, tied_weights, jnp.float32(weight))
        return still(image, LossInputs(params, targets, weights, frame), objective)

    # The clip's own content target and no temporal weight: the still image's loss, exactly.
    same, same_terms = with_frame(targets.content, 0.0)
    assert float(same) == float(plain) and float(same_terms["content"]) == float(terms["content"])
    # The frame's own content target replaces the clip's.
    other, other_terms = with_frame(features, 0.0)
    own_content = np.mean(
        (np.asarray(objective.features(params, image[None])["relu2_1"]) - features["relu2_1"]) ** 2
    )
    assert float(other_terms["content"]) == pytest.approx(own_content, rel=1e-5)
    # The temporal term: Σ_k mean(c_k (x - ω_k)²), each neighbour with its own weights.
    expected = sum(np.mean(tied_weights[k][..., None] * (image - warped[k]) ** 2) for k in range(3))
    tied, _ = with_frame(features, 7.0)
    assert float(tied) - float(other) == pytest.approx(7.0 * expected, rel=1e-4)


# The schedules, through the library API


@pytest.fixture(scope="module")
def independent(stylizer, clip):
    """The baseline: every frame on its own (multipass with one pass)."""
    return stylizer.stylize_video(list(clip), STYLE, schedule="multipass", passes=1, **OPTIONS)


def test_sequential_lowers_the_temporal_error(stylizer, clip, independent):
    frames = stylizer.stylize_video(list(clip), STYLE, schedule="sequential", **OPTIONS)
    assert known_error(frames) < 0.3 * known_error(independent)


def test_multipass_lowers_the_temporal_error(stylizer, clip, independent):
    frames = stylizer.stylize_video(
        list(clip), STYLE, schedule="multipass", passes=6, **(OPTIONS | dict(evaluations=36))
    )
    assert known_error(frames) < 0.6 * known_error(independent)


def test_frames_come_back_in_their_kind_and_the_callback_sees_frame_indices(stylizer, clip):
    # The shapes of the runs above: the compiled programs are reused.
    pictures = [Image.fromarray((frame * 255).astype(np.uint8)) for frame in clip[:3]]
    updates = []
    out = stylizer.stylize_video(
        pictures,
        STYLE,
        callback=updates.append,
        schedule="sequential",
        **(OPTIONS | dict(evaluations=4)),
    )
    assert len(out) == 3 and all(isinstance(p, Image.Image) and p.size == (64, 48) for p in out)
    assert sorted({u.frame for u in updates}) == [0, 1, 2]
    assert all(isinstance(u.image, Image.Image) for u in updates)
    assert updates[-1].evaluations == updates[-1].budget == 12
    floats = stylizer.stylize_video(
        [frame.astype(np.float64) for frame in clip],
        STYLE,
        schedule="multipass",
        passes=2,
        **(OPTIONS | dict(evaluations=4)),
    )
    assert [f.dtype for f in floats] == [np.float64] * COUNT and floats[0].shape == (48, 64, 3)


def test_the_callback_stops_a_run(stylizer, clip):
    out = stylizer.stylize_video(
        list(clip[:4]),
        STYLE,
        callback=lambda update: update.frame == 1,
        schedule="sequential",
        **(OPTIONS | dict(evaluations=4)),
    )
    assert len(out) == 2  # frame 0 finished, frame 1 as it stood


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (dict(temporal_weight=-1.0), "temporal_weight"),
        (dict(temporal_offsets=[0, 1]), "temporal_offsets"),
        (dict(temporal_offsets="1"), "temporal_offsets"),
        (dict(schedule="parallel"), "schedule"),
        (dict(passes=0), "passes"),
        (dict(blend=1.5), "blend"),
        (dict(first_frame_evaluations=0), "first_frame_evaluations"),
        (dict(style_weight=[1e5, 1e6]), "style_weight"),  # no sweeps
        (dict(schedule="multipass", first_frame_evaluations=50), "first_frame_evaluations"),
        (dict(schedule="multipass", passes=30, evaluations=20), "passes"),
        (dict(schedule="multipass", passes=2, optimizer="jaxopt-lbfgsb"), "optimizer"),
        (dict(sizes=32), "sizes"),
        (dict(preset="seed"), "preset"),  # as the video command line, which has no --preset
    ],
)
def test_bad_video_options_raise_config_error_naming_the_option(stylizer, clip, options, field):
    with pytest.raises(ConfigError) as caught:
        stylizer.stylize_video(list(clip[:2]), STYLE, **options)
    assert caught.value.field == field and "--" not in str(caught.value)


def test_frames_of_different_sizes_or_none_are_refused(stylizer, clip):
    with pytest.raises(ValueError, match="frame 1 is 32x48, frame 0 is 64x48"):
        stylizer.stylize_video([clip[0], clip[1][:, :32]], STYLE, size=32)
    with pytest.raises(ValueError, match="no frames"):
        stylizer.stylize_video([], STYLE)


def test_settings_defaults_and_offsets_are_sorted():
    config, settings = from_video_options({"temporal_offsets": [4, 1, 2, 2], "size": 64})
    assert settings.temporal_offsets == (1, 2, 4) and config.size == 64
    assert VideoSettings().schedule is None  # chosen by the backend
