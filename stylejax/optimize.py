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
import json
import time
import zipfile
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jaxopt
import numpy as np
import optax
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec

from stylejax import lbfgs
from stylejax.atomic import atomic_write
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
    """What a progress callback receives after each chunk (one entry per batch member)."""

    iteration: int  # the furthest member's
    evaluations: int  # the furthest member's
    budget: int
    terms: list[dict[str, float]]  # each member's latest record
    seconds: float
    images: np.ndarray  # (B, H, W, 3) float32 in [0, 1]
    histories: list[list[dict[str, float]]]  # each member's records so far
    carry: Carry  # the whole optimizer state, for checkpoints (`save_state`)


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


def _init(image, params, targets, weights, objective: Objective, solver: Solver) -> Carry:
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


def _step(carry, params, targets, weights, budget, max_iterations, objective, solver):
    """One iteration of one member; a no-op once it has stopped.

    The no-op is a select, not `lax.cond`: XLA:CPU runs a VGG19 step markedly slower inside
    any nested computation (a cond branch or a loop body), and under vmap a cond is a select
    anyway.
    """
    fn = _loss_fn(params, targets, weights, objective, clamp=solver.name not in BOX_AWARE)
    _, step = _solver_ops(solver, fn)
    advanced, record = _advance(step, carry, budget, max_iterations)
    running = carry.status == RUNNING
    idle = {name: jnp.float32(0) for name in TERMS}
    idle |= {
        "iteration": carry.iteration,
        "evaluations": carry.evaluations,
        "valid": jnp.bool_(False),
    }
    keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(running, a, b), new, old)  # noqa: E731
    return keep(advanced, carry), keep(record, idle)


# Every function below works on a batch of members: a leading axis on the images, the loss
# weights and the carry. A single run is a batch of one; a sweep is a larger batch.
_BATCHED = (0, None, None, 0)


@functools.partial(jax.jit, static_argnames=("objective", "solver"))
def init_carry(images, params, targets, weights, *, objective: Objective, solver: Solver) -> Carry:
    init = functools.partial(_init, objective=objective, solver=solver)
    return jax.vmap(init, in_axes=_BATCHED)(images, params, targets, weights)


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
    """One iteration of every member, for the host-driven loop."""
    step = functools.partial(_step, objective=objective, solver=solver)
    return jax.vmap(step, in_axes=(*_BATCHED, None, None))(
        carry, params, targets, weights, budget, max_iterations
    )


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
    """Iterates on the device until every running member reaches `stop_at` evaluations.

    Returns the new carry and a {field: (records, batch)} buffer of per-iteration values, with
    `valid` marking the filled entries.
    """
    step = functools.partial(_step, objective=objective, solver=solver)
    step = jax.vmap(step, in_axes=(*_BATCHED, None, None))
    _, first = jax.eval_shape(step, carry, params, targets, weights, budget, max_iterations)
    empty = jax.tree.map(lambda v: jnp.zeros((records, *v.shape), v.dtype), first)

    def keep_going(loop):
        carry, _, row = loop
        behind = (carry.status == RUNNING) & (carry.evaluations < stop_at)
        return jnp.any(behind) & (row < records)

    def body(loop):
        carry, buffer, row = loop
        carry, record = step(carry, params, targets, weights, budget, max_iterations)
        buffer = {name: buffer[name].at[row].set(record[name]) for name in buffer}
        return carry, buffer, row + 1

    carry, buffer, _ = jax.lax.while_loop(keep_going, body, (carry, empty, jnp.int32(0)))
    return carry, buffer


def _host_chunk(step, carry: Carry, steps: int | None, stop_at: int, records: int):
    """Dispatches steps from the host until every running member reaches `stop_at`.

    With one evaluation per step the number of `steps` is known and the host never waits on
    the device inside a chunk; otherwise (`steps` None) it reads the evaluation counts after
    each step.
    """
    rows = []
    for _ in range(min(steps or records, records)):
        if steps is None and not bool(
            jnp.any((carry.status == RUNNING) & (carry.evaluations < stop_at))
        ):
            break
        carry, record = step(carry)
        rows.append(record)
    return carry, jax.tree.map(lambda *v: jnp.stack(v), *rows)


def fetch(tree):
    """Device arrays to NumPy on this host, gathering shards from other processes if any."""
    if jax.process_count() > 1:
        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.device_get(tree)


def optimize_batch(
    images: jax.Array,
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
    resume: tuple[list[np.ndarray], list[list[dict]]] | None = None,
) -> list[Result]:
    """Optimizes a batch of images (B, H, W, 3), member b under the loss weights of index b.

    Every leaf of `weights` has a leading axis of length B. Members run in lockstep in one
    compiled program; one that finishes or goes non-finite stops changing while the others
    go on. The host syncs every `chunk` evaluations, when `callback` gets a `Progress`.
    Compilation is timed separately. `loop` is "device" (a `while_loop` per chunk) or "host"
    (jitted steps dispatched from Python); None picks "host" on CPU, where XLA runs a VGG19
    step ~1.7x slower inside a while loop (jax-ml/jax#12868), and "device" elsewhere.
    Inputs may be sharded over devices along the batch axis (`stylejax.sweep`).
    `resume` continues from a checkpoint read by `load_state`: (the carry's leaves, the
    histories); the continued run equals an uninterrupted one.
    """
    if evaluations < 1 or chunk < 1:
        raise ValueError(f"evaluations and chunk must be >= 1, got {evaluations} and {chunk}")
    loop = loop or ("host" if jax.default_backend() == "cpu" else "device")
    if loop not in ("host", "device"):
        raise ValueError(f"loop must be 'host' or 'device', got {loop!r}")
    static = dict(objective=objective, solver=solver)
    max_iterations = jnp.int32(iterations or evaluations)
    budget = jnp.int32(evaluations)
    args = (params, targets, weights)
    start = time.perf_counter()
    init_compiled = init_carry.lower(images, *args, **static).compile()
    shapes = jax.eval_shape(functools.partial(init_carry, **static), images, *args)
    # Every carry leaf has the batch axis first: shard it like the images (if they are).
    place = _like_batch(images)
    shapes = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=place(a)), shapes
    )
    if loop == "device":
        chunk_compiled = run_chunk.lower(
            shapes, *args, jnp.int32(0), budget, max_iterations, **static, records=chunk
        ).compile()

        def advance(carry, stop_at, last_evals):
            return chunk_compiled(carry, *args, jnp.int32(stop_at), budget, max_iterations)
    else:
        step_compiled = step_carry.lower(shapes, *args, budget, max_iterations, **static).compile()
        one_evaluation = solver.name in ONE_EVALUATION_PER_STEP

        def advance(carry, stop_at, last_evals):
            step = lambda c: step_compiled(c, *args, budget, max_iterations)  # noqa: E731
            steps = stop_at - last_evals if one_evaluation else None
            return _host_chunk(step, carry, steps, stop_at, chunk)

    compile_seconds = time.perf_counter() - start

    start = time.perf_counter()
    carry = jax.tree.map(lambda a: jax.device_put(a, place(a)), init_compiled(images, *args))
    if resume is None:
        first = fetch((carry.evaluations, carry.terms))
        histories = [
            [
                dict(
                    iteration=0,
                    evaluations=int(first[0][b]),
                    seconds=0.0,
                    **{name: float(first[1][name][b]) for name in TERMS},
                )
            ]
            for b in range(len(first[0]))
        ]
    else:
        carry = _restore(resume[0], carry)
        # A member that had finished its old budget goes on if this budget is larger.
        more = (carry.status == FINISHED) & (carry.evaluations < budget)
        more &= carry.iteration < max_iterations
        carry = carry._replace(status=jnp.where(more, RUNNING, carry.status).astype(jnp.int32))
        histories = [list(h) for h in resume[1]]
    while bool(jnp.any(carry.status == RUNNING)):
        running = carry.status == RUNNING
        last_evals = int(jnp.min(jnp.where(running, carry.evaluations, evaluations)))
        last_time = time.perf_counter() - start
        stop_at = min((last_evals // chunk + 1) * chunk, evaluations)
        carry, buffer = advance(carry, stop_at, last_evals)
        buffer = fetch(buffer)
        now = time.perf_counter() - start
        for b, history in enumerate(histories):
            member = {name: values[:, b] for name, values in buffer.items()}
            history += _records(member, history[-1]["evaluations"], last_time, now)
        if callback is not None:
            callback(
                Progress(
                    iteration=int(jnp.max(carry.iteration)),
                    evaluations=int(jnp.max(carry.evaluations)),
                    budget=evaluations,
                    terms=[h[-1] for h in histories],
                    seconds=now,
                    images=fetch(carry.image),
                    histories=histories,
                    carry=carry,
                )
            )
    seconds = time.perf_counter() - start
    final = fetch(carry)
    return [
        Result(
            image=np.clip(final.image[b], 0.0, 1.0),
            history=history,
            evaluations=int(final.evaluations[b]),
            iterations=int(final.iteration[b]),
            compile_seconds=compile_seconds,
            seconds=seconds,
            status="nonfinite" if final.status[b] == NONFINITE else "finished",
        )
        for b, history in enumerate(histories)
    ]


def optimize(
    image: jax.Array,
    params: dict,
    targets: Targets,
    weights: LossWeights,
    objective: Objective,
    solver: Solver,
    **kwargs,
) -> Result:
    """Optimizes one image (H, W, 3): `optimize_batch` on a batch of one."""
    batch = jax.tree.map(lambda w: jnp.asarray(w)[None], weights)
    image = jnp.asarray(image, jnp.float32)[None]
    return optimize_batch(image, params, targets, batch, objective, solver, **kwargs)[0]


def save_state(path, carry: Carry, histories: list[list[dict]], fingerprint: str) -> None:
    """Writes a checkpoint (every array of the optimizer state, the histories) atomically."""
    leaves = jax.tree.leaves(fetch(carry))
    meta = json.dumps({"fingerprint": fingerprint, "histories": histories})
    with atomic_write(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, meta=np.asarray(meta), **{f"leaf{i}": leaf for i, leaf in enumerate(leaves)})


def load_state(path, fingerprint: str) -> tuple[list[np.ndarray], list[list[dict]]]:
    """Reads a checkpoint: (the carry's leaves, the histories), for `optimize_batch(resume=)`.

    Raises ValueError if it is unreadable or was written for a run with other settings."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            leaves = [data[f"leaf{i}"] for i in range(len(data.files) - 1)]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable stylejax checkpoint ({e})") from None
    if meta.get("fingerprint") != fingerprint:
        raise ValueError(f"{path}: the checkpoint belongs to a run with other settings")
    return leaves, meta["histories"]


def _like_batch(images: jax.Array) -> Callable:
    """leaf -> the sharding a batched leaf should have: split along the batch axis like
    `images` when they are split over a mesh, else wherever the images are."""
    sharding = getattr(images, "sharding", None)
    if isinstance(sharding, NamedSharding):
        return lambda leaf: NamedSharding(
            sharding.mesh, PartitionSpec(sharding.spec[0] if sharding.spec else None)
        )
    return lambda leaf: sharding


def _restore(leaves: list[np.ndarray], like: Carry) -> Carry:
    """Checkpointed leaves placed like `like`'s (same shapes, dtypes and shardings)."""
    reference = jax.tree.leaves(like)
    if [np.shape(a) for a in leaves] != [r.shape for r in reference]:
        raise ValueError("the checkpoint's arrays do not fit this run")
    placed = [
        jax.make_array_from_callback(r.shape, r.sharding, lambda i, a=a, r=r: a[i].astype(r.dtype))
        for a, r in zip(leaves, reference, strict=True)
    ]
    return jax.tree.unflatten(jax.tree.structure(like), placed)


def _records(buffer: dict, last_evals: int, last_time: float, now: float) -> list[dict]:
    """Per-iteration records of one member for a chunk. Wall time inside a chunk is
    interpolated by evaluations (the host does not sync per iteration)."""
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
