"""stylejax.files.plot (curves, contact sheets, GIFs), stylejax.files.atomic and the samples."""

from __future__ import annotations

import io
import math
import os
import runpy
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from stylejax.files import plot
from stylejax.files.atomic import atomic_write
from stylejax.samples import CONTENT, STYLE

ROOT = Path(__file__).resolve().parents[1]


def _history(n: int = 60) -> list[dict[str, float]]:
    out = []
    for i in range(1, n + 1):
        ev = 10.0 * i
        out.append(
            {
                "iteration": float(i),
                "evaluations": ev,
                "seconds": 0.1 * i,
                "total": 1e8 * math.exp(-ev / 150) + 1e5,
                "content": 2e4 * (1 - math.exp(-ev / 50)),
                "style": 3e6 * math.exp(-ev / 80) + 500,
                "tv": 40 * math.exp(-ev / 300),
            }
        )
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], np.float64)


def test_loss_curve_writes_png_with_every_series(tmp_path):
    out = tmp_path / "loss.png"
    plot.loss_curve(_history(), out, title="test run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.png"]  # no temp file left
    assert out.stat().st_mode & 0o777 == 0o666 & ~_umask()
    plot.loss_curve(_history(), tmp_path / "tv.png", title="test run", tv=True)
    for name, tv in (("loss.png", False), ("tv.png", True)):
        with Image.open(tmp_path / name) as im:
            assert im.format == "PNG"
            assert im.size == (plot.WIDTH, plot.HEIGHT)
            pixels = np.asarray(im.convert("RGB"), dtype=np.float64)
        for key, _, colour in plot.SERIES:  # each drawn series shows its colour
            near = np.abs(pixels - _rgb(colour)).max(axis=-1) < 25
            assert (near.sum() > 200) == (key != "tv" or tv), (name, key)


def _legend(figure) -> list[str]:
    return [t.get_text() for legend in figure.legends for t in legend.get_texts()]


def test_tv_is_plotted_only_when_asked():
    history = _history(10)
    assert "tv (unweighted)" not in _legend(plot.loss_figure(history))
    assert "tv (unweighted)" in _legend(plot.loss_figure(history, tv=True))


def test_scale_changes_are_marked_with_the_new_size():
    history = _history(30)
    for record in history:
        record["size"] = [32, 24] if record["evaluations"] <= 100 else [64, 48]
    for record in history[20:]:
        record["size"] = (128, 96)
    axes = plot.loss_figure(history).axes[0]
    lines = [a for a in axes.get_lines() if a.get_gid() == plot.SCALE_CHANGE]
    labels = [a.get_text() for a in axes.texts if a.get_gid() == plot.SCALE_CHANGE]
    assert [line.get_xdata()[0] for line in lines] == [110.0, 210.0]  # the first record at each
    assert labels == ["48×64", "96×128"]  # width×height of [height, width] records
    unmarked = plot.loss_figure(_history(30)).axes[0]
    assert not [a for a in unmarked.get_lines() if a.get_gid() == plot.SCALE_CHANGE]


def test_scale_change_marker_is_drawn(tmp_path):
    history = _history(40)
    for record in history:
        record["size"] = [16, 16] if record["evaluations"] < 200 else [32, 32]
    plot.loss_curve(history, tmp_path / "marked.png")
    plot.loss_curve(_history(40), tmp_path / "plain.png")
    marked, plain = (
        np.asarray(Image.open(tmp_path / name).convert("L"), np.int16)
        for name in ("marked.png", "plain.png")
    )
    # The dashed grey line adds a tall column of grey pixels that the plain plot lacks.
    grey = (np.abs(marked - 115) < 30) & (np.abs(plain - marked) > 40)
    assert grey.sum(axis=0).max() > 100


def test_loss_curve_leaves_gaps_at_bad_values(tmp_path):
    history = _history(30)
    history[3]["content"] = 0.0
    history[4]["style"] = math.nan
    history[5]["total"] = math.inf
    history[6]["total"] = -1.0
    history[7]["evaluations"] = math.nan
    lines = {line.get_label(): line for line in plot.loss_figure(history).axes[0].get_lines()}
    total = np.asarray(lines["total (weighted)"].get_ydata(), np.float64)
    assert np.isnan(total[[5, 6]]).all() and np.isfinite(np.delete(total, [5, 6])).all()
    assert np.isnan(np.asarray(lines["content (unweighted)"].get_ydata())[3])
    assert np.isnan(np.asarray(lines["style (unweighted)"].get_xdata(), np.float64)[7])
    assert lines["total (weighted)"].get_marker() == "None"

    single = [{"evaluations": 5.0, "total": 10.0, "content": 10.0, "style": 10.0}]
    lines = plot.loss_figure(single).axes[0].get_lines()
    assert {line.get_marker() for line in lines} == {"o"}  # one point: a dot, not a line
    nothing = [{"evaluations": 1.0, "total": 0.0, "content": math.nan, "style": -3.0}]
    for name, records in (("empty.png", []), ("nothing.png", nothing)):
        figure = plot.loss_figure(records)
        assert [t.get_text() for t in figure.axes[0].texts] == [
            "no positive, finite losses to plot"
        ]
        plot.loss_curve(records, tmp_path / name)
        with Image.open(tmp_path / name) as im:
            assert im.size == (plot.WIDTH, plot.HEIGHT)


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    out = tmp_path / "loss.png"
    out.write_bytes(b"previous plot")

    def broken_save(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_save)
    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        plot.loss_curve(_history(), out)
    with pytest.raises(OSError, match="disk full"):
        plot.animated_gif([np.zeros((8, 8, 3))], tmp_path / "anim.gif")
    with pytest.raises(OSError, match="disk full"):
        plot.contact_sheet(
            [[np.zeros((8, 8, 3))]], tmp_path / "g.png", row_labels=[""], column_labels=[""]
        )
    assert out.read_bytes() == b"previous plot"
    assert [p.name for p in tmp_path.iterdir()] == ["loss.png"]


def test_atomic_write_replaces_and_cleans_up(tmp_path):
    target = tmp_path / "data.txt"
    target.write_text("old")
    with atomic_write(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".txt" and tmp.name.startswith(".data")
        tmp.write_text("new")
        assert target.read_text() == "old"
    assert target.read_text() == "new"
    with pytest.raises(KeyError), atomic_write(target) as tmp:
        tmp.write_text("half")
        raise KeyError("boom")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["data.txt"]


def test_animated_gif(tmp_path):
    rng = np.random.default_rng(0)
    frames: list = [rng.random((24, 32, 3)) * (k + 1) / 4 for k in range(4)]
    frames.append(Image.new("RGB", (32, 24), (200, 30, 40)))
    out = tmp_path / "progress.gif"
    plot.animated_gif(frames, out, seconds_per_frame=0.05, hold_last=1.5)
    assert [p.name for p in tmp_path.iterdir()] == ["progress.gif"]
    with Image.open(out) as im:
        assert im.format == "GIF"
        assert im.n_frames == 5
        assert im.info["loop"] == 0
        assert im.size == (32, 24)
        assert im.info["duration"] == 50
        im.seek(4)
        assert im.info["duration"] == 1500
        assert im.convert("RGB").getpixel((5, 5)) == (200, 30, 40)


def test_animated_gif_enlarges_earlier_scales_to_the_last(tmp_path):
    small = np.zeros((12, 16, 3), np.uint8)
    small[:, :8] = 255  # left half white
    out = tmp_path / "pyramid.gif"
    plot.animated_gif([small, np.zeros((24, 32, 3))], out)
    with Image.open(out) as im:
        assert im.size == (32, 24) and im.n_frames == 2
        first = np.asarray(im.convert("L"), np.int16)
    assert first[:, :14].min() > 230 and first[:, 18:].max() < 25


def test_animated_gif_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="at least one frame"):
        plot.animated_gif([], tmp_path / "x.gif")
    with pytest.raises(ValueError, match="grow"):
        plot.animated_gif([np.zeros((9, 8, 3)), np.zeros((8, 8, 3))], tmp_path / "x.gif")
    with pytest.raises(ValueError, match="shape"):
        plot.animated_gif([np.zeros((8, 8, 2))], tmp_path / "x.gif")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("side", "scale"), [(16, 16), (64, 4), (96, 3), (128, 2), (200, 1), (512, 1)]
)
def test_small_members_are_enlarged_towards_256_pixels(side, scale):
    assert plot.cell_scale(side, side // 2 + 1) == plot.cell_scale(side // 2 + 1, side) == scale


def _boxes(sheet: Image.Image, colours) -> list[tuple[int, int, int, int]]:
    """The bounding box (x0, y0, x1, y1) of each exact colour on the sheet."""
    pixels = np.asarray(sheet.convert("RGB"))
    out = []
    for colour in colours:
        ys, xs = np.nonzero((pixels == colour).all(axis=-1))
        out.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
    return out


COLOURS = [(230, 20, 20), (20, 200, 20), (20, 20, 230), (200, 200, 0), (0, 200, 200), (200, 0, 200)]


def test_contact_sheet_is_sized_by_the_grid_and_wraps_the_title(tmp_path):
    cells = [np.broadcast_to(np.array(c, np.uint8), (96, 96, 3)) for c in COLOURS]
    rows = [cells[:3], cells[3:]]
    kwargs = dict(row_labels=["relu2_1", "relu4_1"], column_labels=["1e+04", "1e+06", "1e+08"])
    short = plot.contact_sheet_image(rows, title="g.png", **kwargs)
    long_title = "g.png: 6 members, 40 evaluations, caffe VGG19 " * 4
    wrapped = plot.contact_sheet_image(rows, title=long_title, **kwargs)

    boxes = _boxes(short, COLOURS)
    assert {(x1 - x0, y1 - y0) for x0, y0, x1, y1 in boxes} == {(288, 288)}  # 96 px x 3
    # Columns and rows are one cell and one gap apart, and the grid fills the width.
    assert [b[0] for b in boxes[:3]] == [boxes[0][0] + c * (288 + plot.GAP) for c in range(3)]
    assert boxes[3][1] - boxes[0][1] == 288 + plot.GAP
    assert short.width - boxes[2][2] < 20
    assert wrapped.width == short.width  # the title wraps instead of widening the sheet
    assert wrapped.height > short.height + 20
    grid = np.asarray(wrapped)[_boxes(wrapped, COLOURS)[0][1] :]
    assert np.array_equal(grid, np.asarray(short)[boxes[0][1] :])  # same grid, moved down

    plot.contact_sheet(rows, tmp_path / "sheet.png", title=long_title, **kwargs)
    with Image.open(tmp_path / "sheet.png") as im:
        assert im.format == "PNG" and im.size == wrapped.size


def test_contact_sheet_enlarges_with_nearest_neighbour():
    rng = np.random.default_rng(1)
    member = rng.integers(0, 256, (16, 20, 3), np.uint8)
    sheet = plot.contact_sheet_image([[member]], row_labels=[""], column_labels=[""])
    k = plot.cell_scale(16, 20)
    expected = np.repeat(np.repeat(member, k, axis=0), k, axis=1)
    pixels = np.asarray(sheet)
    found = [
        (y, x)
        for y in range(pixels.shape[0] - expected.shape[0] + 1)
        for x in range(pixels.shape[1] - expected.shape[1] + 1)
        if np.array_equal(pixels[y, x], expected[0, 0])
        and np.array_equal(pixels[y : y + expected.shape[0], x : x + expected.shape[1]], expected)
    ]
    assert len(found) == 1


def test_contact_sheet_refuses_mismatched_labels():
    cells = [[np.zeros((8, 8, 3))] * 3]
    with pytest.raises(ValueError, match="1 rows x 3 columns but 1 row labels and 2 column"):
        plot.contact_sheet_image(cells, row_labels=["a"], column_labels=["x", "y"])


@pytest.mark.parametrize("path", [CONTENT, STYLE], ids=["content", "style"])
def test_samples_exist(path):
    assert path.is_file()
    with Image.open(path) as im:
        assert im.format == "JPEG" and im.mode == "RGB"
        assert max(im.size) == 512
    assert (path.parent / "CREDITS.md").is_file()


def test_style_sample_is_reproducible():
    script = runpy.run_path(str(ROOT / "scripts" / "make_style_sample.py"), run_name="sample")
    made = script["make_style"]()
    buf = io.BytesIO()
    made.save(buf, format="JPEG", quality=script["JPEG_QUALITY"], optimize=True)
    buf.seek(0)
    fresh = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float64)
    with Image.open(STYLE) as im:
        committed = np.asarray(im.convert("RGB"), dtype=np.float64)
    assert fresh.shape == committed.shape == (512, 512, 3)
    assert np.abs(fresh - committed).mean() < 2.0
