"""The quality benchmark's judges (scripts/quality_metrics.py) and its front, against independent
references: SciPy's 1-D Wasserstein distance and matrix square root, a plain-PyTorch VGG19, and
hand-made images."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import scipy.stats

from stylejax.model.vgg import CAFFE
from tests.reference import random_oihw_layers, torch_reference_features

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import bench_quality  # noqa: E402
import quality_metrics as qm  # noqa: E402


def test_sliced_distance_is_the_mean_of_scipys_1d_distances_over_fixed_directions():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(37, 5)), rng.normal(0.5, 2.0, size=(53, 5))  # unequal counts
    dirs = qm.directions(5, count=8)

    expected = np.mean([scipy.stats.wasserstein_distance(x @ d, y @ d) for d in dirs])
    np.testing.assert_allclose(qm.sliced_wasserstein(x, y, dirs), expected, rtol=1e-5)
    # Fixed: the same directions every call, unit length, and they depend on the seed.
    np.testing.assert_array_equal(qm.directions(5, 8), dirs)
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1.0)
    assert not np.allclose(qm.directions(5, 8, seed=qm.SEED + 1), dirs)
    assert qm.sliced_wasserstein(x, x, dirs) == pytest.approx(0.0, abs=1e-6)


def scipy_gaussian_w2(x: np.ndarray, y: np.ndarray) -> float:
    """Per-channel W2 between Gaussian fits, with SciPy's general matrix square root."""
    mx, my = x.mean(0), y.mean(0)
    sx, sy = np.cov(x.T, bias=True), np.cov(y.T, bias=True)
    root_y = scipy.linalg.sqrtm(sy).real
    cross = scipy.linalg.sqrtm(root_y @ sx @ root_y).real
    squared = np.sum((mx - my) ** 2) + np.trace(sx + sy - 2 * cross)
    return math.sqrt(squared / x.shape[1])


def test_gaussian_w2_matches_scipy_sqrtm_and_the_closed_form_for_diagonal_covariances():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    y = rng.normal(1.0, 1.0, size=(300, 6)) @ rng.normal(size=(6, 6))
    got = qm.gaussian_w2(qm.gaussian_fit(x), qm.gaussian_fit(y))
    assert got == pytest.approx(scipy_gaussian_w2(x, y), rel=1e-6)

    # Independent axes: W2^2 = |dm|^2 + sum (sd_x - sd_y)^2.
    a = rng.normal(size=(5000, 3)) * [1.0, 2.0, 3.0]
    b = rng.normal(size=(4000, 3)) * [2.0, 2.0, 0.5] + [1.0, 0.0, -1.0]
    closed = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.sum((a.std(0) - b.std(0)) ** 2)
    got = qm.gaussian_w2(qm.gaussian_fit(a), qm.gaussian_fit(b))
    # The sample covariances are only nearly diagonal; to 1% of the distance.
    assert got == pytest.approx(math.sqrt(closed / 3), rel=1e-2)
    assert qm.gaussian_w2(qm.gaussian_fit(x), qm.gaussian_fit(x)) == pytest.approx(0, abs=1e-6)


def test_edge_ratio_is_one_on_a_ramp_and_measures_a_line_along_one_border():
    rows, cols = np.meshgrid(np.arange(20), np.arange(30), indexing="ij")
    ramp = np.repeat((0.01 * rows + 0.02 * cols)[..., None], 3, axis=-1) / 2
    assert qm.edge_ratios(ramp) == pytest.approx(dict(top=1, bottom=1, left=1, right=1))

    lined = ramp.copy()
    lined[0] = lined[1] - 0.05  # a darker line along the top: a step of 0.05 against 0.005
    ratios = qm.edge_ratios(lined)
    assert ratios["top"] == pytest.approx(10.0)
    assert [ratios[side] for side in ("bottom", "left", "right")] == pytest.approx([1, 1, 1])
    with pytest.raises(ValueError, match="at least 4x4"):
        qm.edge_ratios(ramp[:3])


# A small stand-in for VGG: per layer a fixed subsampling, random linear map and tanh (no dead
# channels), with few channels so the Gaussian fits are full rank and SciPy's square roots are
# exact and quick.
TOY = {"relu1_1": (1, 3), "relu2_1": (1, 4), "relu3_1": (2, 5), "relu4_1": (2, 6)}
TOY |= {"relu5_1": (4, 7), "relu4_2": (2, 6)}


def toy_features(images: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    out = {}
    for i, name in enumerate(sorted(TOY)):
        step, channels = TOY[name]
        mix = np.random.default_rng(i).normal(size=(3, channels))
        if name in names:
            out[name] = (np.tanh(images[:, ::step, ::step] @ mix) * 100).astype(np.float32)
    return out


def test_judge_matches_an_independent_recomputation():
    rng = np.random.default_rng(4)
    picture, photo = rng.random((40, 48, 3)), rng.random((80, 60, 3))
    style = rng.random((100, 90, 3))
    reference = qm.style_reference(style, 48, toy_features)
    scores = qm.judge(picture, photo, reference, toy_features)

    style = qm.fit_longest(style, 48)
    sliced = w2 = 0.0
    for factor in (1, 2, 4):
        mine = toy_features(qm.reduce(picture, factor)[None], qm.STYLE_LAYERS)
        theirs = toy_features(qm.reduce(style, factor)[None], qm.STYLE_LAYERS)
        for layer in qm.STYLE_LAYERS:
            x = mine[layer].reshape(-1, mine[layer].shape[-1]) / qm.ACTIVATION_SCALE
            y = theirs[layer].reshape(-1, theirs[layer].shape[-1]) / qm.ACTIVATION_SCALE
            dirs = qm.directions(x.shape[1])
            assert dirs.shape == (qm.DIRECTIONS, x.shape[1])
            sliced += np.mean([scipy.stats.wasserstein_distance(x @ d, y @ d) for d in dirs])
            w2 += scipy_gaussian_w2(x.astype(np.float64), y.astype(np.float64))
    assert scores.sliced == pytest.approx(sliced, rel=1e-4)
    assert scores.w2 == pytest.approx(w2, rel=1e-4)
    assert sum(s for s, _ in scores.per_size.values()) == pytest.approx(scores.sliced)

    photo_at = qm.resample(photo, (48, 40))
    f = toy_features(np.stack([picture, photo_at]), ("relu4_2",))["relu4_2"]
    expected = np.sum((f[0] - f[1]) ** 2) / np.sum(f[1] ** 2)
    assert scores.content == pytest.approx(expected, rel=1e-4)
    assert scores.edges == qm.edge_ratios(picture)


def test_the_judges_vgg_is_stylejaxs_caffe_vgg19_with_max_pooling(weights_file):
    # tests/fixtures.py writes weights_file from the seed-7 random layers.
    images = np.random.default_rng(5).random((1, 32, 32, 3)).astype(np.float32)
    got = qm.vgg_features(weights_file)(images, ("relu4_2",))["relu4_2"]
    expected = torch_reference_features(
        images, random_oihw_layers(7, upto="relu4_2"), CAFFE, "max", ("relu4_2",)
    )["relu4_2"]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def scores(content: float, sliced: float, w2: float) -> qm.Scores:
    return qm.Scores(sliced=sliced, w2=w2, content=content, edges={}, per_size={})


def test_the_front_is_read_log_log_between_kcs_two_points():
    assert bench_quality.log_log_at(0.2, [(0.1, 2.0), (0.4, 1.0)]) == pytest.approx(math.sqrt(2))
    assert bench_quality.log_log_at(0.8, [(0.1, 2.0), (0.4, 1.0)]) == pytest.approx(
        1 / math.sqrt(2)
    )
    kc = [scores(0.1, 2.0, 4.0), scores(0.4, 1.0, 1.0)]
    inside = bench_quality.place(scores(0.2, 1.0, 2.0), kc)
    assert inside.sliced_ratio == pytest.approx(1 / math.sqrt(2))
    assert inside.front_w2 == pytest.approx(2.0) and inside.w2_ratio == pytest.approx(1.0)
    assert inside.in_span
    assert not bench_quality.place(scores(0.05, 1.0, 2.0), kc).in_span


@pytest.mark.slow
def test_bench_quality_runs_the_real_command_line_and_judges_old_against_new(
    tmp_path, weights_file
):
    """End to end, without KC (its port is tested in test_kc_port.py): both stylejax pictures are
    written by real `python -m stylejax.run` processes and judged; a failing run stops the
    bench instead of leaving a stale picture to be judged."""
    samples = Path(__file__).resolve().parents[1] / "stylejax" / "samples"
    pair = f"{samples / 'content.jpg'}:{samples / 'style.jpg'}"
    out = tmp_path / "bench"
    flags = ["--evaluations", "2", "--no-compile-cache"]
    args = ["--pairs", pair, "--size", "96", "--out", str(out), "--weights", str(weights_file)]
    args += ["--no-kc", "--baseline", "--preset classic --evaluations 2", "--", *flags]
    [result] = bench_quality.main(args)
    folder = out / "content_x_style"
    for name in ("stylejax", "baseline"):
        assert (folder / f"{name}.png").is_file()
        record = json.loads((folder / f"{name}.run.json").read_text())
        assert record["command"][1:3] == ["-m", "stylejax.run"] and record["wall"] > 0
    scores = result["scores"]
    assert set(scores) == {"stylejax", "baseline"} and result["placements"] == {}
    # Different defaults, different pictures and scores.
    assert scores["stylejax"]["content"] != scores["baseline"]["content"]
    assert (out / "table_wall.md").read_text().count("content_x_style") == 2
    assert (out / "contact_sheet_wall.png").is_file()

    # The same bench through `scripts/benchmark.py --quality`, which hands it every flag.
    import benchmark

    sheet = out / "contact_sheet_wall.png"
    sheet.unlink()
    own = args[: args.index("--")]
    benchmark.main(["--quality", *own, "--reuse", "--", *flags])  # reused: no new runs
    assert sheet.is_file()

    # A later --out wins.
    with pytest.raises(bench_quality.common.ChildFailed):
        bench_quality.main([*own, "--out", str(tmp_path / "failed"), "--", "--no-such-flag"])
