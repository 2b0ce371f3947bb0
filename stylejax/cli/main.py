"""The command line's `main`: parse flags (`stylejax.cli.flags`), plan (`stylejax.engine.plan`),
check every output location, run (`stylejax.engine.execute`) and write the outputs
(`stylejax.cli.outputs`, `stylejax.cli.log`).

Bad input is one line on stderr and exit code 2, before any work starts; Ctrl-C or SIGTERM
keeps the latest images (exit 130 or 143), and during start-up simply exits 130.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import jax

from stylejax.cli import flags, log
from stylejax.cli.outputs import (
    Outputs,
    check_writable,
    grid_path,
    member_outputs,
    write_results,
)
from stylejax.cli.progress import ProgressBar
from stylejax.cli.report import Reporter, bar_total
from stylejax.cli.start import INTERRUPTED, Interrupted, catch_signals
from stylejax.config import Config, ConfigError, label
from stylejax.engine import plan as planning
from stylejax.engine.execute import execute
from stylejax.engine.plan import Plan
from stylejax.files import cache, images


def say(text: str) -> None:
    print(f"stylejax: {text}", file=sys.stderr)


def error(text: str) -> None:
    say(f"error: {text}")


def start_distributed(flags_given: dict) -> None:
    """Initializes JAX's multi-process runtime if any distributed flag was given."""
    if not flags_given:
        return
    # CPU devices talk over gloo; GPU and TPU use their own collectives.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=flags_given.get("coordinator"),
        num_processes=flags_given.get("num_processes"),
        process_id=flags_given.get("process_id"),
    )


def plan_run(config: Config, axes: dict) -> tuple[Plan, list[Outputs], list[Path]]:
    """Plans the run (every check of the settings and images), then checks that every output
    can be written: names free unless overwriting, folders made and writable."""
    plan = planning.from_config(config, axes)
    labels = [label(member, plan.axes) for member in plan.members]
    outputs = member_outputs(config.output, labels, frames=config.save_every is not None)
    extra = [grid_path(config.output)] if plan.axes else []
    extra += [Path(p) for p in (config.log, config.tensorboard) if p]
    folders = [o.frames for o in outputs if o.frames is not None]
    folders += [Path(config.tensorboard)] if config.tensorboard else []
    files = [p for o in outputs for p in o.paths() if p not in folders]
    check_writable(
        files + [p for p in extra if p not in folders],
        folders,
        overwrite=config.overwrite or config.resume,
        create=jax.process_index() == 0,
    )
    return plan, outputs, extra


def open_tensorboard(config: Config):
    if config.tensorboard is None or jax.process_index() != 0:
        return None
    from stylejax.cli.tensorboard import Writer

    return Writer(config.tensorboard)


def main(argv: list[str] | None = None) -> int:
    try:
        config, axes, distributed, command = flags.parse(argv)
        start_distributed(distributed)
        cache.enable(enabled=command.get("compile_cache", True) and not cache.opted_out())
        plan, outputs, extra = plan_run(config, axes)
        tensorboard = open_tensorboard(config)
    except ConfigError as e:
        error(flags.message(e))
        return 2
    except (ValueError, OSError, RuntimeError) as e:
        error(str(e))
        return 2
    except KeyboardInterrupt:
        say("interrupted before the run started; nothing was written")
        return INTERRUPTED
    if jax.process_index() != 0:  # in a multi-host run, process 0 writes everything
        outputs = [Outputs(o.label, o.image, o.curve, None, None) for o in outputs]
    bar = ProgressBar(bar_total(plan) * plan.passes)
    reporter = Reporter(plan, outputs, bar=bar, tensorboard=tensorboard)
    started = time.perf_counter()
    previous = catch_signals()
    try:
        results = execute(plan, callback=reporter)
    except Interrupted as stop:
        # A second signal while the latest state is written ends the process at once.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_, code=stop.code: os._exit(code))
        bar.close()
        save_interrupted(plan, outputs, reporter)
        return stop.code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if tensorboard is not None:
            tensorboard.close()
    bar.close()
    if jax.process_index() != 0:
        return 0
    try:
        write_results(plan, outputs, results, reporter.frames, images.icc_profile(plan.content))
        if config.log:
            log.write(config.log, plan, results, overwrite=config.overwrite or config.resume)
    except (ValueError, OSError) as e:
        error(str(e))
        rescue(outputs, {m: r.image for m, r in enumerate(results) if r is not None})
        return 1
    first = results[0]
    written = [str(p) for p in outputs[0].paths()] + [str(p) for p in extra]
    say(
        f"{len(results)} run(s), {first.evaluations} evaluations each in "
        f"{first.seconds:.1f}s (+{first.compile_seconds:.1f}s compile, "
        f"{time.perf_counter() - started:.0f}s total); wrote {', '.join(written)}"
        + (f" and {len(outputs) - 1} more members' files" if len(outputs) > 1 else "")
    )
    return 0


def rescue(outputs: list[Outputs], pictures: dict[int, object]) -> None:
    """After a failed write: each member's picture in the temporary folder, under a new name,
    so that a long run is never lost."""
    folder = Path(tempfile.gettempdir())
    for member, picture in pictures.items():
        o = outputs[member]
        target = folder / f"stylejax-{os.getpid()}-{o.image.stem}.png"
        try:
            images.save(picture, target, overwrite=False)
        except (ValueError, OSError) as e:
            error(f"could not save {o.image.name} anywhere ({e})")
            continue
        say(f"saved {o.image.name} instead as {target}")


def save_interrupted(plan: Plan, outputs: list[Outputs], reporter: Reporter) -> None:
    """After SIGINT/SIGTERM: the latest images and the log so far (the optimizer loop has
    already written its checkpoint, if enabled)."""
    if jax.process_index() != 0:
        return
    icc = images.icc_profile(plan.content)
    overwrite = plan.config.overwrite or plan.config.resume
    try:
        for member, image in reporter.latest.items():
            images.save(image, outputs[member].image, icc_profile=icc, overwrite=overwrite)
        if plan.config.log:
            log.write(
                plan.config.log,
                plan,
                [None] * len(plan.members),
                partial=reporter.histories,
                overwrite=overwrite,
            )
    except (ValueError, OSError) as e:
        error(str(e))
        rescue(outputs, reporter.latest)
        return
    saved = f"latest image(s) saved ({outputs[0].image}{' ...' if len(outputs) > 1 else ''})"
    resume = "; continue with --resume" if plan.config.checkpoint_every else ""
    say(f"interrupted; {saved if reporter.latest else 'nothing to save yet'}{resume}")
