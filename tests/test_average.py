"""Iterate averaging: the output is a NumPy-computed EMA of the iterates, with either solver,
in both loops, through a pyramid (each scale starts from it), a sweep and a resumed
checkpoint."""

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from stylejax.config import Config
from stylejax.engine import execute, pyramid
from stylejax.engine import plan as planning
from stylejax.model.vgg import TORCHVISION
from stylejax.objective.total import LossInputs, LossWeights, Objective, compute_targets
from stylejax.optim import checkpoint
from stylejax.optim.solvers import Solver
from tests.reference import random_params
from tests.tiny import FAST_OPTIONS, optimize, smooth_image

STYLE = ("relu1_1", "relu2_1")
OBJECTIVE = Objective(("relu2_1",), STYLE, "avg", TORCHVISION)
DECAY = 0.8


@pytest.fixture(scope="module")
def problem():
    params = random_params(seed=4, upto="relu2_1")
    rng = np.random.default_rng(0)
    content, style, init = rng.uniform(size=(3, 16, 16, 3)).astype(np.float32)
    targets = compute_targets(OBJECTIVE, params, content, [style], [1.0])
    weights = LossWeights(
        {"relu2_1": jnp.float32(1.0)}, {k: jnp.float32(100.0) for k in STYLE}, jnp.float32(0.0)
    )
    return LossInputs(params, targets, weights), init


def numpy_ema(iterates, decay):
    """Bias-corrected EMA after each iterate (Adam's, crowsonkb's), in float64."""
    value, kept, out = 0.0, 1.0, []
    for x in iterates:
        value = decay * value + (1 - decay) * np.asarray(x, np.float64)
        kept *= decay
        out.append(value / (1 - kept))
    return out


@pytest.mark.parametrize(("name", "loop"), [("lbfgs", "host"), ("adam", "device")])
def test_the_output_and_frames_are_the_ema_of_the_iterates(problem, name, loop):
    inputs, init = problem

    def frames(average):
        seen = []
        result = optimize(
            init,
            inputs,
            OBJECTIVE,
            Solver(name, average=average),
            evaluations=12,
            chunk=1,
            callback=lambda p: seen.append(p.images[0]),
            loop=loop,
        )
        return result, seen

    plain, iterates = frames(None)
    averaged, averages = frames(DECAY)
    # Averaging does not change the path, only what is shown and returned.
    assert [r["total"] for r in averaged.history] == [r["total"] for r in plain.history]
    assert len(iterates) == 12  # the start (one evaluation) and 11 steps
    want = numpy_ema(iterates, DECAY)
    for got, expected in zip(averages, want, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(averaged.image, np.clip(want[-1], 0, 1), rtol=1e-5, atol=1e-6)
    assert np.abs(averaged.image - plain.image).max() > 1e-3  # it really averages


def test_bad_decays_are_refused():
    with pytest.raises(ValueError, match="average must be a decay in"):
        Solver("lbfgs", average=1.0)


CONTENT = Image.fromarray(smooth_image(1, 40, 60))
STYLE_IMAGE = Image.fromarray(smooth_image(2, 48, 48))
PYRAMID = dict(min_size=16, size=32, scale_step=2.0, evaluations=12, average=DECAY)


def plan_for(weights, axes=None, **options):
    config = Config(**(FAST_OPTIONS | PYRAMID | options))
    return planning.prepare(config, axes, content=CONTENT, styles=[STYLE_IMAGE], weights=weights)


def test_each_scale_starts_from_the_previous_scales_average(random_weights):
    snapshots = []
    (result,) = execute.execute(plan_for(random_weights, save_every=1), callback=snapshots.append)
    first = [s for s in snapshots if s.scale == 0]
    second = [s for s in snapshots if s.scale == 1]
    start = np.clip(first[-1].images, 0, 1)  # the first scale's averaged result
    expected = pyramid.upsample(jnp.asarray(start), *second[0].size)
    np.testing.assert_array_equal(second[0].images, np.asarray(expected))
    np.testing.assert_array_equal(result.image, np.clip(second[-1].images[0], 0, 1))


def test_a_sweep_with_averaging_equals_separate_runs(random_weights):
    axes = {"seed": (0, 1)}  # seeds differ from a noise start (the default starts at the photo)
    options = dict(size=16, min_size=16, init="random", style_loss="gram")
    swept = execute.execute(plan_for(random_weights, axes, **options))
    for seed, result in zip(axes["seed"], swept, strict=True):
        (single,) = execute.execute(plan_for(random_weights, seed=seed, **options))
        np.testing.assert_allclose(result.image, single.image, atol=1e-4)


def test_a_resumed_run_with_averaging_equals_the_uninterrupted_one(tmp_path, random_weights):
    (whole,) = execute.execute(plan_for(random_weights, output=str(tmp_path / "whole.png")))
    output = str(tmp_path / "cut.png")
    options = dict(output=output, checkpoint_every=2, save_every=1)
    first = plan_for(random_weights, **options)
    stop = first.scales[0].evaluations + 3  # inside the second scale

    class Stop(Exception):
        pass

    def interrupt(snapshot):
        if snapshot.evaluations >= stop:
            raise Stop

    with pytest.raises(Stop):
        execute.execute(first, callback=interrupt)
    saved = checkpoint.load(checkpoint.path_for(output, 0), first.fingerprint, first.schedule)
    assert saved.scale == 1
    (resumed,) = execute.execute(plan_for(random_weights, resume=True, **options))
    np.testing.assert_array_equal(resumed.image, whole.image)
