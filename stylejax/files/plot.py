"""Run outputs as pictures: loss curves (matplotlib, Agg), contact sheets and GIFs (Pillow).

matplotlib is used through `Figure` and the Agg canvas only, never `pyplot`, so nothing here
touches global state or needs a display. Every file is written atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from stylejax.files.atomic import atomic_write
from stylejax.files.images import to_uint8

WIDTH, HEIGHT, DPI = 800, 500, 100  # loss curve size in pixels

# (history key, legend label, colour); tv only when asked (records carry it even when unused).
SERIES = (
    ("total", "total (weighted)", "#1f77b4"),
    ("content", "content (unweighted)", "#ff7f0e"),
    ("style", "style (unweighted)", "#2ca02c"),
    ("tv", "tv (unweighted)", "#9467bd"),
)
SCALE_CHANGE = "scale change"  # gid of the vertical lines marking a pyramid's new size
INK = (34, 34, 34)

CELL = 256  # contact-sheet members smaller than this are enlarged towards it
GAP = 8  # pixels between contact-sheet cells


# ---------------------------------------------------------------------------- loss curves


def _column(history: Sequence[Mapping], key: str) -> np.ndarray:
    """`key` of every record as floats; missing, non-finite or non-positive values are NaN,
    which matplotlib leaves as gaps in a line."""
    values = np.array([float(record.get(key, math.nan)) for record in history], np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def _size_changes(history: Sequence[Mapping]) -> list[tuple[float, tuple[int, ...]]]:
    """(evaluations, new size) wherever a record's `size` differs from the previous record's."""
    changes, previous = [], None
    for record in history:
        size = record.get("size")
        if size is None:
            continue
        size = tuple(int(s) for s in size)
        if previous is not None and size != previous:
            changes.append((float(record.get("evaluations", math.nan)), size))
        previous = size
    return [(x, size) for x, size in changes if math.isfinite(x)]


def loss_figure(history: Sequence[Mapping], *, title: str = "", tv: bool = False) -> Figure:
    """The loss-curve figure: total, content, style (and tv if `tv`, for runs that weight it)
    against evaluations on a log y axis; a dashed vertical line, labelled with the new size,
    wherever the records' `size` ([h, w]) changes (a pyramid's next scale)."""
    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    x = _column(history, "evaluations")
    plotted = 0
    for key, label, colour in SERIES:
        y = _column(history, key)
        if key == "tv" and not tv:
            continue
        shown = np.isfinite(x) & np.isfinite(y)
        # A value with no finite neighbour would be an invisible line of one point: mark it.
        marker = "o" if shown.sum() < 2 else None
        axes.plot(x, y, label=label, color=colour, linewidth=1.8, marker=marker, markersize=4)
        plotted += int(shown.sum())
    if plotted:
        axes.set_yscale("log")
    else:
        axes.set_yticks([])
        axes.text(
            0.5,
            0.5,
            "no positive, finite losses to plot",
            transform=axes.transAxes,
            ha="center",
            va="center",
            color="0.4",
        )
    for evaluations, size in _size_changes(history):
        axes.axvline(evaluations, color="0.45", linestyle="--", linewidth=1, gid=SCALE_CHANGE)
        axes.annotate(
            f"{size[1]}×{size[0]}",  # records carry [height, width]; labels read width×height
            xy=(evaluations, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -3),
            textcoords="offset points",
            ha="left",
            va="top",
            fontsize=9,
            color="0.3",
            gid=SCALE_CHANGE,
        )
    if np.isfinite(x).any():
        axes.set_xlim(left=min(0.0, np.nanmin(x)))
    else:
        axes.set_xlim(0.0, 1.0)
    axes.set_xlabel("function evaluations")
    axes.set_ylabel("loss (log scale)" if plotted else "loss")
    axes.grid(True, which="major", color="0.88")
    axes.grid(True, which="minor", axis="y", color="0.95")
    # Above the plot in one row, so the legend never covers a curve or a size label.
    figure.legend(loc="outside upper center", ncols=4, frameon=False)
    if title:
        axes.set_title(title, wrap=True)
    return figure


def loss_curve(
    history: Sequence[Mapping],
    path: str | os.PathLike,
    *,
    title: str = "",
    tv: bool = False,
    overwrite: bool = True,
) -> None:
    """Writes `loss_figure(history, title=title, tv=tv)` to `path` (.png, .jpg, .svg or .pdf;
    PNG for any other extension); an existing file is replaced only with `overwrite`."""
    path = Path(path)
    figure = loss_figure(history, title=title, tv=tv)
    kind = path.suffix.lower().lstrip(".")
    if kind not in figure.canvas.get_supported_filetypes():
        kind = "png"
    with atomic_write(path, overwrite=overwrite) as tmp:
        figure.savefig(tmp, format=kind, dpi=DPI, facecolor="white")


# ---------------------------------------------------------------------------- images


def _to_image(frame: np.ndarray | Image.Image) -> Image.Image:
    if isinstance(frame, Image.Image):
        return frame.convert("RGB")
    array = np.asarray(frame)
    if array.dtype != np.uint8:
        array = to_uint8(array)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3) frame, got shape {array.shape}")
    return Image.fromarray(np.ascontiguousarray(array[..., :3]))


def animated_gif(
    frames: Sequence[np.ndarray | Image.Image],
    path: str | os.PathLike,
    *,
    seconds_per_frame: float = 0.1,
    hold_last: float = 1.0,
    overwrite: bool = True,
) -> None:
    """Write in-memory frames (float [0, 1] or uint8 (H, W, 3) arrays, or PIL images) as a
    looping GIF.

    Frames smaller than the last one (a pyramid's earlier scales) are enlarged to its size with
    Lanczos. Each frame gets its own adaptive 256-colour palette. The last frame is shown for
    `hold_last` seconds. Consecutive identical frames are merged by pillow.
    """
    images = [_to_image(f) for f in frames]
    if not images:
        raise ValueError("animated_gif needs at least one frame")
    size = images[-1].size
    if any(im.size[0] > size[0] or im.size[1] > size[1] for im in images):
        sizes = sorted({im.size for im in images})
        raise ValueError(f"GIF frames may only grow to the last frame's size {size}, got {sizes}")
    images = [im if im.size == size else im.resize(size, Image.Resampling.LANCZOS) for im in images]
    paletted = [
        im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
        for im in images
    ]
    frame_ms = max(10, round(seconds_per_frame * 1000))
    durations = [frame_ms] * len(paletted)
    durations[-1] = max(10, round(hold_last * 1000)) if hold_last > 0 else frame_ms
    with atomic_write(path, overwrite=overwrite) as tmp:
        paletted[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=paletted[1:],
            duration=durations,
            loop=0,
            disposal=1,
            optimize=False,
        )


def cell_scale(height: int, width: int) -> int:
    """The whole-number factor a (height, width) member is enlarged by on a contact sheet:
    the one bringing its longest side nearest to CELL, never below 1 (large ones stay as
    they are)."""
    return max(1, round(CELL / max(height, width, 1)))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _text_width(font, text: str) -> int:
    left, _, right, _ = font.getbbox(text)
    return math.ceil(right - left)


def _split(word: str, font, width: int) -> list[str]:
    """`word` cut between characters into pieces at most `width` pixels wide."""
    pieces = []
    while len(word) > 1 and _text_width(font, word) > width:
        cut = 1
        while cut < len(word) - 1 and _text_width(font, word[: cut + 1]) <= width:
            cut += 1
        pieces.append(word[:cut])
        word = word[cut:]
    return [*pieces, word]


def _wrap(text: str, font, width: int) -> list[str]:
    """Greedy word wrap of `text` into lines at most `width` pixels wide."""
    lines: list[str] = []
    for word in text.split():
        first, *rest = _split(word, font, width)
        if lines and _text_width(font, f"{lines[-1]} {first}") <= width:
            lines[-1] = f"{lines[-1]} {first}"
        else:
            lines.append(first)
        lines += rest
    return lines


def contact_sheet_image(
    rows: Sequence[Sequence[np.ndarray | Image.Image]],
    *,
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    title: str = "",
) -> Image.Image:
    """A labelled grid of images (rows x columns), sized by the grid.

    Small members are enlarged by a whole factor (`cell_scale`) with nearest-neighbour
    resampling, so every pixel the optimizer produced shows as a sharp k x k block: what is
    judged is the output itself, not Lanczos's smoothing and ringing. The title and column
    labels wrap to fit the grid's width and the cells.
    """
    cells = [[_to_image(image) for image in row] for row in rows]
    if not cells or not any(cells):
        raise ValueError("contact_sheet needs at least one image")
    if len(row_labels) != len(cells) or len(column_labels) != max(map(len, cells)):
        raise ValueError(
            f"contact_sheet got {len(cells)} rows x {max(map(len, cells))} columns but "
            f"{len(row_labels)} row labels and {len(column_labels)} column labels"
        )
    height = max(im.height for row in cells for im in row)
    width = max(im.width for row in cells for im in row)
    k = cell_scale(height, width)
    cell_h, cell_w = height * k, width * k

    title_font, label_font = _font(18), _font(15)
    line = 22  # line height for both fonts
    margin = 12
    left = (
        margin
        + max(_text_width(label_font, t) for t in row_labels)
        + (12 if any(row_labels) else 0)
    )
    columns = len(column_labels)
    grid_w = columns * cell_w + (columns - 1) * GAP
    sheet_w = left + grid_w + margin
    title_lines = _wrap(title, title_font, sheet_w - 2 * margin) if title else []
    column_lines = [_wrap(t, label_font, cell_w) for t in column_labels]
    label_rows = max(map(len, column_lines))
    top = margin + len(title_lines) * line + (6 if title_lines else 0) + label_rows * line + 4
    sheet_h = top + len(cells) * cell_h + (len(cells) - 1) * GAP + margin

    sheet = Image.new("RGB", (sheet_w, sheet_h), "white")
    draw = ImageDraw.Draw(sheet)
    for i, text in enumerate(title_lines):
        draw.text((sheet_w / 2, margin + i * line), text, fill=INK, font=title_font, anchor="mt")
    for c, lines in enumerate(column_lines):
        centre = left + c * (cell_w + GAP) + cell_w / 2
        for i, text in enumerate(lines):
            y = top - 4 - (len(lines) - i) * line
            draw.text((centre, y + line / 2), text, fill=INK, font=label_font, anchor="mm")
    for r, row in enumerate(cells):
        y = top + r * (cell_h + GAP)
        draw.text(
            (left - 12, y + cell_h / 2), row_labels[r], fill=INK, font=label_font, anchor="rm"
        )
        for c, image in enumerate(row):
            big = image.resize((image.width * k, image.height * k), Image.Resampling.NEAREST)
            x = left + c * (cell_w + GAP) + (cell_w - big.width) // 2
            sheet.paste(big, (x, y + (cell_h - big.height) // 2))
    return sheet


def contact_sheet(
    rows: Sequence[Sequence[np.ndarray | Image.Image]],
    path: str | os.PathLike,
    *,
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    title: str = "",
    overwrite: bool = True,
) -> None:
    """Writes `contact_sheet_image(...)` to `path` as PNG."""
    sheet = contact_sheet_image(
        rows, row_labels=row_labels, column_labels=column_labels, title=title
    )
    with atomic_write(path, overwrite=overwrite) as tmp:
        sheet.save(tmp, format="PNG")
