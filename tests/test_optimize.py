"""The optimizers on a tiny problem: progress, bounds, determinism, budgets, no retracing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stylejax.model.vgg import TORCHVISION
from stylejax.objective.total import LossInputs, LossWeights, Objective, compute_targets
from stylejax.optim.loop import init_carry, run_chunk, step_carry
from stylejax.optim.solvers import OPTIMIZERS, Solver
from tests.reference import random_params
from tests.tiny import optimize

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
    return LossInputs(params, targets, weights), init


def run(problem, name, evaluations=30, **kwargs):
    inputs, init = problem
    return optimize(
        init,
        inputs,
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
    assert seen and seen[-1].histories[0][-1]["iteration"] == 5
    assert seen[-1].images.shape == (1, 24, 24, 3) and seen[-1].size == (24, 24)
    # First the start image, then every 10 evaluations until the limit stops the run.
    assert seen[0].initial and seen[0].evaluations == 1
    assert seen[0].histories[0][-1]["iteration"] == 0
    assert not any(p.initial for p in seen[1:])
    assert all(p.evaluations % 10 == 0 for p in seen[1:-1])


def test_changing_weights_or_budget_does_not_retrace(problem):
    inputs, init = problem
    for loop in ("host", "device"):
        run(problem, "lbfgs", evaluations=20, loop=loop)
    compiled = (init_carry._cache_size(), run_chunk._cache_size(), step_carry._cache_size())
    weights = inputs.weights
    heavier = inputs._replace(
        weights=weights._replace(style={k: v * 10 for k, v in weights.style.items()})
    )
    for loop in ("host", "device"):
        optimize(
            init * 0.5,
            heavier,
            OBJECTIVE,
            Solver("lbfgs"),
            evaluations=40,
            chunk=10,
            loop=loop,
        )
    assert (init_carry._cache_size(), run_chunk._cache_size(), step_carry._cache_size()) == compiled


@pytest.mark.parametrize("name", ["adam", "lbfgs"])
def test_a_nonfinite_loss_stops_and_keeps_the_last_finite_image(problem, name):
    inputs, init = problem
    poisoned = inputs._replace(weights=inputs.weights._replace(tv=jnp.float32(np.inf)))
    result = optimize(init, poisoned, OBJECTIVE, Solver(name), evaluations=20, chunk=10)
    assert result.status == "nonfinite" and result.iterations == 0
    assert result.evaluations == 1 and not np.isfinite(result.history[0]["total"])
    np.testing.assert_array_equal(result.image, init)


def test_stylejax_lbfgs_compiles_the_loss_once_inside_the_step(problem):
    """Its start evaluates nothing (the first step does), so the start's program holds no
    convolution; a solver whose init evaluates (Adam) compiles the loss into both."""
    inputs, init = problem
    batch = jnp.asarray(init)[None]
    batched = inputs._replace(weights=jax.tree.map(lambda a: a[None], inputs.weights))

    def start_program(name: str) -> str:
        return init_carry.lower(batch, batched, objective=OBJECTIVE, solver=Solver(name)).as_text()

    assert "convolution" not in start_program("lbfgs")
    assert "convolution" in start_program("adam")


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        Solver("sgd")


def test_a_callback_returning_true_stops_with_the_latest_image(problem):
    seen = []

    def stop_at_ten(progress):
        seen.append(progress)
        return progress.evaluations >= 10

    result = run(problem, "lbfgs", evaluations=30, callback=stop_at_ten)
    assert result.status == "stopped" and result.evaluations == 10
    assert seen[0].initial and seen[0].evaluations == 1 and not seen[-1].initial
    np.testing.assert_array_equal(result.image, np.clip(seen[-1].images[0], 0.0, 1.0))
    # The stopped run is the first part of the full one.
    full = run(problem, "lbfgs", evaluations=30)
    assert [r["total"] for r in result.history] == [r["total"] for r in full.history[:10]]


def test_offset_and_histories_continue_a_run(problem):
    """A pyramid's later scale: records count from `offset` and extend the given histories,
    carrying the `tag`."""
    inputs, init = problem
    first = run(problem, "lbfgs", evaluations=10)
    second = optimize(
        first.image,
        inputs,
        OBJECTIVE,
        Solver("lbfgs"),
        evaluations=5,
        chunk=10,
        offset=10,
        histories=[first.history],
        tag={"size": [24, 24]},
    )
    assert second.history[:10] == first.history
    added = second.history[10:]
    assert [r["evaluations"] for r in added] == list(range(11, 16))
    assert all(r["size"] == [24, 24] for r in added) and second.evaluations == 15
    seconds = [r["seconds"] for r in second.history]
    assert seconds == sorted(seconds)
