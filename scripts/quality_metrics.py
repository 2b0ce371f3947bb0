"""Loss-neutral judges of a stylized picture (issue 16): measures that no objective optimizes.

A picture is judged against its style image and its content photo, on the VGG19 features of a
weight set (the default Caffe VGG19 in the benchmark):

- `sliced` - a sliced Wasserstein distance between the picture's and the style's feature
  distributions: every feature vector of a layer is projected on the same fixed random unit
  directions (seeded), and the 1-D distributions are compared by W1 with exact quantile
  matching (the two pictures may have different pixel counts). The mean over directions,
  summed over relu1_1..relu5_1, at full, 1/2 and 1/4 size.
- `w2` - the exact Wasserstein-2 distance between Gaussian fits of the same features (means and
  covariances in float64, matrix square roots by eigendecomposition), per channel
  (sqrt(W2^2 / C)) so that wide layers do not drown narrow ones; the same layers and sizes.
- `content` - ||F(x) - F(c)||^2 / ||F(c)||^2 at relu4_2, the photo resampled to the picture.
- `edges` - per side, the step between the outermost pixel row (column) and its neighbour over
  the mean step between neighbouring rows (columns) inside the picture: about 1 for a photo,
  well above 1 for a coloured line along a border.

Conventions (judgement calls, fixed here so that every picture is judged alike):
- Pooling is max, VGG as it was trained, as in KC's objective and, since issue 16's last
  change, stylejax's default (`--preset classic` and `seed` pool by average). The judge is not
  neutral about it: a picture scores best under the pooling it was optimized with
  (BENCHMARKS.md, "Max pooling"); set POOLING to "avg" to judge the other way.
- Activations are divided by 255 * 0.226 (the Caffe input range over torchvision's mean input
  std), which puts Caffe features at torchvision's scale; it changes the units only.
- The style is resampled (Lanczos) so that its longest side is the picture's, as stylejax's
  default `style_scale` 1 does, then picture and style are both reduced to 1/2 and 1/4.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable

import numpy as np
from PIL import Image

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"  # Gatys et al.'s content layer (conv4_2 after its ReLU), as KC's
REDUCTIONS = (1, 2, 4)  # full, 1/2 and 1/4 size
DIRECTIONS = 128  # random unit directions per layer for the sliced distance
SEED = 16  # of the directions (the issue number); fixed, so every picture meets the same ones
POOLING = "max"
# Caffe's input is 0-255 where torchvision's is (x - mean) / std with std about 0.226: features
# in torchvision's units.
ACTIVATION_SCALE = 255.0 * 0.226
CHUNK = 16  # directions whose quantiles are matched at once (bounds the gathers' memory)

# (images (N, H, W, 3) float32 in [0, 1], layers) -> {layer: (N, h, w, C)}
FeatureFn = Callable[[np.ndarray, tuple[str, ...]], dict[str, np.ndarray]]


# --- distances between feature sets -----------------------------------------------------------


def directions(channels: int, count: int | None = None, seed: int = SEED) -> np.ndarray:
    """(count, channels) random unit vectors (count default: DIRECTIONS), the same for every
    call with the same arguments."""
    rng = np.random.default_rng([seed, channels])
    v = rng.standard_normal((DIRECTIONS if count is None else count, channels))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def quantile_breaks(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact quantile matching of an n-point and an m-point empirical distribution.

    Both quantile functions are constant between the levels i/n and j/m; on the union of those
    levels each interval has width `dt` and meets the `ix`-th smallest of the first set and the
    `iy`-th smallest of the second. Returns (dt, ix, iy), each of length <= n + m.
    """
    levels = np.unique(np.concatenate([np.arange(n + 1) / n, np.arange(m + 1) / m]))
    mid = (levels[:-1] + levels[1:]) / 2
    dt = np.diff(levels)
    ix = np.minimum((mid * n).astype(np.int64), n - 1)
    iy = np.minimum((mid * m).astype(np.int64), m - 1)
    return dt, ix, iy


def wasserstein1_sorted(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """W1 between 1-D empirical distributions, column by column.

    xs: (n, K), ys: (m, K), each column sorted ascending. Returns (K,) float64.
    """
    dt, ix, iy = quantile_breaks(len(xs), len(ys))
    out = np.empty(xs.shape[1])
    for k in range(0, xs.shape[1], CHUNK):
        gap = np.abs(xs[ix, k : k + CHUNK].astype(np.float64) - ys[iy, k : k + CHUNK])
        out[k : k + CHUNK] = dt @ gap
    return out


def sorted_projections(features: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """(n, C) features projected on (K, C) directions, each of the K columns sorted: (n, K)."""
    return np.sort(features.astype(np.float32) @ dirs.T.astype(np.float32), axis=0)


def sliced_wasserstein(x: np.ndarray, y: np.ndarray, dirs: np.ndarray | None = None) -> float:
    """Mean over fixed random unit directions of W1 between the projections of two point sets.

    x: (n, C), y: (m, C); dirs: (K, C) unit rows (default: `directions(C)`).
    """
    dirs = directions(x.shape[1]) if dirs is None else dirs
    return float(
        wasserstein1_sorted(sorted_projections(x, dirs), sorted_projections(y, dirs)).mean()
    )


@dataclasses.dataclass(frozen=True)
class Gaussian:
    """A Gaussian fit of a feature set: mean (C,), covariance (C, C) and the covariance's
    symmetric square root, all float64."""

    mean: np.ndarray
    cov: np.ndarray
    cov_sqrt: np.ndarray


def psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (eigh, float64);
    eigenvalues below zero by rounding count as zero."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def gaussian_fit(features: np.ndarray) -> Gaussian:
    """Mean and (biased, 1/n) covariance of (n, C) features, in float64."""
    f = features.astype(np.float64)
    mean = f.mean(axis=0)
    centred = f - mean
    cov = centred.T @ centred / len(f)
    return Gaussian(mean, cov, psd_sqrt(cov))


def gaussian_w2(a: Gaussian, b: Gaussian) -> float:
    """W2 between two Gaussians per channel: sqrt(W2^2 / C), with
    W2^2 = |m_a - m_b|^2 + tr(S_a + S_b - 2 (S_b^1/2 S_a S_b^1/2)^1/2)."""
    cross = psd_sqrt(b.cov_sqrt @ a.cov @ b.cov_sqrt)
    squared = (
        np.sum((a.mean - b.mean) ** 2) + np.trace(a.cov) + np.trace(b.cov) - 2 * np.trace(cross)
    )
    return float(np.sqrt(max(squared, 0.0) / len(a.mean)))


def content_distance(picture: np.ndarray, content: np.ndarray) -> float:
    """||F(x) - F(c)||^2 / ||F(c)||^2 for two feature arrays of the same shape."""
    f, c = picture.astype(np.float64), content.astype(np.float64)
    return float(np.sum((f - c) ** 2) / np.sum(c**2))


# --- pixels -----------------------------------------------------------------------------------

SIDES = ("top", "bottom", "left", "right")


def edge_ratios(image: np.ndarray) -> dict[str, float]:
    """Per side, the mean absolute step between the outermost row (column) and the next one,
    over the mean absolute step between neighbouring rows (columns) inside the picture (the
    two outermost steps excluded). image: (H, W, 3) float, H and W at least 4."""
    image = np.asarray(image, np.float64)
    if image.ndim != 3 or min(image.shape[:2]) < 4:
        raise ValueError(f"edge ratios need an (H, W, C) image of at least 4x4, got {image.shape}")
    rows = np.abs(np.diff(image, axis=0)).mean(axis=(1, 2))  # (H-1,) step below each row
    cols = np.abs(np.diff(image, axis=1)).mean(axis=(0, 2))  # (W-1,)
    row_inside, col_inside = rows[1:-1].mean(), cols[1:-1].mean()
    return {
        "top": float(rows[0] / row_inside),
        "bottom": float(rows[-1] / row_inside),
        "left": float(cols[0] / col_inside),
        "right": float(cols[-1] / col_inside),
    }


def reduce(image: np.ndarray, factor: int) -> np.ndarray:
    """(H, W, 3) float in [0, 1] reduced by `factor` (Lanczos; sides rounded)."""
    if factor == 1:
        return image
    height, width = image.shape[:2]
    shape = (max(1, round(width / factor)), max(1, round(height / factor)))
    return resample(image, shape)


def resample(image: np.ndarray, width_height: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) float in [0, 1] resampled (Lanczos, per channel in float) to (width, height)."""
    if image.shape[1::-1] == tuple(width_height):
        return image
    channels = [
        np.asarray(
            Image.fromarray(image[..., c].astype(np.float32), "F").resize(
                width_height, Image.Resampling.LANCZOS
            )
        )
        for c in range(image.shape[-1])
    ]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0)


def fit_longest(image: np.ndarray, size: int) -> np.ndarray:
    """Resampled so that the longest side is `size` pixels, aspect kept."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    return resample(image, (max(1, round(width * scale)), max(1, round(height * scale))))


# --- the judge --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Scores:
    """One picture's judgement. The totals sum over STYLE_LAYERS and REDUCTIONS; `per_size`
    keeps {reduction: (sliced, w2)} summed over layers."""

    sliced: float
    w2: float
    content: float
    edges: dict[str, float]
    per_size: dict[int, tuple[float, float]]

    @property
    def worst_edge(self) -> float:
        return max(self.edges.values())


@dataclasses.dataclass(frozen=True)
class StyleReference:
    """The style's sorted projections and Gaussian fits {reduction: {layer: ...}}, computed once
    per style and picture size."""

    projections: dict[int, dict[str, np.ndarray]]
    gaussians: dict[int, dict[str, Gaussian]]


def flat(features: np.ndarray) -> np.ndarray:
    """(1, h, w, C) activations as (h*w, C) vectors in the judge's units."""
    return np.asarray(features, np.float32).reshape(-1, features.shape[-1]) / ACTIVATION_SCALE


def style_reference(style: np.ndarray, size: int, features: FeatureFn) -> StyleReference:
    """The style image (H, W, 3) at longest side `size`, then reduced, as the judge sees it."""
    style = fit_longest(style, size)
    projections, gaussians = {}, {}
    for factor in REDUCTIONS:
        feats = features(reduce(style, factor)[None], STYLE_LAYERS)
        projections[factor], gaussians[factor] = {}, {}
        for layer in STYLE_LAYERS:
            f = flat(feats[layer])
            projections[factor][layer] = sorted_projections(f, directions(f.shape[1]))
            gaussians[factor][layer] = gaussian_fit(f)
    return StyleReference(projections, gaussians)


def judge(
    picture: np.ndarray, content: np.ndarray, style: StyleReference, features: FeatureFn
) -> Scores:
    """Scores a picture (H, W, 3) against the photo (any size; resampled to the picture) and a
    `style_reference` made at the picture's longest side."""
    per_size = {}
    for factor in REDUCTIONS:
        feats = features(reduce(picture, factor)[None], STYLE_LAYERS)
        sliced = w2 = 0.0
        for layer in STYLE_LAYERS:
            f = flat(feats[layer])
            ref = style.projections[factor][layer]
            sliced += float(
                wasserstein1_sorted(sorted_projections(f, directions(f.shape[1])), ref).mean()
            )
            w2 += gaussian_w2(gaussian_fit(f), style.gaussians[factor][layer])
        per_size[factor] = (sliced, w2)
    photo = resample(content, picture.shape[1::-1])
    both = features(np.stack([picture, photo]).astype(np.float32), (CONTENT_LAYER,))[CONTENT_LAYER]
    return Scores(
        sliced=sum(s for s, _ in per_size.values()),
        w2=sum(w for _, w in per_size.values()),
        content=content_distance(np.asarray(both[0]), np.asarray(both[1])),
        edges=edge_ratios(picture),
        per_size=per_size,
    )


def vgg_features(weights: str | os.PathLike | None) -> FeatureFn:
    """stylejax's VGG19 features on a weight set (None: the default Caffe VGG19), max pooling,
    as NumPy arrays."""
    from stylejax import features

    @functools.wraps(features)
    def run(images: np.ndarray, layers: tuple[str, ...]) -> dict[str, np.ndarray]:
        out = features(images.astype(np.float32), layers, weights=weights, pooling=POOLING)
        return {name: np.asarray(value) for name, value in out.items()}

    return run
