"""The run configuration: one frozen dataclass whose defaults the CLI reads, and presets."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from stylejax.objective import LossWeights

SEED_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

# Weight-set scale. Caffe's VGG19 sees 0-255 BGR input and its activations are far larger than
# torchvision's, so the same raw weights would mean a different balance. `style_weight` is
# expressed at torchvision's scale (the seed's 1e6 against content 1) and multiplied by this
# factor for the weight set in use. Caffe's factor puts 1e6 at a style:content ratio of 20:1,
# the balance of the long-standing Caffe-VGG19 reference, jcjohnson/neural-style (content 5,
# style 100, same Gram and MSE definitions), which we also checked by eye (BENCHMARKS.md).
STYLE_SCALE = {"torchvision": 1.0, "caffe": 2e-5}


@dataclasses.dataclass(frozen=True)
class Config:
    content: str | None = None  # content image; None: the bundled sample
    style: tuple[str, ...] = ()  # style image(s); empty: the bundled sample
    style_blend: tuple[float, ...] = ()  # relative weight per style image; empty: equal
    output: str = "stylized.png"  # final image; .png or .jpg
    size: int = 256  # longest side of the content image, in pixels
    style_scale: float = 1.0  # style image size relative to the content image's longest side
    evaluations: int = 300  # budget of loss-and-gradient evaluations (the seed: 600)
    iterations: int | None = None  # optimizer iteration limit; None: the evaluation budget
    content_weight: float = 1.0
    style_weight: float = 1e6  # at torchvision's scale; see STYLE_SCALE
    tv_weight: float = 0.0  # total variation; not in the paper, off in the seed
    content_layer: str = "relu4_1"
    style_layers: tuple[str, ...] = SEED_STYLE_LAYERS
    pooling: str = "avg"  # Gatys et al.'s replacement for VGG's max pooling
    init: str = "random"  # "content", "random" (seeded uniform [0, 1]) or an image path
    seed: int = 0
    remat: bool = False  # recompute VGG blocks in the backward pass: less memory, more time
    optimizer: str = "lbfgs"  # see stylejax.optimize.OPTIMIZERS and BENCHMARKS.md
    learning_rate: float = 0.02  # Adam only
    max_pixels: int = 100_000_000  # refuse larger input images before decoding them
    weights: str | None = None  # converted .h5; None: the default Caffe VGG19
    save_every: int | None = None  # frames every N evaluations, plus a GIF; None: no frames
    log: str | None = None  # JSON log path
    checkpoint_every: int | None = None  # save the optimizer state every N evaluations
    resume: bool = False  # continue from the checkpoint next to --output
    overwrite: bool = False  # replace existing outputs


PRESETS: dict[str, dict] = {
    # The reference algorithm of DEVELOPERS.md, exactly.
    "seed": dict(
        size=512,
        evaluations=600,
        content_weight=1.0,
        style_weight=1e6,
        tv_weight=0.0,
        content_layer="relu4_1",
        style_layers=SEED_STYLE_LAYERS,
        pooling="avg",
        init="random",
        seed=0,
        save_every=10,
    ),
    # A first run on a laptop CPU and the smoke tests: small and quick.
    "tiny": dict(size=64, evaluations=30),
}


def preset(name: str, **overrides) -> Config:
    """The named preset's Config, with `overrides` applied on top."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return Config(**(PRESETS[name] | overrides))


def effective_weights(config: Config, weight_set: str) -> LossWeights:
    """The loss weights actually used: the config's, scaled for the weight set."""
    if weight_set not in STYLE_SCALE:
        raise ValueError(f"no style scale for weight set {weight_set!r}")
    # Every style layer weighs the same, as in the seed.
    style = config.style_weight * STYLE_SCALE[weight_set]
    return LossWeights(
        content={config.content_layer: jnp.float32(config.content_weight)},
        style={name: jnp.float32(style) for name in config.style_layers},
        tv=jnp.float32(config.tv_weight),
    )
