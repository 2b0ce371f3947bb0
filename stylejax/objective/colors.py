"""Colour control of Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style
Transfer" (section 5): keep the content photo's colours while taking the style's strokes.

Two modes, as in the paper:

- "luminance": style transfer on luminance only. VGG sees grey images (Y replicated to three
  channels); the style's luminance is first matched to the content's mean and standard
  deviation; the result's Y is then combined with the content's chroma (I, Q).
- "histogram": the style image is recoloured so that its pixels' mean and 3x3 covariance equal
  the content's, before its targets are computed; the transfer itself is unchanged.

Pure jax.numpy functions on float RGB in [0, 1], shaped (H, W, 3) or batched (N, H, W, 3);
where two images are combined they have the same rank (a batch against a batch, or one image
against one image), and statistics are taken per image.

.. note:: Colour space. The paper uses YIQ. YCbCr (BT.601) has the same luma row, and its
   chroma (Cb, Cr) are scaled differences B - Y, R - Y, of which I and Q are a rotation
   (33 degrees) and rescaling; so "stylized Y + content chroma" gives the same RGB in either
   space (tests/test_colors.py checks it). We follow the paper: YIQ, with the FCC (NTSC 1953)
   matrix as given in the "YIQ" article of Wikipedia and in Poynton's "Digital Video and HD";
   the inverse is computed from it (in float64), so the round trip is exact to rounding.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

MODES = ("luminance", "histogram")
MATCH_METHODS = ("eigen", "cholesky")

# Rows: Y, I, Q; columns: R, G, B (FCC NTSC YIQ).
RGB_TO_YIQ = np.array(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ]
)
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)

# Added to the style covariance before its inverse square root / Cholesky factor, so that a
# style with (nearly) no colour variation in some direction (e.g. a grey image) stays finite.
COVARIANCE_EPSILON = 1e-7


def check_mode(mode: str | None) -> None:
    """Raises ValueError unless `mode` is None (colours not preserved) or one of MODES."""
    if mode is not None and mode not in MODES:
        raise ValueError(f"unknown preserve_colors mode {mode!r}; choose one of {', '.join(MODES)}")


def _apply(matrix: np.ndarray, pixels: jax.Array) -> jax.Array:
    """matrix (3, 3) applied to every (..., 3) pixel."""
    pixels = jnp.asarray(pixels)
    return jnp.einsum("...c,dc->...d", pixels, jnp.asarray(matrix, pixels.dtype))


def rgb_to_yiq(rgb: jax.Array) -> jax.Array:
    """(..., 3) RGB -> (..., 3) YIQ: Y in [0, 1], I in about ±0.596, Q in about ±0.523."""
    return _apply(RGB_TO_YIQ, rgb)


def yiq_to_rgb(yiq: jax.Array) -> jax.Array:
    """(..., 3) YIQ -> (..., 3) RGB (unclipped)."""
    return _apply(YIQ_TO_RGB, yiq)


def luminance(rgb: jax.Array) -> jax.Array:
    """Y of (..., 3) RGB, shape (...)."""
    return rgb_to_yiq(rgb)[..., 0]


def luminance_image(rgb: jax.Array) -> jax.Array:
    """(..., H, W, 3) RGB -> its Y replicated to three channels: the grey image VGG sees."""
    y = luminance(rgb)
    return jnp.broadcast_to(y[..., None], y.shape + (3,))


def match_luminance(style: jax.Array, content: jax.Array) -> jax.Array:
    """The style's luminance image with the content's luminance mean and standard deviation.

    Y'_s = σ_c / σ_s · (Y_s − μ_s) + μ_c (Gatys et al. 2017, eq. 5), per image, replicated to
    three channels. Returns (..., h, w, 3) for a (..., h, w, 3) style image.

    .. note:: Deviation: the result is clipped to [0, 1], the range VGG's input assumes; and
       σ_s gets a floor of 1e-6 so a flat style image does not divide by zero.
    """
    ys, yc = luminance(style), luminance(content)
    mean_s = jnp.mean(ys, axis=(-2, -1), keepdims=True)
    mean_c = jnp.mean(yc, axis=(-2, -1), keepdims=True)
    std_s = jnp.maximum(jnp.std(ys, axis=(-2, -1), keepdims=True), 1e-6)
    std_c = jnp.std(yc, axis=(-2, -1), keepdims=True)
    matched = jnp.clip(std_c / std_s * (ys - mean_s) + mean_c, 0.0, 1.0)
    return jnp.broadcast_to(matched[..., None], matched.shape + (3,))


def restore_chroma(stylized: jax.Array, content: jax.Array) -> jax.Array:
    """The stylized image's Y with the content's I and Q, back in RGB, clipped to [0, 1].

    Both (..., H, W, 3) of the same shape (resize the content to the result's size first).
    """
    y = rgb_to_yiq(stylized)[..., :1]
    iq = rgb_to_yiq(content)[..., 1:]
    return jnp.clip(yiq_to_rgb(jnp.concatenate([y, iq], axis=-1)), 0.0, 1.0)


def _mean_and_covariance(rgb: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per-image pixel mean (..., 3) and covariance (..., 3, 3) of (..., H, W, 3) images."""
    pixels = rgb.reshape(rgb.shape[:-3] + (-1, 3))
    mean = jnp.mean(pixels, axis=-2)
    centred = pixels - mean[..., None, :]
    return mean, jnp.einsum("...pc,...pd->...cd", centred, centred) / pixels.shape[-2]


def _sqrt_and_inverse_sqrt(matrix: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Symmetric square root and inverse square root of SPD (..., 3, 3) matrices (eigh)."""
    values, vectors = jnp.linalg.eigh(matrix)
    values = jnp.maximum(values, 0.0)

    def rebuild(scale):
        return jnp.einsum("...ij,...j,...kj->...ik", vectors, scale, vectors)

    return rebuild(jnp.sqrt(values)), rebuild(1.0 / jnp.sqrt(values + COVARIANCE_EPSILON))


def match_color(
    style: jax.Array, content: jax.Array, *, method: str = "eigen", clip: bool = True
) -> jax.Array:
    """Recolours the style image so its pixel mean and covariance equal the content's.

    x' = A (x − μ_s) + μ_c for every style pixel x, with A Σ_s Aᵀ = Σ_c (Gatys et al. 2017,
    section 5.2). method:
      "eigen": A = Σ_c^½ Σ_s^-½ (symmetric square roots by eigendecomposition; the "3D colour
        matching" of Image Analogies, which the paper reports as the better-looking choice).
      "cholesky": A = L_c L_s⁻¹ with Σ = L Lᵀ (the paper's other variant; also matches mean and
        covariance, with a different rotation of the colours).

    .. note:: Deviations: Σ_s gets `COVARIANCE_EPSILON` on its diagonal before inversion (a
       grey style would otherwise divide by zero); the result is clipped to [0, 1] unless
       `clip=False`, and clipping moves the statistics slightly.
    """
    if method not in MATCH_METHODS:
        raise ValueError(
            f"unknown colour matching method {method!r}; choose one of {', '.join(MATCH_METHODS)}"
        )
    style, content = jnp.asarray(style), jnp.asarray(content)
    mean_s, cov_s = _mean_and_covariance(style)
    mean_c, cov_c = _mean_and_covariance(content)
    if method == "eigen":
        root_c, _ = _sqrt_and_inverse_sqrt(cov_c)
        _, inverse_root_s = _sqrt_and_inverse_sqrt(cov_s)
        transform = root_c @ inverse_root_s
    else:
        eye = jnp.broadcast_to(jnp.eye(3, dtype=cov_s.dtype), cov_s.shape)
        chol_c = jnp.linalg.cholesky(cov_c + COVARIANCE_EPSILON * eye)
        chol_s = jnp.linalg.cholesky(cov_s + COVARIANCE_EPSILON * eye)
        transform = jnp.swapaxes(
            jax.scipy.linalg.solve_triangular(
                jnp.swapaxes(chol_s, -1, -2), jnp.swapaxes(chol_c, -1, -2), lower=False
            ),
            -1,
            -2,
        )
    spatial = (Ellipsis, None, None, slice(None))  # (..., 3) -> (..., 1, 1, 3)
    centred = style - mean_s[spatial]
    out = jnp.einsum("...hwc,...dc->...hwd", centred, transform) + mean_c[spatial]
    return jnp.clip(out, 0.0, 1.0) if clip else out


def style_input(mode: str | None, style: jax.Array, content: jax.Array) -> jax.Array:
    """The style image the targets are computed from, under colour mode `mode`."""
    check_mode(mode)
    if mode == "luminance":
        return match_luminance(style, content)
    if mode == "histogram":
        return match_color(style, content)
    return jnp.asarray(style)


def content_input(mode: str | None, content: jax.Array) -> jax.Array:
    """The content image its targets are computed from: grey in luminance mode."""
    check_mode(mode)
    return luminance_image(content) if mode == "luminance" else jnp.asarray(content)


def output(mode: str | None, stylized: jax.Array, content: jax.Array) -> jax.Array:
    """The picture to save: in luminance mode the content's chroma is put back."""
    check_mode(mode)
    return restore_chroma(stylized, content) if mode == "luminance" else jnp.asarray(stylized)
