"""The solvers: stylejax's one-evaluation L-BFGS, jaxopt's L-BFGS(-B), optax's L-BFGS and Adam.

Each is adapted to one interface, `ops(solver, fn) -> (init, step)`:
init(image) -> (state, terms, evaluations) and
step(image, state) -> (image, state, terms, evaluations this step), so the optimization loop
(`stylejax.optim.loop`) treats them all alike. An init that evaluates nothing (stylejax's
L-BFGS) leaves the start's evaluation to the first step, which keeps the image: the loop then
compiles the loss once, inside the step, instead of twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import jaxopt
import optax

from stylejax.objective.total import LossInputs, Objective, total_loss
from stylejax.optim import lbfgs

OPTIMIZERS = ("lbfgs", "jaxopt-lbfgsb", "jaxopt-lbfgs", "optax-lbfgs", "adam")
# Optimizers whose every step costs exactly one evaluation: the only ones a sweep may batch.
ONE_EVALUATION_PER_STEP = ("lbfgs", "adam")
# Optimizers that keep every evaluated point inside [0, 1]; the others see clamped pixels.
BOX_AWARE = ("lbfgs", "jaxopt-lbfgsb")
# jaxopt's solvers stop at `maxiter`; the loop stops them by the evaluation budget instead, so
# their own limit is set beyond any budget (MAX_EVALUATIONS is 1e7).
UNLIMITED_ITERATIONS = 1 << 30
# Adam's step size in pixel units ([0, 1] images), the default of Config.learning_rate too.
ADAM_LEARNING_RATE = 0.02


@dataclasses.dataclass(frozen=True)
class Solver:
    """Which optimizer, with its few knobs (static: part of the compiled loop)."""

    name: str = "lbfgs"
    history_size: int = 10  # L-BFGS memory, as in jaxopt, optax and torch.optim.LBFGS
    max_linesearch: int = 20  # evaluations one line search may take
    learning_rate: float = ADAM_LEARNING_RATE  # Adam only
    # Decay of an exponential moving average of the iterates, which becomes the result
    # (optim.loop.Average); None: the last iterate is the result.
    average: float | None = None

    def __post_init__(self):
        if self.name not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.name!r}")
        if self.average is not None and not 0 < self.average < 1:
            raise ValueError(f"average must be a decay in (0, 1) or None, got {self.average!r}")


def loss_fn(inputs: LossInputs, objective: Objective, clamp: bool) -> Callable:
    """image -> (total, terms); with `clamp` the loss sees the image clipped to [0, 1]."""

    def fn(image):
        return total_loss(jnp.clip(image, 0.0, 1.0) if clamp else image, inputs, objective)

    return fn


def ops(solver: Solver, fn: Callable):
    """init(image) -> (state, terms, evaluations) and
    step(image, state) -> (image, state, terms, evaluations this step)."""
    if solver.name == "lbfgs":

        def init(x):
            # Nothing evaluated yet: the loop's first step evaluates x (see `lbfgs.blank`).
            state = lbfgs.blank(fn, x, solver.history_size)
            return state, state.aux, jnp.int32(0)

        def step(x, state):
            state = lbfgs.step(fn, state)
            return state.x, state, state.aux, jnp.int32(1)

    elif solver.name == "jaxopt-lbfgsb":
        bounds = (0.0, 1.0)
        opt = _jaxopt(jaxopt.LBFGSB, solver, fn)

        def init(x):
            state = opt.init_state(x, bounds=bounds)
            return state, state.aux, state.num_fun_eval

        def step(x, state):
            x, new = opt.update(x, state, bounds=bounds)
            return x, new, new.aux, new.num_fun_eval - state.num_fun_eval

    elif solver.name == "jaxopt-lbfgs":
        # The seed's scheme: the loss sees the clamped image and the pixels are clamped after
        # each step (torch clamps `.data` inside the closure), outside the solver's knowledge.
        opt = _jaxopt(jaxopt.LBFGS, solver, fn)

        def init(x):
            state = opt.init_state(x)
            return state, state.aux, state.num_fun_eval

        def step(x, state):
            x, new = opt.update(x, state)
            return jnp.clip(x, 0.0, 1.0), new, new.aux, new.num_fun_eval - state.num_fun_eval

    elif solver.name == "optax-lbfgs":
        value_fn = lambda x: fn(x)[0]  # noqa: E731
        opt = optax.lbfgs(
            memory_size=solver.history_size,
            linesearch=optax.scale_by_zoom_linesearch(solver.max_linesearch),
        )
        value_and_grad = optax.value_and_grad_from_state(value_fn)

        def init(x):
            state = opt.init(x)
            return state, fn(x)[1], jnp.int32(1)

        def step(x, state):
            value, grad = value_and_grad(x, state=state)
            updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=value_fn)
            x = jnp.clip(optax.apply_updates(x, updates), 0.0, 1.0)
            info = optax.tree_utils.tree_get(state, "info")
            # optax caches the accepted point's value and gradient, so an iteration costs its
            # line-search steps. The terms need one extra forward pass (optax has no aux).
            return x, state, fn(x)[1], jnp.int32(info.num_linesearch_steps)

    else:  # adam
        opt = optax.adam(solver.learning_rate)
        grad_fn = jax.value_and_grad(fn, has_aux=True)

        def init(x):
            return opt.init(x), fn(x)[1], jnp.int32(1)

        def step(x, state):
            (_, terms), grad = grad_fn(x)
            updates, state = opt.update(grad, state, x)
            # Terms are those of the point the gradient was taken at: one evaluation a step.
            return jnp.clip(optax.apply_updates(x, updates), 0.0, 1.0), state, terms, jnp.int32(1)

    return init, step


def _jaxopt(kind, solver: Solver, fn: Callable):
    """jaxopt's LBFGS or LBFGSB on `fn`, which returns (value, terms)."""
    return kind(
        fun=fn,
        has_aux=True,
        history_size=solver.history_size,
        maxls=solver.max_linesearch,
        maxiter=UNLIMITED_ITERATIONS,
    )
