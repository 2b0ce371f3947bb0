"""Test setup: JAX is strict about rank promotion in every test."""

import jax

jax.config.update("jax_numpy_rank_promotion", "raise")
