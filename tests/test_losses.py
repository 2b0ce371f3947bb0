"""Loss terms against NumPy, and the total loss and its gradient against PyTorch autograd."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stylejax.model.vgg import TORCHVISION
from stylejax.objective import losses
from stylejax.objective.total import LossInputs, LossWeights, Objective, compute_targets, total_loss
from tests.reference import torch_vgg

STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def numpy_gram(f):
    n, h, w, c = f.shape
    flat = f.reshape(n, h * w, c).astype(np.float64)
    return np.stack([x.T @ x for x in flat]) / (c * h * w)


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(0)


def test_gram_matches_numpy(rng):
    f = rng.normal(size=(2, 5, 7, 4)).astype(np.float32)
    np.testing.assert_allclose(jax.jit(losses.gram)(f), numpy_gram(f), rtol=1e-5, atol=1e-7)


def test_content_style_and_tv_match_numpy(rng):
    f, p = rng.normal(size=(2, 2, 6, 5, 3)).astype(np.float32)
    target = rng.normal(size=(3, 3)).astype(np.float32)
    np.testing.assert_allclose(
        jax.jit(losses.content_loss)(f, p), ((f - p) ** 2).mean(axis=(1, 2, 3)), rtol=1e-6
    )
    np.testing.assert_allclose(
        jax.jit(losses.style_layer_loss)(f, target),
        ((numpy_gram(f) - target) ** 2).mean(axis=(1, 2)),
        rtol=1e-5,
    )
    tv = (np.diff(f, axis=1) ** 2).mean(axis=(1, 2, 3)) + (np.diff(f, axis=2) ** 2).mean(
        axis=(1, 2, 3)
    )
    np.testing.assert_allclose(jax.jit(losses.tv_loss)(f), tv, rtol=1e-6)


def test_blended_gram_is_the_normalized_weighted_mean(rng):
    grams = rng.normal(size=(3, 4, 4)).astype(np.float32)
    blend = np.array([1.0, 3.0, 0.0], np.float32)
    np.testing.assert_allclose(
        losses.blended_gram(grams, blend), (grams[0] + 3 * grams[1]) / 4, rtol=1e-6
    )


def torch_total(image, content, style, layers_oihw, w_content, w_style):
    """The seed's loss in PyTorch: MSE at relu4_1 plus Σ MSE of Grams, on NHWC numpy inputs."""
    import torch

    def nchw(a):
        return torch.from_numpy(np.asarray(a, np.float32)[None]).permute(0, 3, 1, 2)

    def gram(f):
        n, c, h, w = f.shape
        flat = f.reshape(c, h * w)
        return flat @ flat.T / (c * h * w)

    names = ("relu4_1",) + STYLE
    x = nchw(image).requires_grad_(True)
    feats = torch_vgg(x, layers_oihw, TORCHVISION, "avg", names)
    with torch.no_grad():
        p = torch_vgg(nchw(content), layers_oihw, TORCHVISION, "avg", names)["relu4_1"]
        a = {
            k: gram(v)
            for k, v in torch_vgg(nchw(style), layers_oihw, TORCHVISION, "avg", names).items()
        }
    c_loss = torch.nn.functional.mse_loss(feats["relu4_1"], p)
    s_loss = sum(torch.nn.functional.mse_loss(gram(feats[k]), a[k]) for k in STYLE)
    total = w_content * c_loss + w_style * s_loss
    total.backward()
    grad = x.grad.permute(0, 2, 3, 1)[0].numpy()
    return total.item(), c_loss.item(), s_loss.item(), grad


def test_total_loss_and_gradient_match_torch_autograd(rng, vgg_layers, vgg_params):
    pytest.importorskip("torch")
    layers_oihw, params = vgg_layers, vgg_params
    content, style, image = rng.uniform(size=(3, 32, 40, 3)).astype(np.float32)
    objective = Objective(("relu4_1",), STYLE, "avg", TORCHVISION)
    targets = compute_targets(objective, params, content, [style], [1.0])
    weights = LossWeights(
        {"relu4_1": jnp.float32(1.0)}, {k: jnp.float32(1e3) for k in STYLE}, jnp.float32(0.0)
    )

    loss = jax.jit(jax.value_and_grad(total_loss, has_aux=True), static_argnums=2)
    (total, terms), grad = loss(image, LossInputs(params, targets, weights), objective)
    t_total, t_content, t_style, t_grad = torch_total(image, content, style, layers_oihw, 1.0, 1e3)

    np.testing.assert_allclose(float(total), t_total, rtol=1e-4)
    np.testing.assert_allclose(float(terms["content"]), t_content, rtol=1e-4)
    np.testing.assert_allclose(float(terms["style"]), t_style, rtol=1e-4)
    np.testing.assert_allclose(
        np.asarray(grad), t_grad, rtol=1e-3, atol=1e-4 * np.abs(t_grad).max()
    )
