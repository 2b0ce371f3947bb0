"""The matrix square root of symmetric positive (semi-)definite matrices, by pure matmuls.

The Wasserstein style loss needs √Σ of feature covariances at every evaluation. An
eigendecomposition is slow on accelerators and its gradient is unstable for close
eigenvalues; the coupled Newton–Schulz iteration (Higham 2008, eq. 6.35; Lin & Maji 2017) is
a fixed number of matmuls, and its gradient is the solution of a Lyapunov equation, found by the
same kind of iteration. crowsonkb/style-transfer-pytorch uses exactly this pair
(`sqrtm_ns_lyap`, with 12 iterations where stylejax takes 20, see ITERATIONS).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

# Iterations of the forward and backward passes. Each one costs three (C, C) matmuls; after
# normalization the iteration converges quadratically for eigenvalues near the largest, while
# an eigenvalue λ (relative to the Frobenius norm) needs about ln(1/λ)/ln(2.25) steps to get
# there. crowsonkb's 12 leave λ below about 1e-4 unresolved, and in the Wasserstein loss's
# cross term that error, though a percent of the trace, made the loss near a good picture
# 1.8-14 times the true distance (`wasserstein.target_eps`). 20 resolve the condition numbers
# that the loss's relative regularizer allows (1e6-1e7) to within about 1% of the loss.
# Deviation from crowsonkb. Far more would be unsafe in float32: a product's tiny negative
# rounding eigenvalues grow by 2.25 per step too, and diverge.
ITERATIONS = 20

# Matmuls in full float32: TF32 or bfloat16 passes (accelerator defaults) lose the iteration's
# accuracy, and the matrices are small next to the network's convolutions.
_HIGHEST = jax.lax.Precision.HIGHEST


def _mm(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.matmul(a, b, precision=_HIGHEST)


def _frobenius(a: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.sum(jnp.square(a), axis=(-2, -1), keepdims=True))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def newton_schulz_sqrtm(a: jax.Array, iterations: int = ITERATIONS) -> jax.Array:
    """√a of symmetric positive semi-definite matrices by the coupled Newton–Schulz iteration.

    Args:
      a: (..., C, C) symmetric PSD, float32.
      iterations: fixed number of iterations (static).

    Returns:
      (..., C, C), the principal square root.

    a is divided by its Frobenius norm (so every eigenvalue lies in (0, 1], where the iteration
    converges), then Y₀ = a/‖a‖, Z₀ = I, T = (3I − Z Y)/2, Y ← Y T, Z ← T Z; Y → √(a/‖a‖) and
    the result is Y·√‖a‖. The gradient is not the derivative of these iterations but the
    exact one, dL/da = X with √a X + X √a = dL/d√a, solved iteratively (`_backward`).
    """
    return _forward(a, iterations)


def _iterate(a: jax.Array, iterations: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(Y, Z, ‖a‖): Y → √(a/‖a‖) and Z → (a/‖a‖)^-½ by the coupled iteration."""
    norm = _frobenius(a)
    eye = jnp.broadcast_to(jnp.eye(a.shape[-1], dtype=a.dtype), a.shape)
    y = a / norm
    z = eye
    for _ in range(iterations):
        t = (3 * eye - _mm(z, y)) / 2
        y, z = _mm(y, t), _mm(t, z)
    return y, z, norm


def _forward(a: jax.Array, iterations: int) -> jax.Array:
    y, _, norm = _iterate(a, iterations)
    return y * jnp.sqrt(norm)


def _forward_with_residual(a: jax.Array, iterations: int):
    root = _forward(a, iterations)
    return root, root


def _backward(iterations: int, root: jax.Array, grad: jax.Array) -> tuple[jax.Array]:
    """Solves the Lyapunov equation √a X + X √a = grad for X by the Newton–Schulz iteration of
    the matrix sign function of [[√a, −grad], [0, −√a]] (Lin & Maji 2017, as crowsonkb)."""
    norm = _frobenius(root)
    s = root / norm
    q = grad / norm
    eye3 = 3 * jnp.broadcast_to(jnp.eye(root.shape[-1], dtype=root.dtype), root.shape)
    st = jnp.swapaxes(s, -1, -2)
    for i in range(iterations):
        three_minus_s2 = eye3 - _mm(s, s)
        q = (_mm(q, three_minus_s2) - _mm(st, _mm(st, q) - _mm(q, s))) / 2
        if i < iterations - 1:
            s = _mm(s, three_minus_s2) / 2
            st = jnp.swapaxes(s, -1, -2)
    return (q / 2,)


newton_schulz_sqrtm.defvjp(_forward_with_residual, _backward)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def newton_schulz_trace_sqrtm(a: jax.Array, iterations: int = ITERATIONS) -> jax.Array:
    """tr √a of symmetric positive semi-definite (..., C, C) matrices; returns (...).

    What the Wasserstein loss needs of its cross term, at about a third of the cost of
    differentiating `newton_schulz_sqrtm`: the gradient of tr √a is ½ a^-½, and the coupled
    iteration computes a^-½ beside √a (Z·‖a‖^-½), so the backward pass is one scaling instead
    of a Lyapunov solve.
    """
    return _trace_forward(a, iterations)[0]


def _trace_forward(a: jax.Array, iterations: int):
    y, z, norm = _iterate(a, iterations)
    scale = jnp.sqrt(norm)
    inverse_root = z / scale
    # Z is a polynomial in a, hence symmetric up to rounding; symmetrize the gradient anyway.
    inverse_root = (inverse_root + jnp.swapaxes(inverse_root, -1, -2)) / 2
    return jnp.trace(y, axis1=-2, axis2=-1) * scale[..., 0, 0], inverse_root


def _trace_backward(iterations: int, inverse_root: jax.Array, grad: jax.Array):
    return (grad[..., None, None] * inverse_root / 2,)


newton_schulz_trace_sqrtm.defvjp(_trace_forward, _trace_backward)
