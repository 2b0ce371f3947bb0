"""Starting a command line so that Ctrl-C while JAX loads ends it at once and quietly.

Nothing is written before the command line's modules are imported; an interrupt inside an
extension's import would surface as an ImportError with a traceback, so until then SIGINT
leaves at once (exit 130) with one line. This module imports nothing heavy.
"""

import importlib
import os
import signal
import sys

INTERRUPTED = 128 + signal.SIGINT  # the shell's code for a process ended by Ctrl-C


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived during a run; `code` is the exit code (130 or 143)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def raise_interrupted(signum, frame) -> None:
    """The signal handler a command line installs around its run: keep the latest state."""
    raise Interrupted(128 + signum)


def catch_signals() -> dict:
    """Turns SIGINT and SIGTERM into `Interrupted`; returns the handlers to put back."""
    return {sig: signal.signal(sig, raise_interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}


def run(module: str, program: str, argv: list[str] | None) -> int:
    """Imports `module` (a command line with a `main(argv) -> int`) and runs it."""

    def quit_while_starting(signum, frame) -> None:
        os.write(2, f"{program}: interrupted while starting; nothing was written\n".encode())
        os._exit(128 + signum)

    previous = signal.signal(signal.SIGINT, quit_while_starting)
    try:
        main = importlib.import_module(module).main
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        return main(argv)
    except KeyboardInterrupt:  # between the command line's own guards
        print(f"{program}: interrupted", file=sys.stderr)
        return INTERRUPTED
