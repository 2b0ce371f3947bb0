"""Optimizing the image: L-BFGS (stylejax's own, jaxopt's or optax's) or Adam.

The host only looks at the run between chunks: iterations run until the cumulative function
evaluations reach the chunk's end, recording every iteration's losses. On accelerators a chunk
is one jitted `lax.while_loop` writing a fixed-size buffer (each iteration costs at least one
evaluation, so a chunk of E evaluations needs at most E rows); on CPU the same jitted step is
dispatched from Python, which XLA runs faster there.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jaxopt
import numpy as np
import optax

from stylejax import lbfgs
from stylejax.objective import LossWeights, Objective, Targets, total_loss

OPTIMIZERS = ("lbfgs", "jaxopt-lbfgsb", "jaxopt-lbfgs", "optax-lbfgs", "adam")
# Optimizers whose every step costs exactly one evaluation.
ONE_EVALUATION_PER_STEP = ("lbfgs", "adam")
# Optimizers that keep every evaluated point inside [0, 1]; the others see clamped pixels.
BOX_AWARE = ("lbfgs", "jaxopt-lbfgsb")
TERMS = ("total", "content", "style", "tv")
# Status codes of a run; kept on the device as int32.
RUNNING, FINISHED, NONFINITE = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class Solver:
    """Which optimizer, with its few knobs (static: part of the compiled loop)."""

    name: str = "lbfgs"
    history_size: int = 10  # L-BFGS memory, as in jaxopt, optax and torch.optim.LBFGS
    max_linesearch: int = 20  # evaluations one line search may take
    learning_rate: float = 0.02  # Adam only, in pixel units ([0, 1] images)

    def __post_init__(self):
        if self.name not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.name!r}")


class Carry(NamedTuple):
    image: jax.Array  # (H, W, 3) in [0, 1]; the last finite iterate
    state: Any  # the optimizer's own state
    iteration: jax.Array  # int32
    evaluations: jax.Array  # int32, cumulative value-and-gradient evaluations
    terms: dict[str, jax.Array]  # TERMS at `image`
    status: jax.Array  # int32: RUNNING, FINISHED or NONFINITE


@dataclasses.dataclass(frozen=True)
class Progress:
    """What a progress callback receives after each chunk."""

    iteration: int
    evaluations: int
    budget: int
    terms: dict[str, float]
    seconds: float
    image: np.ndarray  # (H, W, 3) float32 in [0, 1]


@dataclasses.dataclass(frozen=True)
class Result:
    image: np.ndarray  # (H, W, 3) float32 in [0, 1]
    history: list[dict[str, float]]  # one record per iteration, the initial image first
    evaluations: int
    iterations: int
    compile_seconds: float
    seconds: float  # optimization only, compile excluded
    status: str  # "finished" or "nonfinite"


def _loss_fn(params, targets, weights, objective, clamp):
    def fn(image):
        value, terms = total_loss(
            jnp.clip(image, 0.0, 1.0) if clamp else image, params, targets, weights, objective
        )
        return value, terms

    return fn


def _solver_ops(solver: Solver, fn: Callable):
    """init(image) -> (state, terms, evaluations) and
    step(image, state) -> (image, state, terms, evaluations this step)."""
    if solver.name == "lbfgs":

        def init(x):
            state = lbfgs.init(fn, x, solver.history_size)
            return state, state.aux, jnp.int32(1)

        def step(x, state):
            state = lbfgs.step(fn, state)
            return state.x, state, state.aux, jnp.int32(1)

    elif solver.name == "jaxopt-lbfgsb":
        bounds = (0.0, 1.0)
        opt = jaxopt.LBFGSB(
            fun=fn,
            has_aux=True,
            history_size=solver.history_size,
            maxls=solver.max_linesearch,
            maxiter=1 << 30,
        )

        def init(x):
            state = opt.init_state(x, bounds=bounds)
            return state, state.aux, state.num_fun_eval

        def step(x, state):
            x, new = opt.update(x, state, bounds=bounds)
            return x, new, new.aux, new.num_fun_eval - state.num_fun_eval

    elif solver.name == "jaxopt-lbfgs":
        # The seed's scheme: the loss sees the clamped image and the pixels are clamped after
        # each step (torch clamps `.data` inside the closure), outside the solver's knowledge.
        opt = jaxopt.LBFGS(
            fun=fn,
            has_aux=True,
            history_size=solver.history_size,
            maxls=solver.max_linesearch,
            maxiter=1 << 30,
        )

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


@functools.partial(jax.jit, static_argnames=("objective", "solver"))
def init_carry(image, params, targets, weights, *, objective: Objective, solver: Solver) -> Carry:
    fn = _loss_fn(params, targets, weights, objective, clamp=solver.name not in BOX_AWARE)
    init, _ = _solver_ops(solver, fn)
    state, terms, evals = init(image)
    status = jnp.where(jnp.isfinite(terms["total"]), RUNNING, NONFINITE).astype(jnp.int32)
    return Carry(image, state, jnp.int32(0), jnp.asarray(evals, jnp.int32), terms, status)


def _advance(step: Callable, carry: Carry, budget, max_iterations) -> tuple[Carry, dict]:
    """One iteration of a running carry, and its record (`valid` False if it went non-finite)."""
    image, state, terms, evals = step(carry.image, carry.state)
    finite = jnp.isfinite(terms["total"]) & jnp.all(jnp.isfinite(image))
    evaluations = carry.evaluations + jnp.asarray(evals, jnp.int32)
    iteration = carry.iteration + 1
    done = (evaluations >= budget) | (iteration >= max_iterations)
    status = jnp.where(finite, jnp.where(done, FINISHED, RUNNING), NONFINITE)
    # A non-finite step is not taken: the image stays the last finite iterate.
    new = Carry(
        image=jnp.where(finite, image, carry.image),
        state=state,
        iteration=jnp.where(finite, iteration, carry.iteration),
        evaluations=evaluations,
        terms=jax.tree.map(lambda a, b: jnp.where(finite, a, b), terms, carry.terms),
        status=status.astype(jnp.int32),
    )
    record = {name: terms[name].astype(jnp.float32) for name in TERMS}
    record |= {"iteration": iteration, "evaluations": evaluations, "valid": finite}
    return new, record


def _empty_record(carry: Carry) -> dict:
    record = {name: jnp.float32(0) for name in TERMS}
    return record | {
        "iteration": carry.iteration,
        "evaluations": carry.evaluations,
        "valid": jnp.bool_(False),
    }


@functools.partial(jax.jit, static_argnames=("objective", "solver", "records"))
def run_chunk(
    carry: Carry,
    params,
    targets: Targets,
    weights: LossWeights,
    stop_at,
    budget,
    max_iterations,
    *,
    objective: Objective,
    solver: Solver,
    records: int,
):
    """Iterates until `stop_at` evaluations (or the budget or iteration limit) on the device.

    Returns the new carry and a {field: (records,)} buffer of per-iteration values, with
    `valid` marking the filled rows.
    """
    fn = _loss_fn(params, targets, weights, objective, clamp=solver.name not in BOX_AWARE)
    _, step = _solver_ops(solver, fn)
    empty = jax.tree.map(lambda v: jnp.zeros(records, v.dtype), _empty_record(carry))

    def keep_going(loop):
        carry, _, row = loop
        return (carry.status == RUNNING) & (carry.evaluations < stop_at) & (row < records)

    def body(loop):
        carry, buffer, row = loop
        carry, record = _advance(step, carry, budget, max_iterations)
        buffer = {name: buffer[name].at[row].set(record[name]) for name in buffer}
        return carry, buffer, row + 1

    carry, buffer, _ = jax.lax.while_loop(keep_going, body, (carry, empty, jnp.int32(0)))
    return carry, buffer


@functools.partial(jax.jit, static_argnames=("objective", "solver"))
def step_carry(
    carry: Carry,
    params,
    targets,
    weights,
    budget,
    max_iterations,
    *,
    objective: Objective,
    solver: Solver,
) -> tuple[Carry, dict]:
    """One iteration for the host-driven loop; a no-op once the run has stopped.

    The no-op is a select, not `lax.cond`: XLA:CPU runs a VGG19 step markedly slower inside
    any nested computation (a cond branch or a loop body).
    """
    fn = _loss_fn(params, targets, weights, objective, clamp=solver.name not in BOX_AWARE)
    _, step = _solver_ops(solver, fn)
    advanced, record = _advance(step, carry, budget, max_iterations)
    running = carry.status == RUNNING
    keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(running, a, b), new, old)  # noqa: E731
    return keep(advanced, carry), keep(record, _empty_record(carry))


def _host_chunk(step, carry: Carry, stop_at: int, records: int, one_evaluation: bool):
    """Dispatches steps from the host until `stop_at` evaluations.

    With one evaluation per step, the number of steps is known and the host never waits on
    the device inside a chunk; otherwise it reads the evaluation count after each step.
    """
    rows = []
    steps = stop_at - int(carry.evaluations) if one_evaluation else records
    for _ in range(min(steps, records)):
        if not one_evaluation and (
            int(carry.status) != RUNNING or int(carry.evaluations) >= stop_at
        ):
            break
        carry, record = step(carry)
        rows.append(record)
    return carry, jax.tree.map(lambda *v: jnp.stack(v), *rows)


def _host_terms(terms: dict[str, jax.Array]) -> dict[str, float]:
    return {name: float(terms[name]) for name in TERMS}


def optimize(
    image: jax.Array,
    params: dict,
    targets: Targets,
    weights: LossWeights,
    objective: Objective,
    solver: Solver,
    *,
    evaluations: int,
    iterations: int | None = None,
    chunk: int = 10,
    callback: Callable[[Progress], None] | None = None,
    loop: str | None = None,
) -> Result:
    """Optimizes `image` (H, W, 3) for `evaluations` function evaluations.

    The host syncs every `chunk` evaluations, when `callback` (if any) gets a `Progress`.
    Compilation is timed separately from optimization. `loop` is "device" (a `while_loop`
    per chunk) or "host" (jitted steps dispatched from Python); None picks "host" on CPU,
    where XLA runs a VGG19 step ~1.7x slower inside a while loop (jax-ml/jax#12868), and
    "device" on accelerators.
    """
    if evaluations < 1 or chunk < 1:
        raise ValueError(f"evaluations and chunk must be >= 1, got {evaluations} and {chunk}")
    loop = loop or ("host" if jax.default_backend() == "cpu" else "device")
    if loop not in ("host", "device"):
        raise ValueError(f"loop must be 'host' or 'device', got {loop!r}")
    static = dict(objective=objective, solver=solver)
    max_iterations = jnp.int32(iterations or evaluations)
    # Compile both steps before timing: a chunk's records are at most its evaluations.
    args = (params, targets, weights)
    start = time.perf_counter()
    image = jnp.asarray(image, jnp.float32)
    init_lowered = init_carry.lower(image, *args, **static).compile()
    shapes = jax.eval_shape(functools.partial(init_carry, **static), image, *args)
    budget = jnp.int32(evaluations)
    if loop == "device":
        chunk_compiled = run_chunk.lower(
            shapes, *args, jnp.int32(0), budget, max_iterations, **static, records=chunk
        ).compile()

        def advance(carry, stop_at):
            return chunk_compiled(carry, *args, jnp.int32(stop_at), budget, max_iterations)
    else:
        step_compiled = step_carry.lower(shapes, *args, budget, max_iterations, **static).compile()
        one_evaluation = solver.name in ONE_EVALUATION_PER_STEP

        def advance(carry, stop_at):
            step = lambda c: step_compiled(c, *args, budget, max_iterations)  # noqa: E731
            return _host_chunk(step, carry, stop_at, chunk, one_evaluation)

    compile_seconds = time.perf_counter() - start

    start = time.perf_counter()
    carry = init_lowered(image, *args)
    history = [
        dict(
            iteration=0, evaluations=int(carry.evaluations), seconds=0.0, **_host_terms(carry.terms)
        )
    ]
    while int(carry.status) == RUNNING:
        last_evals, last_time = int(carry.evaluations), time.perf_counter() - start
        stop_at = min((last_evals // chunk + 1) * chunk, evaluations)
        carry, buffer = advance(carry, stop_at)
        buffer = jax.device_get(buffer)
        now = time.perf_counter() - start
        history += _records(buffer, last_evals, last_time, now)
        if callback is not None:
            callback(
                Progress(
                    iteration=int(carry.iteration),
                    evaluations=int(carry.evaluations),
                    budget=evaluations,
                    terms=_host_terms(carry.terms),
                    seconds=now,
                    image=np.asarray(carry.image),
                )
            )
    seconds = time.perf_counter() - start
    return Result(
        image=np.asarray(jnp.clip(carry.image, 0.0, 1.0)),
        history=history,
        evaluations=int(carry.evaluations),
        iterations=int(carry.iteration),
        compile_seconds=compile_seconds,
        seconds=seconds,
        status="nonfinite" if int(carry.status) == NONFINITE else "finished",
    )


def _records(buffer: dict, last_evals: int, last_time: float, now: float) -> list[dict]:
    """Per-iteration records of a chunk. Wall time inside a chunk is interpolated by evaluations
    (the host does not sync per iteration)."""
    rows = []
    valid = np.flatnonzero(buffer["valid"])
    if not len(valid):
        return rows
    span = max(int(buffer["evaluations"][valid[-1]]) - last_evals, 1)
    for i in valid:
        evals = int(buffer["evaluations"][i])
        rows.append(
            dict(
                iteration=int(buffer["iteration"][i]),
                evaluations=evals,
                seconds=last_time + (now - last_time) * (evals - last_evals) / span,
                **{name: float(buffer[name][i]) for name in TERMS},
            )
        )
    return rows
