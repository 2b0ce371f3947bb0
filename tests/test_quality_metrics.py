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
from PIL import Image

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


def test_the_laplacian_pyramid_adds_back_up_and_leaves_nothing_in_the_bands_of_a_flat_image():
    image = np.random.default_rng(6).random((40, 56, 3))
    levels = qm.laplacian_pyramid(image)
    assert [level.shape[:2] for level in levels] == [(40, 56), (20, 28), (10, 14), (5, 7)]
    # Each band is its Gaussian level minus the next one brought back up: adding back restores
    # the image from the low-pass level up.
    rebuilt = levels[-1]
    for band in reversed(levels[:-1]):
        rebuilt = band + qm.resample(rebuilt, band.shape[1::-1])
    np.testing.assert_allclose(rebuilt, image, atol=1e-5)
    flat = qm.laplacian_pyramid(np.full((40, 56, 3), 0.3))
    for band in flat[:-1]:
        np.testing.assert_allclose(band, 0.0, atol=1e-5)
    np.testing.assert_allclose(flat[-1], 0.3, atol=1e-5)


def test_patch_distance_is_scipys_1d_distance_over_every_7x7_neighbourhood_per_level():
    rng = np.random.default_rng(7)
    picture, style = rng.random((56, 64, 3)), rng.random((70, 80, 3)) ** 2
    reference = qm.patch_reference(style, 64)
    got = qm.patch_sliced(picture, reference)

    dirs = qm.directions(7 * 7 * 3)[:6]  # a few of the judge's directions suffice here
    mine, theirs = qm.laplacian_pyramid(picture), qm.laplacian_pyramid(qm.fit_longest(style, 64))
    assert len(got) == len(mine) == qm.PYRAMID_LEVELS
    for level, (x, y) in enumerate(zip(mine, theirs, strict=True)):
        scale = y.std()

        def rows(image):  # every 7x7 neighbourhood, channel-major, by explicit loops
            h, w = image.shape[:2]
            return np.array(
                [
                    image[i : i + 7, j : j + 7].transpose(2, 0, 1).ravel()
                    for i in range(h - 6)
                    for j in range(w - 6)
                ]
            )

        a, b = rows(x) / scale, rows(y) / scale
        np.testing.assert_allclose(qm.neighbourhoods(x), rows(x), rtol=1e-6)
        expected = [scipy.stats.wasserstein_distance(a @ d, b @ d) for d in dirs]
        one_level = qm.PatchReference((reference.projections[level],), (scale,))
        projected = qm.sorted_projections(qm.neighbourhoods(x) / scale, dirs)
        mine_w1 = qm.wasserstein1_sorted(projected, one_level.projections[0][:, :6])
        np.testing.assert_allclose(mine_w1, expected, rtol=1e-4)
        assert got[level] > 0
    assert reference.scales[0] == pytest.approx(theirs[0].std())
    # A picture is at distance zero from itself as a style.
    assert sum(qm.patch_sliced(picture, qm.patch_reference(picture, 64))) < 1e-6
    # Levels narrower than a neighbourhood are left out: 24 px has room for two (24, 12).
    assert qm.pyramid_levels((24, 32)) == 2 and qm.pyramid_levels((384, 512)) == 4
    assert qm.pyramid_levels((5, 5)) == 1


def ssim_by_hand(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al.'s SSIM with a Gaussian window (sigma 1.5), from its formula."""
    import scipy.ndimage

    def blur(x):
        return scipy.ndimage.gaussian_filter(x, 1.5, truncate=3.5, mode="reflect")

    c1, c2 = 0.01**2, 0.03**2
    ma, mb = blur(a), blur(b)
    va, vb, cov = blur(a * a) - ma**2, blur(b * b) - mb**2, blur(a * b) - ma * mb
    ssim = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
    return float(ssim[5:-5, 5:-5].mean())  # scikit-image leaves out the 11-px window's half


def test_structure_loss_is_one_minus_ssim_of_the_luminance_averaged_over_three_sizes():
    rng = np.random.default_rng(8)
    photo = np.clip(np.linspace(0, 1, 64)[None, :, None] + rng.normal(0, 0.1, (48, 64, 3)), 0, 1)
    picture = np.clip(photo + rng.normal(0, 0.2, photo.shape), 0, 1)
    expected = np.mean(
        [
            1 - ssim_by_hand(*(qm.luminance(qm.reduce(x, f)) for x in (picture, photo)))
            for f in (1, 2, 4)
        ]
    )
    assert qm.structure_loss(picture, photo) == pytest.approx(expected, rel=1e-3)
    assert qm.structure_loss(photo, photo) == pytest.approx(0.0, abs=1e-9)
    # The photo is resampled to the picture.
    bigger = qm.resample(photo, (128, 96))
    assert qm.structure_loss(photo, bigger) < 0.05


def test_the_judges_vgg_is_stylejaxs_caffe_vgg19_with_max_pooling(weights_file):
    # tests/fixtures.py writes weights_file from the seed-7 random layers.
    images = np.random.default_rng(5).random((1, 32, 32, 3)).astype(np.float32)
    got = qm.vgg_features(weights_file)(images, ("relu4_2",))["relu4_2"]
    expected = torch_reference_features(
        images, random_oihw_layers(7, upto="relu4_2"), CAFFE, "max", ("relu4_2",)
    )["relu4_2"]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def scores(
    content: float, sliced: float, w2: float, structure: float = 0.5, patches: float = 1.0
) -> qm.Scores:
    return qm.Scores(
        sliced=sliced,
        w2=w2,
        content=content,
        edges={},
        per_size={},
        patch_levels=(patches / 2, patches / 2),
        structure=structure,
    )


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

    # The judge without VGG: patch distance against structure loss, on the same kind of line.
    kc = [scores(0.1, 2.0, 4.0, structure=0.2, patches=0.4), scores(0.4, 1, 1, 0.8, 0.1)]
    placed = bench_quality.place(scores(0.2, 1.0, 2.0, structure=0.4, patches=0.1), kc)
    assert placed.front_patches == pytest.approx(0.2) and placed.patches_ratio == pytest.approx(0.5)
    assert placed.in_structure_span
    assert not bench_quality.place(scores(0.2, 1, 2, structure=0.9), kc).in_structure_span


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


@pytest.mark.slow
def test_judge_pictures_scores_existing_pictures_under_both_poolings_through_its_cli(
    tmp_path, weights_file, capsys
):
    import judge_pictures

    rng = np.random.default_rng(9)
    paths = {}
    for name in ("photo", "painting", "a", "kc1", "kc2"):
        paths[name] = tmp_path / f"{name}.png"
        Image.fromarray((rng.random((64, 80, 3)) * 255).astype(np.uint8)).save(paths[name])
    argv = ["--content", str(paths["photo"]), "--style", str(paths["painting"])]
    argv += ["--weights", str(weights_file), "--picture"]
    argv += [f"{n}={paths[n]}" for n in ("a", "kc1", "kc2")]
    out = tmp_path / "judged.json"
    argv += ["--front", "kc1", "kc2", "--pooling", "max", "avg", "--json", str(out)]
    report = judge_pictures.main(argv)
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))

    # The VGG judge under each pooling is the judge with that pooling's features.
    a = np.asarray(Image.open(paths["a"]), np.float32) / 255
    photo = np.asarray(Image.open(paths["photo"]), np.float32) / 255
    painting = np.asarray(Image.open(paths["painting"]), np.float32) / 255
    for pooling in ("max", "avg"):
        features = qm.vgg_features(weights_file, pooling=pooling)
        expected = qm.judge(a, photo, qm.style_reference(painting, 80, features), features)
        got = report["pictures"]["a"]["vgg"][pooling]
        assert got["content"] == pytest.approx(expected.content, rel=1e-6)
        assert got["sliced"] == pytest.approx(expected.sliced, rel=1e-6)
    vgg = report["pictures"]["a"]["vgg"]
    assert vgg["max"]["content"] != pytest.approx(vgg["avg"]["content"], rel=1e-3)
    assert report["pictures"]["a"]["patches"] == pytest.approx(expected.patches)
    # Only the picture off the front is placed, on each pooling's judge.
    assert set(report["placements"]) == {"a"} and set(report["placements"]["a"]) == {"max", "avg"}
    table = capsys.readouterr().out
    assert table.count("| a ") == 2 and "patches / front" in table

    # Bad input: one line on stderr and exit status 2, no traceback.
    Image.new("RGB", (32, 32)).save(tmp_path / "small.png")
    for bad, says in (
        (["--picture", f"a={tmp_path / 'missing.png'}"], "no such file"),
        (["--picture", "no-equals-sign"], "expected NAME=PATH"),
        (["--picture", f"a={paths['a']}", "--front", "a", "b"], "not among the pictures"),
        (["--picture", f"a={paths['a']}", f"b={tmp_path / 'small.png'}"], "differ in size"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            judge_pictures.main([*argv[:4], *bad])
        assert exit_info.value.code == 2
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert "error:" in last and says in last and "Traceback" not in last
