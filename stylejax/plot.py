"""Loss curves and progress GIFs, drawn with pillow and numpy only (no matplotlib)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from stylejax.atomic import atomic_write

WIDTH, HEIGHT = 800, 500
SUPERSAMPLE = 2  # draw at 2x, then downsample: anti-aliased lines and text

# (history key, legend label, colour)
SERIES = (
    ("total", "total (weighted)", (31, 119, 180)),
    ("content", "content (unweighted)", (255, 127, 14)),
    ("style", "style (unweighted)", (44, 160, 44)),
)
INK = (34, 34, 34)
MUTED = (90, 90, 90)
GRID = (226, 226, 226)
GRID_MINOR = (243, 243, 243)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
Point = tuple[float, float]


def _font(size: float) -> Font:
    return ImageFont.load_default(size=size * SUPERSAMPLE)


def _text_size(font: Font, text: str) -> tuple[float, float]:
    left, top, right, bottom = font.getbbox(text)
    return right - left, bottom - top


def _nice_step(span: float, target: int = 6) -> float:
    """A 1-2-2.5-5 x 10^k step that cuts `span` into about `target` pieces."""
    raw = span / target
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * magnitude >= raw * (1 - 1e-9):
            return m * magnitude
    return 10.0 * magnitude


def _format_number(value: float) -> str:
    if abs(value - round(value)) < 1e-9 * max(1.0, abs(value)):
        return f"{round(value):,}"
    return f"{value:g}"


def _series(history: list[dict[str, float]], key: str) -> list[list[Point]]:
    """(evaluations, log10 loss) runs, split wherever a value is missing, <= 0 or not finite."""
    runs: list[list[Point]] = [[]]
    for record in history:
        x, y = float(record.get("evaluations", math.nan)), float(record.get(key, math.nan))
        if math.isfinite(x) and math.isfinite(y) and y > 0:
            runs[-1].append((x, math.log10(y)))
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]


def _draw_power_of_ten(
    draw: ImageDraw.ImageDraw, right: float, middle: float, exponent: int, base: Font, small: Font
) -> None:
    """Draw '10' with a raised exponent, right-aligned at `right`, centred on `middle`."""
    sup = str(exponent)  # the default font has no U+2212 minus sign
    base_w, _ = _text_size(base, "10")
    sup_w, _ = _text_size(small, sup)
    x = right - base_w - sup_w - SUPERSAMPLE
    draw.text((x, middle), "10", font=base, fill=MUTED, anchor="lm")
    draw.text(
        (x + base_w + SUPERSAMPLE, middle - 4 * SUPERSAMPLE),
        sup,
        font=small,
        fill=MUTED,
        anchor="lm",
    )


def loss_curve(
    history: list[dict[str, float]], path: str | os.PathLike, *, title: str = ""
) -> None:
    """Draws total, content and style losses against function evaluations on a log-scale y axis."""
    s = SUPERSAMPLE
    image = Image.new("RGB", (WIDTH * s, HEIGHT * s), "white")
    draw = ImageDraw.Draw(image)
    title_font, label_font, tick_font, sup_font = _font(17), _font(13), _font(12), _font(9)

    runs = {key: _series(history, key) for key, _, _ in SERIES}
    points = [p for key_runs in runs.values() for run in key_runs for p in run]
    if points:
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        x_lo = 0.0 if 0 <= min(xs) else min(xs)
        x_hi = max(max(xs), x_lo + 1)
        y_lo, y_hi = math.floor(min(ys)), math.ceil(max(ys))
    else:
        x_lo, x_hi, y_lo, y_hi = 0.0, 1.0, 0, 1
    y_hi = max(y_hi, y_lo + 1)

    # Layout (in 1x pixels, scaled by s): title, legend row, plot box, tick labels, axis labels.
    top = 14
    if title:
        draw.text((WIDTH * s / 2, top * s), title, font=title_font, fill=INK, anchor="mt")
        top += 28
    legend_y = top + 8
    left, right, plot_top, bottom = 84, WIDTH - 28, top + 32, HEIGHT - 62

    # Legend: one centred row above the plot, so it never covers a curve.
    items = [(label, colour) for _, label, colour in SERIES]
    swatch, gap, spacing = 24, 7, 26
    widths = [_text_size(label_font, label)[0] / s for label, _ in items]
    total_w = sum(swatch + gap + w for w in widths) + spacing * (len(items) - 1)
    x = (left + right) / 2 - total_w / 2
    for (label, colour), w in zip(items, widths, strict=True):
        draw.line(
            [(x * s, legend_y * s), ((x + swatch) * s, legend_y * s)], fill=colour, width=3 * s
        )
        draw.text(
            ((x + swatch + gap) * s, legend_y * s), label, font=label_font, fill=INK, anchor="lm"
        )
        x += swatch + gap + w + spacing

    def px(xv: float) -> float:
        return (left + (xv - x_lo) / (x_hi - x_lo) * (right - left)) * s

    def py(yv: float) -> float:
        return (bottom - (yv - y_lo) / (y_hi - y_lo) * (bottom - plot_top)) * s

    # Grid: minor lines at 2..9 x 10^k, major at decades, vertical lines at x ticks.
    decades = y_hi - y_lo
    label_every = max(1, math.ceil(decades / 8))
    if decades <= 12:
        for k in range(y_lo, y_hi):
            for m in range(2, 10):
                yy = py(k + math.log10(m))
                draw.line([(left * s, yy), (right * s, yy)], fill=GRID_MINOR, width=s)
    for k in range(y_lo, y_hi + 1):
        yy = py(k)
        draw.line([(left * s, yy), (right * s, yy)], fill=GRID, width=s)
        if k % label_every == 0:
            draw.line([((left - 5) * s, yy), (left * s, yy)], fill=INK, width=s)
            _draw_power_of_ten(draw, (left - 9) * s, yy, k, tick_font, sup_font)

    step = _nice_step(x_hi - x_lo)
    tick = math.ceil(x_lo / step - 1e-9) * step
    while tick <= x_hi + 1e-9 * step:
        xx = px(tick)
        draw.line([(xx, plot_top * s), (xx, bottom * s)], fill=GRID, width=s)
        draw.line([(xx, bottom * s), (xx, (bottom + 5) * s)], fill=INK, width=s)
        draw.text(
            (xx, (bottom + 9) * s), _format_number(tick), font=tick_font, fill=MUTED, anchor="mt"
        )
        tick += step

    # Curves, clipped to the plot box by drawing on their own layer.
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    layer_draw = ImageDraw.Draw(layer)
    for key, _, colour in SERIES:
        for run in runs[key]:
            pts = [(px(xv), py(yv)) for xv, yv in run]
            if len(pts) == 1:
                (cx, cy), r = pts[0], 2.5 * s
                layer_draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
            else:
                layer_draw.line(pts, fill=colour, width=2 * s, joint="curve")
    box = (left * s, plot_top * s, right * s + 1, bottom * s + 1)
    image.paste(layer.crop(box), box[:2], layer.crop(box))

    if not points:
        draw.text(
            ((left + right) / 2 * s, (plot_top + bottom) / 2 * s),
            "no positive, finite losses to plot",
            font=label_font,
            fill=MUTED,
            anchor="mm",
        )

    # Frame and axis labels.
    draw.rectangle(
        [left * s, plot_top * s, right * s, bottom * s], outline=(150, 150, 150), width=s
    )
    draw.line(
        [(left * s, plot_top * s), (left * s, bottom * s), (right * s, bottom * s)],
        fill=INK,
        width=s,
    )
    draw.text(
        ((left + right) / 2 * s, (HEIGHT - 14) * s),
        "function evaluations",
        font=label_font,
        fill=INK,
        anchor="mb",
    )
    label = "loss (log scale)"
    w, h = _text_size(label_font, label)
    text = Image.new("RGBA", (int(w) + 4 * s, int(h) + 8 * s), (255, 255, 255, 0))
    ImageDraw.Draw(text).text((2 * s, 4 * s), label, font=label_font, fill=INK, anchor="lt")
    text = text.rotate(90, expand=True)
    centre = (bottom + plot_top) / 2 * s
    image.paste(text, (14 * s, int(centre - text.height / 2)), text)

    final = image.resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS)
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    with atomic_write(path) as tmp:
        final.save(tmp, format=fmt)


def _to_image(frame: np.ndarray | Image.Image) -> Image.Image:
    if isinstance(frame, Image.Image):
        return frame.convert("RGB")
    array = np.asarray(frame)
    if array.dtype != np.uint8:
        array = np.round(np.clip(np.nan_to_num(array.astype(np.float64)), 0.0, 1.0) * 255)
        array = array.astype(np.uint8)
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
) -> None:
    """Write frames (float [0, 1] (H, W, 3) arrays or PIL images) as a looping GIF.

    Each frame gets its own adaptive 256-colour palette. The last frame is shown for
    `hold_last` seconds. Consecutive identical frames are merged by pillow.
    """
    images = [_to_image(f) for f in frames]
    if not images:
        raise ValueError("animated_gif needs at least one frame")
    size = images[0].size
    if any(im.size != size for im in images):
        raise ValueError("all frames must have the same size")
    paletted = [
        im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
        for im in images
    ]
    frame_ms = max(10, round(seconds_per_frame * 1000))
    durations = [frame_ms] * len(paletted)
    durations[-1] = max(10, round(hold_last * 1000)) if hold_last > 0 else frame_ms
    with atomic_write(path) as tmp:
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


def contact_sheet(
    grid: Sequence[Sequence[np.ndarray]],
    path: str | os.PathLike,
    *,
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    title: str = "",
) -> None:
    """Writes a labelled grid of (H, W, 3) float images in [0, 1], rows x columns."""
    height, width = np.asarray(grid[0][0]).shape[:2]
    font, small = ImageFont.load_default(size=16), ImageFont.load_default(size=13)
    gap, left = 6, max(80, max(int(_text_size(small, t)[0]) for t in row_labels) + 16)
    top = 30 + (24 if title else 0)
    columns = max(len(row) for row in grid)
    title_width = int(_text_size(font, title)[0]) + 16 if title else 0
    sheet = Image.new(
        "RGB",
        (max(left + columns * (width + gap), title_width), top + len(grid) * (height + gap)),
        "white",
    )
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((8, 6), title, fill=INK, font=font)
    for c, text in enumerate(column_labels):
        draw.text(
            (left + c * (width + gap) + width / 2, top - 8), text, fill=INK, font=small, anchor="ms"
        )
    for r, row in enumerate(grid):
        y = top + r * (height + gap)
        draw.text((left - 8, y + height / 2), row_labels[r], fill=INK, font=small, anchor="rm")
        for c, image in enumerate(row):
            sheet.paste(_to_image(np.asarray(image)), (left + c * (width + gap), y))
    with atomic_write(path) as tmp:
        sheet.save(tmp, format="PNG")
