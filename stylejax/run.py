"""`python -m stylejax.run` and the `stylejax` script: the command line (`stylejax.cli.main`),
started so that Ctrl-C while JAX loads ends it quietly (`stylejax.cli.start`)."""

import sys

from stylejax.cli.start import run


def main(argv: list[str] | None = None) -> int:
    return run("stylejax.cli.main", "stylejax", argv)


if __name__ == "__main__":
    sys.exit(main())
