"""Loss-curve and GIF writers (stylejax.plot, stylejax.atomic) and the bundled sample images."""

from __future__ import annotations

import io
import math
import os
import runpy
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylejax import plot
from stylejax.atomic import atomic_write
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
                "tv": 0.0,
            }
        )
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_loss_curve_writes_png(tmp_path):
    out = tmp_path / "loss.png"
    plot.loss_curve(_history(), out, title="test run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.png"]  # no temp file left
    with Image.open(out) as im:
        assert im.format == "PNG"
        assert im.size == (plot.WIDTH, plot.HEIGHT)
        rgb = im.convert("RGB")
    colours = rgb.getcolors(1 << 20)
    assert colours is not None and len(colours) > 50
    pixels = np.asarray(rgb, dtype=np.float64)
    for _, _, colour in plot.SERIES:  # every series is drawn (anti-aliased, so near its colour)
        near = np.abs(pixels - np.array(colour)).max(axis=-1) < 25
        assert near.sum() > 200
    assert out.stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_loss_curve_tolerates_bad_values(tmp_path):
    history = _history(30)
    history[3]["content"] = 0.0
    history[4]["style"] = math.nan
    history[5]["total"] = math.inf
    history[6]["total"] = -1.0
    history[7]["evaluations"] = math.nan
    for record in history[10:20]:
        record["content"] = 0.0
    plot.loss_curve(history, tmp_path / "a.png")
    plot.loss_curve([], tmp_path / "empty.png")
    nothing = [{"evaluations": 1.0, "total": 0.0, "content": math.nan, "style": -3.0}]
    plot.loss_curve(nothing, tmp_path / "nothing.png")
    single = [{"evaluations": 5.0, "total": 10.0, "content": 10.0, "style": 10.0}]
    plot.loss_curve(single, tmp_path / "single.png")
    for name in ("a.png", "empty.png", "nothing.png", "single.png"):
        with Image.open(tmp_path / name) as im:
            assert im.size == (plot.WIDTH, plot.HEIGHT)
    assert len(list(tmp_path.iterdir())) == 4


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    out = tmp_path / "loss.png"
    out.write_bytes(b"previous plot")

    def broken_save(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        plot.loss_curve(_history(), out)
    with pytest.raises(OSError, match="disk full"):
        plot.animated_gif([np.zeros((8, 8, 3))], tmp_path / "anim.gif")
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


def test_animated_gif_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError):
        plot.animated_gif([], tmp_path / "x.gif")
    with pytest.raises(ValueError):
        plot.animated_gif([np.zeros((8, 8, 3)), np.zeros((9, 8, 3))], tmp_path / "x.gif")
    assert not list(tmp_path.iterdir())


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
