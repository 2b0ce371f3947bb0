"""How the content/style balance of one `style_weight` varies over style and content images.

    STYLEJAX_WEIGHTS=weights/vgg19-caffe.h5 python scripts/measure_balance.py \\
        --images /path/to/images --size 256 [--losses wasserstein] [--normalize off]

For every content × style pair (images/content/*.jpg × images/style/*.jpg) at --size, with the
default weights (every Config default but the start) and each style loss, with and without
`style_normalize`, it prints the weighted style loss over the weighted content loss at the
seeded random start, and the style loss of the content photo itself
over the content loss at the random start (the style pull a content-initialized run starts
with), then their geometric mean and spread over the pairs: max/min and the standard
deviation of log10. `config.NORMALIZED_STYLE_WEIGHT_FACTOR` equalizes the geometric means of
the second ratio with and without normalization.
Forward passes only: a minute or two on a CPU at 256 px.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from stylejax.config import Config
from stylejax.engine import execute
from stylejax.engine import plan as planning
from stylejax.engine.sweep import effective_weights
from stylejax.model.load import load_weights
from stylejax.objective.total import LossInputs, total_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=Path("/work/shared/images"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--weights", default=None)
    parser.add_argument(
        "--losses", nargs="+", choices=("gram", "wasserstein"), default=("gram", "wasserstein")
    )
    parser.add_argument(
        "--normalize",
        choices=("both", "off", "on"),
        default="both",
        help="with and without style_normalize (default), or only one of them (large sizes)",
    )
    args = parser.parse_args()
    # Forward passes only: the plan's check of a whole run's memory (a backward pass through
    # every layer) would refuse 2048 px on a 24-GiB machine that these passes fit in.
    planning.check_memory = lambda *args, **kwargs: None
    weights = load_weights(args.weights)
    contents = sorted((args.images / "content").glob("*.jpg"))
    styles = sorted((args.images / "style").glob("*.jpg"))
    normalizations = {"both": (False, True), "off": (False,), "on": (True,)}[args.normalize]
    variants = [(loss, normalize) for loss in args.losses for normalize in normalizations]
    rows = {v: [] for v in variants}
    for content, style in itertools.product(contents, styles):
        for loss, normalize in variants:
            config = Config(
                content=str(content),
                style=(str(style),),
                size=args.size,
                min_size=args.size,
                style_loss=loss,
                style_normalize=normalize,
                # The ratios are defined at the seeded random start (the content loss is 0 at
                # the photo, the default start).
                init="random",
                margin=0,  # the ratios of the picture's own pixels, with no mirrored margin
            )
            rows[(loss, normalize)].append(balance(config, weights))
        print(
            f"{content.stem:>15} x {style.stem:<14}",
            " ".join(
                f"{v[0][:4]}{'/n' if v[1] else '  '} {rows[v][-1][0]:9.3g} {rows[v][-1][1]:9.3g}"
                for v in variants
            ),
            flush=True,
        )
    print("\nspread over pairs: max/min and std(log10) of each ratio")
    for v in variants:
        for i, name in enumerate(("style/content at the random start", "photo's style/content")):
            values = np.asarray([r[i] for r in rows[v]])
            print(
                f"{v[0]:>11} normalize={v[1]!s:5} {name:34} "
                f"geometric mean {np.exp(np.log(values).mean()):9.3g}  "
                f"max/min {values.max() / values.min():8.3g}  "
                f"std(log10) {np.std(np.log10(values)):.3f}"
            )


def balance(config: Config, weights) -> tuple[float, float]:
    """(weighted style / weighted content at the random start, weighted style of the content
    photo / weighted content at the random start)."""
    plan = planning.from_config(config, None, weights)
    scale = plan.scales[-1]
    targets = execute.targets_at(plan, scale)
    start = jnp.asarray(execute.initial_images(plan)[0])
    content = jnp.asarray(execute.content_at(plan, scale))
    loss_weights = effective_weights(config, weights.source)
    inputs = LossInputs(weights.params, targets, loss_weights)
    terms = {}
    for name, image in (("start", start), ("photo", content)):
        _, t = _loss(image, inputs, plan.objective)
        terms[name] = {k: float(v) for k, v in t.items()}
    style_weight = float(next(iter(loss_weights.style.values())))
    content_weight = float(loss_weights.content[config.content_layer])
    content_start = content_weight * terms["start"]["content"]
    return (
        style_weight * terms["start"]["style"] / content_start,
        style_weight * terms["photo"]["style"] / content_start,
    )


_loss = jax.jit(total_loss, static_argnums=2)


if __name__ == "__main__":
    jax.config.update("jax_numpy_rank_promotion", "raise")
    main()
