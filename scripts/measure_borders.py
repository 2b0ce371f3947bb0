"""The line along a picture's borders: edge-to-interior step ratios per VGG padding mode and
margin.

    STYLEJAX_WEIGHTS=weights/vgg19-caffe.h5 python scripts/measure_borders.py \\
        --images /path/to/images --pairs tuebingen:starry_night small_dog:der_schrei \\
        --paddings replicate --margins 0 8 16 --size 256

Runs the default pipeline (every other setting as `Config`'s defaults) on each content:style
pair once per padding mode and margin, and prints `quality_metrics.edge_ratios` of each
result (from its 8-bit image, as saved) next to the content photo's own at the same size.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from quality_metrics import SIDES
from quality_metrics import edge_ratios as edge_step_ratios

from stylejax.config import Config
from stylejax.engine import execute
from stylejax.engine import plan as planning
from stylejax.files import images
from stylejax.model.load import load_weights
from stylejax.model.vgg import PADDINGS


def eight_bit(image: np.ndarray) -> np.ndarray:
    return np.asarray(images.to_pil(image), np.float64) / 255


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=Path("/work/shared/images"))
    parser.add_argument("--pairs", nargs="+", default=["tuebingen:starry_night"])
    parser.add_argument("--paddings", nargs="+", choices=PADDINGS, default=["zeros", "replicate"])
    parser.add_argument("--margins", nargs="+", type=int, default=[Config.margin])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--evaluations", type=int, default=Config.evaluations)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--save", type=Path, help="write each result here as PNG")
    args = parser.parse_args()
    weights = load_weights(args.weights)
    header = " ".join(f"{side:>6}" for side in SIDES)
    print(f"{'pair':34} {'padding':14} {header}   worst")
    for pair in args.pairs:
        content, style = pair.split(":")
        base = Config(
            content=str(args.images / "content" / f"{content}.jpg"),
            style=(str(args.images / "style" / f"{style}.jpg"),),
            size=args.size,
            evaluations=args.evaluations,
        )
        plan = planning.from_config(base, None, weights)
        photo = edge_step_ratios(eight_bit(execute.content_at(plan, plan.scales[-1])))
        show(pair, "(photo)", photo)
        for padding in args.paddings:
            for margin in args.margins:
                config = Config(**{**base.__dict__, "padding": padding, "margin": margin})
                (result,) = execute.execute(planning.from_config(config, None, weights))
                label = f"{padding} m{margin}"
                show(pair, label, edge_step_ratios(eight_bit(result.image)))
                if args.save:
                    args.save.mkdir(parents=True, exist_ok=True)
                    name = f"{content}_{style}_{padding}_m{margin}.png"
                    images.save(result.image, args.save / name)


def show(pair: str, label: str, ratios: dict[str, float]) -> None:
    values = " ".join(f"{ratios[side]:6.2f}" for side in SIDES)
    print(f"{pair:34} {label:14} {values}   {max(ratios.values()):5.2f}", flush=True)


if __name__ == "__main__":
    main()
