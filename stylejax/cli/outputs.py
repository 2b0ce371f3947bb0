"""Where a CLI run's files go, and writing them: images, loss curves, GIFs, the contact sheet.

Every path is decided here, from `--output`: a single run writes `out.png`, `out_loss.png`,
`out_frames/` and `out.gif`; a sweep member's names carry its label
(`out_style_weight=1e+06.png`), and the sweep adds `out_grid.png`.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
import tempfile
from pathlib import Path

import numpy as np

from stylejax.engine.plan import Plan
from stylejax.files import images, plot
from stylejax.files.images import one_line
from stylejax.optim.loop import Result


@dataclasses.dataclass(frozen=True)
class Outputs:
    """Where one member's files go."""

    label: str
    image: Path
    curve: Path
    frames: Path | None
    gif: Path | None

    def paths(self) -> list[Path]:
        return [p for p in (self.image, self.curve, self.frames, self.gif) if p is not None]


def member_outputs(output: str, labels: list[str], frames: bool) -> list[Outputs]:
    output = Path(output)
    result = []
    for name in labels:
        stem = f"{output.stem}_{name}" if name else output.stem
        result.append(
            Outputs(
                label=name,
                image=output.with_name(stem + output.suffix),
                curve=output.with_name(f"{stem}_loss.png"),
                frames=output.with_name(f"{stem}_frames") if frames else None,
                gif=output.with_name(f"{stem}.gif") if frames else None,
            )
        )
    return result


def grid_path(output: str) -> Path:
    return Path(output).with_name(f"{Path(output).stem}_grid.png")


def check_writable(
    files: list[Path], folders: list[Path], *, overwrite: bool, create: bool = True
) -> None:
    """Before the run: no existing output is replaced without `overwrite`, no output file is
    a directory, and every folder the run writes into exists (made now) and is writable, so
    that a long run never fails at its end on a file it cannot write."""
    taken = [str(p) for p in files + folders if p.exists()]
    if taken and not overwrite:
        shown = ", ".join(taken[:3]) + (f" and {len(taken) - 3} more" if len(taken) > 3 else "")
        raise ValueError(f"{shown} already exist(s); pass --overwrite to replace")
    for path in files:
        if path.is_dir():
            raise ValueError(f"{path}: is a directory; give a file name")
    if not create:
        return
    for folder in dict.fromkeys([p.parent for p in files] + folders):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as e:
            raise ValueError(
                f"{folder}: cannot write there ({one_line(e)}); choose another folder"
            ) from None


def frame_path(folder: Path, evaluations: int) -> Path:
    return folder / f"{evaluations:05d}.png"


def write_results(
    plan: Plan,
    outputs: list[Outputs],
    results: list[Result],
    frames: dict[int, list[np.ndarray]],
    icc_profile: bytes | None = None,
) -> None:
    """Images, loss curves, GIFs and (for a sweep) the contact sheet of a finished run.
    Without `overwrite` (or `resume`) no file that appeared meanwhile is replaced."""
    source = plan.weights.source
    overwrite = plan.config.overwrite or plan.config.resume
    for index, (o, result) in enumerate(zip(outputs, results, strict=True)):
        images.save(result.image, o.image, icc_profile=icc_profile, overwrite=overwrite)
        plot.loss_curve(
            result.history,
            o.curve,
            title=f"{o.image.name}: {plan.config.optimizer}, {source} VGG19",
            tv=plan.members[index].tv_weight > 0,
            overwrite=overwrite,
        )
        if o.gif is not None:
            plot.animated_gif(frames[index], o.gif, overwrite=overwrite)
        if result.status == "nonfinite":
            print(
                f"stylejax: {o.image.name}: the loss became non-finite after iteration "
                f"{result.iterations}; kept the last finite image (try lower weights)",
                file=sys.stderr,
            )
    if plan.axes:
        write_grid(
            grid_path(plan.config.output),
            plan.axes,
            results,
            title=f"{Path(plan.config.output).name}: {len(results)} members, "
            f"{plan.config.evaluations} evaluations, {source} VGG19",
            overwrite=overwrite,
        )


def write_grid(
    path: Path, axes: dict, results: list[Result], title: str, overwrite: bool = True
) -> None:
    """Contact sheet: the last swept flag across, the others down (as in the study's grids).
    Cells are labelled by value; the title names the flags."""
    names = list(axes)
    columns = axes[names[-1]]
    rows = [results[i : i + len(columns)] for i in range(0, len(results), len(columns))]
    fmt = lambda v: f"{v:g}" if isinstance(v, float) else str(v)  # noqa: E731
    row_labels = [
        ", ".join(map(fmt, values)) for values in itertools.product(*(axes[n] for n in names[:-1]))
    ]
    layout = f"across: {names[-1]}" + (f"; down: {', '.join(names[:-1])}" if names[:-1] else "")
    plot.contact_sheet(
        [[r.image for r in row] for row in rows],
        path,
        row_labels=row_labels,
        column_labels=[fmt(v) for v in columns],
        title=f"{title} ({layout})",
        overwrite=overwrite,
    )
