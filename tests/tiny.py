"""Settings and images that keep the pipeline, API, CLI and fault tests tiny and quick.

The CLI tests use the bundled samples, whose content is 512x341: at `--size 32` it is 32x21,
the shape of `smooth_image(1, 40, 60)` at 32 too, so most tests share compiled programs.
"""

import jax
import jax.numpy as jnp
import numpy as np

from stylejax.optim.loop import optimize_batch

# Shallow layers keep the tiny runs quick; relu2_1 needs images of at least 2 pixels.
FAST = ["--style-layers", "relu1_1", "relu2_1", "--content-layer", "relu2_1"]
FAST_OPTIONS = dict(style_layers=("relu1_1", "relu2_1"), content_layer="relu2_1")


def smooth_image(seed: int, height: int, width: int) -> np.ndarray:
    """A smooth random uint8 (H, W, 3) picture: a few low-frequency waves per channel."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    channels = [
        sum(
            np.sin(2 * np.pi * (rng.uniform(0.5, 3) * x + rng.uniform(0.5, 3) * y + rng.uniform()))
            for _ in range(3)
        )
        for _ in range(3)
    ]
    array = (np.stack(channels, -1) / 6 + 0.5) * 255
    return np.clip(array, 0, 255).astype(np.uint8)


def optimize(image, inputs, objective, solver, **kwargs):
    """One image (H, W, 3) through `optimize_batch` as a batch of one (weights unbatched)."""
    batch = inputs._replace(weights=jax.tree.map(lambda w: jnp.asarray(w)[None], inputs.weights))
    image = jnp.asarray(image, jnp.float32)[None]
    return optimize_batch(image, batch, objective, solver, **kwargs)[0]
