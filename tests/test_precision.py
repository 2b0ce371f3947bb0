"""bfloat16 VGG against float32: features, Gram matrices, the loss and its gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stylejax.engine.devices import bytes_per_member
from stylejax.model.vgg import CAFFE, TORCHVISION, VGG19
from stylejax.objective import losses
from stylejax.objective.total import LossInputs, LossWeights, Objective, compute_targets, total_loss
from tests.reference import random_params

STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

# Measured with random He-initialized weights on 32x40 images, seeds 0-2, both preprocessings
# (relative L2 distance to float32): features <= 6.9e-3, Grams <= 8.1e-3, total loss <= 1.1e-2
# (the content term at a random image), gradient cosine >= 0.9950 (torchvision), >= 0.9998
# (Caffe). bfloat16 keeps 8 significant bits (relative rounding 2^-9 = 2e-3 per operation).
FEATURE_RTOL = 1e-2
GRAM_RTOL = 1.2e-2
LOSS_RTOL = 1.5e-2
MIN_GRADIENT_COSINE = 0.99


def relative(a, b):
    return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(a))


@pytest.fixture(scope="module")
def params():
    return random_params(seed=0)


@pytest.mark.parametrize("preprocessing", [TORCHVISION, CAFFE], ids=lambda p: p.name)
def test_bfloat16_stays_close_to_float32(params, preprocessing):
    rng = np.random.default_rng(0)
    content, style, image = rng.uniform(size=(3, 32, 40, 3)).astype(np.float32)
    weights = LossWeights(
        {"relu4_1": jnp.float32(1.0)}, {k: jnp.float32(1e3) for k in STYLE}, jnp.float32(0.0)
    )
    loss = jax.jit(jax.value_and_grad(total_loss, has_aux=True), static_argnums=2)
    out = {}
    for precision in ("float32", "bfloat16"):
        objective = Objective(("relu4_1",), STYLE, "avg", preprocessing, precision=precision)
        features = jax.jit(objective.features)(params, image[None])
        targets = compute_targets(objective, params, content, [style], [1.0])
        (total, _), grad = loss(image, LossInputs(params, targets, weights), objective)
        out[precision] = features, targets, total, grad
    (f32, t32, loss32, g32), (f16, t16, loss16, g16) = out["float32"], out["bfloat16"]
    # What the losses see is float32 in both cases.
    assert {f.dtype for f in f16.values()} == {jnp.dtype(jnp.float32)}
    assert {g.dtype for g in jax.tree.leaves(t16)} == {jnp.dtype(jnp.float32)}
    assert loss16.dtype == g16.dtype == jnp.float32
    for name in f32:
        assert relative(f32[name], f16[name]) < FEATURE_RTOL, name
        assert 0 < relative(f32[name], f16[name])  # bfloat16 was really used
    for name in STYLE:
        assert relative(losses.gram(f32[name]), losses.gram(f16[name])) < GRAM_RTOL, name
        assert relative(t32.style[name], t16.style[name]) < GRAM_RTOL, name
    assert abs(float(loss16) / float(loss32) - 1) < LOSS_RTOL
    g32, g16 = np.ravel(g32), np.ravel(g16)
    cosine = g32 @ g16 / (np.linalg.norm(g32) * np.linalg.norm(g16))
    assert cosine > MIN_GRADIENT_COSINE


def test_vgg_computes_in_bfloat16_with_float32_params(params):
    image = np.random.default_rng(1).uniform(size=(1, 16, 16, 3)).astype(np.float32)
    model = VGG19(preprocessing=TORCHVISION, dtype=jnp.bfloat16)
    out = model.apply(params, image, ("conv1_1", "relu2_1", "pool5"))
    assert {f.dtype for f in out.values()} == {jnp.dtype(jnp.bfloat16)}
    created = model.init(jax.random.key(0), image, ("relu1_1",))
    assert {p.dtype for p in jax.tree.leaves(created)} == {jnp.dtype(jnp.float32)}
    remat = VGG19(preprocessing=TORCHVISION, dtype=jnp.bfloat16, remat=True)
    again = remat.apply(params, image, ("conv1_1", "relu2_1", "pool5"))
    for name in out:
        np.testing.assert_array_equal(np.asarray(out[name]), np.asarray(again[name]))


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision must be one of float32, bfloat16, got 'bf16'"):
        Objective(("relu4_1",), STYLE, "avg", TORCHVISION, precision="bf16")


def test_memory_estimate_counts_bfloat16_activations_at_two_bytes():
    state = 4 * (2 * 10 + 8) * 8 * 8 * 3  # L-BFGS history and image-sized state, float32
    conv1_1 = 3 * 8 * 8 * 64  # three copies of the one conv's output
    assert bytes_per_member(8, 8, ("relu1_1",)) == 4 * conv1_1 + state
    assert bytes_per_member(8, 8, ("relu1_1",), precision="bfloat16") == 2 * conv1_1 + state
    f32 = bytes_per_member(64, 48, STYLE, remat=True)
    bf16 = bytes_per_member(64, 48, STYLE, remat=True, precision="bfloat16")
    assert f32 - bf16 == (f32 - 4 * 28 * 64 * 48 * 3) // 2
    # Two style octaves add the picture halved and quartered: 1 + 1/4 + 1/16 of the activations.
    octaves = bytes_per_member(64, 48, STYLE, octaves=2) - 4 * 28 * 64 * 48 * 3
    plain = bytes_per_member(64, 48, STYLE) - 4 * 28 * 64 * 48 * 3
    assert octaves == pytest.approx(plain * 21 / 16, abs=1)
