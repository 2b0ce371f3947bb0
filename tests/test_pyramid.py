"""The coarse-to-fine schedule: scale sizes, budget split, upsampling, checks."""

import jax
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stylejax.engine import pyramid


@pytest.mark.parametrize(
    "min_size, size, step, expected",
    [
        (128, 512, 2, [128, 256, 512]),
        (128, 512, 2**0.5, [128, 181, 256, 362, 512]),
        (128, 512, 1.4142, [128, 181, 256, 362, 512]),  # a typed sqrt(2) gives the same
        (128, 512, 1.41, [128, 169, 223, 294, 388, 512]),
        (100, 512, 2, [100, 172, 297, 512]),  # 4 scales: the ratio 5.12 needs 3 steps <= 2
        (256, 512, 3, [256, 512]),
        (512, 512, 2, [512]),
        (2, 3, 1.01, [2, 3]),  # rounding to the same size keeps it once
    ],
)
def test_sizes(min_size, size, step, expected):
    assert pyramid.sizes(min_size, size, step) == expected


@pytest.mark.parametrize("min_size, size, step", [(64, 1000, 2), (97, 768, 2**0.5), (30, 31, 1.5)])
def test_sizes_are_geometric_with_exact_ends(min_size, size, step):
    out = pyramid.sizes(min_size, size, step)
    assert out[0] == min_size and out[-1] == size
    assert out == sorted(set(out))
    ratios = np.asarray(out[1:]) / np.asarray(out[:-1])
    assert np.all(ratios <= step**1.01 * (1 + 1 / min_size))  # at most step, up to rounding
    # The fewest scales: one fewer would need a ratio above `step`.
    if len(out) > 2:
        assert (size / min_size) ** (1 / (len(out) - 2)) > step**1.01


def test_sizes_refuses_bad_arguments():
    with pytest.raises(ValueError, match="min_size \\(600\\) must not exceed size \\(512\\)"):
        pyramid.sizes(600, 512, 2)
    with pytest.raises(ValueError, match="step must be a finite number above 1, got 1"):
        pyramid.sizes(128, 512, 1)
    with pytest.raises(ValueError, match="at least 1 pixel"):
        pyramid.sizes(0, 512, 2)


def test_shape_for_is_the_image_loaders_rounding():
    from PIL import Image

    from stylejax.files import images

    assert images.shape_for(768, 1024, 512) == (384, 512)
    assert images.shape_for(1000, 333, 100) == (100, 33)
    assert images.shape_for(3, 1000, 10) == (1, 10)
    for height, width, size in [(341, 512, 181), (1000, 333, 100), (7, 1000, 13)]:
        resized = images.resize_longest(Image.new("RGB", (width, height)), size)
        assert resized.size[::-1] == images.shape_for(height, width, size)


@pytest.mark.parametrize(
    "scale_sizes, evaluations, split, expected",
    [
        ([128, 256, 512], 150, "equal", [50, 50, 50]),
        ([128, 256, 512], 10, "equal", [3, 3, 4]),  # remainder ties go to the larger scale
        ([128, 256, 512], 3, "equal", [1, 1, 1]),
        # pixels 1:4:16; 3 for the floors, 147 shared: 7, 28, 112 (exact), each + 1
        ([128, 256, 512], 150, "pixels", [8, 29, 113]),
        ([512], 37, "pixels", [37]),
        ([100, 1000], 5, "pixels", [1, 4]),
        # front 2:1:1:1:1; 5 for the floors, 295 shared: 98.33, 49.17 each; the remainders
        # (.33 and four .17) give the first one more: 99, 49, 49, 49, 49, each + 1
        ([128, 181, 256, 362, 512], 300, "front", [100, 50, 50, 50, 50]),
        ([512], 37, "front", [37]),
    ],
)
def test_budget_split(scale_sizes, evaluations, split, expected):
    assert pyramid.budget_split(scale_sizes, evaluations, split) == expected


@pytest.mark.parametrize("split", pyramid.SPLITS)
@pytest.mark.parametrize("evaluations", [8, 17, 100, 301])
def test_budget_split_sums_exactly_and_gives_every_scale_one(split, evaluations):
    scale_sizes = pyramid.sizes(64, 700, 2**0.5)
    out = pyramid.budget_split(scale_sizes, evaluations, split)
    assert sum(out) == evaluations and min(out) >= 1 and len(out) == len(scale_sizes)
    if split == "pixels":
        assert out == sorted(out)


def test_budget_split_refuses_bad_arguments():
    with pytest.raises(ValueError, match="budget of 2 cannot cover 3 scales"):
        pyramid.budget_split([1, 2, 3], 2)
    with pytest.raises(ValueError, match="unknown budget split 'time'"):
        pyramid.budget_split([1, 2], 10, "time")


@pytest.mark.parametrize("method", ["linear", "cubic"])
def test_upsample_matches_torch_interpolate_and_clips(method):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (2, 6, 8, 3)).astype(np.float32)
    out = np.asarray(jax.jit(pyramid.upsample, static_argnums=(1, 2, 3))(images, 12, 16, method))
    assert out.shape == (2, 12, 16, 3) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    # Exact factor 2: jax's half-pixel resampling equals torch's align_corners=False; for
    # cubic, torch's a = -0.75 differs from Keys' a = -0.5, so compare the linear case exactly
    # and the cubic case's unclipped interior loosely.
    mode = "bilinear" if method == "linear" else "bicubic"
    reference = F.interpolate(
        torch.from_numpy(images).permute(0, 3, 1, 2), size=(12, 16), mode=mode, align_corners=False
    )
    reference = np.clip(reference.permute(0, 2, 3, 1).numpy(), 0, 1)
    if method == "linear":
        np.testing.assert_allclose(out, reference, atol=1e-6)
    else:
        assert np.abs(out - reference).mean() < 0.02
    single = np.asarray(pyramid.upsample(images[0], 12, 16, method))
    np.testing.assert_allclose(single, out[0], atol=1e-6)


def test_upsample_refuses_bad_arguments():
    with pytest.raises(ValueError, match="unknown resize method 'nearest'"):
        pyramid.upsample(np.zeros((4, 4, 3)), 8, 8, "nearest")
    with pytest.raises(ValueError, match=r"got shape \(4, 4\)"):
        pyramid.upsample(np.zeros((4, 4)), 8, 8)
