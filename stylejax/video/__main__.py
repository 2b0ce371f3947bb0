"""`python -m stylejax.video` and the `stylejax-video` script: the video command line
(`stylejax.video.main`), started so that Ctrl-C while JAX loads ends it quietly
(`stylejax.cli.start`)."""

import sys

from stylejax.cli.start import run


def main(argv: list[str] | None = None) -> int:
    return run("stylejax.video.main", "stylejax-video", argv)


if __name__ == "__main__":
    sys.exit(main())
