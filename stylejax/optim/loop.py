"""The optimization loop: a batch of images, each under its own loss weights, in lockstep.

The host only looks at the run between chunks: iterations run until the cumulative function
evaluations reach the chunk's end, recording every iteration's losses. On accelerators a chunk
is one jitted `lax.while_loop` writing a fixed-size buffer (each iteration costs at least one
evaluation, so a chunk of E evaluations needs at most E rows); on CPU the same jitted step is
dispatched from Python, which XLA runs faster there. A single run is a batch of one; a sweep is
a larger batch. Which solver takes the steps is `stylejax.optim.solvers`' business.

A solver whose start evaluates nothing (stylejax's L-BFGS, `lbfgs.blank`) has the start
evaluated by the first step, which keeps the image (`_evaluate_start`): the loss and its
gradient are then compiled once per scale, inside the step, not also into the start.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec

from stylejax.objective.total import TERMS, LossInputs, Objective
from stylejax.optim import solvers
from stylejax.optim.solvers import BOX_AWARE, ONE_EVALUATION_PER_STEP, Solver

# Status codes of a run; kept on the device as int32.
RUNNING, FINISHED, NONFINITE = 0, 1, 2


class Average(NamedTuple):
    """A bias-corrected exponential moving average of the iterates (as Adam's moments, Kingma
    & Ba 2015; crowsonkb's `EMA`): of the start image x₀ and the iterates x₁..xₙ,
    Σₖ (1 − d) dⁿ⁻ᵏ xₖ / (1 − dⁿ⁺¹), kept as a running mean (`_averaged`), so that it starts
    at exactly x₀.

    .. note:: Not in Gatys et al.: the output is the average, not the last iterate.
    """

    image: jax.Array  # (H, W, 3) the averaged image
    decayed: jax.Array  # float32 dⁿ⁺¹


class Carry(NamedTuple):
    image: jax.Array  # (H, W, 3) in [0, 1]; the last finite iterate
    state: Any  # the optimizer's own state
    iteration: jax.Array  # int32
    evaluations: jax.Array  # int32, value-and-gradient evaluations of this call
    terms: dict[str, jax.Array]  # TERMS at `image`
    status: jax.Array  # int32: RUNNING, FINISHED or NONFINITE
    # The iterates' moving average when the solver averages (`Solver.average`), else None (no
    # leaves: the carry, and a checkpoint, are then exactly those of a run without it).
    average: Average | None = None


@dataclasses.dataclass(frozen=True)
class Update:
    """The progress record: made by the loop after every chunk of evaluations (and once for
    the start image), and read as it is by the engine, the library's callback, the CLI's
    reporter and the studio. Return True from a callback to stop the run.

    The loop fills what it knows; the engine sets the run-level fields (`budget`, `first`,
    `scale`) and replaces `images` by what the user sees (colours restored, sweep padding
    dropped; the library API gives them in the kind of its content image).
    """

    evaluations: int  # cumulative over the whole run (all scales); the furthest member's
    budget: int  # the run's evaluation budget
    seconds: float  # optimization seconds so far (compilation excluded)
    size: tuple[int, int]  # (height, width) of the current scale
    losses: list[dict[str, float]]  # per member: the latest record (total, content, style, tv)
    histories: list[list[dict]]  # per member: every record so far
    images: Any  # per member: the latest image ((B, H, W, 3) floats in [0, 1] in the loop)
    initial: bool = False  # the start image, before any step
    first: int = 0  # index of images[0] among a sweep's members (memory may split a sweep)
    scale: int = 0  # index of the pyramid scale
    frame: int | None = None  # video: index of images[0] among the clip's frames; else None

    @property
    def loss(self) -> dict[str, float]:
        return self.losses[0]

    @property
    def image(self) -> Any:
        return self.images[0]


@dataclasses.dataclass(frozen=True)
class Result:
    image: np.ndarray  # (H, W, 3) float32 in [0, 1]; the averaged iterate under averaging
    history: list[dict[str, float]]  # one record per iteration, the initial image first
    evaluations: int  # cumulative
    iterations: int  # in this call
    compile_seconds: float
    seconds: float  # cumulative optimization seconds, compile excluded
    status: str  # "finished", "nonfinite" or "stopped" (by the callback)


def _clamped(solver: Solver) -> bool:
    return solver.name not in BOX_AWARE


def _init(image, inputs: LossInputs, objective: Objective, solver: Solver) -> Carry:
    init, _ = solvers.ops(solver, solvers.loss_fn(inputs, objective, _clamped(solver)))
    state, terms, evals = init(image)
    status = jnp.where(jnp.isfinite(terms["total"]), RUNNING, NONFINITE).astype(jnp.int32)
    average = None
    if solver.average is not None:
        average = Average(image, jnp.float32(solver.average))
    return Carry(image, state, jnp.int32(0), jnp.asarray(evals, jnp.int32), terms, status, average)


def _averaged(average: Average, image: jax.Array, decay: float) -> Average:
    """`average` with one more iterate: Eₙ = Eₙ₋₁ + (1 − d)/(1 − dⁿ⁺¹)·(xₙ − Eₙ₋₁), which is
    the bias-corrected EMA (expand dⁿ⁺¹ = d·dⁿ)."""
    decay = jnp.float32(decay)
    decayed = decay * average.decayed
    rate = (1 - decay) / (1 - decayed)
    return Average(average.image + rate * (image - average.image), decayed)


def output_images(carry: Carry) -> jax.Array:
    """The images a carry stands for: the iterates, or their moving average."""
    return carry.image if carry.average is None else carry.average.image


def _advance(
    step: Callable, carry: Carry, budget, max_iterations, decay: float | None = None
) -> tuple[Carry, dict]:
    """One iteration of a running carry, and its record (`valid` False if it went non-finite)."""
    image, state, terms, evals = step(carry.image, carry.state)
    finite = jnp.isfinite(terms["total"]) & jnp.all(jnp.isfinite(image))
    evaluations = carry.evaluations + jnp.asarray(evals, jnp.int32)
    iteration = carry.iteration + 1
    done = (evaluations >= budget) | (iteration >= max_iterations)
    status = jnp.where(finite, jnp.where(done, FINISHED, RUNNING), NONFINITE)
    # A non-finite step is not taken: the image (and the average) stay the last finite one.
    average = carry.average
    if average is not None:
        average = jax.tree.map(
            lambda a, b: jnp.where(finite, a, b), _averaged(average, image, decay), average
        )
    new = Carry(
        image=jnp.where(finite, image, carry.image),
        state=state,
        iteration=jnp.where(finite, iteration, carry.iteration),
        evaluations=evaluations,
        terms=jax.tree.map(lambda a, b: jnp.where(finite, a, b), terms, carry.terms),
        status=status.astype(jnp.int32),
        average=average,
    )
    record = {name: terms[name].astype(jnp.float32) for name in TERMS}
    record |= {"iteration": iteration, "evaluations": evaluations, "valid": finite}
    return new, record


def _step(carry, inputs: LossInputs, budget, max_iterations, objective, solver):
    """One iteration of one member; a no-op once it has stopped.

    The no-op is a select, not `lax.cond`: XLA:CPU runs a VGG19 step markedly slower inside
    any nested computation (a cond branch or a loop body), and under vmap a cond is a select
    anyway.
    """
    _, step = solvers.ops(solver, solvers.loss_fn(inputs, objective, _clamped(solver)))
    advanced, record = _advance(step, carry, budget, max_iterations, solver.average)
    running = carry.status == RUNNING
    idle = {name: jnp.float32(0) for name in TERMS}
    idle |= {
        "iteration": carry.iteration,
        "evaluations": carry.evaluations,
        "valid": jnp.bool_(False),
    }
    keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(running, a, b), new, old)  # noqa: E731
    return keep(advanced, carry), keep(record, idle)


# Images, carries, loss weights and a video frame's inputs have the batch axis first; parameters
# and targets are shared.
_BATCHED = (0, LossInputs(params=None, targets=None, weights=0, frame=0))


@functools.partial(jax.jit, static_argnames=("objective", "solver"))
def init_carry(images, inputs: LossInputs, *, objective: Objective, solver: Solver) -> Carry:
    init = functools.partial(_init, objective=objective, solver=solver)
    return jax.vmap(init, in_axes=_BATCHED)(images, inputs)


def _batched_step(objective: Objective, solver: Solver) -> Callable:
    step = functools.partial(_step, objective=objective, solver=solver)
    return jax.vmap(step, in_axes=(*_BATCHED, None, None))


@functools.partial(jax.jit, static_argnames=("objective", "solver"))
def step_carry(
    carry: Carry, inputs: LossInputs, budget, max_iterations, *, objective, solver
) -> tuple[Carry, dict]:
    """One iteration of every member, for the host-driven loop."""
    return _batched_step(objective, solver)(carry, inputs, budget, max_iterations)


@functools.partial(jax.jit, static_argnames=("objective", "solver", "records"))
def run_chunk(
    carry: Carry, inputs: LossInputs, stop_at, budget, max_iterations, *, objective, solver, records
):
    """Iterates on the device until every running member reaches `stop_at` evaluations.

    Returns the new carry and a {field: (records, batch)} buffer of per-iteration values, with
    `valid` marking the filled entries.
    """
    step = _batched_step(objective, solver)
    _, first = jax.eval_shape(step, carry, inputs, budget, max_iterations)
    empty = jax.tree.map(lambda v: jnp.zeros((records, *v.shape), v.dtype), first)

    def keep_going(loop):
        carry, _, row = loop
        behind = (carry.status == RUNNING) & (carry.evaluations < stop_at)
        return jnp.any(behind) & (row < records)

    def body(loop):
        carry, buffer, row = loop
        carry, record = step(carry, inputs, budget, max_iterations)
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


def _compile(images, inputs, objective, solver, budget, max_iterations, loop, chunk):
    """The jitted init and `advance(carry, stop_at, last_evals) -> (carry, buffer)`, compiled."""
    static = dict(objective=objective, solver=solver)
    init = init_carry.lower(images, inputs, **static).compile()
    shapes = jax.eval_shape(functools.partial(init_carry, **static), images, inputs)
    # Every carry leaf has the batch axis first: shard it like the images (if they are).
    place = _like_batch(images)
    shapes = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=place(a)), shapes
    )
    if loop == "device":
        compiled = run_chunk.lower(
            shapes, inputs, jnp.int32(0), budget, max_iterations, **static, records=chunk
        ).compile()

        def advance(carry, stop_at, last_evals):
            return compiled(carry, inputs, jnp.int32(stop_at), budget, max_iterations)

    else:
        compiled = step_carry.lower(shapes, inputs, budget, max_iterations, **static).compile()
        one_evaluation = solver.name in ONE_EVALUATION_PER_STEP

        def advance(carry, stop_at, last_evals):
            step = lambda c: compiled(c, inputs, budget, max_iterations)  # noqa: E731
            steps = stop_at - last_evals if one_evaluation else None
            return _host_chunk(step, carry, steps, stop_at, chunk)

    return init, advance, place


def optimize_batch(
    images: jax.Array,
    inputs: LossInputs,
    objective: Objective,
    solver: Solver,
    *,
    evaluations: int,
    iterations: int | None = None,
    chunk: int = 10,
    offset: int = 0,
    histories: list[list[dict]] | None = None,
    callback: Callable[[Update], bool | None] | None = None,
    checkpoint: Callable[[Carry, list[list[dict]]], None] | None = None,
    checkpoint_every: int | None = None,
    resume: list[np.ndarray] | None = None,
    loop: str | None = None,
    tag: dict | None = None,
) -> list[Result]:
    """Optimizes a batch of images (B, H, W, 3), member b under the loss weights of index b.

    Every leaf of `inputs.weights` has a leading axis of length B. Members run in lockstep in
    one compiled program; one that finishes or goes non-finite stops changing while the others
    go on. The host syncs every `chunk` evaluations (counted from the start of the whole run),
    when `callback` gets an `Update`; if it returns True the run stops there.

    Args:
      evaluations: this call's budget. `offset` evaluations were spent before it (earlier
        scales of a pyramid): records and chunks count from there, and `histories`, each
        member's records so far, are continued.
      checkpoint: called with the carry and the histories every `checkpoint_every`
        evaluations, and once more if the loop is interrupted by an exception (Ctrl-C).
      resume: a checkpointed carry's leaves (`stylejax.optim.checkpoint.load`); the continued run
        equals an uninterrupted one. `histories` must then be the checkpoint's.
      tag: fields added to every new record (a pyramid's scale size).
      loop: "device" (a `while_loop` per chunk) or "host" (jitted steps dispatched from
        Python); None picks "host" on CPU, where XLA runs a VGG19 step ~1.7x slower inside a
        while loop (jax-ml/jax#12868), and "device" elsewhere.

    Inputs may be sharded over devices along the batch axis (`stylejax.engine.devices`).
    Compilation is timed separately.
    """
    if evaluations < 1 or chunk < 1:
        raise ValueError(f"evaluations and chunk must be >= 1, got {evaluations} and {chunk}")
    loop = loop or ("host" if jax.default_backend() == "cpu" else "device")
    if loop not in ("host", "device"):
        raise ValueError(f"loop must be 'host' or 'device', got {loop!r}")
    max_iterations = jnp.int32(iterations or evaluations)
    budget = jnp.int32(evaluations)
    start = time.perf_counter()
    init, advance, place = _compile(
        images, inputs, objective, solver, budget, max_iterations, loop, chunk
    )
    compile_seconds = time.perf_counter() - start

    count = images.shape[0]
    histories = [list(h) for h in histories] if histories else [[] for _ in range(count)]
    base = histories[0][-1]["seconds"] if histories[0] else 0.0
    start = time.perf_counter()
    carry = jax.tree.map(lambda a: jax.device_put(a, place(a)), init(images, inputs))
    if resume is None:
        terms = carry.terms
        if not bool(jnp.any(carry.evaluations)):
            carry, terms = _evaluate_start(advance, carry)
        # A budget the start evaluation already spends (a pyramid scale of one) ends here.
        spent = (carry.status == RUNNING) & (carry.evaluations >= budget)
        carry = carry._replace(status=jnp.where(spent, FINISHED, carry.status).astype(jnp.int32))
        first = fetch((carry.evaluations, terms))
        for b, history in enumerate(histories):
            terms = {name: float(first[1][name][b]) for name in TERMS}
            history.append(
                dict(
                    iteration=0,
                    evaluations=offset + int(first[0][b]),
                    seconds=base,
                    **terms,
                    **(tag or {}),
                )
            )
    else:
        carry = _restore(resume, carry)
        # A member that had finished its old budget goes on if this budget is larger.
        more = (carry.status == FINISHED) & (carry.evaluations < budget)
        more &= carry.iteration < max_iterations
        carry = carry._replace(status=jnp.where(more, RUNNING, carry.status).astype(jnp.int32))

    def progress(initial: bool, now: float) -> Update:
        return Update(
            evaluations=offset + int(jnp.max(carry.evaluations)),
            budget=offset + evaluations,
            seconds=base + now,
            size=tuple(images.shape[1:3]),
            losses=[h[-1] for h in histories],
            histories=histories,
            images=fetch(output_images(carry)),
            initial=initial,
        )

    stopped = False
    if resume is None and callback is not None:
        stopped = bool(callback(progress(True, 0.0)))
    try:
        while not stopped and bool(jnp.any(carry.status == RUNNING)):
            running = carry.status == RUNNING
            last_evals = int(jnp.min(jnp.where(running, carry.evaluations, evaluations)))
            last_time = time.perf_counter() - start
            # Chunks end at multiples of `chunk` counted over the whole run.
            stop_at = min(((offset + last_evals) // chunk + 1) * chunk - offset, evaluations)
            new_carry, buffer = advance(carry, stop_at, last_evals)
            buffer = fetch(buffer)
            now = time.perf_counter() - start
            # The carry and the histories change together, so an interruption never splits them.
            histories = [
                history
                + _records(
                    {name: values[:, b] for name, values in buffer.items()},
                    history[-1]["evaluations"] - offset,
                    offset,
                    base + last_time,
                    base + now,
                    tag or {},
                )
                for b, history in enumerate(histories)
            ]
            carry = new_carry
            before = offset + last_evals
            after = offset + int(jnp.max(carry.evaluations))
            if (
                checkpoint
                and checkpoint_every
                and after // checkpoint_every > before // checkpoint_every
            ):
                checkpoint(carry, histories)
            if callback is not None:
                stopped = bool(callback(progress(False, now)))
    except BaseException:
        if checkpoint is not None and checkpoint_every:
            checkpoint(carry, histories)
        raise
    seconds = base + time.perf_counter() - start
    final = fetch(carry)
    outputs = fetch(output_images(carry))
    return [
        Result(
            image=np.clip(outputs[b], 0.0, 1.0),
            history=history,
            evaluations=offset + int(final.evaluations[b]),
            iterations=int(final.iteration[b]),
            compile_seconds=compile_seconds,
            seconds=seconds,
            status=_status(int(final.status[b]), stopped),
        )
        for b, history in enumerate(histories)
    ]


def _evaluate_start(advance: Callable, carry: Carry) -> tuple[Carry, dict]:
    """Evaluates a blank start (its solver's init evaluated nothing, see `solvers.ops`) with
    one step of the compiled loop, which keeps the image; returns the carry as an evaluating
    init leaves it (iteration 0, the average untouched, running unless non-finite) and the
    start's terms."""
    evaluated, buffer = advance(carry, 1, 0)
    status = jnp.where(evaluated.status == NONFINITE, NONFINITE, RUNNING).astype(jnp.int32)
    evaluated = evaluated._replace(iteration=carry.iteration, status=status, average=carry.average)
    return evaluated, {name: buffer[name][0] for name in TERMS}


def _status(code: int, stopped: bool) -> str:
    if code == NONFINITE:
        return "nonfinite"
    return "stopped" if stopped and code == RUNNING else "finished"


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


def _records(
    buffer: dict, last_evals: int, offset: int, last_time: float, now: float, tag: dict
) -> list[dict]:
    """Per-iteration records of one member for a chunk, evaluations counted from `offset`.
    Wall time inside a chunk is interpolated by evaluations (the host does not sync per
    iteration)."""
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
                evaluations=offset + evals,
                seconds=last_time + (now - last_time) * (evals - last_evals) / span,
                **{name: float(buffer[name][i]) for name in TERMS},
                **tag,
            )
        )
    return rows
