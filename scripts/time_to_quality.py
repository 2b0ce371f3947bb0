"""How long a stylejax run takes to reach a reference picture's sliced Wasserstein distance
(issue 16, item 7: the KC port's full default schedule as the reference).

    python -m stylejax.run --content C --style S --size 512 --output run/out.png \\
        --save-every 10 --log run/log.json
    python scripts/kc_port.py --content C --style S --size 512 --output kc.png --json kc.json
    python scripts/time_to_quality.py --content C --style S --run run/out.png \\
        --log run/log.json --reference kc.png --reference-record kc.json

Every saved frame of the run (the pyramid's smaller frames enlarged to the picture's size, as
an early-stopped KC picture is) and the run's picture are judged by
scripts/quality_metrics.py, against the reference picture's judgement. A frame's time is the
run's own clock at its evaluation (`records[].seconds`, compilation excluded), plus the
compilation seconds. Prints one line per frame and the first frame at or below the reference's
sliced distance, with its time against the reference run's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

import quality_metrics as qm  # noqa: E402

from stylejax.files.images import load  # noqa: E402


def frames(run: Path) -> dict[int, Path]:
    """{evaluation: frame path} of `stylejax.run --save-every` next to the picture `run`."""
    folder = run.with_name(f"{run.stem}_frames")
    return {int(p.stem): p for p in sorted(folder.glob("*.png")) if p.stem.isdigit()}


def clock(log: dict) -> tuple[dict[int, float], float]:
    """({evaluation: optimization seconds so far}, compilation seconds) from a run's log; the
    start (evaluation 0, a frame of its own) is at 0 s."""
    seconds = {0: 0.0} | {r["evaluations"]: r["seconds"] for r in log["records"]}
    return seconds, float(log.get("compile_seconds") or 0.0)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = p.add_argument
    add("--content", type=Path, required=True)
    add("--style", type=Path, required=True)
    add("--run", type=Path, required=True, help="the stylejax picture; its frames beside it")
    add("--log", type=Path, required=True, help="the stylejax run's JSON log")
    add("--reference", type=Path, required=True, help="the reference picture (KC's)")
    add("--reference-record", type=Path, help="kc_port.py's --json record, for its time")
    add("--weights", help="VGG19 .h5 for the judge (default: the Caffe VGG19)")
    add("--json", type=Path, help="write the result here")
    args = p.parse_args(argv)

    features = qm.vgg_features(args.weights)
    content, style = load(args.content), load(args.style)
    reference_picture = load(args.reference)
    height, width = reference_picture.shape[:2]
    judged_style = qm.style_reference(style, max(height, width), features)
    reference = qm.judge(reference_picture, content, judged_style, features)
    reference_seconds = None
    if args.reference_record:
        reference_seconds = json.loads(args.reference_record.read_text())["seconds"]
    log = json.loads(args.log.read_text())
    seconds, compile_seconds = clock(log)
    final = max(seconds)
    pictures = {**frames(args.run), final: args.run}
    print(
        f"reference: sliced {reference.sliced:.3f}  W2 {reference.w2:.2f}  content "
        f"{reference.content:.3f}  seconds {reference_seconds}"
    )
    rows, reached = [], None
    for evaluation in sorted(pictures):
        picture = load(pictures[evaluation])
        if picture.shape[:2] != (height, width):
            picture = qm.resample(picture, (width, height))
        s = qm.judge(picture, content, judged_style, features)
        t = seconds[evaluation] + compile_seconds
        rows.append(
            dict(evaluation=evaluation, seconds=t, sliced=s.sliced, w2=s.w2, content=s.content)
        )
        print(
            f"evaluation {evaluation:4d}  {t:7.1f} s  sliced {s.sliced:.3f}  W2 {s.w2:.2f}  "
            f"content {s.content:.3f}",
            flush=True,
        )
        if reached is None and s.sliced <= reference.sliced:
            reached = rows[-1]
    result = dict(
        reference=dict(
            sliced=reference.sliced,
            w2=reference.w2,
            content=reference.content,
            seconds=reference_seconds,
        ),
        compile_seconds=compile_seconds,
        frames=rows,
        reached=reached,
    )
    if reached is None:
        print(f"not reached in {final} evaluations")
    else:
        ratio = "" if not reference_seconds else f", {reached['seconds'] / reference_seconds:.3f}x"
        print(
            f"reached at evaluation {reached['evaluation']}: {reached['seconds']:.1f} s against "
            f"the reference's {reference_seconds} s{ratio}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
