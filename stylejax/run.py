"""`python -m stylejax.run` and the `stylejax` script: the command line (`stylejax.cli.main`).

Nothing is written before the command line's modules are imported, so Ctrl-C while JAX loads
ends the process at once and quietly (exit 130); from then on the CLI handles it itself.
"""

import os
import signal
import sys

INTERRUPTED = 128 + signal.SIGINT  # the shell's code for a process ended by Ctrl-C


def _quit_while_starting(signum, frame) -> None:
    # An interrupt inside an extension's import surfaces as an ImportError with a traceback;
    # with nothing written yet, leaving at once is the clean answer.
    os.write(2, b"stylejax: interrupted while starting; nothing was written\n")
    os._exit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    previous = signal.signal(signal.SIGINT, _quit_while_starting)
    try:
        from stylejax.cli.main import main as cli_main
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        return cli_main(argv)
    except KeyboardInterrupt:  # between the CLI's own guards (e.g. while writing its files)
        print("stylejax: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
