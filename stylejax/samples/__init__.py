"""Sample images bundled with stylejax (see CREDITS.md for their sources and licences).

CONTENT is a photo of Chelsea the cat (CC0); STYLE is a procedural painting of a swirling
night sky made by scripts/make_style_sample.py.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
CONTENT: Path = HERE / "content.jpg"
STYLE: Path = HERE / "style.jpg"

__all__ = ["CONTENT", "STYLE"]
