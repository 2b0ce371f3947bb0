"""The peer of issue 16: crowsonkb/style-transfer-pytorch's algorithm ("KC"), ported onto
stylejax's Caffe VGG19, in PyTorch (a benchmark dependency only; stylejax never imports torch).

    python scripts/kc_port.py --content photo.jpg --style painting.jpg --size 512 \
        --budget 250 --output kc.png --json kc.json

KC's algorithm as its `StyleTransfer.stylize` runs it with every default, each of its
departures from Gatys et al. kept:
- style loss: Wasserstein-2 between Gaussian fits (mean, covariance + 1e-4 I) of relu1_1,
  relu2_1, relu3_1, relu4_1, relu5_1, with the matrix square root by 12 coupled Newton-Schulz
  iterations and its gradient by the matching Newton-Schulz iteration of the Lyapunov equation;
  mean term and trace term each averaged over channels;
- style layers weighted 256:64:16:4:1, normalized to sum 1; several styles blend their means and
  second raw moments linearly;
- content: mean squared error at relu4_2, weight 0.015; the image starts as the content photo;
- total variation (nine-point stencil, replicate padding) with weight 2;
- max pooling (VGG as trained); replicate padding in the first convolution;
- Adam (step 0.02, betas 0.9 and 0.99), warm-started across scales by resizing its moments
  (first: bicubic; second: bilinear, clipped at 0), pixels clamped to [0, 1] after each step;
- an exponential moving average of the iterates (decay 0.99, bias-corrected), restarted at each
  scale: it is the output and the next scale's start (bicubic upsampling);
- scales in sqrt(2) steps down from the end size, the smallest not below 128 px; 1000
  iterations at the first scale and 500 at each later one;
- content and style resized (bicubic) at every scale: the content to the scale, the style to
  fit in it (as KC, a style image is never enlarged).

Departures of this port, both asked for by the issue:
- the network is stylejax's default Caffe VGG19 (read from the .h5), not torchvision's; its
  activations are divided by 255 * 0.226 (Caffe's 0-255 input over torchvision's mean input
  std) so that KC's weights keep their balance;
- a time budget (`budget_seconds`, wall or CPU seconds), spent one of two ways:
  - cut (the default): KC's schedule as it is, stopped before an iteration that, at the cost of
    the latest one, would overrun the budget; the output is the moving average at the current
    scale, upsampled (bicubic, as KC between scales) to the end size if that scale is not the
    last. On a CPU a budget of minutes ends inside the first, 128-px scale.
  - fitted (`fit_schedule`): KC's schedule shrunk to the budget, as a user short of time would
    run KC with fewer `--iterations` and `--initial-iterations`: every scale is reached, and each
    gets the share of the budget that it has of the whole schedule's predicted time (its
    planned iterations times a per-iteration cost of pixels + FIXED_COST_PIXELS), so the 1000 :
    500 front-loading is kept. A scale ends before an iteration that would overrun its share.
  The clock starts before the weights are read.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's stylejax

from stylejax.files import images  # noqa: E402
from stylejax.model.load import resolve  # noqa: E402
from stylejax.model.vgg import LAYERS  # noqa: E402
from stylejax.model.weights import read  # noqa: E402

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
STYLE_LAYER_WEIGHTS = (256.0, 64.0, 16.0, 4.0, 1.0)  # KC: deeper layers count less
CONTENT_LAYER = "relu4_2"  # Gatys et al.'s conv4_2, after its ReLU, as KC
ACTIVATION_SCALE = 255.0 * 0.226  # Caffe input range / torchvision's mean input std
W2_EPS = 1e-4  # KC's ridge on both covariances
SQRTM_ITERATIONS = 12  # KC's Newton-Schulz iterations, forward and backward
# The port's cost of one iteration grows as pixels + this: fitted to its 0.76 s at 128 x 96 and
# 3.82 s at 512 x 384 on one core of the 2-core developer machine (BENCHMARKS.md, "Time to
# quality"); the fixed part is mostly the Newton-Schulz square roots, whose size is the channels'.
FIXED_COST_PIXELS = 33_500
ADAM_BETAS = (0.9, 0.99)  # KC's (torch's default beta2 is 0.999)


@dataclasses.dataclass(frozen=True)
class Settings:
    """KC's defaults (`StyleTransfer.stylize` and its CLI), plus the port's time budget."""

    content_weight: float = 0.015
    tv_weight: float = 2.0
    min_scale: int = 128
    end_scale: int = 512
    iterations: int = 500
    initial_iterations: int = 1000
    step_size: float = 0.02
    avg_decay: float = 0.99
    pooling: str = "max"
    budget_seconds: float | None = None  # None: KC's whole schedule
    fit_schedule: bool = False  # shrink the schedule to the budget instead of cutting it


@dataclasses.dataclass
class Result:
    """The output picture (H, W, 3) in [0, 1] at the end size, and how far the run got."""

    image: np.ndarray
    seconds: float  # on the run's clock
    completed: bool  # the whole schedule ran
    scales: list[dict]  # per scale reached: width, height, iterations done, iterations planned
    schedule_fraction: float  # of the whole schedule's work (iterations x pixels) done
    seconds_per_iteration: dict[int, float]  # per scale reached (longest side)


# --- the matrix square root -------------------------------------------------------------------


def sqrtm_newton_schulz(a: torch.Tensor, iterations: int = SQRTM_ITERATIONS) -> torch.Tensor:
    """Square root of symmetric positive definite matrices (..., n, n) by the coupled
    Newton-Schulz iteration (Higham 2008, eq. 6.35) on a / ||a||_F, which converges for a
    spectrum in (0, 1]."""
    norm = a.pow(2).sum(dim=(-2, -1), keepdim=True).sqrt()
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    y, z = a / norm, eye.expand_as(a)
    for _ in range(iterations):
        t = (3 * eye - z @ y) / 2
        y, z = y @ t, t @ z
    return y * norm.sqrt()


class _SqrtmNewtonSchulz(torch.autograd.Function):
    """The forward iteration above; the backward solves the Lyapunov equation
    s X + X s = G (s = sqrtm(a), G the output's gradient) for X = the input's gradient, by the
    Newton-Schulz iteration of Lin & Maji (2017), as KC does instead of differentiating the
    forward loop."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, iterations: int) -> torch.Tensor:
        root = sqrtm_newton_schulz(a, iterations)
        ctx.save_for_backward(root)
        ctx.iterations = iterations
        return root

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (root,) = ctx.saved_tensors
        norm = root.pow(2).sum(dim=(-2, -1), keepdim=True).sqrt()
        b, c = root / norm, grad / norm
        three = 3 * torch.eye(root.shape[-1], dtype=root.dtype, device=root.device)
        for i in range(ctx.iterations):
            b_sq = three - b @ b
            bt = b.transpose(-2, -1)
            c = (c @ b_sq - bt @ (bt @ c - c @ b)) / 2
            if i < ctx.iterations - 1:
                b = b @ b_sq / 2
        return c / 2, None


def sqrtm(a: torch.Tensor, iterations: int = SQRTM_ITERATIONS) -> torch.Tensor:
    """Differentiable square root of SPD matrices (..., n, n), as KC's `sqrtm_ns_lyap`."""
    return _SqrtmNewtonSchulz.apply(a, iterations)


# --- the network ------------------------------------------------------------------------------


class CaffeVGG19:
    """VGG19 features from a stylejax weights file, NCHW, with replicate padding in the first
    convolution; tapped activations are divided by ACTIVATION_SCALE."""

    def __init__(self, weights: str | os.PathLike, pooling: str = "max"):
        layers, self.preprocessing, _ = read(weights)
        # HWIO (stylejax) -> OIHW (torch)
        self.convs = {
            name: (torch.from_numpy(k.transpose(3, 2, 0, 1).copy()), torch.from_numpy(b.copy()))
            for name, (k, b) in layers.items()
        }
        p = self.preprocessing
        self.order = list(p.channel_order)
        self.mean = torch.tensor(p.mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(p.std, dtype=torch.float32).view(1, 3, 1, 1)
        self.scale = p.scale
        self.pool = F.max_pool2d if pooling == "max" else F.avg_pool2d

    def __call__(self, rgb: torch.Tensor, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """rgb: (N, 3, H, W) in [0, 1]. Returns {name: (N, C, h, w)} / ACTIVATION_SCALE."""
        x = (rgb[:, self.order] * self.scale - self.mean) / self.std
        last = max(LAYERS.index(n) for n in names)
        out = {}
        for name in LAYERS[: last + 1]:
            if name.startswith("conv"):
                kernel, bias = self.convs[name]
                if name == "conv1_1":  # KC: replicate padding here reduces edge artefacts
                    x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, bias)
                else:
                    x = F.conv2d(x, kernel, bias, padding=1)
            elif name.startswith("relu"):
                x = F.relu(x)
            else:
                x = self.pool(x, 2)
            if name in names:
                out[name] = x / ACTIVATION_SCALE
        return out


# --- the losses -------------------------------------------------------------------------------


def moments(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (N, C) and second raw moment (N, C, C) over the pixels of (N, C, h, w) features;
    unlike covariances these blend linearly across style images."""
    flat = features.flatten(-2)
    return flat.mean(-1), flat @ flat.transpose(-2, -1) / flat.shape[-1]


def covariance(mean: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    eye = torch.eye(mean.shape[-1], dtype=mean.dtype, device=mean.device)
    return second - mean[..., :, None] * mean[..., None, :] + W2_EPS * eye


@dataclasses.dataclass
class StyleTarget:
    mean: torch.Tensor  # (1, C)
    cov: torch.Tensor  # (1, C, C), with the ridge
    cov_sqrt: torch.Tensor


def style_target(mean: torch.Tensor, second: torch.Tensor) -> StyleTarget:
    cov = covariance(mean, second)
    return StyleTarget(mean, cov, sqrtm_newton_schulz(cov))


def w2_style_loss(features: torch.Tensor, target: StyleTarget) -> torch.Tensor:
    """KC's W2 loss: mean over channels of the squared mean difference, plus the mean over
    channels of diag(S_t + S - 2 (S_t^1/2 S S_t^1/2)^1/2)."""
    mean, second = moments(features)
    cov = covariance(mean, second)
    cross = sqrtm(target.cov_sqrt @ cov @ target.cov_sqrt)
    mean_term = torch.mean((mean - target.mean) ** 2)
    cov_term = torch.diagonal(target.cov + cov - 2 * cross, dim1=-2, dim2=-1).mean()
    return mean_term + cov_term


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """KC's L2 total variation, a nine-point stencil over the replicate-padded image."""
    x = F.pad(image, (1, 1, 1, 1), mode="replicate")
    mid, after = slice(1, -1), slice(2, None)
    head, tail = slice(None, -1), slice(1, None)
    horizontal = (x[..., mid, after] - x[..., mid, mid]).pow(2).mean() / 3
    vertical = (x[..., after, mid] - x[..., mid, mid]).pow(2).mean() / 3
    diagonal = (x[..., tail, tail] - x[..., head, head]).pow(2).mean() / 12
    antidiagonal = (x[..., tail, head] - x[..., head, tail]).pow(2).mean() / 12
    return 2 * (horizontal + vertical + diagonal + antidiagonal)


# --- the schedule -----------------------------------------------------------------------------


def scales(start: int, end: int) -> list[int]:
    """KC's sizes: end / sqrt(2)^i (rounded), ascending, none below `start`."""
    out, i = set(), 0
    size = end
    while size >= start:
        out.add(size)
        i += 1
        size = round(end / 2 ** (i / 2))
    return sorted(out)


def fit(width: int, height: int, size: int, enlarge: bool) -> tuple[int, int]:
    """(width, height) with the longest side `size`; never larger than given unless
    `enlarge` (KC's `size_to_fit`)."""
    if not enlarge and max(width, height) <= size:
        return width, height
    if height > width:
        return round(size * width / height), size
    return size, round(size * height / width)


def to_tensor(image: Image.Image, width_height: tuple[int, int]) -> torch.Tensor:
    """A PIL RGB image resized (bicubic, as KC) to a (1, 3, H, W) tensor in [0, 1]."""
    array = np.asarray(image.resize(width_height, Image.Resampling.BICUBIC), np.float32) / 255
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous()


def resize(x: torch.Tensor, height_width: tuple[int, int], mode: str) -> torch.Tensor:
    return F.interpolate(x, height_width, mode=mode, align_corners=False)


def resize_adam_state(state: dict, height_width: tuple[int, int]) -> dict:
    """An Adam state dict for the next scale: first moments resized bicubic, second bilinear and
    clipped at zero; the step count carries on (KC's `scale_adam`)."""
    moments = {
        key: dict(
            value,
            exp_avg=resize(value["exp_avg"], height_width, "bicubic"),
            exp_avg_sq=resize(value["exp_avg_sq"], height_width, "bilinear").clamp_(min=0),
        )
        for key, value in state["state"].items()
    }
    return dict(state, state=moments)


class EMA:
    """Bias-corrected exponential moving average (as Adam's moments), started at `x`."""

    def __init__(self, x: torch.Tensor, decay: float):
        self.decay, self.value, self.weight = decay, torch.zeros_like(x), 0.0
        self.update(x)

    def update(self, x: torch.Tensor) -> None:
        self.value.mul_(self.decay).add_(x.detach(), alpha=1 - self.decay)
        self.weight = self.weight * self.decay + (1 - self.decay)

    def get(self) -> torch.Tensor:
        return self.value / self.weight


def stylize(
    content: Image.Image,
    styles: list[Image.Image],
    weights: str | os.PathLike,
    settings: Settings = Settings(),
    *,
    clock: Callable[[], float] = time.perf_counter,
    started: float | None = None,
) -> Result:
    """KC's `stylize` with equal style blend, on the Caffe VGG19 at `weights`.

    With `settings.budget_seconds` the run stops when `clock` (wall: time.perf_counter; CPU:
    time.process_time) has advanced that much since `started` (default: now).
    """
    started = clock() if started is None else started
    s = settings
    model = CaffeVGG19(weights, s.pooling)
    layer_weights = [w / sum(STYLE_LAYER_WEIGHTS) for w in STYLE_LAYER_WEIGHTS]
    blend = 1 / len(styles)
    sizes = scales(min(s.min_scale, s.end_scale), s.end_scale)
    plan = [s.initial_iterations] + [s.iterations] * (len(sizes) - 1)
    pixels = [math.prod(fit(*content.size, size, True)) for size in sizes]
    work = [n * p for n, p in zip(plan, pixels, strict=True)]
    # On `clock`, when each scale must end; the last one's is the budget's end.
    if s.budget_seconds is None:
        deadlines = [math.inf] * len(sizes)
    elif s.fit_schedule:
        cost = [n * (p + FIXED_COST_PIXELS) for n, p in zip(plan, pixels, strict=True)]
        predicted = np.cumsum(cost)
        deadlines = list(started + s.budget_seconds * predicted / predicted[-1])
    else:
        deadlines = [started + s.budget_seconds] * len(sizes)

    image = to_tensor(content, fit(*content.size, sizes[0], True))
    opt, average, done, per_iteration, out_of_time = None, None, [], {}, False
    last = 0.0  # the latest iteration's duration on `clock`
    for size, iterations, deadline in zip(sizes, plan, deadlines, strict=True):
        width, height = fit(*content.size, size, True)
        image = resize(image.detach(), (height, width), "bicubic").clamp(0, 1)
        average = EMA(image, s.avg_decay)
        image.requires_grad_()
        with torch.no_grad():
            content_target = model(to_tensor(content, (width, height)), (CONTENT_LAYER,))
            content_target = content_target[CONTENT_LAYER]
            mean_second = {}
            for style in styles:
                feats = model(to_tensor(style, fit(*style.size, size, False)), STYLE_LAYERS)
                for layer in STYLE_LAYERS:
                    m, r = moments(feats[layer])
                    old = mean_second.get(layer, (0, 0))
                    mean_second[layer] = (old[0] + blend * m, old[1] + blend * r)
            targets = {layer: style_target(*mean_second[layer]) for layer in STYLE_LAYERS}

        new_opt = torch.optim.Adam([image], lr=s.step_size, betas=ADAM_BETAS)
        if opt is not None:  # KC: warm start at every scale after the first
            new_opt.load_state_dict(resize_adam_state(opt.state_dict(), (height, width)))
        opt = new_opt
        scale_started, count = time.perf_counter(), 0
        for _ in range(iterations):
            before = clock()
            # Stop before an iteration that, at the latest one's cost, would overrun the budget
            # (or, fitted, this scale's share of it).
            if before + last > deadline:
                out_of_time = deadline == deadlines[-1]
                break
            feats = model(image, (*STYLE_LAYERS, CONTENT_LAYER))
            loss = s.content_weight * F.mse_loss(feats[CONTENT_LAYER], content_target)
            for layer, weight in zip(STYLE_LAYERS, layer_weights, strict=True):
                loss = loss + weight * w2_style_loss(feats[layer], targets[layer])
            loss = loss + s.tv_weight * tv_loss(image)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                image.clamp_(0, 1)
            average.update(image)
            count += 1
            last = clock() - before
        if count:
            per_iteration[size] = (time.perf_counter() - scale_started) / count
        done.append(dict(width=width, height=height, iterations=count, planned=iterations))
        with torch.no_grad():  # KC: the next scale starts from this scale's average
            image = average.get().clone()
        if out_of_time:
            break

    result = average.get()
    end_width, end_height = fit(*content.size, sizes[-1], True)
    if result.shape[-2:] != (end_height, end_width):  # stopped early: upsample as KC would
        result = resize(result, (end_height, end_width), "bicubic")
    picture = result.clamp(0, 1)[0].permute(1, 2, 0).numpy()
    fraction = sum(
        w * d["iterations"] / d["planned"] for w, d in zip(work, done, strict=False) if d["planned"]
    ) / sum(work)
    return Result(
        image=picture,
        seconds=clock() - started,
        completed=not out_of_time,
        scales=done,
        schedule_fraction=fraction,
        seconds_per_iteration=per_iteration,
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = p.add_argument
    add("--content", required=True)
    add("--style", required=True, nargs="+")
    add("--output", required=True, help="the picture, PNG")
    add("--json", help="write the run's record here")
    add("--size", type=int, default=Settings.end_scale, help="end size (longest side)")
    add("--content-weight", type=float, default=Settings.content_weight)
    add("--budget", type=float, help="time budget in seconds (default: the whole schedule)")
    add(
        "--fit-schedule",
        action="store_true",
        help="shrink KC's schedule to the budget (every scale reached) instead of cutting it",
    )
    add(
        "--clock",
        choices=tuple(CLOCKS),
        default="wall",
        help="what the budget counts: wall time, or this process's CPU time (all threads)",
    )
    add("--weights", help="stylejax weights .h5 (default: stylejax's default Caffe VGG19)")
    add(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="torch threads (default: one per core this process may run on)",
    )
    return p.parse_args(argv)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def main(argv: list[str] | None = None) -> dict:
    wall, cpu = time.perf_counter(), time.process_time()
    args = parse_args(argv)
    clock = CLOCKS[args.clock]
    torch.set_num_threads(args.threads)
    # Tiny values deep in the Newton-Schulz iterations are denormal floats, which x86 CPUs
    # compute up to 2x slower; XLA's CPU runtime (stylejax) flushes them to zero too.
    # The flag is the calling thread's processor state: restore the default (off) so that a
    # caller in the same process (a test runner, a notebook) keeps IEEE subnormals.
    torch.set_flush_denormal(True)
    try:
        return run(args, clock, wall, cpu)
    finally:
        torch.set_flush_denormal(False)


def run(args: argparse.Namespace, clock, wall: float, cpu: float) -> dict:
    content = images.decode(args.content)
    styles = [images.decode(path) for path in args.style]
    settings = Settings(
        content_weight=args.content_weight,
        end_scale=args.size,
        budget_seconds=args.budget,
        fit_schedule=args.fit_schedule,
    )
    started = {"wall": wall, "cpu": cpu}[args.clock]
    result = stylize(content, styles, resolve(args.weights), settings, clock=clock, started=started)
    Image.fromarray(np.round(result.image * 255).astype(np.uint8)).save(args.output)
    record = dict(
        settings=dataclasses.asdict(settings),
        clock=args.clock,
        seconds=result.seconds,
        wall_seconds=time.perf_counter() - wall,
        cpu_seconds=time.process_time() - cpu,
        completed=result.completed,
        scales=result.scales,
        schedule_fraction=result.schedule_fraction,
        seconds_per_iteration=result.seconds_per_iteration,
        threads=torch.get_num_threads(),
    )
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1))
    return record


if __name__ == "__main__":
    record = main()
    print(json.dumps({k: record[k] for k in ("seconds", "completed", "schedule_fraction")}))
    sys.exit(0)
