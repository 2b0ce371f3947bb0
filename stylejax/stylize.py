"""Stylizing an image: load inputs, compute targets once, optimize."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

from stylejax import images, samples
from stylejax.config import Config, effective_weights
from stylejax.features import load_weights
from stylejax.objective import LossWeights, Objective, Targets, compute_targets
from stylejax.optimize import Progress, Result, Solver, optimize
from stylejax.vgg import POOLINGS, check_layers, deepest, pooling_count
from stylejax.weights import Weights


@dataclasses.dataclass(frozen=True)
class Problem:
    """Everything the optimizer needs, prepared once."""

    content: np.ndarray  # (H, W, 3)
    styles: list[np.ndarray]  # each (h, w, 3)
    init: np.ndarray  # (H, W, 3)
    weights: Weights
    objective: Objective
    targets: Targets
    loss_weights: LossWeights


def check(config: Config) -> None:
    """Raises ValueError for settings that cannot work, before anything is loaded."""
    numbers = dict(size=config.size, evaluations=config.evaluations)
    for name, value in numbers.items():
        if value < 1:
            raise ValueError(f"--{name} must be at least 1, got {value}")
    for name in ("content_weight", "style_weight", "tv_weight", "style_scale"):
        if getattr(config, name) < 0 or not np.isfinite(getattr(config, name)):
            raise ValueError(f"--{name.replace('_', '-')} must be a finite number >= 0")
    if config.style_scale == 0:
        raise ValueError("--style-scale must be greater than 0")
    if config.iterations is not None and config.iterations < 1:
        raise ValueError(f"--iterations must be at least 1, got {config.iterations}")
    if config.checkpoint_every is not None and config.checkpoint_every < 1:
        raise ValueError(f"--checkpoint-every must be at least 1, got {config.checkpoint_every}")
    if config.save_every is not None and not 1 <= config.save_every <= config.evaluations:
        raise ValueError(
            f"--save-every must be between 1 and the evaluation budget ({config.evaluations}), "
            f"got {config.save_every}"
        )
    styles = config.style or (str(samples.STYLE),)
    if config.style_blend and len(config.style_blend) != len(styles):
        raise ValueError(
            f"--style-blend has {len(config.style_blend)} values for {len(styles)} style images"
        )
    if any(b < 0 for b in config.style_blend) or (
        config.style_blend and sum(config.style_blend) <= 0
    ):
        raise ValueError("--style-blend values must be >= 0 with a positive sum")
    Solver(config.optimizer, learning_rate=config.learning_rate)
    check_layers((config.content_layer,))
    check_layers(config.style_layers)
    if config.pooling not in POOLINGS:
        raise ValueError(f"--pooling must be one of {', '.join(POOLINGS)}, got {config.pooling!r}")


def load_inputs(config: Config) -> tuple[np.ndarray, list[np.ndarray], Weights]:
    """The content image at --size, the style images at their scale, and the weights."""
    check(config)
    content = images.load(
        config.content or samples.CONTENT, config.size, max_pixels=config.max_pixels
    )
    height, width = content.shape[:2]
    style_size = max(1, round(max(height, width) * config.style_scale))
    # As in the seed, style images are used at the content image's scale (--style-scale 1).
    styles = [
        images.load(path, style_size, max_pixels=config.max_pixels)
        for path in config.style or (samples.STYLE,)
    ]
    return content, styles, load_weights(config.weights)


def targets_for(
    objective: Objective,
    config: Config,
    content: np.ndarray,
    styles: list[np.ndarray],
    weights: Weights,
) -> Targets:
    """Checks the images are large enough for the objective's layers; computes the targets."""
    minimum = 2 ** pooling_count(deepest(objective.layers))
    for name, array in [("content image", content)] + [("style image", s) for s in styles]:
        if min(array.shape[:2]) < minimum:
            raise ValueError(
                f"the {name} is {array.shape[1]}x{array.shape[0]} pixels after resizing, smaller "
                f"than the {minimum} pixels layer {deepest(objective.layers)} needs; "
                f"raise --size or --style-scale"
            )
    blend = config.style_blend or (1.0,) * len(styles)
    return compute_targets(
        objective, weights.params, jnp.asarray(content), [jnp.asarray(s) for s in styles], blend
    )


def prepare(config: Config) -> Problem:
    """Loads images and weights and computes the targets."""
    content, styles, weights = load_inputs(config)
    objective = Objective(
        content_layers=(config.content_layer,),
        style_layers=tuple(config.style_layers),
        pooling=config.pooling,
        preprocessing=weights.preprocessing,
        remat=config.remat,
    )
    return Problem(
        content=content,
        styles=styles,
        init=initial_image(config, content),
        weights=weights,
        objective=objective,
        targets=targets_for(objective, config, content, styles, weights),
        loss_weights=effective_weights(config, weights.source),
    )


def initial_image(config: Config, content: np.ndarray) -> np.ndarray:
    """The starting image: the content, seeded uniform noise in [0, 1], or a given image."""
    if config.init == "content":
        return content
    if config.init == "random":
        rng = np.random.default_rng(config.seed)
        return rng.uniform(0.0, 1.0, content.shape).astype(np.float32)
    if not os.path.exists(config.init):
        raise ValueError(
            f"--init must be 'content', 'random' or an image path; {config.init!r} is none of those"
        )
    start = images.load(config.init, max_pixels=config.max_pixels)
    return images.resize_to(start, *content.shape[:2])


def stylize(
    config: Config,
    problem: Problem | None = None,
    callback: Callable[[Progress], None] | None = None,
) -> Result:
    """Runs the optimization of `config` (preparing the problem unless given)."""
    problem = problem or prepare(config)
    return optimize(
        jnp.asarray(problem.init),
        problem.weights.params,
        problem.targets,
        problem.loss_weights,
        problem.objective,
        Solver(config.optimizer, learning_rate=config.learning_rate),
        evaluations=config.evaluations,
        iterations=config.iterations,
        chunk=config.save_every or 10,
        callback=callback,
    )
