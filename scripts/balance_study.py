"""How evenly one `style_weight` balances content and style over many pairs, judged on the
pictures (issue 16, item 4).

    STYLEJAX_WEIGHTS=weights/vgg19-caffe.h5 python scripts/balance_study.py \\
        --images ../shared/images --size 256 --evaluations 150 --out balance/ \\
        [--variant NAME="stylejax.run flags" ...]

For every content × style pair (images/content/*.jpg × images/style/*.jpg) and every variant
(default: `defaults`, every default, and `normalized`, `--style-normalize`), it stylizes
the pair through the library and judges the picture with the loss-neutral measures of
scripts/quality_metrics.py:

- `content`: the content distance ‖F(x) − F(c)‖²/‖F(c)‖² at relu4_2, how far the picture has
  left the photo;
- `closed`: 1 − sliced(picture, style) / sliced(photo, style), the share of the photo's sliced
  Wasserstein distance to the painting that the picture has closed.

A balance that holds across styles gives every pair a similar `closed` and `content`; the
spread over pairs (max/min and the standard deviation of log10) is printed per variant.
Results are appended to `--out`/results.jsonl as each picture is judged (an interrupted study
keeps what it has; `--reuse` skips judged ones), the pictures are kept, and
`--out`/contact_sheet.png shows each pair's variants side by side.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shlex
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

import common  # noqa: E402
import quality_metrics as qm  # noqa: E402

from stylejax.api import Stylizer  # noqa: E402
from stylejax.cli import flags as cli_flags  # noqa: E402
from stylejax.config import OPTIONS, Config  # noqa: E402
from stylejax.files import images  # noqa: E402

VARIANTS = {"defaults": "", "normalized": "--style-normalize"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = p.add_argument
    add("--images", type=Path, required=True, help="folder with content/ and style/ JPEGs")
    add("--size", type=int, default=256, help="longest side (default: 256)")
    add("--evaluations", type=int, default=150, help="per picture (default: 150)")
    add("--out", type=Path, required=True, help="folder for pictures, results and the sheet")
    add("--weights", help="VGG19 .h5 for stylejax and the judge (default: the Caffe VGG19)")
    add(
        "--variant",
        action="append",
        metavar='NAME="FLAGS"',
        help="a named set of stylejax.run flags (default: defaults and --style-normalize)",
    )
    add("--reuse", action="store_true", help="skip pictures already judged in results.jsonl")
    return p.parse_args(argv)


def variants(specs: list[str] | None) -> dict[str, str]:
    if not specs:
        return dict(VARIANTS)
    return dict(spec.split("=", 1) for spec in specs)


def options(flags: str, size: int, evaluations: int) -> dict:
    """The Config fields a set of stylejax.run flags sets, at this size and budget."""
    argv = ["--content", "c.png", "--style", "s.png", "--size", str(size)]
    argv += ["--evaluations", str(evaluations), *shlex.split(flags)]
    config = cli_flags.parse(argv)[0]
    default = Config(content="c.png", style=("s.png",))
    return {k: getattr(config, k) for k in OPTIONS if getattr(config, k) != getattr(default, k)}


def spread(values: list[float]) -> str:
    v = np.asarray(values, float)
    if np.any(v <= 0):
        return f"min {v.min():.3f}  max {v.max():.3f}  (not all positive)"
    return (
        f"geometric mean {np.exp(np.log(v).mean()):.3f}  max/min {v.max() / v.min():.2f}  "
        f"std(log10) {np.std(np.log10(v)):.3f}"
    )


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.jsonl"
    done = {}
    if args.reuse and results_path.exists():
        for line in results_path.read_text().splitlines():
            row = json.loads(line)
            done[(row["pair"], row["variant"])] = row
    contents = sorted((args.images / "content").glob("*.jpg"))
    styles = sorted((args.images / "style").glob("*.jpg"))
    named = variants(args.variant)
    stylizer = Stylizer(args.weights)
    features = qm.vgg_features(args.weights)
    rows, sheet = [], []
    for content_path, style_path in itertools.product(contents, styles):
        pair = f"{content_path.stem} x {style_path.stem}"
        content, style = images.load(content_path), images.load(style_path)
        tiles, reference, photo_sliced = [], None, None
        for name, flags in named.items():
            picture_path = args.out / f"{content_path.stem}__{style_path.stem}__{name}.png"
            if (pair, name) in done and picture_path.exists():
                row = done[(pair, name)]
            else:
                picture = stylizer.stylize(
                    content_path, style_path, **options(flags, args.size, args.evaluations)
                )
                picture.save(picture_path)
                picture = np.asarray(picture, np.float32) / 255
                if reference is None:
                    reference = qm.style_reference(style, max(picture.shape[:2]), features)
                    photo = qm.fit_longest(content, max(picture.shape[:2]))
                    photo_sliced = qm.judge(photo, content, reference, features).sliced
                scores = qm.judge(picture, content, reference, features)
                row = dict(
                    pair=pair,
                    variant=name,
                    flags=flags,
                    size=args.size,
                    evaluations=args.evaluations,
                    content=scores.content,
                    sliced=scores.sliced,
                    photo_sliced=photo_sliced,
                    closed=1 - scores.sliced / photo_sliced,
                )
                with results_path.open("a") as f:
                    f.write(json.dumps(row) + "\n")
            rows.append(row)
            print(
                f"{pair:32} {name:12} content {row['content']:.3f}  closed {row['closed']:.3f}",
                flush=True,
            )
            lines = [name, f"content {row['content']:.3f}", f"closed {row['closed']:.3f}"]
            tiles.append(common.tile(Image.open(picture_path), args.size, lines))
        sheet.append((pair, tiles))
    common.contact_sheet(sheet).save(args.out / "contact_sheet.png")
    print("\nspread over pairs")
    for name in named:
        for measure in ("content", "closed"):
            values = [r[measure] for r in rows if r["variant"] == name]
            print(f"{name:12} {measure:8} {spread(values)}")
    return rows


if __name__ == "__main__":
    main()
