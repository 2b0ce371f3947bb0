"""The style-transfer objective: targets computed once, one pure total-loss function.

Layer choices live in the static `Objective`; their weights are data (`LossWeights`), so
changing a weight never recompiles, and a sweep can batch over them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from stylejax.model.vgg import PADDINGS, VGG19, Preprocessing, check_layers, deepest, pooling_count
from stylejax.objective import losses, octaves, spatial, wasserstein
from stylejax.objective.temporal import temporal_losses

# Precision of VGG's convolutions and activations (`Objective.precision`). Gram matrices, losses,
# gradients w.r.t. the image and the optimizer state are float32 in every case.
PRECISIONS = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
# How a style image's features are compared with the picture's (`Objective.style_loss`):
# "gram" is Gatys et al.'s squared error of Gram matrices; "wasserstein" the Wasserstein-2
# distance between Gaussian fits of the features (crowsonkb/style-transfer-pytorch).
STYLE_LOSSES = ("gram", "wasserstein")
# crowsonkb's covariance regularizer, at torchvision's activation scale: the floor of each
# style target's own, relative one (`wasserstein.target_eps`).
W2_EPS = 1e-4
# Typical activation size of each input convention relative to torchvision's: Caffe sees
# 0-255 pixels where torchvision divides by a standard deviation of about 0.226, so its
# activations are about 255 * 0.226 times larger. Scales `W2_EPS` (in squared activations).
ACTIVATION_SCALE = {"torchvision": 1.0, "caffe": 255 * 0.226}
# The loss terms `total_loss` reports, unweighted but for `total`.
TERMS = ("total", "content", "style", "tv")


@dataclasses.dataclass(frozen=True)
class Objective:
    """What the loss looks at: static, hashable, one compilation per value and image shape."""

    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    pooling: str
    preprocessing: Preprocessing
    remat: bool = False  # recompute each VGG block in the backward pass (less memory)
    precision: str = "float32"  # VGG's compute dtype: "float32" or "bfloat16" (see PRECISIONS)
    style_loss: str = "gram"  # see STYLE_LOSSES
    style_normalize: bool = False  # divide each style layer's loss by its target's magnitude
    padding: str = "zeros"  # VGG's first convolution's border mode (model.vgg.PADDINGS)
    guided: bool = False  # spatial control (issue 18): the loss reads `Targets.guides`
    # Style octaves (issue 16): the style also matched on the picture halved up to this many
    # times (`stylejax.objective.octaves`); 0: the picture at its own size only (the paper's).
    style_octaves: int = 0

    def __post_init__(self):
        check_layers(self.content_layers)
        check_layers(self.style_layers)
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}; "
                f"use 'bfloat16' to halve VGG's activation memory"
            )
        if not (isinstance(self.style_octaves, int) and self.style_octaves >= 0):
            raise ValueError(f"style_octaves must be a whole number >= 0, got {self.style_octaves}")
        for name, choices in (("style_loss", STYLE_LOSSES), ("padding", PADDINGS)):
            if getattr(self, name) not in choices:
                raise ValueError(
                    f"{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}"
                )

    @property
    def eps(self) -> float:
        """The floor of the Wasserstein loss's covariance regularizer at this weight set's
        scale (each target's own is relative to its variance, `wasserstein.target_eps`)."""
        return W2_EPS * ACTIVATION_SCALE.get(self.preprocessing.name, 1.0) ** 2

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.content_layers + self.style_layers))

    def features(
        self, params: dict, images: jax.Array, layers: Sequence[str] | None = None
    ) -> dict[str, jax.Array]:
        """VGG19 activations of (N, H, W, 3) RGB images in [0, 1], as float32.

        Under bfloat16 precision VGG computes in bfloat16 and the activations are cast back to
        float32 here, so Gram matrices and losses are accumulated in float32.
        """
        model = VGG19(
            preprocessing=self.preprocessing,
            pooling=self.pooling,
            remat=self.remat,
            dtype=PRECISIONS[self.precision],
            padding=self.padding,
        )
        out = model.apply(params, images, tuple(layers or self.layers))
        return {name: f.astype(jnp.float32) for name, f in out.items()}


class Targets(NamedTuple):
    content: dict[str, jax.Array]  # {layer: (1, h, w, C)} features of the content image
    # {layer: target} of the blended style images: a (C, C) Gram ("gram"), or a
    # `wasserstein.Gaussian` ("wasserstein"); with guides, one per region, stacked over R
    style: dict[str, jax.Array | wasserstein.Gaussian]
    # {layer: scalar, or (R,) with guides} each target's magnitude, by which
    # `style_normalize` divides the loss
    style_magnitude: dict[str, jax.Array] | None = None
    guides: spatial.Guides | None = None  # spatial control (issue 18); None without a mask
    # Style octaves: per halving, (style targets, magnitudes) of the style images halved as
    # often, as `style` and `style_magnitude`; as many as the scale's canvas allows.
    octaves: tuple[tuple[dict, dict], ...] = ()


class LossWeights(NamedTuple):
    """Effective weights, already scaled for the weight set (see `stylejax.config`)."""

    content: dict[str, jax.Array]  # {layer: scalar}
    style: dict[str, jax.Array]  # {layer: scalar}
    tv: jax.Array  # scalar


class FrameInputs(NamedTuple):
    """What one frame of a video pass adds to the loss (`stylejax.video`); every leaf is
    batched over the frames of the pass, like the weights."""

    content: dict[str, jax.Array]  # {layer: (1, h, w, C)} this frame's content features
    warped: jax.Array  # (K, H, W, 3) its stylized neighbours warped onto it
    weights: jax.Array  # (K, H, W) per-pixel weights of each (c_long; 0: not tied there)
    temporal_weight: jax.Array  # scalar, effective (already scaled); 0: no temporal term


class LossInputs(NamedTuple):
    """Everything the loss reads besides the image: one pytree, batched over its weights in a
    sweep (and over `frame` in a video pass)."""

    params: dict  # VGG19 parameters
    targets: Targets
    weights: LossWeights
    frame: FrameInputs | None = None  # a video frame's own targets; None: a still image


def compute_targets(
    objective: Objective,
    params: dict,
    content: jax.Array,
    styles: Sequence[jax.Array],
    blend: Sequence[float],
) -> Targets:
    """Content features and blended style targets; each image is (H, W, 3), sizes may differ.

    "gram": the Grams blended by `blend`. "wasserstein": the means and second raw moments
    blended linearly (as crowsonkb), then the covariance and its square root, once. With style
    octaves, the same for the style images halved once, twice, ... (`Targets.octaves`), as many
    times as `octaves.octave_count` allows for the content canvas and the styles.
    """
    content_features = objective.features(params, content[None], objective.content_layers)
    style, magnitude = style_targets(objective, params, styles, blend)
    count = octave_count(objective, content.shape, [s.shape for s in styles])
    halved, per_octave = [s[None] for s in styles], []
    for _ in range(count):
        halved = [octaves.halve(s) for s in halved]
        per_octave.append(style_targets(objective, params, [s[0] for s in halved], blend))
    return Targets(content_features, style, magnitude, octaves=tuple(per_octave))


def octave_count(objective: Objective, canvas, styles) -> int:
    """The style octaves a scale uses for an (H, W, ...) canvas and the styles' shapes."""
    smallest = 2 ** pooling_count(deepest(objective.style_layers))
    return octaves.octave_count(canvas, styles, objective.style_octaves, smallest)


def style_targets(objective: Objective, params: dict, styles, blend) -> tuple[dict, dict]:
    """({layer: target}, {layer: magnitude}) of the style images blended by `blend`."""
    if objective.style_loss == "wasserstein":
        return _gaussian_targets(objective, params, styles, blend)
    grams = [
        {
            name: losses.gram(f)[0]
            for name, f in objective.features(params, style[None], objective.style_layers).items()
        }
        for style in styles
    ]
    blended = {
        name: losses.blended_gram(jnp.stack([g[name] for g in grams]), jnp.asarray(blend))
        for name in objective.style_layers
    }
    magnitude = {name: losses.gram_magnitude(g) for name, g in blended.items()}
    return blended, magnitude


def _gaussian_targets(objective: Objective, params: dict, styles, blend):
    """({layer: Gaussian}, {layer: magnitude}) of the blended style images."""
    moments = [
        {
            name: wasserstein.feature_moments(f)
            for name, f in objective.features(params, style[None], objective.style_layers).items()
        }
        for style in styles
    ]
    weights = jnp.asarray(blend, jnp.float32)
    targets, magnitude = {}, {}
    for name in objective.style_layers:
        mean = losses.blend(jnp.concatenate([m[name][0] for m in moments]), weights)
        second = losses.blend(jnp.concatenate([m[name][1] for m in moments]), weights)
        targets[name] = wasserstein.gaussian_target(mean, second, objective.eps)
        magnitude[name] = wasserstein.moment_magnitude(second)
    return targets, magnitude


def style_term(objective: Objective, features: jax.Array, target, magnitude) -> jax.Array:
    """One style layer's loss for (N, H, W, C) features, (N,); divided by the target's
    magnitude under `style_normalize`."""
    if objective.style_loss == "wasserstein":
        term = wasserstein.w2_style_loss(features, target)
    else:
        term = losses.style_layer_loss(features, target)
    return term / magnitude if objective.style_normalize else term


def total_loss(
    image: jax.Array, inputs: LossInputs, objective: Objective
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Weighted loss of one (H, W, 3) image, and its unweighted terms.

    Returns:
      (total, {"content", "style", "tv", "total"}): `content` and `style` are the unweighted
      sums of the per-layer losses (for "gram" the seed's MSEs; normalized under
      `style_normalize`), `total` the weighted sum.
    """
    params, targets, weights, frame = inputs
    # A video frame brings its own content target (the style targets are the clip's).
    content_targets = targets.content if frame is None else frame.content
    features = objective.features(params, image[None])
    if objective.guided:  # spatial control; the unguided terms below are untouched by it
        content_terms, style_terms = spatial.guided_terms(
            features,
            targets.content,
            targets.style,
            targets.style_magnitude if objective.style_normalize else None,
            targets.guides,
            objective.content_layers,
            objective.style_layers,
            objective.style_loss,
        )
    else:
        content_terms = {
            name: losses.content_loss(features[name], content_targets[name])[0]
            for name in objective.content_layers
        }
        magnitude = targets.style_magnitude or {}
        style_terms = {
            name: style_term(objective, features[name], targets.style[name], magnitude.get(name))[0]
            for name in objective.style_layers
        }
    # Style octaves (not in the paper): the same style terms on the picture halved, each
    # octave's terms added to its layer's, so the layer weights apply to every octave alike.
    halved = image[None]
    for octave_targets, octave_magnitude in targets.octaves:
        halved = octaves.halve(halved)
        smaller = objective.features(params, halved, objective.style_layers)
        for name in objective.style_layers:
            scale = octave_magnitude.get(name)
            term = style_term(objective, smaller[name], octave_targets[name], scale)[0]
            style_terms[name] = style_terms[name] + term
    tv = losses.tv_loss(image[None])[0]
    total = (
        sum(weights.content[name] * term for name, term in content_terms.items())
        + sum(weights.style[name] * term for name, term in style_terms.items())
        + weights.tv * tv
    )
    if frame is not None:
        # Ruder et al. 2016: the frame tied to its warped neighbours (reported in `total` only).
        total = total + frame.temporal_weight * temporal_losses(image, frame.warped, frame.weights)
    terms = {
        "content": sum(content_terms.values()),
        "style": sum(style_terms.values()),
        "tv": tv,
        "total": total,
    }
    return total, terms
