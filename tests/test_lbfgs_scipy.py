"""stylejax.optim.lbfgs against scipy's L-BFGS-B: the same box-constrained minimizers.

stylejax's L-BFGS projects onto a box with scalar bounds, [0, 1] for images; each problem is
mapped onto [0, 1] per coordinate (x = lo + (hi - lo) * u) and both solvers minimize over u.
The comparisons run in float64, so the tolerances measure the algorithm, not float32: a
line search that compares values can place a minimizer only to about sqrt(eps * |f| / curvature),
1e-3 in float32. One float32 run shows that, as stylejax uses it, it gets that close.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stylejax.optim import lbfgs

scipy_optimize = pytest.importorskip("scipy.optimize")


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


@functools.partial(jax.jit, static_argnames=("fn", "iterations"))
def _stylejax_minimize(fn, data, u0: jax.Array, iterations: int) -> lbfgs.State:
    """`iterations` steps of stylejax's L-BFGS on u -> fn(u, data), from u0 in [0, 1]."""
    with_aux = lambda u: (fn(u, data), None)  # noqa: E731
    state = lbfgs.init(with_aux, u0)
    return jax.lax.fori_loop(0, iterations, lambda _, s: lbfgs.step(with_aux, s), state)


def _scipy_minimize(fn, data, u0) -> np.ndarray:
    """scipy's L-BFGS-B in float64 on the same function, to tight tolerances."""
    value_and_grad = jax.jit(jax.value_and_grad(fn))

    def fun(u):
        value, grad = value_and_grad(jnp.asarray(u), data)
        return float(value), np.asarray(grad, np.float64)

    result = scipy_optimize.minimize(
        fun,
        np.asarray(u0, np.float64),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, 1.0)] * len(u0),
        options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 10_000},
    )
    assert result.success, result.message
    return result.x


def _quadratic(u: jax.Array, data) -> jax.Array:
    a, b = data
    return 0.5 * u @ a @ u - b @ u


def _boxed_rosenbrock(u: jax.Array, box) -> jax.Array:
    """Rosenbrock's function over the box [lo, hi], as a function of u in [0, 1]."""
    lo, hi = box
    x = lo + (hi - lo) * u
    return jnp.sum((1 - x[:-1]) ** 2 + 100 * (x[1:] - x[:-1] ** 2) ** 2)


def _quadratic_data(dtype) -> tuple[np.ndarray, np.ndarray]:
    """A strictly convex quadratic (condition number 50) whose unconstrained minimizer lies
    outside [0, 1] in some coordinates, above and below."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    a = (q * np.geomspace(1.0, 50.0, 8)) @ q.T
    unconstrained = np.array([-0.6, 0.2, 1.7, 0.5, 0.9, -0.3, 1.4, 0.35])
    return a.astype(dtype), (a @ unconstrained).astype(dtype)


def test_convex_quadratic_with_active_bounds(x64):
    a, b = data = _quadratic_data(np.float64)
    u0 = jnp.full(8, 0.5, jnp.float64)
    expected = _scipy_minimize(_quadratic, data, u0)
    state = _stylejax_minimize(_quadratic, data, u0, iterations=300)
    assert state.x.dtype == jnp.float64
    np.testing.assert_allclose(state.x, expected, atol=1e-7)
    # Both find the same active set, at both bounds (the problem is built to have them).
    active = (expected < 1e-6) | (expected > 1 - 1e-6)
    assert active.sum() >= 2 and (expected < 1e-6).any() and (expected > 1 - 1e-6).any()
    np.testing.assert_array_equal(np.asarray(state.x)[active], np.round(expected[active]))
    # The KKT conditions, checked in float64: zero gradient on free coordinates, and at a bound
    # a gradient pointing out of the box.
    x = np.asarray(state.x, np.float64)
    grad = a @ x - b
    assert np.abs(grad[~active]).max() < 1e-6
    assert (grad[expected < 1e-6] > 0).all() and (grad[expected > 1 - 1e-6] < 0).all()


def test_a_blank_state_steps_to_the_evaluated_start_and_then_to_scipys_minimizer(x64):
    """The loop's start: `blank` evaluates nothing and its first step evaluates the start
    itself; it then equals `init` in every field, and goes on to scipy's minimizer."""
    data = _quadratic_data(np.float64)
    u0 = jnp.full(8, 0.5, jnp.float64)
    with_aux = lambda u: (_quadratic(u, data), {"value": _quadratic(u, data)})  # noqa: E731

    @jax.jit
    def run(u0):
        blank = lbfgs.blank(with_aux, u0)
        started = lbfgs.step(with_aux, blank)
        later = jax.lax.fori_loop(0, 300, lambda _, s: lbfgs.step(with_aux, s), started)
        return blank, started, lbfgs.init(with_aux, u0), later

    blank, started, evaluated, later = run(u0)
    assert np.isposinf(blank.value) and not np.any(blank.grad)
    for got, want in zip(started, evaluated, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(later.x, _scipy_minimize(_quadratic, data, u0), atol=1e-7)


@pytest.mark.parametrize(
    ("lo", "hi", "minimizer"),
    [
        ([-2.0, -2.0], [2.0, 2.0], [1.0, 1.0]),  # the minimizer (1, 1) is inside the box
        ([-2.0, -2.0], [0.5, 2.0], [0.5, 0.25]),  # x1 <= 0.5 cuts it off: (1 - x1)^2 >= 0.25
    ],
    ids=["inside", "cut-off"],
)
def test_rosenbrock_in_a_box(x64, lo, hi, minimizer):
    lo, hi = box = np.array(lo), np.array(hi)
    u0 = jnp.asarray((np.array([-1.2, 1.0]) - lo) / (hi - lo))  # the classic start
    expected = _scipy_minimize(_boxed_rosenbrock, box, u0)
    np.testing.assert_allclose(lo + (hi - lo) * expected, minimizer, atol=1e-6)
    state = _stylejax_minimize(_boxed_rosenbrock, box, u0, iterations=400)
    np.testing.assert_allclose(state.x, expected, atol=1e-6)
    assert float(state.value) == pytest.approx(float(_boxed_rosenbrock(expected, box)), abs=1e-12)


def test_in_float32_the_quadratic_minimizer_is_met_to_float32_resolution():
    with jax.enable_x64(True):
        expected = _scipy_minimize(_quadratic, _quadratic_data(np.float64), np.full(8, 0.5))
    u0 = jnp.full(8, 0.5, jnp.float32)
    state = _stylejax_minimize(_quadratic, _quadratic_data(np.float32), u0, iterations=300)
    assert state.x.dtype == jnp.float32
    np.testing.assert_allclose(state.x, expected, atol=1e-3)


def _cosines(u: jax.Array, scale) -> jax.Array:
    """sum cos(scale * u): concave along the gradient from u near 0 (up to u = pi/2/scale), so
    the first steps' pairs show no positive curvature; its minimizer in [0, 1] is pi / scale."""
    return jnp.sum(jnp.cos(scale * u))


def test_from_a_start_where_the_loss_is_concave_it_reaches_scipys_minimizer_quickly(x64):
    """Issue 16: from the photo, the Wasserstein loss is concave along the gradient, so no
    pair is kept and, at torch's first-step scale (unit L1 norm over all pixels), L-BFGS used
    to crawl for tens of evaluations. Growing the step while the history is empty reaches the
    minimizer in a few; here in 1000 coordinates, where unit L1 norm is a step of 1e-3."""
    scale = 4.0
    u0 = jnp.full(1000, 0.05)
    want = _scipy_minimize(_cosines, scale, u0)
    np.testing.assert_allclose(want, np.pi / scale, atol=1e-6)
    state = _stylejax_minimize(_cosines, scale, u0, iterations=30)
    np.testing.assert_allclose(np.asarray(state.x), want, atol=1e-4)


def _rounded_quadratic(u: jax.Array, target) -> jax.Array:
    """A quadratic whose value is rounded to whole units (its gradient is the smooth one's), as
    a float32 loss over a megapixel picture is exact only to its rounding noise."""
    smooth = 1e4 + 0.5 * jnp.sum((u - target) ** 2)
    return smooth + jax.lax.stop_gradient(jnp.round(smooth) - smooth)


def test_a_first_step_whose_decrease_is_below_the_losss_rounding_is_lengthened(x64):
    """Issue 16: at 1024 px torch's unit-L1 first step predicted a decrease under the loss's
    rounding, so Armijo refused it, every shorter step and, after the restart, the same step
    again: all 50 evaluations of the scale were refused. Here 10 000 coordinates each 0.1 from
    the minimizer give a predicted decrease of 0.1 for a loss resolved to 1; refused steps
    without history grow until the decrease shows, and scipy's minimizer is reached."""
    target = jnp.full(10_000, 0.6)
    u0 = jnp.full(10_000, 0.5)
    want = _scipy_minimize(lambda u, t: 0.5 * jnp.sum((u - t) ** 2), target, u0)
    state = _stylejax_minimize(_rounded_quadratic, target, u0, iterations=10)
    assert float(state.value) < 1e4 + 1  # from 10 050
    np.testing.assert_allclose(np.asarray(state.x), want, atol=2e-2)
