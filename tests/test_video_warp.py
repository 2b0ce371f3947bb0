"""stylejax.video.warp against OpenCV's remap and SciPy's map_coordinates."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from stylejax.video.warp import warp
from tests.video_clips import texture


def _random_case(seed: int, height: int = 20, width: int = 28):
    """A texture and a flow that reaches up to 6 px outside the picture on every side."""
    rng = np.random.default_rng(seed)
    image = texture(height, width, seed).astype(np.float32)
    flow = rng.uniform(-6, 6, (height, width, 2)).astype(np.float32)
    return image, flow


def _scipy_warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
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


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_scipy_map_coordinates(seed):
    image, flow = _random_case(seed)
    np.testing.assert_allclose(warp(image, flow), _scipy_warp(image, flow), atol=2e-6)


def test_matches_cv2_remap_with_replicated_border():
    cv2 = pytest.importorskip("cv2")
    image, flow = _random_case(2)
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    expected = cv2.remap(
        image,
        xs + flow[..., 0],
        ys + flow[..., 1],
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    # OpenCV quantizes the interpolation weights to 1/32 (INTER_BITS = 5).
    np.testing.assert_allclose(warp(image, flow), expected, atol=1 / 32)
    assert np.abs(np.asarray(warp(image, flow)) - expected).mean() < 2e-3


def test_integer_shift_moves_pixels_exactly():
    image, _ = _random_case(3)
    flow = np.zeros(image.shape[:2] + (2,), np.float32)
    flow[..., 0], flow[..., 1] = 2, -1  # sample 2 px right, 1 px up
    warped = np.asarray(warp(image, flow))
    np.testing.assert_array_equal(warped[1:, :-2], image[:-1, 2:])
    np.testing.assert_array_equal(warped[0, :-2], image[0, 2:])  # row -1 is row 0 repeated


def test_jit_vmap_grey_and_gradient():
    images, flows = zip(*(_random_case(seed) for seed in range(3)), strict=True)
    images, flows = np.stack(images), np.stack(flows)
    batched = jax.jit(jax.vmap(warp))(images, flows)
    for k in range(3):
        np.testing.assert_allclose(batched[k], _scipy_warp(images[k], flows[k]), atol=2e-6)
    grey = warp(images[0][..., 0], flows[0])
    np.testing.assert_allclose(grey, _scipy_warp(images[0][..., :1], flows[0])[..., 0], atol=2e-6)
    # Linear in the image: the gradient of <warp(x), g> is warp's transpose applied to g, whose
    # entries sum to those of g (each output pixel's bilinear weights sum to 1).
    g = np.random.default_rng(4).random(images[0].shape).astype(np.float32)
    gradient = jax.jit(jax.grad(lambda x: jnp.sum(warp(x, flows[0]) * g)))(images[0])
    np.testing.assert_allclose(gradient.sum(), g.sum(), rtol=1e-5)


def test_refuses_a_flow_of_another_size():
    with pytest.raises(ValueError, match="flow must be"):
        warp(np.zeros((4, 5, 3)), np.zeros((5, 4, 2)))
