"""stylejax.video.temporal and .metric against NumPy references (warping by SciPy)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from scipy import ndimage

from stylejax.video import metric, temporal
from tests.video_clips import panned

RNG = np.random.default_rng(0)
H, W, C, J = 10, 12, 3, 3


def _scipy_warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Bilinear backward warp with the edge repeated, by SciPy."""
    ys, xs = np.mgrid[0 : image.shape[0], 0 : image.shape[1]].astype(np.float64)
    coordinates = [ys + flow[..., 1], xs + flow[..., 0]]
    return np.stack(
        [
            ndimage.map_coordinates(
                image[..., c].astype(np.float64), coordinates, order=1, mode="nearest"
            )
            for c in range(image.shape[-1])
        ],
        axis=-1,
    )


def _binary(*shape) -> np.ndarray:
    return (RNG.random(shape) < 0.7).astype(np.float32)


def test_temporal_loss_is_the_weighted_mean_square():
    x, w = RNG.random((H, W, C)), RNG.random((H, W, C))
    c = _binary(H, W)
    expected = sum(
        c[i, j] * (x[i, j, k] - w[i, j, k]) ** 2
        for i in range(H)
        for j in range(W)
        for k in range(C)
    ) / (H * W * C)
    assert float(jax.jit(temporal.temporal_loss)(x, w, c)) == pytest.approx(expected, rel=1e-5)


def _paper_long_term(c: np.ndarray) -> np.ndarray:
    """c_long_j = max(c_j - sum of c_k over the closer offsets k, 0), loop by loop."""
    out = np.zeros_like(c)
    for j in range(len(c)):
        out[j] = np.maximum(c[j] - sum(c[k] for k in range(j)), 0)
    return out


def _artistic_videos_long_term(c: np.ndarray) -> np.ndarray:
    """processFlowWeights, closestFirst: in place, so later offsets subtract reduced weights."""
    c = c.copy()
    for j in range(1, len(c)):
        for k in range(1, j + 1):
            c[j] -= c[j - k]
        c[j] = np.maximum(c[j], 0)
    return c


def test_long_term_weights():
    soft = RNG.random((J, H, W)).astype(np.float32)
    np.testing.assert_allclose(temporal.long_term_weights(soft), _paper_long_term(soft), atol=1e-6)
    binary = _binary(J, H, W)
    np.testing.assert_array_equal(
        temporal.long_term_weights(binary), _artistic_videos_long_term(binary)
    )
    # Each pixel is tied to its closest trusted frame only.
    weights = np.asarray(temporal.long_term_weights(binary))
    assert weights.sum(axis=0).max() <= 1
    np.testing.assert_array_equal(weights.sum(axis=0), binary.max(axis=0))


def test_long_term_temporal_loss():
    x = RNG.random((H, W, C))
    warped = RNG.random((J, H, W, C))
    c = _binary(J, H, W)
    c_long = _paper_long_term(c)
    expected = sum(np.mean(c_long[j][..., None] * (x - warped[j]) ** 2) for j in range(J))
    loss = jax.jit(temporal.long_term_temporal_loss)(x, warped, c)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    single = temporal.long_term_temporal_loss(x, warped[:1], c[:1])
    assert float(single) == pytest.approx(float(temporal.temporal_loss(x, warped[0], c[0])))


def test_warped_init_takes_the_content_where_untrusted():
    previous, content = RNG.random((H, W, C)), RNG.random((H, W, C))
    flow = RNG.uniform(-3, 3, (H, W, 2))
    c = _binary(H, W)
    expected = np.where(c[..., None] == 1, _scipy_warp(previous, flow), content)
    np.testing.assert_allclose(
        temporal.warped_init(previous, flow, c, content), expected, atol=1e-5
    )


def test_multipass_blend():
    frame, neighbour = RNG.random((4, H, W, C)), RNG.random((4, H, W, C))
    c = _binary(4, H, W)
    blended = jax.vmap(temporal.multipass_blend, in_axes=(0, 0, 0, None))(frame, neighbour, c, 0.3)
    expected = np.where(c[..., None] == 1, 0.3 * neighbour + 0.7 * frame, frame)
    np.testing.assert_allclose(blended, expected, atol=1e-6)
    # artistic-videos' -blendWeight b: (x + b c ω) / (1 + b c), i.e. δ = b / (1 + b).
    b = 1.0
    lua = (frame + b * c[..., None] * neighbour) / (1 + b * c[..., None])
    np.testing.assert_allclose(
        temporal.multipass_blend(frame[0], neighbour[0], c[0], b / (1 + b)), lua[0], atol=1e-6
    )


@pytest.mark.parametrize("offset", [1, 2, -1])
def test_warp_neighbours(offset):
    frames = RNG.random((5, H, W, C)).astype(np.float32)
    flows = RNG.uniform(-2, 2, (5, H, W, 2)).astype(np.float32)
    warped = jax.jit(temporal.warp_neighbours, static_argnums=2)(frames, flows, offset)
    for i in range(5):
        if 0 <= i - offset < 5:
            np.testing.assert_allclose(
                warped[i], _scipy_warp(frames[i - offset], flows[i]), atol=1e-5
            )


def test_temporal_error_against_numpy():
    frames = RNG.random((4, H, W, C)).astype(np.float32)
    to_past = RNG.uniform(-2, 2, (4, H, W, 2)).astype(np.float32)
    c = _binary(4, H, W)
    per_frame = metric.temporal_errors(frames, to_past, c)
    sums, counts = [], []
    for i in range(1, 4):
        difference = np.abs(frames[i] - _scipy_warp(frames[i - 1], to_past[i]))
        sums.append((c[i][..., None] * difference).sum())
        counts.append(c[i].sum() * C)
    np.testing.assert_allclose(per_frame, np.array(sums) / np.array(counts), rtol=1e-5)
    pooled = metric.temporal_error(frames, to_past, c)
    assert pooled == pytest.approx(sum(sums) / sum(counts), rel=1e-5)


def test_temporal_error_of_a_coherent_and_a_flickering_pan():
    """A stylization that moves with the known flow scores ~0; adding independent noise to
    each frame scores the noise's mean absolute frame-to-frame difference."""
    shifts = [(2 * k, 0) for k in range(6)]  # 2 px right a frame
    frames = panned(24, 32, shifts)
    to_past = np.zeros((6, 24, 32, 2), np.float32)
    to_past[..., 0] = -2  # pixel p of frame i was at p - 2 in frame i - 1
    c = np.ones((6, 24, 32), np.float32)
    c[:, :, :2] = 0  # came from outside
    assert metric.temporal_error(frames, to_past, c) < 1e-6
    noise = np.random.default_rng(1).normal(0, 0.05, frames.shape).astype(np.float32)
    flickering = frames + noise
    expected = np.mean(np.abs(noise[1:, :, 2:] - noise[:-1, :, :-2]))
    assert metric.temporal_error(flickering, to_past, c) == pytest.approx(expected, rel=1e-4)
    assert np.isnan(metric.temporal_errors(frames, to_past, np.zeros_like(c))).all()
    with pytest.raises(ValueError, match="no pixel is kept"):
        metric.temporal_error(frames, to_past, np.zeros_like(c))
    with pytest.raises(ValueError, match="expected to_past"):
        metric.temporal_error(frames, to_past[:, :-1], c)
