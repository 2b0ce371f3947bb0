"""Spatial control (Gatys et al. 2017, §4): masks, guides and guided statistics against NumPy,
SciPy and a probe of the network itself; the guided Gram and W2 losses against float64
references; a two-region toy optimization; every bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.linalg
from PIL import Image
from scipy import ndimage

from stylejax.model.vgg import TORCHVISION, VGG19, pooling_count
from stylejax.objective import guided as guided_losses
from stylejax.objective import guides, losses, masks, spatial, wasserstein
from stylejax.objective.masks import MaskError
from tests.reference import random_params

RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255,) * 3, (0,) * 3
EPS = 1e-3  # the W2 covariance regularizer, at the scale of these unit-size features


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(18)


def random_guides(rng, n, regions, h, w):
    """Soft random guides in [0, 1] with one region left empty in the last member."""
    g = rng.uniform(size=(n, regions, h, w)).astype(np.float32) ** 3
    g[-1, -1] = 0
    return g


# --- guided statistics against NumPy --------------------------------------------------------


def numpy_guided_gram(f, g):
    n, h, w, c = f.shape
    g = np.broadcast_to(g, (n,) + g.shape[1:]).astype(np.float64)
    out = np.zeros((n, g.shape[1], c, c))
    for i in range(n):
        for r in range(g.shape[1]):
            fr = (f[i] * g[i, r][..., None]).reshape(-1, c).astype(np.float64)  # F ∘ T_r
            mass = np.sum(g[i, r] ** 2)
            out[i, r] = fr.T @ fr / (c * mass) if mass > 0 else 0
    return out


@pytest.mark.parametrize("shared", [False, True])
def test_guided_gram_matches_numpy_with_random_masks(rng, shared):
    f = rng.normal(size=(2, 6, 7, 4)).astype(np.float32)
    g = random_guides(rng, 1 if shared else 2, 3, 6, 7)
    np.testing.assert_allclose(
        jax.jit(guided_losses.guided_gram)(f, g), numpy_guided_gram(f, g), rtol=1e-5, atol=1e-7
    )


def test_guided_mean_and_covariance_match_numpy_weighted_estimates(rng):
    f = (rng.normal(size=(2, 5, 8, 3)) + 4).astype(np.float32)  # a large mean, like ReLUs
    g = random_guides(rng, 2, 2, 5, 8)
    mean = jax.jit(guided_losses.guided_mean)(f, g)
    cov = jax.jit(guided_losses.guided_covariance)(f, g)
    for i in range(2):
        for r in range(2):
            weights = (g[i, r] ** 2).ravel().astype(np.float64)
            x = f[i].reshape(-1, 3).astype(np.float64)
            if weights.sum() == 0:  # the empty region: statistics are 0
                np.testing.assert_array_equal(mean[i, r], 0)
                np.testing.assert_array_equal(cov[i, r], 0)
                continue
            np.testing.assert_allclose(mean[i, r], np.average(x, 0, weights), rtol=1e-5)
            np.testing.assert_allclose(
                cov[i, r], np.cov(x.T, aweights=weights, bias=True), rtol=1e-4, atol=1e-6
            )


def test_one_full_region_is_todays_style_loss_to_float32_rounding(rng):
    # Not bit for bit on CPU: the batched einsum is a dot of another shape than losses.gram's,
    # tiled differently, so sums round differently: within 1e-6 of the Gram's largest entry
    # (measured 5e-8, one float32 ulp), and 1e-6 relative on the loss. A run without a mask
    # keeps calling losses.gram, so it stays bit for bit today's run.
    f = rng.normal(size=(2, 9, 11, 8)).astype(np.float32)
    target = losses.gram(jnp.asarray(rng.normal(size=(1, 9, 11, 8)), jnp.float32))[0]
    ones = jnp.ones((1, 1, 9, 11))
    today = losses.gram(f)
    np.testing.assert_allclose(
        jax.jit(guided_losses.guided_gram)(f, ones)[:, 0],
        today,
        rtol=0,
        atol=1e-6 * float(jnp.abs(today).max()),
    )
    np.testing.assert_allclose(
        jax.jit(guided_losses.guided_style_loss)(f, ones, target[None]),
        losses.style_layer_loss(f, target),
        rtol=1e-6,
        atol=0,
    )


def numpy_guided_style_loss(f, g, targets, weights):
    grams = numpy_guided_gram(f, g)
    mass = np.broadcast_to(np.sum(g.astype(np.float64) ** 2, axis=(2, 3)), grams.shape[:2])
    per_region = np.mean((grams - targets) ** 2, axis=(2, 3))
    lam = np.asarray(weights, np.float64) / np.sum(weights)
    return np.sum(np.where(mass > 0, lam * per_region, 0), axis=1)


def test_guided_style_loss_matches_numpy_and_weights_regions(rng):
    f = rng.normal(size=(2, 6, 6, 3)).astype(np.float32)
    g = random_guides(rng, 2, 3, 6, 6)
    targets = rng.normal(size=(3, 3, 3)).astype(np.float32)
    loss = jax.jit(guided_losses.guided_style_loss)
    np.testing.assert_allclose(
        loss(f, g, targets), numpy_guided_style_loss(f, g, targets, [1, 1, 1]), rtol=1e-5
    )
    np.testing.assert_allclose(
        loss(f, g, targets, jnp.array([2.0, 1.0, 1.0])),
        numpy_guided_style_loss(f, g, targets, [2, 1, 1]),
        rtol=1e-5,
    )


def random_targets(rng, style_loss, count, c):
    """`count` random region targets: Grams (count, C, C), or Gaussians of gamma samples."""
    if style_loss == "gram":
        return jnp.asarray(rng.normal(size=(count, c, c)), jnp.float32)
    x = rng.gamma(2.0, size=(count, 40, c))
    second = np.einsum("rpc,rpd->rcd", x, x) / 40
    return wasserstein.gaussian_target(
        jnp.asarray(x.mean(1), jnp.float32), jnp.asarray(second, jnp.float32), EPS
    )


def guided_loss(style_loss):
    """The guided loss as f(features, guides, targets, region_weights=None, magnitude=None)."""
    if style_loss == "gram":
        return guided_losses.guided_style_loss
    return lambda f, g, t, w=None, m=None: guided_losses.guided_w2_loss(f, g, t, w, m)


def take(tree, index):
    return jax.tree.map(lambda a: a[index], tree)


STYLE_LOSSES = ["gram", "wasserstein"]


@pytest.mark.parametrize("style_loss", STYLE_LOSSES)
def test_a_region_of_weight_zero_contributes_nothing(rng, style_loss):
    f = jnp.asarray(rng.normal(size=(1, 6, 8, 3)), jnp.float32)
    labels = np.zeros((6, 8), int)
    labels[:, 5:] = 1  # region 1: kept as the photo
    g = guides.soft_guides(jnp.asarray(labels), 2)[None]
    targets = random_targets(rng, style_loss, 2, 3)
    # No target at all for the kept region.
    kept_nan = jax.tree.map(lambda a: a.at[1].set(jnp.nan), targets)
    weights = jnp.array([1.0, 0.0])
    loss = jax.jit(guided_loss(style_loss))
    np.testing.assert_allclose(
        loss(f, g, kept_nan, weights),
        loss(f[:, :, :5], g[:, :1, :, :5], take(targets, slice(1))),
        1e-6,
    )
    # Nor a magnitude (style_normalize): the gradient stays finite, and 0 on the kept pixels.
    magnitude = jnp.array([2.0, jnp.nan])
    grad = jax.jit(
        jax.grad(lambda x: guided_loss(style_loss)(x, g, kept_nan, weights, magnitude)[0])
    )(f)
    np.testing.assert_array_equal(grad[:, :, 5:], 0)  # the kept pixels feel no style
    assert np.all(np.abs(grad[:, :, :5]) > 0) and np.all(np.isfinite(grad))


@pytest.mark.parametrize("style_loss", STYLE_LOSSES)
def test_guided_style_loss_under_vmap_equals_a_loop(rng, style_loss):
    """A sweep batches over region weights and targets; guides are shared."""
    f = jnp.asarray(rng.normal(size=(1, 5, 5, 2)), jnp.float32)
    g = jnp.asarray(random_guides(rng, 1, 2, 5, 5))
    targets = jax.tree.map(
        lambda *a: jnp.stack(a), *[random_targets(rng, style_loss, 2, 2) for _ in range(3)]
    )
    weights = jnp.array([[1.0, 1.0], [1.0, 0.0], [0.2, 3.0]])
    loss = guided_loss(style_loss)
    batched = jax.jit(jax.vmap(loss, (None, None, 0, 0)))
    looped = [loss(f, g, take(targets, i), weights[i]) for i in range(3)]
    np.testing.assert_allclose(batched(f, g, targets, weights), np.stack(looped), rtol=1e-6)
    # Per-member guides (e.g. members of different masks) batch the same way.
    member_guides = jnp.asarray(np.stack([random_guides(rng, 1, 2, 5, 5) for _ in range(3)]))
    batched = jax.jit(jax.vmap(loss, (None, 0, 0, 0)))
    looped = [loss(f, member_guides[i], take(targets, i), weights[i]) for i in range(3)]
    np.testing.assert_allclose(
        batched(f, member_guides, targets, weights), np.stack(looped), rtol=1e-6
    )


# --- the guided W2 loss against SciPy -------------------------------------------------------


def numpy_weighted_moments(x, weights):
    """Mean and second raw moment of (P, C) samples under (P,) weights, float64."""
    weights = weights / weights.sum()
    return weights @ x, (x * weights[:, None]).T @ x


def numpy_w2(x, weights, mean_t, cov_t, eps):
    """W₂²/C between the weighted Gaussian fit of (P, C) samples (numpy's weighted mean and
    biased covariance, + eps·I) and N(mean_t, cov_t), with SciPy's sqrtm, float64."""
    c = x.shape[1]
    mean = np.average(x, 0, weights)
    cov = np.cov(x.T, aweights=weights, bias=True) + eps * np.eye(c)
    root_t = scipy.linalg.sqrtm(cov_t).real
    cross = scipy.linalg.sqrtm(root_t @ cov @ root_t).real
    return np.mean((mean - mean_t) ** 2) + np.trace(cov + cov_t - 2 * cross) / c


def test_guided_w2_matches_scipy_with_random_masks_and_blended_targets(rng):
    """Targets from two style images under random style guides, region 1 blending both (1:3),
    through `spatial.style_statistics` and `region_targets`; the loss of two members with
    random soft guides (an empty region in the last) and unequal region weights."""
    c = 5
    f = rng.gamma(2.0, size=(2, 7, 9, c)).astype(np.float32)
    g = random_guides(rng, 2, 3, 7, 9)
    style_features = rng.gamma(2.0, size=(2, 1, 8, 6, c)).astype(np.float32)
    style_features[1] += 0.5  # another mean
    style_guides = rng.uniform(size=(2, 1, 1, 8, 6)).astype(np.float32) ** 2
    statistics = [
        {"relu1_1": spatial.style_statistics(s, sg, "wasserstein")}
        for s, sg in zip(style_features, style_guides, strict=True)
    ]
    members, blend = ((0,), (0, 1), (1,)), (1.0, 3.0)
    targets, magnitude = spatial.region_targets(statistics, members, blend, "wasserstein", EPS)
    target = targets["relu1_1"]
    assert target.mean.shape == (3, c) and target.cov_sqrt.shape == (3, c, c)

    moments = [
        numpy_weighted_moments(
            s.reshape(-1, c).astype(np.float64), (sg.ravel() ** 2).astype(np.float64)
        )
        for s, sg in zip(style_features, style_guides, strict=True)
    ]
    blended = [moments[0], [(a + 3 * b) / 4 for a, b in zip(*moments, strict=True)], moments[1]]
    # Each region's regularizer: a hundredth of its target's mean variance per channel.
    eps = [np.trace(second - np.outer(mean, mean)) / c / 100 for mean, second in blended]
    np.testing.assert_allclose(target.eps, eps, rtol=1e-5)
    covs = [
        second - np.outer(mean, mean) + e * np.eye(c)
        for (mean, second), e in zip(blended, eps, strict=True)
    ]
    for r, (mean, second) in enumerate(blended):
        np.testing.assert_allclose(target.mean[r], mean, rtol=1e-5)
        np.testing.assert_allclose(target.cov[r], covs[r], rtol=1e-4, atol=1e-5)
        root = scipy.linalg.sqrtm(covs[r]).real
        np.testing.assert_allclose(target.cov_sqrt[r], root, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(magnitude["relu1_1"][r], np.trace(second) / c, rtol=1e-5)

    def reference(region_weights, magnitudes):
        lam = np.asarray(region_weights) / np.sum(region_weights)
        out = np.zeros(2)
        for i, x in enumerate(f.reshape(2, -1, c).astype(np.float64)):
            for r in range(3):
                weights = (g[i, r] ** 2).ravel().astype(np.float64)
                if weights.sum() > 0:  # the empty region does not count
                    w2 = numpy_w2(x, weights, blended[r][0], covs[r], eps[r])
                    out[i] += lam[r] * w2 / magnitudes[r]
        return out

    loss = jax.jit(guided_losses.guided_w2_loss)
    np.testing.assert_allclose(
        loss(f, g, target, jnp.array([2.0, 1.0, 1.0])),
        reference([2, 1, 1], [1, 1, 1]),
        rtol=1e-4,
    )
    # style_normalize: each region's term divided by its own target's magnitude.
    np.testing.assert_allclose(
        loss(f, g, target, None, magnitude["relu1_1"]),
        reference([1, 1, 1], [np.trace(second) / c for _, second in blended]),
        rtol=1e-4,
    )


@pytest.mark.slow
def test_one_full_region_is_the_unguided_w2_loss_to_float32_rounding(rng):
    """Not bit for bit: the guided moments are weighted einsums, the unguided ones a mean and
    an einsum of another shape. The moments agree to float32 rounding, and W₂² is a small
    difference of traces, so the loss agrees to that rounding of the traces (measured 3e-7 of
    them, 3e-6 of the loss)."""
    f = rng.gamma(2.0, size=(2, 9, 11, 6)).astype(np.float32)
    style = rng.gamma(2.0, size=(1, 8, 9, 6)).astype(np.float32)
    mean, second = wasserstein.feature_moments(style)
    target = wasserstein.gaussian_target(mean[0], second[0], EPS)
    ones = jnp.ones((1, 1, 9, 11))
    stacked = jax.tree.map(lambda a: a[None], target)
    guided = jax.jit(guided_losses.guided_w2_loss)(f, ones, stacked)
    today = jax.jit(wasserstein.w2_style_loss)(f, target)
    own_mean, own_second = wasserstein.feature_moments(f)
    own = wasserstein.covariance(own_mean, own_second, target.eps)
    traces = jnp.trace(own, axis1=1, axis2=2)
    scale = (traces + jnp.trace(target.cov)) / 6
    np.testing.assert_allclose(guided, today, rtol=0, atol=1e-6 * float(scale.max()))
    normalized = guided_losses.guided_w2_loss(f, ones, stacked, None, jnp.array([2.0]))
    np.testing.assert_allclose(normalized, today / 2, rtol=0, atol=1e-6 * float(scale.max()) / 2)


def sparse_guides(rng, n, regions, h, w):
    """`random_guides` that are exactly 0 on most positions, as regions are away from their
    seams (one region empty in the last member)."""
    g = random_guides(rng, n, regions, h, w)
    return g * (rng.uniform(size=g.shape) < 0.4)


@pytest.mark.parametrize("shared", [False, True])
def test_each_region_read_at_its_own_positions_matches_numpy(rng, shared):
    c = 4
    f = rng.gamma(2.0, size=(2, 6, 7, c)).astype(np.float32)
    g = sparse_guides(rng, 1 if shared else 2, 3, 6, 7)
    positions = guided_losses.region_positions(g)
    own = [np.flatnonzero((g[:, r] > 0).any(axis=0)) for r in range(3)]  # any member's
    assert positions.shape == (3, max(map(len, own))) and positions.shape[1] < 42  # sparse
    for r, where in enumerate(np.asarray(positions)):  # in order, then padded with H·W
        np.testing.assert_array_equal(where[: len(own[r])], own[r])
        assert np.all(where[len(own[r]) :] == 42)

    np.testing.assert_allclose(
        jax.jit(guided_losses.guided_gram)(f, g, positions),
        numpy_guided_gram(f, g),
        rtol=1e-5,
        atol=1e-7,
    )
    mean, second = jax.jit(guided_losses.guided_moments)(f, g, positions)
    g = np.broadcast_to(g, (2,) + g.shape[1:])
    for i in range(2):
        for r in range(3):
            weights = (g[i, r] ** 2).ravel().astype(np.float64)
            x = f[i].reshape(-1, c).astype(np.float64)
            if weights.sum() == 0:  # the empty region: statistics are 0
                np.testing.assert_array_equal(second[i, r], 0)
                continue
            np.testing.assert_allclose(mean[i, r], np.average(x, 0, weights), rtol=1e-5)
            expected = (x * weights[:, None]).T @ x / weights.sum()
            np.testing.assert_allclose(second[i, r], expected, rtol=1e-5)


@pytest.mark.parametrize("style_loss", ["gram", "wasserstein"])
def test_own_positions_give_the_dense_loss_and_gradient(rng, style_loss):
    """The losses and their gradients with `positions` against the dense path (which the
    tests above check against NumPy and SciPy): the same sums without the zero terms."""
    c = 5
    f = rng.gamma(2.0, size=(2, 7, 9, c)).astype(np.float32)
    g = sparse_guides(rng, 1, 3, 7, 9)
    positions = guided_losses.region_positions(g)
    style = rng.gamma(2.0, size=(3, 8, 6, c)).astype(np.float32)
    if style_loss == "gram":
        target = losses.gram(style)
        loss = guided_losses.guided_style_loss
    else:
        mean, second = wasserstein.feature_moments(style)
        target = jax.vmap(wasserstein.gaussian_target, in_axes=(0, 0, None))(mean, second, EPS)

        def loss(f, g, t, w=None, m=None, positions=None):
            return guided_losses.guided_w2_loss(f, g, t, w, m, positions)

    weights = jnp.array([2.0, 1.0, 1.0])

    def total(f, positions):
        return jnp.sum(loss(f, g, target, weights, None, positions))

    dense_value, dense_grad = jax.jit(jax.value_and_grad(total))(f, None)
    value, grad = jax.jit(jax.value_and_grad(total))(f, positions)
    np.testing.assert_allclose(value, dense_value, rtol=1e-5)
    # The W2 gradient holds ½(Σₜ^½ Σ Σₜ^½)^-½, which magnifies the two summation orders'
    # float32 rounding (measured up to 3e-4 on single elements); the Gram gradient holds to 1e-5.
    np.testing.assert_allclose(grad, dense_grad, rtol=1e-3, atol=1e-6 * np.abs(dense_grad).max())
    assert np.any(dense_grad == 0) and np.array_equal(grad == 0, dense_grad == 0)


# --- guides ---------------------------------------------------------------------------------


def test_soft_guides_match_scipy_and_sum_to_one(rng):
    labels = rng.integers(0, 3, size=(4, 5)).repeat(4, 0).repeat(3, 1)  # (16, 15) blocks
    soft = jax.jit(guides.soft_guides, static_argnums=(1, 2))(jnp.asarray(labels), 3, 1.5)
    blurred = np.stack(
        [
            ndimage.gaussian_filter((labels == r).astype(np.float64), 1.5, mode="nearest")
            for r in range(3)
        ]
    )
    np.testing.assert_allclose(soft, blurred / blurred.sum(0), atol=1e-6)
    np.testing.assert_allclose(np.sum(soft, 0), 1, atol=1e-6)
    assert np.any((soft > 0.1) & (soft < 0.9))  # soft: seams are shared, not cut
    hard = guides.soft_guides(jnp.asarray(labels), 3, 0)
    np.testing.assert_array_equal(hard, np.stack([labels == r for r in range(3)]))


LAYERS = ("conv1_2", "relu2_1", "pool2", "relu3_1", "relu4_1", "relu5_1")


def test_plain_guides_take_vgg_feature_shapes_and_area_means(rng):
    h, w = 37, 45  # odd: VGG's VALID pooling drops the last row/column
    params = random_params(1, "relu5_1")
    features = jax.eval_shape(  # shapes only: nothing is computed
        lambda x: VGG19(TORCHVISION).apply(params, x, LAYERS), jnp.zeros((1, h, w, 3))
    )
    g = rng.uniform(size=(2, h, w)).astype(np.float32)
    at = jax.jit(guides.guides_at_layers, static_argnums=(1, 2))(g, LAYERS, False)
    for name in LAYERS:
        assert at[name].shape == (2,) + features[name].shape[1:3]
        np.testing.assert_allclose(
            at[name], numpy_area_pool(g, pooling_count(name)), rtol=1e-5, atol=1e-7
        )


def numpy_area_pool(g, times):
    """2x2 block means `times` times, dropping an odd last row or column each time."""
    for _ in range(times):
        h, w = g.shape[-2] // 2, g.shape[-1] // 2
        g = g[..., : 2 * h, : 2 * w].reshape(g.shape[:-2] + (h, 2, w, 2)).mean(axis=(-3, -1))
    return g


def test_eroded_guides_keep_exactly_the_neurons_that_see_only_their_region(rng):
    """The paper's notebook finds the 'inside' neurons by probing the network: noise outside
    the region must leave them unchanged. The same probe on a random VGG19 is the reference."""
    h, w = 40, 44
    region = np.zeros((h, w), bool)
    region[6:36, 4:30] = True
    region[20:, 30:] = True  # an L shape touching the image border
    names = ("conv1_1", "conv1_2", "pool1", "conv2_1", "relu2_2", "pool2", "conv3_1")
    params = random_params(2, "conv3_1")
    base = rng.uniform(size=(1, h, w, 3)).astype(np.float32)
    probed = base + np.where(region[..., None], 0, rng.normal(0, 1, size=base.shape))
    vgg = jax.jit(lambda x: VGG19(TORCHVISION).apply(params, x, names))
    before, after = vgg(base), vgg(probed.astype(np.float32))
    eroded = guides.guides_at_layers(jnp.asarray(region[None], jnp.float32), names, erode=True)
    for name in names:
        change = np.abs(after[name] - before[name]).max(axis=-1)[0]
        unchanged = change <= 1e-6 * np.abs(before[name]).max()
        if name.startswith("relu"):  # a ReLU at 0 in both can hide a change: only one way
            assert not np.any((eroded[name][0] == 1) & ~unchanged), name
        else:
            np.testing.assert_array_equal(eroded[name][0] == 1, unchanged, err_msg=name)
        assert set(np.unique(eroded[name])) <= {0.0, 1.0}


def test_erosion_falls_back_to_plain_guides_when_a_region_vanishes():
    labels = np.zeros((64, 64), int)
    labels[:, 56:] = 1  # an 8-pixel strip: gone after the ~30 pixels of erosion to relu4_1
    g = guides.soft_guides(jnp.asarray(labels), 2)
    at_layers = jax.jit(guides.guides_at_layers, static_argnums=(1, 2))
    eroded = at_layers(g, ("relu1_1", "relu4_1"), True)
    plain = at_layers(g, ("relu4_1",), False)
    assert 0 < eroded["relu1_1"][1].sum() < g[1].sum()  # eroded, but not empty
    np.testing.assert_array_equal(eroded["relu4_1"][1], plain["relu4_1"][1])
    assert eroded["relu4_1"][0].sum() < plain["relu4_1"][0].sum()  # the big region is eroded


# --- the two-region toy ---------------------------------------------------------------------


def toy_targets(style_loss):
    """Two 2-channel styles: positively and negatively correlated channels (and, for W2,
    means of opposite sign)."""
    covs = jnp.array([[[0.5, 0.4], [0.4, 0.5]], [[0.5, -0.4], [-0.4, 0.5]]])
    if style_loss == "gram":
        return covs
    means = jnp.array([[0.3, -0.3], [-0.3, 0.3]])
    second = covs + means[:, :, None] * means[:, None, :]
    return wasserstein.gaussian_target(means, second, EPS)


@pytest.mark.parametrize("style_loss", STYLE_LOSSES)
@pytest.mark.parametrize("blur_px", [0.0, 1.0])
def test_two_regions_each_converge_to_their_own_style(rng, blur_px, style_loss):
    """A 2-channel 'feature image' optimized directly: the left half towards positively,
    the right half towards negatively correlated channels."""
    h, w = 12, 16
    labels = np.zeros((h, w), int)
    labels[:, w // 2 :] = 1
    g = guides.soft_guides(jnp.asarray(labels), 2, blur_px)[None]
    targets = toy_targets(style_loss)
    loss = guided_loss(style_loss)
    optimizer = optax.adam(0.03)
    features = jnp.asarray(rng.normal(0, 0.3, size=(1, h, w, 2)), jnp.float32)

    def step(carry, _):
        x, state = carry
        value, grad = jax.value_and_grad(lambda x: loss(x, g, targets)[0])(x)
        updates, state = optimizer.update(grad, state)
        return (optax.apply_updates(x, updates), state), value

    (features, _), history = jax.lax.scan(step, (features, optimizer.init(features)), None, 400)
    assert history[-1] < 1e-3 * history[0]
    hard = guides.soft_guides(jnp.asarray(labels), 2)[None]  # measure on each half's pixels
    for r in (0, 1):
        own, other = (
            float(loss(features, hard[:, r : r + 1], take(targets, slice(k, k + 1)))[0])
            for k in (r, 1 - r)
        )
        assert own / other < (1e-3 if blur_px == 0 else 0.05), (r, own, other)


# --- masks ----------------------------------------------------------------------------------


def mask_of(rows):
    """(H, W, 3) uint8 from rows of colours."""
    return np.array(rows, np.uint8)


def test_regions_come_in_reading_order_and_resize_with_nearest():
    rgb = mask_of([[GREEN, GREEN, RED], [BLUE, RED, RED]])
    region_map = masks.labels_from_mask(rgb, shape=(4, 6))
    assert region_map.colors == (GREEN, RED, BLUE)
    expected = np.array([[0, 0, 1], [2, 1, 1]]).repeat(2, 0).repeat(2, 1)
    np.testing.assert_array_equal(region_map.labels, expected)
    assert region_map.labels.dtype == np.int32


def test_masks_of_every_kind_read_alike(tmp_path):
    grey = np.array([[0, 0, 200], [90, 200, 200]], np.uint8)
    expected = np.array([[0, 0, 1], [2, 1, 1]])
    path = tmp_path / "mask.png"
    Image.fromarray(grey).save(path)
    kinds = [
        grey,
        grey.astype(np.int64),
        grey / 255.0,
        Image.fromarray(grey),  # L
        Image.fromarray(grey).convert("P"),
        Image.fromarray(grey).convert("RGBA"),
        path,
        str(path),
    ]
    for kind in kinds:
        region_map = masks.labels_from_mask(kind)
        np.testing.assert_array_equal(region_map.labels, expected, err_msg=repr(kind))
        assert region_map.colors == ((0,) * 3, (200,) * 3, (90,) * 3)
    boolean = masks.labels_from_mask(grey > 100)
    assert boolean.colors == (BLACK, WHITE)


def test_explicit_colours_order_regions_and_absorb_anti_aliased_edges():
    rows = [[RED] * 50 + [(128, 0, 128)] + [BLUE] * 49 for _ in range(4)]  # a blended seam
    region_map = masks.labels_from_mask(mask_of(rows), colors=["blue", "#ff0000"])
    assert region_map.colors == (BLUE, RED)
    assert (region_map.labels[:, :50] == 1).all() and (region_map.labels[:, 51:] == 0).all()
    near = masks.labels_from_mask(mask_of(rows), colors=[(0, 0, 230), (230, 20, 0)])
    assert near.colors == ((0, 0, 230), (230, 20, 0))  # within COLOR_TOLERANCE of the pixels
    np.testing.assert_array_equal(near.labels, region_map.labels)


def test_regions_are_assigned_styles_in_order_skipping_the_kept_region():
    colors = (GREEN, RED, BLUE)
    assert masks.assign_styles(colors, 3) == (0, 1, 2)
    assert masks.assign_styles(colors, 2, keep_content=RED) == (0, None, 1)


def test_style_selection_white_selects_or_a_colour_does():
    rgb = mask_of([[WHITE, BLACK], [RED, WHITE]])
    np.testing.assert_array_equal(masks.style_selection(rgb, (2, 2)), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(masks.style_selection(rgb, (4, 4), RED)[2:, :2], 0)


# --- bad input: one-line MaskErrors ---------------------------------------------------------


def one_line_error(match, call, *args, **kwargs):
    with pytest.raises(MaskError, match=match) as info:
        call(*args, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_more_regions_than_styles_or_a_style_without_region_is_refused():
    one_line_error("3 styled regions.*only 2 style", masks.assign_styles, (RED, GREEN, BLUE), 2)
    one_line_error("style image 3 has no region", masks.assign_styles, (RED, GREEN), 3)
    one_line_error("keep_content #0000ff is not", masks.assign_styles, (RED, GREEN), 2, BLUE)


def test_a_mask_that_is_not_an_image_is_refused(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    one_line_error("notes.png: not an image file", masks.labels_from_mask, text, what="--mask")
    one_line_error("no such file", masks.labels_from_mask, tmp_path / "missing.png")
    one_line_error("must be an image file", masks.labels_from_mask, {"a": 1})
    one_line_error("shape \\(2, 3, 2\\)", masks.labels_from_mask, np.zeros((2, 3, 2), np.uint8))
    one_line_error("in \\[0, 1\\]", masks.labels_from_mask, np.full((2, 2), 1.5))
    one_line_error("0..255", masks.labels_from_mask, np.full((2, 2), 300))


def test_an_empty_style_mask_region_is_refused():
    black = np.zeros((8, 8), np.uint8)
    one_line_error("region is empty.*no light pixels", masks.style_selection, black, (4, 4))
    one_line_error("no pixel of colour #ff0000", masks.style_selection, black, (4, 4), RED)


def test_mask_colours_not_in_the_mask_are_refused():
    rgb = mask_of([[RED, RED, BLUE, BLUE]] * 4)
    one_line_error(
        "#00ff00 from mask_colors are not in the mask, which holds #ff0000, #0000ff",
        masks.labels_from_mask,
        rgb,
        colors=["red", "lime"],
    )
    one_line_error("more than once", masks.labels_from_mask, rgb, colors=["red", "#f00", "blue"])
    one_line_error("50% of the mask is none", masks.labels_from_mask, rgb, colors=["red"])
    one_line_error("cannot read the colour 'reddish'", masks.labels_from_mask, rgb, ["reddish"])
    one_line_error("three integers", masks.labels_from_mask, rgb, [(255, 0)])
    one_line_error("three integers", masks.labels_from_mask, rgb, [2.5])
    # A colour present before resizing but lost by NEAREST is not in the mask as used.
    speck = mask_of([[RED] * 8 for _ in range(7)] + [[RED] * 7 + [BLUE]])
    one_line_error("#0000ff", masks.labels_from_mask, speck, ["red", "blue"], shape=(2, 2))
