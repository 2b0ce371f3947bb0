"""Box-projected L-BFGS with exactly one loss evaluation per iteration.

Each iteration tries one step along the L-BFGS direction, projected onto [lower, upper]:
if it decreases the loss enough (Armijo), it is taken; otherwise the iterate stays and the
next iteration tries a shorter step, at the minimum of the quadratic through the two losses and
the slope (kept within a tenth and a half of the rejected one). The line search is thus spread
over iterations instead of nested inside them, so every iteration costs one value-and-gradient
evaluation, the loop has no data-dependent inner loop (a vmapped batch pays no member's worst
case), and an evaluation budget is met exactly. Value, gradient and auxiliary terms are
carried, never recomputed.

torch.optim.LBFGS as the seed uses it (no line search) takes every step blindly; this keeps
its one-evaluation rhythm but refuses steps that raise the loss, and while it has no history
(no pair with positive curvature yet) it lengthens each accepted step by GROW, and each refused
step whose predicted decrease lies below the loss's rounding noise (NOISE).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

ARMIJO = 1e-4  # sufficient-decrease constant
SHRINK = (0.1, 0.5)  # after a rejected step, the next is this fraction of it (interpolated)
MIN_STEP = 1e-6  # below this, the history is dropped and the search restarts
# Without history the direction is the gradient at torch's first-step scale (unit L1 norm), a
# step far too short for an image; its pair sets the next step's scale only if it shows
# positive curvature. Where the loss is concave along the gradient (from the photo under the
# Wasserstein loss, for the first ~18 steps at 128 px) no pair is kept and every step would stay
# that short, so each accepted step without a kept pair, while the history is empty, lets the
# next try this many times as far. Armijo still refuses a step too long.
GROW = 4.0
# A float32 loss over a large picture is not exact to its last unit: at 1024 px the default
# loss moved by up to ±8 on 1.6e5 (5e-5 of it) under steps far too small to change it, while
# torch's unit-L1 first step predicted a decrease of 2.4. Armijo's verdict on such a step is
# noise, and every shorter step's more so; after the restart the same step came back, and all
# 50 evaluations of the 1024-px scale were refused. So a refused step without history whose
# predicted decrease is below NOISE times the loss is retried GROW times longer (not shorter),
# up to MAX_STEP.
NOISE = 1e-4
MAX_STEP = 1e6
# Guards a division in float32: far below any real y·y or gradient norm, far above 0.
TINY = 1e-30
# A pair (s, y) is kept only if s·y > CURVATURE·|s|·|y|: the cosine between the step and the
# gradient change must be clearly positive, or the inverse-Hessian estimate loses definiteness
# (scipy's L-BFGS-B uses a relative test of the same kind, with eps·y·y).
CURVATURE = 1e-10


class State(NamedTuple):
    x: jax.Array  # the current (accepted) iterate
    value: jax.Array  # loss at x
    grad: jax.Array  # gradient at x
    aux: Any  # auxiliary output at x
    s: jax.Array  # (m, *x.shape) past steps, a ring buffer
    y: jax.Array  # (m, *x.shape) past gradient changes
    rho: jax.Array  # (m,) 1 / (s·y); 0 marks an empty slot
    head: jax.Array  # int32, the slot the next pair goes into
    step: jax.Array  # step length to try next (1 after an accepted step)


def init(fn: Callable, x: jax.Array, history: int = 10) -> State:
    """Evaluates `fn(x) -> (value, aux)` once and sets up an empty history."""
    (value, aux), grad = jax.value_and_grad(fn, has_aux=True)(x)
    return _empty_history(x, value, grad, aux, history)


def blank(fn: Callable, x: jax.Array, history: int = 10) -> State:
    """A state at `x` that has not been evaluated (its value is +inf, its gradient and aux
    zero). The first `step` from it evaluates `x` itself and moves nowhere, so that it ends
    equal to `init(fn, x, history)`: the start and the iterations then share one compiled
    program instead of compiling the loss twice. Nothing is evaluated here."""
    _, aux = jax.eval_shape(fn, x)
    aux = jax.tree.map(lambda leaf: jnp.zeros(leaf.shape, leaf.dtype), aux)
    return _empty_history(x, jnp.full((), jnp.inf, x.dtype), jnp.zeros_like(x), aux, history)


def _empty_history(x, value, grad, aux, history: int) -> State:
    zeros = jnp.zeros((history, *x.shape), x.dtype)
    return State(
        x,
        value,
        grad,
        aux,
        zeros,
        zeros,
        jnp.zeros(history, x.dtype),
        jnp.int32(0),
        jnp.ones((), x.dtype),
    )


def _direction(state: State, free: jax.Array) -> jax.Array:
    """-H·g by the two-loop recursion over the history (newest first, then oldest first)."""
    m = state.rho.shape[0]
    order = (state.head - 1 - jnp.arange(m)) % m  # newest to oldest
    dot = lambda a, b: jnp.vdot(a * free, b * free)  # noqa: E731
    q = state.grad * free
    alphas = []
    for i in order:
        alpha = state.rho[i] * dot(state.s[i], q)
        q = q - alpha * state.y[i]
        alphas.append(alpha)
    newest = order[0]
    yy = dot(state.y[newest], state.y[newest])
    has_history = state.rho[newest] > 0
    # Initial inverse Hessian: s·y / y·y from the newest pair; without history, scale the
    # gradient to unit L1 norm at most, as torch.optim.LBFGS does on its first step.
    gamma = jnp.where(
        has_history,
        1.0 / jnp.maximum(state.rho[newest] * yy, TINY),
        jnp.minimum(1.0, 1.0 / jnp.maximum(jnp.sum(jnp.abs(q)), TINY)),
    )
    r = gamma * q
    for i, alpha in zip(reversed(order), reversed(alphas), strict=True):
        beta = state.rho[i] * dot(state.y[i], r)
        r = r + state.s[i] * (alpha - beta)
    return -r * free


def step(fn: Callable, state: State, lower: float = 0.0, upper: float = 1.0) -> State:
    """One iteration: one evaluation of `fn`, the step taken only if it lowers the loss.
    From a `blank` state it evaluates the state's own point instead, and keeps it."""
    # Pixels pinned at a bound by a gradient pointing outwards stay out of the direction.
    pinned = ((state.x <= lower) & (state.grad > 0)) | ((state.x >= upper) & (state.grad < 0))
    free = (~pinned).astype(state.x.dtype)
    trial = jnp.clip(state.x + state.step * _direction(state, free), lower, upper)
    # A blank state (value +inf; an accepted value is always finite): s = 0 below, so no pair
    # is stored and the next step length is 1; its point, value and terms are taken even if
    # not finite, so that the loop sees the start's terms, exactly as after `init`.
    blank = jnp.isposinf(state.value)
    trial = jnp.where(blank, state.x, trial)
    (value, aux), grad = jax.value_and_grad(fn, has_aux=True)(trial)

    s, y = trial - state.x, grad - state.grad
    slope = jnp.vdot(state.grad, s)  # directional derivative along the step taken
    accept = jnp.isfinite(value) & (value <= state.value + ARMIJO * slope)
    sy = jnp.vdot(s, y)
    # Keep the pair only where curvature is positive (else the inverse Hessian is not positive).
    store = accept & (sy > CURVATURE * jnp.linalg.norm(s) * jnp.linalg.norm(y))
    history = (
        state.s.at[state.head].set(s),
        state.y.at[state.head].set(y),
        state.rho.at[state.head].set(1.0 / jnp.where(store, sy, 1.0)),
    )
    kept = (state.s, state.y, state.rho)
    new_s, new_y, new_rho = jax.tree.map(lambda a, b: jnp.where(store, a, b), history, kept)
    # Minimum of q(t) = f0 + t·slope + t²·(f1 − f0 − slope) over the rejected step t in [0, 1].
    curvature = value - state.value - slope
    fraction = jnp.where(
        jnp.isfinite(curvature) & (curvature > 0),
        -slope / (2 * jnp.where(curvature > 0, curvature, 1.0)),
        SHRINK[0],
    )
    shrunk = state.step * jnp.clip(fraction, *SHRINK)
    restart = ~accept & (shrunk < MIN_STEP)
    empty = jnp.all(state.rho == 0) & ~blank
    grow = accept & ~store & empty  # still no history: try further
    # Refused, but the decrease it predicted is within the loss's rounding: try further too.
    unresolved = ~accept & empty & (-slope < NOISE * jnp.abs(state.value))
    longer = jnp.minimum(GROW * state.step, MAX_STEP)
    taken = accept | blank
    pick = lambda a, b: jax.tree.map(lambda u, v: jnp.where(taken, u, v), a, b)  # noqa: E731
    return State(
        x=pick(trial, state.x),
        value=pick(value, state.value),
        grad=pick(grad, state.grad),
        aux=pick(aux, state.aux),
        s=new_s,
        y=new_y,
        rho=jnp.where(restart, 0.0, new_rho),
        head=jnp.where(store, (state.head + 1) % state.rho.shape[0], state.head),
        step=jnp.where(grow | unresolved, longer, jnp.where(taken | restart, 1.0, shrunk)).astype(
            state.step.dtype
        ),
    )
