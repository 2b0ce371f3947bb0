"""`python -m stylejax.video` and the `stylejax-video` script: the video command line
(`stylejax.video.main`), which Ctrl-C while JAX loads ends at once and quietly (exit 130)."""

import os
import signal
import sys

INTERRUPTED = 128 + signal.SIGINT  # the shell's code for a process ended by Ctrl-C


def _quit_while_starting(signum, frame) -> None:
    os.write(2, b"stylejax-video: interrupted while starting; nothing was written\n")
    os._exit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    previous = signal.signal(signal.SIGINT, _quit_while_starting)
    try:
        from stylejax.video.main import main as video_main
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        return video_main(argv)
    except KeyboardInterrupt:  # between the command line's own guards
        print("stylejax-video: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
