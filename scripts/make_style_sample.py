"""Paint stylejax's bundled style sample: a swirling night sky in thick brush strokes.

    python scripts/make_style_sample.py [OUT.jpg]   # default: stylejax/samples/style.jpg

Deterministic (fixed seed), numpy + pillow only, a few seconds on one core. The painting is
built like a real one: a flow field from a few vortices (a stream function, so colour bands
follow the strokes), a colour study laid in from a palette, then layers of brush strokes traced
along the flow from broad to fine, bold dark contour strokes, and a bristle texture made by
line-integral convolution (LIC) of noise along the same flow.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIZE = 512
SEED = 1889  # the year of The Starry Night
JPEG_QUALITY = 90
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "stylejax" / "samples" / "style.jpg"

# (x, y, circulation, glow radius), in units of the canvas side.
VORTICES = [
    (0.36, 0.34, 1.00, 0.11),
    (0.62, 0.46, -0.75, 0.07),
    (0.84, 0.16, 0.55, 0.10),
    (0.13, 0.17, 0.40, 0.06),
    (0.58, 0.14, 0.30, 0.045),
    (0.90, 0.52, -0.35, 0.05),
]
HORIZON = 0.74

NAVY = (12, 24, 74)
ULTRAMARINE = (28, 58, 150)
COBALT = (46, 104, 190)
SKY = (118, 168, 214)
PALE = (250, 244, 196)
YELLOW = (246, 200, 44)
ORANGE = (232, 128, 32)
NIGHT = (10, 14, 40)
HILL_DARK = (22, 46, 62)
HILL = (36, 82, 88)
OCHRE = (196, 150, 60)


def _ramp(t: np.ndarray, stops: list[tuple[float, tuple[int, int, int]]]) -> np.ndarray:
    """Piecewise-linear colour ramp: t (any shape) -> (..., 3) float RGB in 0..255."""
    xs = np.array([s for s, _ in stops])
    cs = np.array([c for _, c in stops], dtype=np.float64)
    return np.stack([np.interp(t, xs, cs[:, k]) for k in range(3)], axis=-1)


def _smooth_noise(rng: np.random.Generator, n: int, cells: int) -> np.ndarray:
    """Value noise in about [-1, 1]: a cells x cells random grid, bicubic-upsampled to n x n."""
    grid = rng.uniform(0, 255, size=(cells, cells)).astype(np.uint8)
    up = Image.fromarray(grid).resize((n, n), Image.Resampling.BICUBIC)
    return np.asarray(up, dtype=np.float64) / 127.5 - 1.0


def _bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample img (H, W[, C]) at float pixel coordinates, clamped to the edges."""
    h, w = img.shape[:2]
    x = np.clip(x, 0, w - 1.001)
    y = np.clip(y, 0, h - 1.001)
    x0 = x.astype(np.intp)
    y0 = y.astype(np.intp)
    fx = x - x0
    fy = y - y0
    if img.ndim == 3:
        fx = fx[..., None]
        fy = fy[..., None]
    top = img[y0, x0] * (1 - fx) + img[y0, x0 + 1] * fx
    bottom = img[y0 + 1, x0] * (1 - fx) + img[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _fields(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stream function psi and the unit flow (vx, vy) along its level sets."""
    y, x = np.mgrid[0:n, 0:n] / n
    psi = 0.55 * y + 0.05 * np.sin(2 * np.pi * (1.3 * x + 0.2)) * (1 - y)
    for cx, cy, gamma, radius in VORTICES:
        r2 = (x - cx) ** 2 + (y - cy) ** 2
        psi += 0.09 * gamma * np.log(r2 + (0.6 * radius) ** 2)
    psi += 0.012 * _smooth_noise(rng, n, 7)
    ground = 0.5 * y + 0.025 * np.sin(2 * np.pi * (2.2 * x + 0.3)) + 0.01 * np.sin(9 * x)
    hills = HORIZON + 0.05 * np.sin(2 * np.pi * (0.9 * x + 0.15)) + 0.02 * np.sin(13 * x)
    mask = 1 / (1 + np.exp(-(y - hills) / 0.012))
    psi = psi * (1 - mask) + ground * mask
    gy, gx = np.gradient(psi)
    norm = np.hypot(gx, gy) + 1e-12
    vx, vy = gy / norm, -gx / norm
    # Inside each star's halo the strokes circle it, so its glowing rings read as brush work.
    for cx, cy, gamma, radius in VORTICES:
        dx, dy = x - cx, y - cy
        d = np.hypot(dx, dy) + 1e-12
        w = np.exp(-((d / (1.2 * radius)) ** 4))
        vx = vx * (1 - w) + np.sign(gamma) * dy / d * w
        vy = vy * (1 - w) - np.sign(gamma) * dx / d * w
    norm = np.hypot(vx, vy) + 1e-12
    return psi, vx / norm, vy / norm


def _colour_study(rng: np.random.Generator, psi: np.ndarray) -> np.ndarray:
    """The underpainting: banded blues in the sky, glowing stars, dark hills. (n, n, 3) floats."""
    n = psi.shape[0]
    y, x = np.mgrid[0:n, 0:n] / n
    wobble = 0.25 * _smooth_noise(rng, n, 9)
    bands = 0.5 + 0.5 * np.sin(psi * 70 + wobble * 3)
    sky = _ramp(
        bands + 0.35 * wobble,
        [
            (-0.2, NAVY),
            (0.25, ULTRAMARINE),
            (0.65, COBALT),
            (0.95, SKY),
            (1.2, PALE),
        ],
    )
    for cx, cy, _gamma, radius in VORTICES:
        d = np.hypot(x - cx, y - cy) / radius
        rings = d + 0.06 * np.sin(d * 22)
        glow = _ramp(
            rings,
            [
                (0.0, PALE),
                (0.35, YELLOW),
                (0.62, ORANGE),
                (0.8, YELLOW),
                (1.0, SKY),
                (1.3, COBALT),
            ],
        )
        weight = np.clip(1.45 - d, 0.0, 1.0)[..., None] ** 1.5
        sky = sky * (1 - weight) + glow * weight
    hills = HORIZON + 0.05 * np.sin(2 * np.pi * (0.9 * x + 0.15)) + 0.02 * np.sin(13 * x)
    depth = (y - hills) / (1 - HORIZON)
    ground = _ramp(
        depth + 0.4 * wobble + 0.15 * np.sin(psi * 90),
        [
            (-0.1, HILL),
            (0.3, HILL_DARK),
            (0.55, HILL),
            (0.8, OCHRE),
            (1.1, HILL_DARK),
        ],
    )
    mask = (y > hills)[..., None]
    return np.where(mask, ground, sky)


def _trace(
    vx: np.ndarray, vy: np.ndarray, x0: np.ndarray, y0: np.ndarray, steps: int, step: float
) -> np.ndarray:
    """Streamlines through seeds (x0, y0), both ways: (n_seeds, 2 * steps + 1, 2) points."""
    out = [np.stack([x0, y0], axis=-1)]
    for sign in (1.0, -1.0):
        px, py = x0.copy(), y0.copy()
        half = []
        for _ in range(steps):
            px = px + sign * step * _bilinear(vx, px, py)
            py = py + sign * step * _bilinear(vy, px, py)
            half.append(np.stack([px, py], axis=-1))
        out = out + half if sign > 0 else half[::-1] + out
    return np.stack(out, axis=1)


def _lic(noise: np.ndarray, vx: np.ndarray, vy: np.ndarray, steps: int) -> np.ndarray:
    """Line-integral convolution of noise along the flow, with a tapered (Hann) kernel."""
    n = noise.shape[0]
    y, x = np.mgrid[0:n, 0:n].astype(np.float64)
    acc = noise.copy()
    total = 1.0
    for sign in (1.0, -1.0):
        px, py = x.copy(), y.copy()
        for i in range(1, steps + 1):
            px = px + sign * _bilinear(vx, px, py)
            py = py + sign * _bilinear(vy, px, py)
            w = 0.5 + 0.5 * np.cos(np.pi * i / (steps + 1))
            acc += w * _bilinear(noise, px, py)
            total += w
    return acc / total


def _strokes(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    study: np.ndarray,
    vx: np.ndarray,
    vy: np.ndarray,
    count: int,
    width: tuple[int, int],
    length: int,
    jitter: float,
) -> None:
    """Lay `count` strokes along the flow, each in the study's colour at its seed, jittered."""
    n = study.shape[0]
    x0 = rng.uniform(-4, n + 4, count)
    y0 = rng.uniform(-4, n + 4, count)
    lines = _trace(vx, vy, x0, y0, steps=length, step=1.6)
    keep = rng.integers(length // 2, length + 1, count)
    colours = _bilinear(study, x0, y0) * rng.normal(1.0, jitter, (count, 1))
    colours += rng.normal(0.0, 6.0, (count, 3))
    widths = rng.integers(width[0], width[1] + 1, count)
    for line, k, colour, w in zip(lines, keep, colours, widths, strict=True):
        pts = line[length - k : length + k + 1]
        fill = tuple(int(c) for c in np.clip(colour, 0, 255))
        draw.line([tuple(p) for p in pts.tolist()], fill=fill, width=int(w), joint="curve")
        r = w / 2 - 0.5
        for px, py in (pts[0], pts[-1]):
            draw.ellipse([px - r, py - r, px + r, py + r], fill=fill)


def _contours(
    draw: ImageDraw.ImageDraw, rng: np.random.Generator, vx: np.ndarray, vy: np.ndarray, n: int
) -> None:
    """Bold dark strokes that ring the stars and outline the hills."""
    seeds = []
    for cx, cy, _gamma, radius in VORTICES:
        for ring in (0.82, 1.25):
            for angle in rng.uniform(0, 2 * np.pi, 2):
                d = ring * radius
                seeds.append((cx + d * np.cos(angle), cy + d * np.sin(angle)))
    for x in np.linspace(0.05, 0.95, 7):
        hill = HORIZON + 0.05 * np.sin(2 * np.pi * (0.9 * x + 0.15)) + 0.02 * np.sin(13 * x)
        seeds.append((x, hill + 0.01))
    for _ in range(14):
        seeds.append((rng.uniform(0.05, 0.95), rng.uniform(0.05, 0.7)))
    sx, sy = (np.array(s) * n for s in zip(*seeds, strict=True))
    lines = _trace(vx, vy, sx, sy, steps=22, step=2.0)
    for line in lines:
        shade = int(rng.integers(0, 20))
        fill = (NIGHT[0] + shade, NIGHT[1] + shade, NIGHT[2] + 2 * shade)
        draw.line(
            [tuple(p) for p in line.tolist()],
            fill=fill,
            width=int(rng.integers(3, 6)),
            joint="curve",
        )


def make_style(size: int = SIZE, seed: int = SEED) -> Image.Image:
    """Paint the style sample: an RGB image of size x size pixels."""
    rng = np.random.default_rng(seed)
    psi, vx, vy = _fields(rng, size)
    study = _colour_study(rng, psi)

    canvas = Image.fromarray(np.clip(study, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    scale = size / 512
    area = (size / 512) ** 2
    _strokes(
        draw,
        rng,
        study,
        vx,
        vy,
        int(1800 * area),
        (int(9 * scale), int(13 * scale)),
        int(16 * scale),
        0.10,
    )
    _strokes(
        draw,
        rng,
        study,
        vx,
        vy,
        int(5200 * area),
        (int(5 * scale), int(8 * scale)),
        int(11 * scale),
        0.13,
    )
    _contours(draw, rng, vx, vy, size)
    _strokes(
        draw,
        rng,
        study,
        vx,
        vy,
        int(2600 * area),
        (max(2, int(2 * scale)), max(3, int(4 * scale))),
        int(7 * scale),
        0.18,
    )

    # Bristle texture: LIC of fine noise along the flow, applied as light and shade.
    noise = rng.uniform(0.0, 1.0, (size, size))
    bristles = _lic(noise, vx, vy, steps=int(9 * scale))
    bristles = (bristles - bristles.mean()) / (bristles.std() + 1e-12)
    paint = np.asarray(canvas, dtype=np.float64) * (1.0 + 0.11 * bristles[..., None])
    return Image.fromarray(np.clip(paint + 0.5, 0, 255).astype(np.uint8))


def main(argv: list[str] | None = None) -> int:
    """Write the style sample as a JPEG (default: stylejax/samples/style.jpg)."""
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else DEFAULT_OUT
    make_style().save(out, quality=JPEG_QUALITY, optimize=True)
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
