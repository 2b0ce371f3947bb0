"""The command line's flags: parsing only, no side effects.

Every flag's default comes from `Config`; several values on a sweepable flag make a sweep.
Errors name flags: `flag("style_weight")` is `--style-weight`.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from stylejax.config import (
    AUTO_PYRAMID,
    LAYER_WEIGHTS,
    PRECISION_ALIASES,
    PRESETS,
    SPLITS,
    SWEEPABLE,
    Config,
    ConfigError,
    preset,
    sweep_values,
)
from stylejax.model.vgg import PADDINGS, POOLINGS
from stylejax.objective.colors import MODES as COLOR_MODES
from stylejax.objective.total import PRECISIONS, STYLE_LOSSES
from stylejax.optim.solvers import OPTIMIZERS

DEFAULTS = Config()
DISTRIBUTED = ("distributed", "coordinator", "num_processes", "process_id")
COMMAND = ("compile_cache",)  # flags of the command itself, not of the run's Config


def flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def message(error: ConfigError) -> str:
    """A ConfigError as the CLI says it, naming the flag."""
    return f"{flag(error.field)} {error.problem}"


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line and a hint, not the whole usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"stylejax: error: {message} (see --help)\n")


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m stylejax.run",
        description="Neural style transfer (Gatys et al.) in JAX. With no arguments it "
        "stylizes the bundled sample images.",
        argument_default=argparse.SUPPRESS,  # unset flags fall back to the preset or Config
        epilog=f"Sweeps: give several values to any of "
        f"{', '.join(flag(n) for n in SWEEPABLE)}; two such flags make a grid.",
    )
    add = p.add_argument
    d = DEFAULTS
    add("--content", help="content image (default: the bundled sample)")
    add("--style", nargs="+", help="style image(s) (default: the bundled sample)")
    add("--style-blend", nargs="+", type=float, help="weight per style image (default: equal)")
    add("--output", help=f"final image: .png, .jpg or .tif (16-bit) (default: {d.output})")
    add("--size", type=int, help=f"longest side of the result in pixels (default: {d.size})")
    add(
        "--min-size",
        type=int,
        help="coarse-to-fine: start at this longest side and refine up to --size "
        f"(default: {AUTO_PYRAMID[1]} for sizes of {AUTO_PYRAMID[0]} and more, else one scale)",
    )
    add(
        "--scale-step", type=float, help=f"ratio between pyramid scales (default: {d.scale_step:g})"
    )
    add(
        "--scale-split",
        choices=SPLITS,
        help=f"how the evaluations are spread over the scales (default: {d.scale_split})",
    )
    add(
        "--style-scale",
        type=float,
        help="style image size relative to the result's (default: 1, as the seed)",
    )
    add(
        "--evaluations",
        type=int,
        help=f"loss-and-gradient evaluations, over all scales (default: {d.evaluations})",
    )
    add("--iterations", type=int, help="optimizer iteration limit per scale (default: none)")
    add("--content-weight", type=float, nargs="+", help=f"default: {d.content_weight:g}")
    add(
        "--style-weight",
        type=float,
        nargs="+",
        help=f"at torchvision's scale, rescaled for other weight sets "
        f"(default: {d.style_weight:g})",
    )
    add("--tv-weight", type=float, nargs="+", help="total-variation weight (default: 0)")
    add("--content-layer", nargs="+", help=f"default: {d.content_layer}")
    add("--style-layers", nargs="+", help=f"default: {' '.join(d.style_layers)}")
    add("--pooling", choices=POOLINGS, help=f"default: {d.pooling}")
    add(
        "--style-loss",
        choices=STYLE_LOSSES,
        help="gram: Gatys et al.'s Gram matrices; wasserstein: the W2 distance between "
        f"Gaussian fits of the features (default: {d.style_loss})",
    )
    add(
        "--style-layer-weights",
        nargs="+",
        metavar="NAME_OR_WEIGHT",
        help=f"relative weight of each style layer: {' or '.join(LAYER_WEIGHTS)} "
        "(256:64:16:4:1), or one number per layer; scaled to average 1 "
        f"(default: {d.style_layer_weights})",
    )
    add(
        "--style-normalize",
        action=argparse.BooleanOptionalAction,
        help="divide each style layer's loss by its target's magnitude, for a balance that "
        f"holds across style images (default: {'on' if d.style_normalize else 'off'})",
    )
    add(
        "--average",
        type=float,
        help="output the exponential moving average of the iterates with this decay, "
        "e.g. 0.99; each pyramid scale starts from it (default: off)",
    )
    add(
        "--padding",
        choices=PADDINGS,
        help="border mode of VGG's first convolution; replicate or reflect avoid a line along "
        f"the picture's edges (default: {d.padding})",
    )
    add(
        "--margin",
        type=int,
        metavar="PX",
        help="optimize this many pixels of mirrored photo around the picture and cut them "
        "away, so that no line forms along its edges; at most 1/16 of each scale's longest "
        f"side; 0: none (default: {d.margin})",
    )
    add(
        "--style-octaves",
        type=int,
        metavar="N",
        help="also match the style on the picture halved, up to N times while it keeps 128 "
        "pixels, so that the painting's large shapes survive the fine scales (not yet with "
        "--mask); 0: off "
        f"(default: {d.style_octaves})",
    )
    add(
        "--preserve-colors",
        choices=COLOR_MODES,
        help="keep the content's colours: luminance-only transfer, or the style recoloured "
        "to the content's colour statistics (default: off)",
    )
    add(
        "--precision",
        choices=(*PRECISIONS, *PRECISION_ALIASES),
        metavar="{float32,bfloat16}",
        help="bfloat16 (or bf16) runs VGG in bf16, losses and optimizer in float32 "
        f"(default: {d.precision})",
    )
    add("--init", help=f"content, random or an image path (default: {d.init})")
    add("--seed", type=int, nargs="+", help="seed of the random initial image (default: 0)")
    add(
        "--remat",
        action="store_true",
        help="recompute VGG blocks in the backward pass: less memory, slower",
    )
    add("--optimizer", choices=OPTIMIZERS, help=f"default: {d.optimizer}")
    add("--learning-rate", type=float, help=f"Adam's step size (default: {d.learning_rate:g})")
    add("--max-pixels", type=int, help="refuse larger input images (default: 100 megapixels)")
    add("--weights", help="converted VGG19 .h5 (default: the Caffe VGG19, fetched once)")
    add("--save-every", type=int, help="save a frame every N evaluations, and a GIF")
    add("--log", help="write a JSON log here")
    add("--tensorboard", help="write TensorBoard scalars and images to this folder")
    add(
        "--checkpoint-every",
        type=int,
        help="save the optimizer state every N evaluations (next to --output, .ckpt.npz)",
    )
    add("--resume", action="store_true", help="continue an interrupted run from its checkpoint")
    add(
        "--preset",
        choices=sorted(PRESETS),
        help="seed: the reference algorithm; classic: the defaults before the Wasserstein "
        "defaults; tiny: a smoke run",
    )
    add("--overwrite", action="store_true", help="replace existing outputs")
    add(
        "--no-compile-cache",
        dest="compile_cache",
        action="store_false",
        help="do not keep compiled programs between runs (also STYLEJAX_NO_COMPILE_CACHE=1)",
    )
    spatial = p.add_argument_group(
        "spatial control (Gatys et al. 2017): a style per region of the picture"
    )
    spatial.add_argument(
        "--mask",
        help="label image, any size (resized with nearest neighbour): each colour is a region, "
        "and region k takes the k-th --style, regions in order of first appearance (reading "
        "order) or as --mask-colors lists them",
    )
    spatial.add_argument(
        "--mask-colors",
        nargs="+",
        metavar="COLOR",
        help="the regions' colours in the order of the --style images ('#ff0000', red, or a "
        "grey level 0-255); every pixel joins the nearest, so anti-aliased edges are absorbed",
    )
    spatial.add_argument(
        "--style-masks",
        nargs="+",
        metavar="MASK",
        help="one mask per --style image: learn the style only from its white part",
    )
    spatial.add_argument(
        "--keep-content",
        metavar="COLOR",
        help="the mask colour of a region left as the photo (no style, a stronger content "
        "weight); it takes no --style image",
    )
    spatial.add_argument(
        "--mask-blur",
        type=float,
        metavar="PX",
        help=f"soften the seams between regions over this many pixels (Gaussian sigma at the "
        f"result's size; 0: hard seams) (default: {d.mask_blur:g})",
    )
    spatial.add_argument(
        "--mask-erode",
        action=argparse.BooleanOptionalAction,
        help="erode region guides to the neurons that see only their region, as the paper does "
        f"(default: {'on' if d.mask_erode else 'off'})",
    )
    group = p.add_argument_group(
        "multi-host sweeps (JAX's multi-controller runtime; process 0 writes the outputs)"
    )
    group.add_argument(
        "--distributed",
        action="store_true",
        help="join a multi-process run (auto-detected on SLURM, Open MPI and "
        "TPU pods; else give the three flags below)",
    )
    group.add_argument("--coordinator", help="HOST:PORT of process 0")
    group.add_argument("--num-processes", type=int)
    group.add_argument("--process-id", type=int)
    return p


def parse(argv: list[str] | None) -> tuple[Config, dict[str, tuple], dict, dict]:
    """(the config — a sweep's first member —, the sweep axes {field: values}, the distributed
    flags given, the command's own flags). Raises ConfigError; exits 2 on unparseable flags."""
    args = vars(parser().parse_args(sys.argv[1:] if argv is None else argv))
    distributed = {k: args.pop(k) for k in DISTRIBUTED if k in args}
    command = {k: args.pop(k) for k in COMMAND if k in args}
    name = args.pop("preset", None)
    axes = {}
    for key in SWEEPABLE:
        if key in args:
            values = sweep_values(key, args[key])
            if len(values) > 1:
                axes[key] = values
            args[key] = values[0]
    for key in ("style", "style_blend", "style_layers", "mask_colors", "style_masks"):
        if key in args:
            args[key] = tuple(args[key])
    if "style_layer_weights" in args:
        args["style_layer_weights"] = _layer_weights(args["style_layer_weights"])
    config = preset(name, **args) if name else Config(**args)
    return config, axes, distributed, command


def _layer_weights(values: list[str]) -> str | tuple[float, ...]:
    """`--style-layer-weights`: numbers, else one name (which Config checks)."""
    try:
        return tuple(float(v) for v in values)
    except ValueError:
        return " ".join(values)
