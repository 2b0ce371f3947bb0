"""Sweeps: many runs as one batched, compiled optimization.

A sweep is a product grid over a few config fields (`stylejax.config.members`). Each member
is an ordinary `Config`; what differs between members is data (loss weights, the random
start), never the compiled program, so the whole grid is one `optimize_batch`. Content-layer
sweeps work the same way: the objective looks at every candidate layer and each member's
content weights are one-hot.
"""

from __future__ import annotations

import jax.numpy as jnp

from stylejax.config import Config, layer_weights, style_weight_factor
from stylejax.objective.total import LossWeights, Objective


def effective_weights(config: Config, weight_set: str) -> LossWeights:
    """The loss weights actually used: the config's, scaled for the weight set and the style
    loss, each style layer by its `layer_weights` ("equal": all the same, as in the seed)."""
    style = config.style_weight * style_weight_factor(config, weight_set)
    relative = layer_weights(config)
    equal = config.style_layer_weights == "equal"  # the seed's weights, bit for bit
    return LossWeights(
        content={config.content_layer: jnp.float32(config.content_weight)},
        style={
            name: jnp.float32(style if equal else style * w)
            for name, w in zip(config.style_layers, relative, strict=True)
        },
        tv=jnp.float32(config.tv_weight),
    )


def batched_weights(
    configs: list[Config], content_layers: tuple[str, ...], weight_set: str
) -> LossWeights:
    """Each member's effective weights, stacked; content weights spread over `content_layers`
    (zero where a member does not use a layer)."""
    singles = [effective_weights(c, weight_set) for c in configs]
    zero = jnp.float32(0)
    return LossWeights(
        content={
            layer: jnp.stack([w.content.get(layer, zero) for w in singles])
            for layer in content_layers
        },
        style={layer: jnp.stack([w.style[layer] for w in singles]) for layer in singles[0].style},
        tv=jnp.stack([w.tv for w in singles]),
    )


def objective_for(configs: list[Config], preprocessing) -> Objective:
    """One objective for every member: the union of their content layers."""
    content = tuple(dict.fromkeys(c.content_layer for c in configs))
    first = configs[0]
    return Objective(
        content,
        tuple(first.style_layers),
        first.pooling,
        preprocessing,
        remat=first.remat,
        precision=first.precision,
        style_loss=first.style_loss,
        style_normalize=first.style_normalize,
        padding=first.padding,
        style_octaves=first.style_octaves,
    )
