"""Judge pictures that already exist, by every judge of scripts/quality_metrics.py.

    python scripts/judge_pictures.py --content PHOTO --style PAINTING \
        --picture new=a.png old=b.png "KC 0.015"=c.png "KC 0.003"=d.png \
        --front "KC 0.015" "KC 0.003" [--pooling max avg] [--json out.json]

For pictures made at other times (by bench_quality.py, kc_port.py or stylejax.run), when a
judge has changed or another pooling is wanted: each picture is scored by the VGG judge under
every `--pooling` (content distance, sliced W, Gaussian W2) and once by the judges without VGG
(pixel-patch sliced W, structure loss, edge ratio). With `--front A B`, every other picture is
placed against the line through A's and B's points, as bench_quality.py places stylejax against
KC's two: on each VGG judge, and on the judges without VGG.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

# This checkout's stylejax and the scripts next to this one, whatever else is installed.
sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

import bench_quality  # noqa: E402
import common  # noqa: E402
import quality_metrics as qm  # noqa: E402


def named_picture(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, Path(path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = p.add_argument
    add("--content", type=Path, required=True, help="the photo")
    add("--style", type=Path, required=True, help="the painting")
    add("--picture", type=named_picture, nargs="+", required=True, help="NAME=PATH, same size")
    add("--front", nargs=2, metavar="NAME", help="the two pictures that make the front")
    add("--pooling", nargs="+", choices=("max", "avg"), default=[qm.POOLING])
    add("--weights", help="VGG19 .h5 (default: the Caffe VGG19)")
    add("--json", type=Path, help="write every score and placement here")
    args = p.parse_args(argv)
    args.picture = dict(args.picture)
    paths = [args.content, args.style, *args.picture.values()]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        p.error(f"no such file: {', '.join(missing)}")
    if args.front and not set(args.front) <= set(args.picture):
        p.error(f"--front names {args.front}, not among the pictures {list(args.picture)}")
    sizes = {bench_quality.load(path).shape[:2] for path in args.picture.values()}
    if len(sizes) > 1:
        p.error(f"the pictures differ in size: {sorted(sizes)}")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    from stylejax.model.load import resolve

    weights = resolve(args.weights)
    judged = {}
    for pooling in args.pooling:
        features = qm.vgg_features(weights, pooling=pooling)
        judged[pooling] = bench_quality.judge_pair(args.content, args.style, args.picture, features)
    rows, report = [], dict(machine=common.machine(), pictures={}, placements={})
    for name in args.picture:
        first = judged[args.pooling[0]][name]
        report["pictures"][name] = dict(
            vgg={pooling: bench_quality.scores_dict(judged[pooling][name]) for pooling in judged},
            patches=first.patches,
            patch_levels=list(first.patch_levels),
            structure=first.structure,
            worst_edge=first.worst_edge,
        )
        for pooling in args.pooling:
            s = judged[pooling][name]
            row = [name, pooling, f"{s.content:.3f}", f"{s.sliced:.3f}", f"{s.w2:.3f}"]
            row += [f"{s.structure:.3f}", f"{s.patches:.3f}", f"{s.worst_edge:.2f}"]
            if args.front and name not in args.front:
                placed = bench_quality.place(s, [judged[pooling][k] for k in args.front])
                report["placements"].setdefault(name, {})[pooling] = dataclasses.asdict(placed)
                row += [
                    f"{placed.sliced_ratio:.2f}",
                    f"{placed.w2_ratio:.2f}",
                    "yes" if placed.in_span else "no",
                    f"{placed.patches_ratio:.2f}",
                    "yes" if placed.in_structure_span else "no",
                ]
            elif args.front:
                row += [""] * 5
            rows.append(row)
    headers = ["picture", "VGG pooling", "content", "sliced W", "W2", "structure", "patch SW"]
    headers += ["worst edge"]
    if args.front:
        headers += ["sliced / front", "W2 / front", "in span", "patches / front", "in span"]
    print(common.markdown_table(headers, rows))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
