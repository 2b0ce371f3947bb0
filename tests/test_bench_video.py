"""The video benchmark (`scripts/bench_video.py`): the ground truth of its synthetic clips,
checked against SciPy's warp, and one tiny end-to-end run through the real CLI; the README
sample's GIF size guard (`scripts/make_video_sample.py`)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from stylejax import samples
from stylejax.video import clip
from tests.tiny import FAST

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import bench_video  # noqa: E402
import make_video_sample  # noqa: E402

pytest.importorskip("cv2")

SIZE = 96  # 96x64 frames of the bundled photo
BORDER = 2  # pixels next to the frame's edge left out of the warp checks
FAST_MOTION = dict(frames=4, pan=(0.03, 0.01), zoom=0.02)  # bigger steps than the benchmark's


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    with Image.open(samples.CONTENT) as image:
        return image.convert("RGB")


def scipy_warp(frame: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """frame(p + flow(p)), bilinear, edge repeated: the independent reference."""
    height, width = frame.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    coordinates = [ys + flow[..., 1], xs + flow[..., 0]]
    return np.stack(
        [
            ndimage.map_coordinates(frame[..., c], coordinates, order=1, mode="nearest")
            for c in range(3)
        ],
        -1,
    )


def warp_error(synthetic, k: int, where: np.ndarray, flow=None) -> float:
    """Mean |frame k - frame k-1 warped by `flow` (default: the ground truth)| on `where`."""
    flow = synthetic.to_past[k] if flow is None else flow
    difference = np.abs(scipy_warp(synthetic.frames[k - 1], flow) - synthetic.frames[k])
    return float(difference[where].mean())


def inner(shape) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[BORDER:-BORDER, BORDER:-BORDER] = True
    return mask


def test_a_pure_pan_has_the_pans_flow_and_no_trust_where_it_comes_from_outside(photo):
    synthetic = bench_video.synthetic_clip(
        photo, SIZE, bench_video.Motion(frames=3, pan=(0.03, 0.01), zoom=0.0)
    )
    count, height, width = synthetic.frames.shape[:3]
    assert (height, width) == (64, 96)
    # The window moves by (2.88, 0.64) px a frame, so a pixel p of frame k shows what frame k-1
    # shows at p + (2.88, 0.64).
    pan = np.broadcast_to([2.88, 0.64], (count - 1, height, width, 2))
    np.testing.assert_allclose(synthetic.to_past[1:], pan, atol=1e-5)
    c = synthetic.reliable
    assert not c[0].any()
    assert not c[1:, -1:].any() and not c[1:, :, -3:].any()  # x + 2.88 > 95, y + 0.64 > 63
    assert c[1:, :-1, :-3].all()


def test_the_ground_truth_flow_of_a_pan_and_zoom_warps_each_frame_onto_the_next(photo):
    synthetic = bench_video.synthetic_clip(photo, SIZE, bench_video.Motion(**FAST_MOTION))
    for k in range(1, len(synthetic.frames)):
        trusted = (synthetic.reliable[k] > 0) & inner(synthetic.reliable[k].shape)
        assert trusted.mean() > 0.8
        exact = warp_error(synthetic, k, trusted)
        # Interpolation and 8-bit rounding are all that is left (the photo is detailed at 96 px)
        assert exact < 0.01
        # A flow half a pixel off, or without the zoom's part, warps visibly worse.
        assert exact < 0.6 * warp_error(synthetic, k, trusted, synthetic.to_past[k] + [0.5, 0])
        assert exact < 0.6 * warp_error(synthetic, k, trusted, 0.8 * synthetic.to_past[k])
        zoom_free = np.broadcast_to(
            synthetic.to_past[k].mean(axis=(0, 1)), synthetic.to_past[k].shape
        )
        assert exact < 0.6 * warp_error(synthetic, k, trusted, zoom_free)


def test_the_occluders_ground_truth_moves_it_and_distrusts_what_it_covers_and_uncovers(photo):
    motion = bench_video.Motion(**FAST_MOTION, occluder=True)
    synthetic = bench_video.synthetic_clip(photo, SIZE, motion)
    corners = bench_video.occluder_corners(synthetic.frames.shape[1:3], motion)
    for k in range(1, len(synthetic.frames)):
        solid = synthetic.cover[k] == 1
        assert solid.sum() > 0.1 * solid.size
        np.testing.assert_allclose(
            synthetic.to_past[k][solid],
            np.broadcast_to(corners[k - 1] - corners[k], (solid.sum(), 2)),
            atol=1e-5,
        )
        assert np.allclose(
            synthetic.frames[k][solid], np.round(np.array(motion.occluder_color) * 255) / 255
        )
        trusted = (synthetic.reliable[k] > 0) & inner(solid.shape)
        distrusted = (synthetic.reliable[k] == 0) & synthetic.inside[k] & inner(solid.shape)
        assert distrusted.sum() > 50  # the occluder's edges, and what it covers and uncovers
        # Where the ground truth trusts the flow, warping reproduces the frame; where another
        # surface lies behind it, it does not.
        good = warp_error(synthetic, k, trusted)
        assert good < 0.01
        assert warp_error(synthetic, k, distrusted) > 4 * good


def test_the_runs_are_the_baseline_each_schedule_and_each_weight():
    runs = bench_video.run_flags(["sequential", "multipass"], 3, [20.0, 50.0])
    assert list(runs) == [
        "independent",
        "sequential",
        "multipass",
        "sequential-w20",
        "multipass-w20",
        "sequential-w50",
        "multipass-w50",
    ]
    assert runs["independent"] == [
        "--schedule",
        "multipass",
        "--passes",
        "1",
        "--temporal-weight",
        "0",
    ]
    assert runs["multipass-w50"] == [
        "--schedule",
        "multipass",
        "--passes",
        "3",
        "--temporal-weight",
        "50",
    ]
    assert bench_video._run_settings(runs["sequential-w20"]) == dict(
        schedule="sequential", passes=bench_video.DEFAULT_PASSES, temporal_weight=20.0
    )


@pytest.mark.slow
def test_the_benchmark_runs_the_cli_end_to_end_and_judges_it_again_on_reuse(
    tmp_path, weights_file, monkeypatch
):
    out = tmp_path / "bench"
    argv = [
        "--content", str(samples.CONTENT),
        "--style", str(samples.STYLE),
        "--size", "48",
        "--frames", "4",
        "--evaluations", "3",
        "--passes", "2",
        "--clips", "occluded",
        "--out", str(out),
        "--", "--weights", str(weights_file), *FAST,
    ]  # fmt: skip
    report = bench_video.main(argv)

    assert json.loads((out / "results.json").read_text()) == json.loads(json.dumps(report))
    assert "| occluded | independent |" in (out / "table.md").read_text()
    with Image.open(out / "occluded_strip.png") as strip:
        assert strip.height > 4 * bench_video.SHEET_HEIGHT  # content and three runs
    assert len(clip.numbered_images(out / "occluded" / "content")) == 4
    entry = report["clips"]["occluded"]
    assert entry["shape"] == [32, 48]
    assert 0 < entry["flow_check"]["occluded_share"] < 0.5
    runs = entry["runs"]
    assert list(runs) == ["independent", "sequential", "multipass"]
    for name, run in runs.items():
        assert len(clip.numbered_images(out / "occluded" / name)) == 4
        assert not (out / "occluded" / f"{name}.flow.npz").exists()  # the cache is removed
        assert 0 < run["temporal_error"] < 1 and len(run["temporal_errors"]) == 3
        assert np.isfinite(run["style_loss"]) and run["style_loss"] > 0
        assert run["temporal_error_background"] is not None
        assert run["wall"] > 0 and run["seconds_per_frame"] == pytest.approx(run["wall"] / 4)
    assert runs["independent"]["temporal_ratio"] == runs["independent"]["style_ratio"] == 1
    assert (runs["independent"]["schedule"], runs["independent"]["passes"]) == ("multipass", 1)
    assert runs["multipass"]["passes"] == 2

    # With --reuse nothing is run again and the same frames are judged the same.
    def no_runs(*args, **kwargs):
        raise AssertionError("ran the CLI again")

    monkeypatch.setattr(bench_video.common, "run_timed", no_runs)
    again = bench_video.main([*argv[: argv.index("--")], "--reuse", *argv[argv.index("--") :]])
    for name, run in again["clips"]["occluded"]["runs"].items():
        assert run["temporal_error"] == runs[name]["temporal_error"]
        assert run["style_loss"] == pytest.approx(runs[name]["style_loss"], rel=1e-6)


def test_the_sample_gif_is_scaled_down_until_it_fits(tmp_path):
    frames = np.random.default_rng(0).uniform(size=(3, 40, 60, 3)).astype(np.float32)
    path = tmp_path / "sample.gif"
    assert make_video_sample.gif_under(frames, path, 10, 10**6) == 1.0
    whole = path.stat().st_size
    scale = make_video_sample.gif_under(frames, path, 10, whole // 2)
    assert scale < 1 and path.stat().st_size <= whole // 2
    with Image.open(path) as gif:
        assert gif.n_frames == 3
    with pytest.raises(ValueError, match="fewer frames"):
        make_video_sample.gif_under(frames, path, 10, 10)
