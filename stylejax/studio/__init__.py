"""stylejax studio: a local web app with live preview, and an HTTP API to script it.

`create_app(settings, stylizer)` builds the Starlette app; `python -m stylejax.serve` runs it.
Needs the optional extra: `pip install "stylejax[studio]"`.
"""

from stylejax.studio.app import Settings, create_app

__all__ = ["Settings", "create_app"]
