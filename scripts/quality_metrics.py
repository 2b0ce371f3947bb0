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

and two that see pixels only, independent of VGG and of its pooling (below, "a judge without
VGG"): `patches`, a sliced Wasserstein distance between 7x7 neighbourhoods on a Laplacian
pyramid (Karras et al. 2018), and `structure`, one minus SSIM against the photo.

Conventions (judgement calls, fixed here so that every picture is judged alike):
- Pooling is max, VGG as it was trained, as in KC's objective and, since issue 16's last
  change, stylejax's default (`--preset classic` and `seed` pool by average). The judge is not
  neutral about it: a picture scores best under the pooling it was optimized with
  (BENCHMARKS.md, "Max pooling"); `vgg_features(..., pooling="avg")` judges the other way
  (scripts/judge_pictures.py --pooling max avg does both), and the judges without VGG below
  do not depend on it.
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


# --- a judge without VGG: pixel patches and structure ------------------------------------------
#
# The VGG judge above sees the pictures through the network both objectives optimize, and its
# pooling favours the objective that pools the same way (BENCHMARKS.md, "Max pooling"). These
# two see pixels only, so no objective optimizes them:
# - `patch_sliced`: the multi-scale sliced Wasserstein distance of Karras et al. (2018,
#   "Progressive Growing of GANs", appendix D) between the picture's and the style's 7x7
#   neighbourhoods on a Laplacian pyramid: the band-pass levels at full, 1/2 and 1/4 size carry
#   the strokes, the 1/8 low-pass level the colours. Deviation from Karras et al.: they
#   normalize every descriptor set to zero mean and unit variance per colour channel, which
#   would hide colour; here each level is divided by one scale, the style's own standard
#   deviation there, so that the four levels weigh alike and colour still counts.
# - `structure`: one minus SSIM (Wang et al. 2004, scikit-image's) between the picture's and
#   the photo's luminance, averaged over full, 1/2 and 1/4 size: how much of the photo's local
#   structure is gone.

PATCH = 7  # neighbourhood side, as Karras et al.
PYRAMID_LEVELS = 4  # band-pass at full, 1/2 and 1/4 size, low-pass at 1/8


def laplacian_pyramid(image: np.ndarray, levels: int = PYRAMID_LEVELS) -> list[np.ndarray]:
    """(H, W, 3) in [0, 1] -> `levels - 1` band-pass images (each Gaussian level minus the next
    one resampled up to it) and the last, low-pass level."""
    gaussians = [image]
    for _ in range(levels - 1):
        gaussians.append(reduce(gaussians[-1], 2))
    bands = [
        level - resample(smaller, level.shape[1::-1])
        for level, smaller in zip(gaussians, gaussians[1:], strict=False)
    ]
    return bands + [gaussians[-1]]


def pyramid_levels(shape: tuple[int, ...]) -> int:
    """How many pyramid levels an (H, W, ...) image has room for: PYRAMID_LEVELS, fewer where
    a level would be narrower than one neighbourhood (tiny test pictures)."""
    room = 1 + int(np.floor(np.log2(min(shape[:2]) / PATCH))) if min(shape[:2]) >= PATCH else 0
    return max(1, min(PYRAMID_LEVELS, room))


def neighbourhoods(image: np.ndarray, size: int = PATCH) -> np.ndarray:
    """Every size x size neighbourhood of an (H, W, C) image as a row: (count, size*size*C)."""
    windows = np.lib.stride_tricks.sliding_window_view(image, (size, size), axis=(0, 1))
    return windows.reshape(-1, windows.shape[2] * size * size).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class PatchReference:
    """The style's sorted neighbourhood projections and scale per pyramid level."""

    projections: tuple[np.ndarray, ...]
    scales: tuple[float, ...]


def patch_reference(style: np.ndarray, size: int) -> PatchReference:
    """The style (H, W, 3) at longest side `size`, as `patch_sliced` compares it."""
    style = fit_longest(style, size)
    levels = laplacian_pyramid(style, pyramid_levels(style.shape))
    scales = tuple(float(level.std()) for level in levels)
    projections = tuple(
        sorted_projections(neighbourhoods(level) / scale, patch_directions())
        for level, scale in zip(levels, scales, strict=True)
    )
    return PatchReference(projections, scales)


def patch_directions() -> np.ndarray:
    return directions(PATCH * PATCH * 3)


def patch_sliced(picture: np.ndarray, style: PatchReference) -> tuple[float, ...]:
    """Per pyramid level, the mean over fixed directions of W1 between the picture's and the
    style's neighbourhood projections, in units of the style's deviation at that level."""
    levels = laplacian_pyramid(picture, min(len(style.scales), pyramid_levels(picture.shape)))
    return tuple(
        float(
            wasserstein1_sorted(
                sorted_projections(neighbourhoods(level) / scale, patch_directions()), reference
            ).mean()
        )
        for level, scale, reference in zip(levels, style.scales, style.projections, strict=False)
    )


def luminance(image: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of an (H, W, 3) image."""
    return image @ np.array([0.299, 0.587, 0.114])


def structure_loss(picture: np.ndarray, photo: np.ndarray) -> float:
    """1 - SSIM of the luminances (Gaussian window, sigma 1.5, as Wang et al.), averaged over
    full, 1/2 and 1/4 size; the photo is resampled to the picture first."""
    from skimage.metrics import structural_similarity

    photo = resample(photo, picture.shape[1::-1])
    losses = []
    # SSIM's Gaussian window is 11 px wide: sizes without room for it are left out (tiny tests).
    for factor in [f for f in REDUCTIONS if min(picture.shape[:2]) // f >= 11] or [1]:
        a, b = (luminance(reduce(image, factor)) for image in (picture, photo))
        ssim = structural_similarity(
            a, b, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
        losses.append(1.0 - ssim)
    return float(np.mean(losses))


# --- the judge --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Scores:
    """One picture's judgement. The totals sum over STYLE_LAYERS and REDUCTIONS; `per_size`
    keeps {reduction: (sliced, w2)} summed over layers. `patch_levels` and `structure` are the
    judges without VGG (per pyramid level, finest first)."""

    sliced: float
    w2: float
    content: float
    edges: dict[str, float]
    per_size: dict[int, tuple[float, float]]
    patch_levels: tuple[float, ...]
    structure: float

    @property
    def worst_edge(self) -> float:
        return max(self.edges.values())

    @property
    def patches(self) -> float:
        """The pixel-patch sliced distance summed over the pyramid's levels."""
        return sum(self.patch_levels)


@dataclasses.dataclass(frozen=True)
class StyleReference:
    """The style's sorted projections and Gaussian fits {reduction: {layer: ...}}, computed once
    per style and picture size."""

    projections: dict[int, dict[str, np.ndarray]]
    gaussians: dict[int, dict[str, Gaussian]]
    patches: PatchReference


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
    return StyleReference(projections, gaussians, patch_reference(style, size))


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
        patch_levels=patch_sliced(picture, style.patches),
        structure=structure_loss(picture, content),
    )


def vgg_features(weights: str | os.PathLike | None, pooling: str | None = None) -> FeatureFn:
    """stylejax's VGG19 features on a weight set (None: the default Caffe VGG19), with the
    judge's pooling (POOLING) unless told otherwise, as NumPy arrays."""
    from stylejax import features

    pooling = POOLING if pooling is None else pooling

    @functools.wraps(features)
    def run(images: np.ndarray, layers: tuple[str, ...]) -> dict[str, np.ndarray]:
        out = features(images.astype(np.float32), layers, weights=weights, pooling=pooling)
        return {name: np.asarray(value) for name, value in out.items()}

    return run
