"""The spatial-control benchmark (`scripts/bench_masks.py`) end to end at 32 px: a run per
variant with its separation, and the cost table with and without each region's own positions.
It runs the Gram loss, which compiles in a third of the Wasserstein loss's time: the script's
plumbing is under test here; the guided Wasserstein loss is tested in test_guides.py and
test_masks_cli.py."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylejax import samples

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import bench_masks  # noqa: E402


@pytest.mark.slow
def test_the_benchmark_runs_a_variant_and_times_every_setup(tmp_path, weights_file, monkeypatch):
    monkeypatch.setenv("STYLEJAX_WEIGHTS", str(weights_file))
    with Image.open(samples.CONTENT) as photo, Image.open(samples.STYLE) as painting:
        photo.convert("RGB").resize((48, 32)).save(tmp_path / "content.png")
        painting.convert("RGB").resize((40, 40)).save(tmp_path / "style-a.png")
        photo.convert("RGB").resize((40, 40)).save(tmp_path / "style-b.png")
        painting.convert("RGB").rotate(90).resize((40, 40)).save(tmp_path / "style-c.png")
    halves = np.zeros((32, 48, 3), np.uint8)
    halves[:, 24:] = 255
    Image.fromarray(halves).save(tmp_path / "mask.png")
    thirds = halves.copy()
    thirds[:, 36:] = 128
    Image.fromarray(thirds).save(tmp_path / "three.png")
    out, report = tmp_path / "out", tmp_path / "out" / "bench.json"

    bench_masks.main(
        ["--content", str(tmp_path / "content.png"), "--mask", str(tmp_path / "mask.png")]
        + ["--styles", str(tmp_path / "style-a.png"), str(tmp_path / "style-b.png")]
        + ["--three-mask", str(tmp_path / "three.png")]
        + ["--third-style", str(tmp_path / "style-c.png")]
        + ["--size", "32", "--evaluations", "6", "--blurs", "0", "--only", "hard"]
        + ["--style-loss", "gram"]
        + ["--repeats", "1", "--out", str(out), "--json", str(report)]
    )

    saved = json.loads(report.read_text())
    run = saved["runs"]["hard"]
    assert run["config"]["style_loss"] == "gram"
    assert run["evaluations"] == 6 and run["config"]["mask_blur"] == 0
    with Image.open(run["image"]) as picture:
        assert picture.size == (32, 21)
    regions = run["separation"]
    assert [r["color"] for r in regions] == ["#000000", "#ffffff"]
    assert sum(r["pixels"] for r in regions) == 32 * 21  # the mask's partition at the result
    for r in regions:
        own, other = r["style_loss_against"][r["region"]], r["style_loss_against"][1 - r["region"]]
        assert own > 0 and other > 0 and r["own_over_other"] == own / other
    cost = saved["cost"]
    assert set(cost) == {
        "unmasked, 1 style",
        "2 regions",
        "2 regions, every position",
        "3 regions",
        "3 regions, every position",
    }
    assert cost["unmasked, 1 style"]["ratio"] == 1.0
    assert all(c["seconds_per_evaluation"] > 0 and c["shape"] == [21, 32] for c in cost.values())
