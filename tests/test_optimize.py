"""The optimizers on a tiny problem: progress, bounds, determinism, budgets, no retracing."""

import jax.numpy as jnp
import numpy as np
import pytest

from stylejax.objective import LossWeights, Objective, compute_targets
from stylejax.optimize import OPTIMIZERS, Solver, init_carry, optimize, run_chunk, step_carry
from stylejax.vgg import TORCHVISION
from tests.reference import random_params

STYLE = ("relu1_1", "relu2_1", "relu3_1")
OBJECTIVE = Objective(("relu3_1",), STYLE, "avg", TORCHVISION)


@pytest.fixture(scope="module")
def problem():
    params = random_params(seed=4)
    rng = np.random.default_rng(0)
    content, style, init = rng.uniform(size=(3, 24, 24, 3)).astype(np.float32)
    targets = compute_targets(OBJECTIVE, params, content, [style], [1.0])
    weights = LossWeights(
        {"relu3_1": jnp.float32(1.0)}, {k: jnp.float32(100.0) for k in STYLE}, jnp.float32(0.0)
    )
    return params, targets, weights, init


def run(problem, name, evaluations=30, **kwargs):
    params, targets, weights, init = problem
    return optimize(
        init,
        params,
        targets,
        weights,
        OBJECTIVE,
        Solver(name),
        evaluations=evaluations,
        chunk=10,
        **kwargs,
    )


@pytest.mark.parametrize("loop", ["host", "device"])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_lowers_the_loss_within_bounds_and_budget(problem, name, loop):
    result = run(problem, name, loop=loop)
    history = result.history
    assert history[0]["evaluations"] == 1 and history[0]["iteration"] == 0
    assert history[-1]["total"] < 0.5 * history[0]["total"]
    assert result.image.min() >= 0.0 and result.image.max() <= 1.0
    assert 30 <= result.evaluations <= 30 + Solver().max_linesearch
    assert result.iterations == len(history) - 1 == history[-1]["iteration"]
    evals = [r["evaluations"] for r in history]
    assert evals == sorted(evals) and result.status == "finished"
    seconds = [r["seconds"] for r in history]
    assert seconds == sorted(seconds)


def test_stylejax_lbfgs_spends_exactly_the_budget(problem):
    result = run(problem, "lbfgs", evaluations=37)
    assert result.evaluations == 37 and result.iterations == 36
    assert [r["evaluations"] for r in result.history] == list(range(1, 38))


@pytest.mark.parametrize("name", ["lbfgs", "jaxopt-lbfgsb"])
def test_host_and_device_loops_agree(problem, name):
    host, device = run(problem, name, loop="host"), run(problem, name, loop="device")
    assert host.evaluations == device.evaluations and host.iterations == device.iterations
    # The two loops compile to differently fused code; rounding differs at 1e-7 and L-BFGS
    # amplifies it slowly, so the first steps agree tightly and the end only closely.
    for h, d in zip(host.history[:4], device.history[:4], strict=True):
        np.testing.assert_allclose(h["total"], d["total"], rtol=1e-4)
    np.testing.assert_allclose(host.history[-1]["total"], device.history[-1]["total"], rtol=0.05)


def test_runs_are_deterministic(problem):
    first, second = run(problem, "lbfgs"), run(problem, "lbfgs")
    np.testing.assert_array_equal(first.image, second.image)
    assert [r["total"] for r in first.history] == [r["total"] for r in second.history]


def test_iteration_limit_and_progress_callback(problem):
    seen = []
    result = run(problem, "jaxopt-lbfgs", evaluations=100, iterations=5, callback=seen.append)
    assert result.iterations == 5
    assert seen and seen[-1].iteration == 5 and seen[-1].images.shape == (1, 24, 24, 3)
    assert all(p.evaluations % 10 == 0 for p in seen[:-1])


def test_changing_weights_or_budget_does_not_retrace(problem):
    params, targets, weights, init = problem
    for loop in ("host", "device"):
        run(problem, "lbfgs", evaluations=20, loop=loop)
    compiled = (init_carry._cache_size(), run_chunk._cache_size(), step_carry._cache_size())
    heavier = weights._replace(style={k: v * 10 for k, v in weights.style.items()})
    for loop in ("host", "device"):
        optimize(
            init * 0.5,
            params,
            targets,
            heavier,
            OBJECTIVE,
            Solver("lbfgs"),
            evaluations=40,
            chunk=10,
            loop=loop,
        )
    assert (init_carry._cache_size(), run_chunk._cache_size(), step_carry._cache_size()) == compiled


def test_a_nonfinite_loss_stops_and_keeps_the_last_finite_image(problem):
    params, targets, weights, init = problem
    poisoned = weights._replace(tv=jnp.float32(np.inf))
    result = optimize(
        init, params, targets, poisoned, OBJECTIVE, Solver("adam"), evaluations=20, chunk=10
    )
    assert result.status == "nonfinite" and result.iterations == 0
    np.testing.assert_array_equal(result.image, init)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        Solver("sgd")
