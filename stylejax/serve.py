"""`python -m stylejax.serve` and the `stylejax-studio` script: the studio (`stylejax.studio`)."""

import sys


def main(argv: list[str] | None = None) -> int:
    try:
        from stylejax.studio.serve import main as serve_main
    except KeyboardInterrupt:
        print("stylejax-studio: interrupted while starting", file=sys.stderr)
        return 130
    return serve_main(argv)


if __name__ == "__main__":
    sys.exit(main())
