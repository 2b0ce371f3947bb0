"""Test setup: JAX is strict about rank promotion in every test; random VGG19 weights are made
once per session."""

import os
from pathlib import Path

import pytest


def _share_the_cores_between_workers() -> None:
    """Under `pytest -n N` on N cores or fewer, each worker (and every process it starts, which
    inherits the environment) computes on one thread: XLA's and the BLAS and OpenMP thread
    pools would otherwise each take every core, and the workers oversubscribe them. Measured on
    2 cores with `-n 2`, six of the heaviest test files: 110 s with a pool per core, 92 s with
    one thread each; the whole suite, with the slow tests first: 365-443 s against 677 s. Set
    before JAX, NumPy and torch are imported, which read them once."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2 or workers < (os.cpu_count() or 1):
        return
    flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"


_share_the_cores_between_workers()

import jax  # noqa: E402

from tests.reference import random_oihw_layers, to_flax, torchvision_state_dict  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_collection_modifyitems(items):
    """Tests marked slow (the minute-long end-to-end ones) first: with one thread a worker, a
    slow test left for the end would keep one core busy while the other idles."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# Random weights as a weights file (`weights_file`, `random_weights`), written once a session.
pytest_plugins = ["tests.fixtures"]


@pytest.fixture(scope="session")
def vgg_layers() -> dict:
    """Random VGG19 convs {name: (OIHW kernel, bias)}, all 16 (as a weights file needs them).
    Shared by every test, so the arrays are read-only."""
    layers = random_oihw_layers(seed=0)
    for arrays in layers.values():
        for array in arrays:
            array.flags.writeable = False
    return layers


@pytest.fixture(scope="session")
def vgg_params(vgg_layers) -> dict:
    """`vgg_layers` as Flax params for stylejax.model.vgg.VGG19."""
    return to_flax(vgg_layers)


@pytest.fixture(scope="session")
def torchvision_pth(tmp_path_factory, vgg_layers) -> Path:
    """`vgg_layers` saved by torch in torchvision's key layout (zip format). Read it, never
    change it."""
    torch = pytest.importorskip("torch")
    path = tmp_path_factory.mktemp("torchvision") / "vgg19.pth"
    torch.save(torchvision_state_dict(vgg_layers), path)
    return path
