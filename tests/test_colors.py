"""Colour control (Gatys et al. 2017) against NumPy/SciPy references in float64."""

import jax
import numpy as np
import pytest
import scipy.linalg

from stylejax.objective import colors

# BT.601 full-range YCbCr (JPEG/JFIF), an independent colour space with the same luma.
RGB_TO_YCBCR = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
)


def smooth_image(seed, shape=(2, 12, 16, 3), mix=None, low=0.2, high=0.8):
    """Random images with correlated channels, mostly inside [0, 1]."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(low, high, shape)
    mix = np.eye(3) * 0.6 + 0.4 * rng.uniform(0, 1, (3, 3)) if mix is None else mix
    mixed = base @ mix.T / mix.sum(axis=1)
    return mixed.astype(np.float32)


def stats(rgb):
    pixels = np.asarray(rgb, np.float64).reshape(-1, 3)
    mean = pixels.mean(axis=0)
    centred = pixels - mean
    return mean, centred.T @ centred / len(pixels)


def test_yiq_matrix_and_round_trip():
    rgb = smooth_image(0)
    yiq = np.asarray(jax.jit(colors.rgb_to_yiq)(rgb))
    np.testing.assert_allclose(yiq, rgb.astype(np.float64) @ colors.RGB_TO_YIQ.T, atol=1e-6)
    np.testing.assert_allclose(np.asarray(colors.yiq_to_rgb(yiq)), rgb, atol=1e-6)
    # Grey has no chroma, white has Y = 1.
    np.testing.assert_allclose(
        np.asarray(colors.rgb_to_yiq(np.full(3, 0.4))), [0.4, 0, 0], atol=1e-6
    )
    np.testing.assert_allclose(np.asarray(colors.luminance(np.ones(3))), 1.0, atol=1e-6)


def test_luminance_image_is_grey_bt601_luma():
    rgb = smooth_image(1)
    grey = np.asarray(colors.luminance_image(rgb))
    assert grey.shape == rgb.shape
    expected = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    for channel in range(3):
        np.testing.assert_allclose(grey[..., channel], expected, atol=1e-6)


@pytest.mark.parametrize("batched", [False, True])
def test_restore_chroma_keeps_content_chroma_and_stylized_luminance(batched):
    stylized = smooth_image(2, low=0.0, high=1.0)
    content = smooth_image(3, low=0.0, high=1.0)
    if not batched:
        stylized, content = stylized[0], content[0]
    out = np.asarray(jax.jit(colors.restore_chroma)(stylized, content), np.float64)
    assert out.shape == stylized.shape and out.min() >= 0 and out.max() <= 1
    # Independent reference, through YCbCr: stylized Y with the content's Cb, Cr.
    ycc = np.concatenate(
        [stylized @ RGB_TO_YCBCR.T[:, :1], content @ RGB_TO_YCBCR.T[:, 1:]], axis=-1
    )
    unclipped = ycc @ np.linalg.inv(RGB_TO_YCBCR).T
    np.testing.assert_allclose(out, np.clip(unclipped, 0, 1), atol=2e-6)
    inside = np.all((unclipped >= 0) & (unclipped <= 1), axis=-1)
    assert inside.mean() > 0.5  # the comparison below covers most pixels
    yiq_out = out @ colors.RGB_TO_YIQ.T
    np.testing.assert_allclose(
        yiq_out[inside][:, 1:], (content @ colors.RGB_TO_YIQ.T)[inside][:, 1:], atol=2e-6
    )
    np.testing.assert_allclose(
        yiq_out[inside][:, 0], (stylized @ colors.RGB_TO_YIQ.T)[inside][:, 0], atol=2e-6
    )
    assert not inside.all()  # the clipped pixels were exercised too


def test_match_luminance_takes_the_content_mean_and_std_per_image():
    style = smooth_image(4, low=0.3, high=0.7)
    content = smooth_image(5, low=0.35, high=0.6)
    out = np.asarray(colors.match_luminance(style, content), np.float64)
    assert out.shape == style.shape
    for i in range(len(style)):
        ys = style[i].astype(np.float64) @ colors.RGB_TO_YIQ[0]
        yc = content[i].astype(np.float64) @ colors.RGB_TO_YIQ[0]
        expected = (ys - ys.mean()) * yc.std() / ys.std() + yc.mean()
        assert 0 < expected.min() and expected.max() < 1  # no clipping in this test
        for channel in range(3):
            np.testing.assert_allclose(out[i, ..., channel], expected, atol=2e-6)
        assert out[i, ..., 0].mean() == pytest.approx(yc.mean(), abs=1e-6)
        assert out[i, ..., 0].std() == pytest.approx(yc.std(), rel=1e-5)


@pytest.mark.parametrize("method", colors.MATCH_METHODS)
def test_match_color_gives_the_content_mean_and_covariance(method):
    style = smooth_image(6, shape=(20, 24, 3))
    content = smooth_image(7, shape=(16, 12, 3), low=0.1, high=0.9)
    match = jax.jit(colors.match_color, static_argnames=("method", "clip"))
    out = np.asarray(match(style, content, method=method, clip=False))
    assert out.shape == style.shape
    mean_out, cov_out = stats(out)
    mean_c, cov_c = stats(content)
    np.testing.assert_allclose(mean_out, mean_c, atol=1e-6)
    np.testing.assert_allclose(cov_out, cov_c, rtol=1e-4, atol=2e-7)
    # The transform itself, against SciPy in float64.
    mean_s, cov_s = stats(style)
    if method == "eigen":
        transform = scipy.linalg.sqrtm(cov_c) @ np.linalg.inv(scipy.linalg.sqrtm(cov_s))
    else:
        transform = np.linalg.cholesky(cov_c) @ np.linalg.inv(np.linalg.cholesky(cov_s))
    expected = (style - mean_s) @ np.real(transform).T + mean_c
    np.testing.assert_allclose(out, expected, atol=1e-4)
    clipped = np.asarray(colors.match_color(style, content, method=method))
    np.testing.assert_allclose(clipped, np.clip(out, 0, 1), atol=1e-6)  # jit vs eager


def test_the_two_methods_differ_and_batches_match_single_images():
    style, content = smooth_image(8), smooth_image(9)
    eigen = np.asarray(colors.match_color(style, content, clip=False))
    cholesky = np.asarray(colors.match_color(style, content, method="cholesky", clip=False))
    assert np.abs(eigen - cholesky).max() > 1e-3
    for i in range(len(style)):
        single = np.asarray(colors.match_color(style[i], content[i], clip=False))
        np.testing.assert_allclose(eigen[i], single, atol=1e-6)


def test_a_grey_style_stays_finite():
    grey = np.repeat(smooth_image(10, shape=(8, 8, 1), mix=np.eye(1)), 3, axis=-1)
    out = np.asarray(colors.match_color(grey, smooth_image(11, shape=(8, 8, 3))))
    assert np.isfinite(out).all()


def test_mode_dispatch():
    style, content, stylized = smooth_image(12), smooth_image(13), smooth_image(14)
    np.testing.assert_array_equal(np.asarray(colors.style_input(None, style, content)), style)
    np.testing.assert_array_equal(
        np.asarray(colors.style_input("histogram", style, content)),
        np.asarray(colors.match_color(style, content)),
    )
    np.testing.assert_array_equal(
        np.asarray(colors.style_input("luminance", style, content)),
        np.asarray(colors.match_luminance(style, content)),
    )
    np.testing.assert_array_equal(
        np.asarray(colors.content_input("luminance", content)),
        np.asarray(colors.luminance_image(content)),
    )
    np.testing.assert_array_equal(np.asarray(colors.content_input("histogram", content)), content)
    np.testing.assert_array_equal(
        np.asarray(colors.output("luminance", stylized, content)),
        np.asarray(colors.restore_chroma(stylized, content)),
    )
    np.testing.assert_array_equal(
        np.asarray(colors.output("histogram", stylized, content)), stylized
    )


def test_bad_modes_are_refused():
    with pytest.raises(ValueError, match="unknown preserve_colors mode 'hue'.*luminance"):
        colors.check_mode("hue")
    with pytest.raises(ValueError, match="unknown preserve_colors mode"):
        colors.output("colour", smooth_image(0), smooth_image(1))
    with pytest.raises(ValueError, match="unknown colour matching method 'pca'"):
        colors.match_color(smooth_image(0), smooth_image(1), method="pca")
