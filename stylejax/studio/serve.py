"""`python -m stylejax.serve` (or `stylejax-studio`): the studio web app on a local port.

Binds to 127.0.0.1 by default. Binding elsewhere prints a warning unless --token is given,
which every request must then carry (see README, "Studio").
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import webbrowser
from pathlib import Path

from stylejax.config import PRESETS
from stylejax.files import images
from stylejax.files.cache import cache_dir

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="stylejax-studio",
        description="stylejax studio: a local web app with live preview, and an HTTP API.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument(
        "--workdir",
        default=None,
        help="folder for the jobs' files (default: studio/ in the stylejax cache folder)",
    )
    p.add_argument("--open", action="store_true", help="open the page in a web browser")
    p.add_argument("--token", default=None, help="require this token on every request")
    p.add_argument(
        "--max-upload-mb", type=float, default=50.0, help="largest upload per job (default: 50)"
    )
    p.add_argument("--queue-size", type=int, default=16, help="jobs waiting at most (default: 16)")
    p.add_argument(
        "--max-pixels",
        type=int,
        default=images.DEFAULT_MAX_PIXELS,
        help="refuse larger images before decoding them (default: 100 megapixels)",
    )
    p.add_argument("--weights", default=None, help="converted .h5 weights (default: Caffe VGG19)")
    p.add_argument(
        "--preset",
        default=None,
        help=f"what jobs start from, as the command line's --preset ({', '.join(PRESETS)}); "
        "the page shows its settings, and a job's own options apply on top (default: none, "
        "the library's defaults)",
    )
    return p


def check(args: argparse.Namespace) -> None:
    """Raises ValueError for settings that cannot work."""
    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be between 1 and 65535, got {args.port}")
    if not (math.isfinite(args.max_upload_mb * 2**20) and args.max_upload_mb > 0):
        raise ValueError(f"--max-upload-mb must be a finite number > 0, got {args.max_upload_mb}")
    if args.queue_size < 1:
        raise ValueError(f"--queue-size must be at least 1, got {args.queue_size}")
    if args.max_pixels < 1:
        raise ValueError(f"--max-pixels must be at least 1, got {args.max_pixels}")
    if args.token is not None and not args.token.strip():
        raise ValueError("--token must not be empty")
    if args.preset is not None and args.preset not in PRESETS:
        raise ValueError(f"--preset must be one of {', '.join(PRESETS)}, got {args.preset!r}")


def url_for(host: str, port: int, token: str | None) -> str:
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def _error(message: str) -> int:
    print(f"stylejax-studio: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        check(args)
    except ValueError as e:
        return _error(str(e))
    try:
        import uvicorn

        from stylejax.studio import Settings, create_app
    except ImportError as e:
        return _error(f"the studio needs its extra ({e}): pip install 'stylejax[studio]'")
    import stylejax
    from stylejax.files import cache as compile_cache
    from stylejax.model.load import WeightsUnavailableError

    local = args.host in LOOPBACK
    if not local and args.token is None:
        print(
            f"stylejax-studio: WARNING: listening on {args.host} without --token: anyone who "
            f"can reach this port can run jobs and read their images. Give --token.",
            file=sys.stderr,
        )
    workdir = Path(args.workdir).expanduser() if args.workdir else cache_dir() / "studio"
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return _error(f"cannot create --workdir {workdir} ({e})")
    compile_cache.enable(enabled=not compile_cache.opted_out())
    try:
        stylizer = stylejax.Stylizer(args.weights)
    except (ValueError, OSError, WeightsUnavailableError) as e:
        return _error(" ".join(str(e).split()))
    settings = Settings(
        workdir=workdir,
        token=args.token,
        max_upload_mb=args.max_upload_mb,
        queue_size=args.queue_size,
        max_pixels=args.max_pixels,
        preset=args.preset,
        # Bound to localhost, only localhost names are answered (against DNS rebinding).
        allowed_hosts=LOOPBACK if local else None,
    )
    app = create_app(settings, stylizer)
    queue = app.state.queue

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame):
            # SIGTERM / Ctrl-C: stop the running job (it saves its latest image) and cancel
            # the queued ones now, so that open event streams end and uvicorn can shut down.
            # A thread, because this runs in a signal handler that may interrupt a lock holder.
            threading.Thread(target=queue.begin_shutdown, daemon=True).start()
            super().handle_exit(sig, frame)

    # log_config=None: no logging setup of uvicorn's own; warnings and errors (a port in use, a
    # failed job) reach stderr through Python's last-resort handler, access logs are off.
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_config=None, timeout_graceful_shutdown=30
    )
    url = url_for(args.host, args.port, args.token)
    print(f"stylejax studio: {url}  (jobs in {workdir}; Ctrl-C to stop)", flush=True)
    if args.open:
        threading.Timer(1.0, webbrowser.open, [url]).start()
    Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
