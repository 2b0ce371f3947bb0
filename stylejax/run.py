"""Command line: `python -m stylejax.run --content photo.jpg --style painting.jpg`.

Parses flags (`stylejax.cli`), prepares and runs the pipeline (`stylejax.pipeline`), and writes
the outputs (`stylejax.outputs`, `stylejax.log`). Bad input is one line on stderr and exit
code 2; Ctrl-C or SIGTERM keeps the latest images.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import jax

from stylejax import cli, compile_cache, images, log, pipeline
from stylejax.config import Config, ConfigError
from stylejax.outputs import (
    Outputs,
    check_free,
    grid_path,
    make_folders,
    member_outputs,
    write_results,
)
from stylejax.progress import ProgressBar
from stylejax.report import Reporter, bar_total, passes
from stylejax.sweep import label, members


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; `code` is the exit code (130 or 143)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def _interrupt(signum, frame) -> None:
    raise Interrupted(128 + signum)


def error(text: str) -> None:
    print(f"stylejax: error: {text}", file=sys.stderr)


def start_distributed(flags: dict) -> None:
    """Initializes JAX's multi-process runtime if any distributed flag was given."""
    if not flags:
        return
    # CPU devices talk over gloo; GPU and TPU use their own collectives.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=flags.get("coordinator"),
        num_processes=flags.get("num_processes"),
        process_id=flags.get("process_id"),
    )


def plan_run(config: Config, axes: dict) -> tuple[pipeline.Plan, list[Outputs], list[Path]]:
    """Checks outputs, decodes the images, loads the weights and prepares the plan."""
    labels = [label(member, axes) for member in members(config, axes)]
    outputs = member_outputs(config.output, labels, frames=config.save_every is not None)
    extra = [grid_path(config.output)] if axes else []
    extra += [Path(p) for p in (config.log, config.tensorboard) if p]
    check_free([p for o in outputs for p in o.paths()] + extra, config.overwrite or config.resume)
    plan = pipeline.from_config(config, axes)
    pipeline.check_resume(plan)
    folders = {Path(config.output).parent} | ({Path(config.log).parent} if config.log else set())
    if jax.process_index() == 0:
        make_folders(sorted(folders | {o.frames for o in outputs if o.frames is not None}))
    return plan, outputs, extra


def open_tensorboard(config: Config):
    if config.tensorboard is None or jax.process_index() != 0:
        return None
    from stylejax.tensorboard import Writer

    return Writer(config.tensorboard)


def main(argv: list[str] | None = None) -> int:
    try:
        config, axes, distributed, command = cli.parse(argv)
        start_distributed(distributed)
        compile_cache.enable(
            enabled=command.get("compile_cache", True) and not compile_cache.opted_out()
        )
        plan, outputs, extra = plan_run(config, axes)
        tensorboard = open_tensorboard(config)
    except ConfigError as e:
        error(cli.message(e))
        return 2
    except (ValueError, OSError, RuntimeError) as e:
        error(str(e))
        return 2
    if jax.process_index() != 0:  # in a multi-host run, process 0 writes everything
        outputs = [Outputs(o.label, o.image, o.curve, None, None) for o in outputs]
    bar = ProgressBar(bar_total(plan) * passes(plan))
    reporter = Reporter(plan, outputs, bar=bar, tensorboard=tensorboard)
    started = time.perf_counter()
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        results = pipeline.run(plan, callback=reporter)
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
            log.write(config.log, plan, results)
    except (ValueError, OSError) as e:
        error(str(e))
        return 1
    first = results[0]
    written = [str(p) for p in outputs[0].paths()] + [str(p) for p in extra]
    print(
        f"stylejax: {len(results)} run(s), {first.evaluations} evaluations each in "
        f"{first.seconds:.1f}s (+{first.compile_seconds:.1f}s compile, "
        f"{time.perf_counter() - started:.0f}s total); wrote {', '.join(written)}"
        + (f" and {len(outputs) - 1} more members' files" if len(outputs) > 1 else ""),
        file=sys.stderr,
    )
    return 0


def save_interrupted(plan: pipeline.Plan, outputs: list[Outputs], reporter: Reporter) -> None:
    """After SIGINT/SIGTERM: the latest images and the log so far (the optimizer loop has
    already written its checkpoint, if enabled)."""
    if jax.process_index() != 0:
        return
    icc = images.icc_profile(plan.content)
    for member, image in reporter.latest.items():
        images.save(image, outputs[member].image, icc_profile=icc)
    if plan.config.log:
        log.write(plan.config.log, plan, [None] * len(plan.members), partial=reporter.histories)
    saved = f"latest image(s) saved ({outputs[0].image}{' ...' if len(outputs) > 1 else ''})"
    resume = "; continue with --resume" if plan.config.checkpoint_every else ""
    print(
        f"stylejax: interrupted; {saved if reporter.latest else 'nothing to save yet'}{resume}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    sys.exit(main())
