"""The pipeline: pyramid scales and budgets, targets per scale, cumulative records, and a sweep
through a pyramid equal to separate runs."""

import numpy as np
import pytest
from PIL import Image

from stylejax.config import Config, ConfigError
from stylejax.engine import execute
from stylejax.engine import plan as planning
from stylejax.model.features import extract
from tests.tiny import FAST_OPTIONS, smooth_image

CONTENT = Image.fromarray(smooth_image(1, 40, 60))  # landscape: width is the longest side
STYLES = [Image.fromarray(smooth_image(2, 48, 48)), Image.fromarray(smooth_image(3, 30, 50))]


def plan_for(weights, axes=None, styles=STYLES[:1], **options):
    config = Config(**(FAST_OPTIONS | options))
    return planning.prepare(config, axes, content=CONTENT, styles=styles, weights=weights)


@pytest.mark.parametrize(
    ("min_size", "size", "step", "evaluations"),
    [(16, 32, 2.0, 20), (12, 48, 2.0, 30), (10, 48, 2.0, 40), (16, 40, 1.5, 25), (8, 64, 2.0, 7)],
)
def test_scales_rise_from_min_size_to_size_and_split_the_budget(
    random_weights, min_size, size, step, evaluations
):
    plan = plan_for(
        random_weights, min_size=min_size, size=size, scale_step=step, evaluations=evaluations
    )
    sizes = [s.size for s in plan.scales]
    assert sizes[0] == min_size and sizes[-1] == size and len(sizes) >= 2
    assert all(a < b for a, b in zip(sizes, sizes[1:], strict=False))
    budgets = [s.evaluations for s in plan.scales]
    assert all(b >= 1 for b in budgets) and sum(budgets) == evaluations
    for scale in plan.scales:  # the content's aspect at each longest side
        assert scale.shape == (round(40 * scale.size / 60), scale.size)
    assert plan.schedule == [[s.size, s.evaluations] for s in plan.scales]


@pytest.mark.parametrize("min_size", [None, 32])
def test_no_min_size_or_min_size_equal_to_size_is_one_scale(random_weights, min_size):
    plan = plan_for(random_weights, min_size=min_size, size=32, evaluations=20)
    assert plan.scales == [planning.Scale(32, (21, 32), 20, margin=2)]


def gram(features: np.ndarray) -> np.ndarray:
    """G = Fᵀ F / (C·H·W) of (1, H, W, C) features, in NumPy."""
    _, h, w, c = features.shape
    flat = np.asarray(features, np.float64).reshape(h * w, c)
    return flat.T @ flat / (c * h * w)


def resized(image: Image.Image, longest: int) -> np.ndarray:
    width, height = image.size
    shape = (round(width * longest / max(image.size)), round(height * longest / max(image.size)))
    return np.asarray(image.resize(shape, Image.Resampling.LANCZOS), np.float32)[None] / 255


def close(got, want):
    """Equal up to float32 rounding of differently compiled convolutions (relative to the
    largest value: the Caffe convention's activations are in the hundreds)."""
    want = np.asarray(want)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())


def test_targets_are_recomputed_at_each_scale(random_weights):
    """Content features of the content at the scale's size; style Grams of each style at
    style_scale x that size, blended."""
    plan = plan_for(
        random_weights,
        styles=STYLES,
        style_blend=(1.0, 3.0),
        min_size=16,
        size=32,
        scale_step=2.0,
        style_scale=1.5,
        evaluations=10,
        style_loss="gram",  # Gram targets, on VGG's own zero padding (as `extract` below)
        padding="zeros",
        margin=0,  # the content target of the picture alone (its margin: test_borders)
    )
    objective, params = plan.objective, random_weights.params
    assert objective.pooling == "max"  # the default's, so the reference below pools the same
    features = lambda image, layers: extract(  # noqa: E731
        params,
        image,
        layers=layers,
        pooling=objective.pooling,
        preprocessing=random_weights.preprocessing,
    )
    assert [s.size for s in plan.scales] == [16, 32]
    for scale in plan.scales:
        targets = execute.targets_at(plan, scale)
        content = resized(CONTENT, scale.size)
        assert content.shape[1:3] == scale.shape
        want = features(content, objective.content_layers)
        for layer in objective.content_layers:
            close(targets.content[layer], want[layer])
        styles = [resized(style, round(scale.size * 1.5)) for style in STYLES]
        grams = [features(style, objective.style_layers) for style in styles]
        for layer in objective.style_layers:
            blended = (gram(grams[0][layer]) + 3 * gram(grams[1][layer])) / 4
            close(targets.style[layer], blended)
    # The two scales' targets really differ (the content's feature maps change shape).
    small, large = (execute.targets_at(plan, s) for s in plan.scales)
    assert small.content["relu2_1"].shape != large.content["relu2_1"].shape


def test_records_carry_their_scale_and_count_over_the_whole_run(random_weights):
    plan = plan_for(random_weights, min_size=16, size=32, scale_step=2.0, evaluations=20)
    snapshots = []
    (result,) = execute.execute(plan, callback=snapshots.append)
    first, second = plan.scales
    history = result.history
    assert [r["evaluations"] for r in history] == list(range(1, 21))
    sizes = [r["size"] for r in history]
    assert sizes == [list(first.shape)] * first.evaluations + [list(second.shape)] * (
        second.evaluations
    )
    seconds = [r["seconds"] for r in history]
    assert seconds == sorted(seconds)
    assert result.evaluations == 20 and result.image.shape == (*second.shape, 3)
    # Snapshots: the start image once, then cumulative evaluations at either scale.
    assert [s.initial for s in snapshots] == [True] + [False] * (len(snapshots) - 1)
    evaluations = [s.evaluations for s in snapshots]
    assert evaluations == sorted(evaluations) and evaluations[-1] == 20
    assert {s.size for s in snapshots} == {first.shape, second.shape}
    assert all(s.images.shape[1:3] == s.size and s.budget == 20 for s in snapshots)


def test_a_sweep_through_a_pyramid_equals_separate_runs(random_weights):
    axes = {"style_weight": (1e4, 1e7)}
    options = dict(min_size=16, size=32, scale_step=2.0, evaluations=14)
    swept = execute.execute(plan_for(random_weights, axes, **options))
    assert len(swept) == 2
    for weight, result in zip(axes["style_weight"], swept, strict=True):
        (single,) = execute.execute(plan_for(random_weights, style_weight=weight, **options))
        assert result.evaluations == single.evaluations == 14
        assert result.image.shape == single.image.shape == (21, 32, 3)
        assert [r["size"] for r in result.history] == [r["size"] for r in single.history]
        # Batched convolutions round differently; the first steps agree tightly.
        for got, want in zip(result.history[:4], single.history[:4], strict=True):
            np.testing.assert_allclose(got["total"], want["total"], rtol=1e-4)
        np.testing.assert_allclose(
            result.history[-1]["total"], single.history[-1]["total"], rtol=0.05
        )
    # Heavier style weight, lower unweighted style loss: the members really differ.
    assert swept[1].history[-1]["style"] < swept[0].history[-1]["style"]


def test_the_plan_refuses_a_first_scale_too_small_for_the_deepest_layer(random_weights):
    """relu3_1 sits behind two poolings: it needs 4 pixels on the shorter side. A 4:1
    panorama at min_size 12 is 3 pixels tall; at 16 it is 4."""
    panorama = Image.fromarray(smooth_image(4, 100, 400))
    options = dict(style_layers=("relu1_1", "relu3_1"), content_layer="relu3_1", size=64)

    def plan(**more):
        config = Config(**(options | more))
        return planning.prepare(
            config, None, content=panorama, styles=STYLES[:1], weights=random_weights
        )

    with pytest.raises(ConfigError, match=r"min_size gives a 12x3 image.*4 pixels layer relu3_1"):
        plan(min_size=12)
    assert plan(min_size=16).scales[0].shape == (4, 16)
    with pytest.raises(ConfigError, match=r"min_size must not exceed size \(64\), got 80"):
        plan(min_size=80)
