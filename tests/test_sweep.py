"""Sweeps: one batched run equals separate runs; sharded, multi-process and chunked runs agree."""

import socket
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stylejax.config import Config, ConfigError, from_options
from stylejax.config import label as config_label
from stylejax.config import members as config_members
from stylejax.engine import devices, sweep
from stylejax.engine.plan import check_settings
from stylejax.model.vgg import TORCHVISION
from stylejax.objective.total import LossInputs, compute_targets
from stylejax.optim.loop import optimize_batch
from stylejax.optim.solvers import Solver
from tests.reference import random_params
from tests.tiny import optimize

WORKER = Path(__file__).with_name("sweep_worker.py")
BASE = Config(
    style_layers=("relu1_1", "relu2_1"),
    content_layer="relu2_1",
    evaluations=12,
    style_loss="gram",
    style_layer_weights="equal",
    style_weight=1e6,
)


def test_members_form_the_product_grid_with_labels():
    axes = {"style_weight": (1e4, 1e5), "content_layer": ("relu1_1", "relu2_1", "relu3_1")}
    configs = config_members(BASE, axes)
    assert len(configs) == 6
    assert [(c.style_weight, c.content_layer) for c in configs[:4]] == [
        (1e4, "relu1_1"),
        (1e4, "relu2_1"),
        (1e4, "relu3_1"),
        (1e5, "relu1_1"),
    ]
    assert config_label(configs[4], axes) == "style_weight=100000_content_layer=relu2_1"


def test_sweeps_refuse_unsweepable_fields_and_line_search_optimizers():
    with pytest.raises(ConfigError, match="pooling takes one value"):
        from_options({"pooling": ["avg", "max"]})
    with pytest.raises(ConfigError, match="one evaluation per step"):
        check_settings(Config(optimizer="jaxopt-lbfgsb"), {"seed": (0, 1)})


def test_content_layer_sweep_uses_one_hot_weights():
    configs = config_members(BASE, {"content_layer": ("relu1_1", "relu2_1")})
    objective = sweep.objective_for(configs, TORCHVISION)
    weights = sweep.batched_weights(configs, objective.content_layers, "caffe")
    np.testing.assert_array_equal(weights.content["relu1_1"], [1.0, 0.0])
    np.testing.assert_array_equal(weights.content["relu2_1"], [0.0, 1.0])
    np.testing.assert_allclose(weights.style["relu1_1"], [1e6 * 2e-5] * 2)


def test_memory_estimate_and_passes():
    small = devices.bytes_per_member(64, 64, ("relu5_1",))
    assert devices.bytes_per_member(128, 128, ("relu5_1",)) > 3.9 * small
    assert devices.bytes_per_member(64, 64, ("relu2_1",)) < small
    assert devices.members_per_pass(8, per_member=10, free=1000, devices=1) == 8
    assert devices.members_per_pass(8, per_member=100, free=500, devices=1) == 2
    assert devices.members_per_pass(8, per_member=100, free=300, devices=4) == 4


@pytest.fixture(scope="module")
def problem():
    params = random_params(seed=4)
    rng = np.random.default_rng(0)
    content, style, init = rng.uniform(size=(3, 24, 24, 3)).astype(np.float32)
    configs = config_members(BASE, {"style_weight": (1e1, 1e3, 1e5)})
    objective = sweep.objective_for(configs, TORCHVISION)
    targets = compute_targets(objective, params, content, [style], [1.0])
    weights = sweep.batched_weights(configs, objective.content_layers, "torchvision")
    return LossInputs(params, targets, weights), objective, init


def member(inputs, b):
    """The inputs of member b alone (unbatched weights)."""
    return inputs._replace(weights=jax.tree.map(lambda w: w[b], inputs.weights))


def test_a_batched_sweep_equals_separate_runs(problem):
    inputs, objective, init = problem
    images = jnp.stack([init] * 3)
    batched = optimize_batch(images, inputs, objective, Solver("lbfgs"), evaluations=15)
    for b, result in enumerate(batched):
        single = optimize(init, member(inputs, b), objective, Solver("lbfgs"), evaluations=15)
        assert result.evaluations == single.evaluations == 15
        # Batched convolutions round differently; the first steps agree tightly.
        for got, want in zip(result.history[:4], single.history[:4], strict=True):
            np.testing.assert_allclose(got["total"], want["total"], rtol=1e-4)
        np.testing.assert_allclose(
            result.history[-1]["total"], single.history[-1]["total"], rtol=0.05
        )
    # Heavier style weight, lower unweighted style loss: the members really differ.
    styles = [r.history[-1]["style"] for r in batched]
    assert styles[0] > styles[1] > styles[2]


def test_a_nonfinite_member_does_not_corrupt_the_others(problem):
    inputs, objective, init = problem
    poisoned = inputs._replace(
        weights=inputs.weights._replace(tv=jnp.asarray([0.0, np.inf, 0.0], jnp.float32))
    )
    images = jnp.stack([init] * 3)
    clean = optimize_batch(images, inputs, objective, Solver("lbfgs"), evaluations=10)
    mixed = optimize_batch(images, poisoned, objective, Solver("lbfgs"), evaluations=10)
    assert mixed[1].status == "nonfinite" and mixed[1].iterations == 0
    np.testing.assert_array_equal(mixed[1].image, init)
    for b in (0, 2):
        assert mixed[b].status == "finished"
        np.testing.assert_array_equal(mixed[b].image, clean[b].image)


def run_worker(tmp_path, name, *args):
    out = tmp_path / f"{name}.npz"
    done = subprocess.run(
        [sys.executable, str(WORKER), str(out), *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return np.load(out)


def test_sharded_over_four_devices_equals_one_device(tmp_path):
    one = run_worker(tmp_path, "one", "--devices", "1")
    four = run_worker(tmp_path, "four", "--devices", "4")
    assert (int(one["devices"]), int(four["devices"])) == (1, 4)
    np.testing.assert_allclose(four["totals"][:, :4], one["totals"][:, :4], rtol=1e-4)
    np.testing.assert_allclose(four["totals"][:, -1], one["totals"][:, -1], rtol=0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_on_localhost_equal_one(tmp_path):
    single = run_worker(tmp_path, "single", "--devices", "2")
    port, out = free_port(), tmp_path / "multi.npz"
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                str(out),
                "--devices",
                "1",
                "--process",
                str(i),
                "--processes",
                "2",
                "--port",
                str(port),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-2000:]
    multi = np.load(out)
    assert int(multi["devices"]) == 2
    np.testing.assert_allclose(multi["totals"], single["totals"], rtol=1e-5)
    np.testing.assert_allclose(multi["images"], single["images"], atol=1e-5)
