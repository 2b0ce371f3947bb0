"""Spatial control wired in (issue 18): masks through the command line, the library API, the
pyramid and a sweep; a single full-image region is today's loss; the kept region's content
weight against NumPy; every bad input is one line, exit 2, nothing written.

The building blocks (masks, guides, guided statistics) are tested in test_guides.py.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import stylejax
from stylejax.cli import main as run
from stylejax.config import Config, ConfigError
from stylejax.engine import execute as running
from stylejax.engine import plan as planning
from stylejax.engine import regions
from stylejax.objective import spatial
from stylejax.objective.total import LossInputs, total_loss
from tests.tiny import FAST, FAST_OPTIONS, smooth_image

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)
LAYERS = FAST_OPTIONS["style_layers"]


def halves(height, width, left=RED, right=BLUE):
    """(H, W, 3) uint8 label image: `left` colour on the left half, `right` on the right."""
    mask = np.empty((height, width, 3), np.uint8)
    mask[:, : width // 2] = left
    mask[:, width // 2 :] = right
    return mask


@pytest.fixture
def inputs(tmp_path):
    """Two style images and a two-region mask (red left, blue right) as files, in `in/`."""
    folder = tmp_path / "in"
    folder.mkdir()
    paths = {}
    for name, array in [
        ("style1", smooth_image(2, 40, 40)),
        ("style2", smooth_image(3, 30, 50)),
        ("mask", halves(34, 51)),  # another size than the content: resized with NEAREST
    ]:
        paths[name] = folder / f"{name}.png"
        Image.fromarray(array).save(paths[name])
    return paths


def cli_args(weights_file, inputs, out, *extra):
    return [
        "--weights",
        str(weights_file),
        "--size",
        "32",
        "--evaluations",
        "4",
        *FAST,
        "--style",
        str(inputs["style1"]),
        str(inputs["style2"]),
        "--output",
        str(out),
        *extra,
    ]


@pytest.mark.slow
@pytest.mark.parametrize("style_loss", ["gram", "wasserstein"])
def test_a_two_region_mask_runs_through_the_cli(tmp_path, inputs, weights_file, capsys, style_loss):
    out = tmp_path / "out" / "masked.png"
    argv = cli_args(weights_file, inputs, out, "--mask", str(inputs["mask"]))
    argv += ["--mask-colors", "blue", "red", "--mask-blur", "1", "--log", str(out) + ".json"]
    argv += ["--style-loss", style_loss]
    assert run.main(argv) == 0, capsys.readouterr().err
    with Image.open(out) as image:
        assert image.size == (32, 21)  # the bundled sample content is 512x341
    log = json.loads((tmp_path / "out" / "masked.png.json").read_text())
    assert log["config"]["mask"] == str(inputs["mask"])
    assert log["config"]["style_loss"] == style_loss
    assert log["config"]["mask_colors"] == ["blue", "red"] and log["status"] == "finished"
    assert all(np.isfinite(r["total"]) for r in log["records"])


def plan_for(random_weights, mask=None, style_masks=None, axes=None, styles=2, **options):
    # No margin: these tests compute losses at the picture's own shape (masks with a margin:
    # test_borders.py).
    config = Config(**{"size": 32, "evaluations": 4, "margin": 0, **FAST_OPTIONS, **options})
    pictures = [smooth_image(2, 40, 40), smooth_image(3, 30, 50)][:styles]
    return planning.prepare(
        config,
        axes,
        content=Image.fromarray(smooth_image(1, 40, 60)),
        styles=[Image.fromarray(p) for p in pictures],
        weights=random_weights,
        mask=mask,
        style_masks=style_masks,
    )


def loss_of(plan, image, scale, member=0):
    """One member's (total, terms) at `image`, computed directly: no vmap, no optimizer."""
    weights = jax.tree.map(lambda w: jnp.asarray(w)[member], plan.loss_weights)
    inputs = LossInputs(plan.weights.params, running.targets_at(plan, scale), weights)
    return jax.jit(total_loss, static_argnums=2)(jnp.asarray(image), inputs, plan.objective)


@pytest.mark.slow
@pytest.mark.parametrize("style_loss", ["gram", "wasserstein"])
def test_masks_survive_the_pyramid_and_a_sweep(random_weights, style_loss):
    mask = halves(40, 60)
    axes = {"style_weight": (1e5, 1e7)}
    options = dict(min_size=16, scale_step=2.0, evaluations=6, style_loss=style_loss)
    # Average pooling: the vmapped members' losses below match their own to 1e-5 (max pooling,
    # the default, passes more of the batched convolutions' rounding on: 1.3e-5 measured; the
    # CLI test above runs masks with it).
    options |= dict(pooling="avg")
    plan = plan_for(random_weights, mask, axes=axes, **options)
    assert [s.shape for s in plan.scales] == [(11, 16), (21, 32)] and plan.objective.guided
    assert plan.config.style_octaves == 2 and plan.objective.style_octaves == 0  # not guided yet
    for scale in plan.scales:
        # The region map at each scale is the mask resized with NEAREST (Pillow's, as NumPy):
        # pixel centres sampled at (i + 0.5) * 40 / h.
        h, w = scale.shape
        rows = ((np.arange(h) + 0.5) * 40 / h).astype(int)
        cols = ((np.arange(w) + 0.5) * 60 / w).astype(int)
        expected = (mask[rows][:, cols, 2] == 255).astype(np.int32)
        np.testing.assert_array_equal(regions.labels_at(plan.regions, scale.shape), expected)
        targets = running.targets_at(plan, scale)
        features = plan.objective.features(plan.weights.params, jnp.zeros((1, h, w, 3)))
        for name in LAYERS:
            assert targets.guides.style[name].shape == (1, 2) + features[name].shape[1:3]
            grams = targets.style[name] if style_loss == "gram" else targets.style[name].cov
            assert grams.shape == (2,) + features[name].shape[-1:] * 2
    results = running.execute(plan)
    starts = running.initial_images(plan)
    unmasked = plan_for(random_weights, axes=axes, **options)
    for member, result in enumerate(results):
        sizes = [tuple(r["size"]) for r in result.history]
        assert sizes[0] == (11, 16) and sizes[-1] == (21, 32) and result.status == "finished"
        # Under vmap each member's first loss is its own, computed alone with the guides.
        total, _ = loss_of(plan, starts[member], plan.scales[0], member)
        assert result.history[0]["total"] == pytest.approx(float(total), rel=1e-5)
        plain, _ = loss_of(unmasked, starts[member], unmasked.scales[0], member)
        assert abs(float(plain) - float(total)) > 1e-3 * float(plain)  # the mask is in use
    assert results[1].history[0]["total"] > 10 * results[0].history[0]["total"]


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(style_normalize=True),
        dict(style_loss="wasserstein"),
        dict(style_loss="wasserstein", style_normalize=True),
    ],
)
def test_a_single_full_image_region_is_todays_loss(random_weights, options):
    """Not bit for bit: the guided Gram is a batched einsum of another shape than
    `losses.gram`'s, the guided moments are weighted einsums (see test_guides.py); the run
    without a mask never takes this path, and computes its targets as one compiled program
    where the guided ones are computed op by op."""
    one = np.full((40, 60, 3), 200, np.uint8)
    today = plan_for(random_weights, styles=1, style_weight=1e7, **options)
    guided = plan_for(random_weights, one, styles=1, style_weight=1e7, **options)
    image = np.random.default_rng(0).uniform(size=(21, 32, 3)).astype(np.float32)
    assert not today.objective.guided and guided.objective.guided
    total, terms = loss_of(today, image, today.scales[0])
    guided_total, guided_terms = loss_of(guided, image, guided.scales[0])
    np.testing.assert_allclose(guided_terms["content"], terms["content"], rtol=1e-6)
    # 1e-5: the W2 loss is a small difference of large traces, so float32 rounding of the
    # two einsum shapes shows at about 1e-6 of it (test_guides.py).
    np.testing.assert_allclose(guided_terms["style"], terms["style"], rtol=1e-5)
    np.testing.assert_allclose(guided_total, total, rtol=1e-5)


def test_a_kept_region_has_no_style_and_a_stronger_content_weight(random_weights):
    mask = halves(42, 64, left=GREEN, right=BLUE)  # halves fall on whole pooling windows
    plan = plan_for(random_weights, mask, styles=1, mask_blur=0.0, keep_content="#0000ff", size=64)
    assert plan.regions.kept == 1 and plan.regions.members == ((0,), ())
    scale = plan.scales[0]
    targets = running.targets_at(plan, scale)
    rng = np.random.default_rng(1)
    image = rng.uniform(size=(*scale.shape, 3)).astype(np.float32)
    _, terms = loss_of(plan, image, scale)
    layer = FAST_OPTIONS["content_layer"]  # relu2_1: one pooling, half the size
    features = np.asarray(plan.objective.features(plan.weights.params, image[None])[layer])
    target = np.asarray(targets.content[layer])
    w = features.shape[2]
    weight = np.where(np.arange(w) >= w // 2, spatial.KEPT_CONTENT_WEIGHT, 1.0)  # NumPy's map
    expected = np.mean(weight[None, None, :, None] * (features - target) ** 2)
    np.testing.assert_allclose(terms["content"], expected, rtol=1e-5)
    # The kept pixels feel no style: the style term's gradient is zero on them.
    weights = jax.tree.map(lambda a: jnp.asarray(a)[0], plan.loss_weights)
    inputs = LossInputs(plan.weights.params, targets, weights)
    grad = jax.jit(jax.grad(lambda x: total_loss(x, inputs, plan.objective)[1]["style"]))(image)
    receptive = 6  # relu2_1 sees 6 pixels to either side: those straddle the seam
    assert np.all(np.asarray(grad)[:, 32 + receptive :] == 0)
    assert np.any(np.asarray(grad)[:, : 32 - receptive] != 0)


def test_style_masks_alone_learn_from_the_selected_pixels(random_weights):
    """Without a content mask the picture is one region; each style image's target Gram
    comes from its white pixels only (NumPy on the features at relu1_1, before any pooling)."""
    selection = np.zeros((40, 40), np.uint8)
    selection[:, :15] = 255
    plan = plan_for(random_weights, style_masks=[selection], styles=1, style_loss="gram")
    assert plan.objective.guided and plan.regions.members == ((0,),)
    scale = plan.scales[0]
    targets = running.targets_at(plan, scale)
    style = running.styles_at(plan, scale)[0]  # 32x32
    features = np.asarray(plan.objective.features(plan.weights.params, style[None])["relu1_1"])
    chosen = features[0, :, :12].reshape(-1, features.shape[-1]).astype(np.float64)  # 15/40*32
    expected = chosen.T @ chosen / (chosen.shape[1] * chosen.shape[0])
    np.testing.assert_allclose(targets.style["relu1_1"][0], expected, rtol=1e-4, atol=1e-6)
    full = [np.full((40, 40), 255, np.uint8)]
    whole = plan_for(random_weights, style_masks=full, styles=1, style_loss="gram")
    today = plan_for(random_weights, styles=1, style_loss="gram")
    np.testing.assert_allclose(
        running.targets_at(whole, scale).style["relu2_1"][0],
        running.targets_at(today, scale).style["relu2_1"],
        rtol=1e-5,
        atol=1e-6,
    )


def test_style_masks_select_the_wasserstein_targets_too(random_weights):
    """As above for the W2 loss: each target is the Gaussian fit (mean, biased covariance
    + eps·I) of the selected pixels' features, and its magnitude E‖f‖²/C there."""
    selection = np.zeros((40, 40), np.uint8)
    selection[:, :15] = 255
    plan = plan_for(random_weights, style_masks=[selection], styles=1, style_loss="wasserstein")
    assert plan.objective.guided
    scale = plan.scales[0]
    targets = running.targets_at(plan, scale)
    style = running.styles_at(plan, scale)[0]
    features = np.asarray(plan.objective.features(plan.weights.params, style[None])["relu1_1"])
    chosen = features[0, :, :12].reshape(-1, features.shape[-1]).astype(np.float64)
    target = targets.style["relu1_1"]
    c = chosen.shape[1]
    bare = np.cov(chosen.T, bias=True)
    eps = max(np.trace(bare) / c / 100, plan.objective.eps)  # the target's regularizer
    expected = bare + eps * np.eye(c)
    np.testing.assert_allclose(target.mean[0], chosen.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(target.cov[0], expected, rtol=1e-3, atol=1e-3)
    magnitude = np.mean(chosen**2)
    np.testing.assert_allclose(targets.style_magnitude["relu1_1"][0], magnitude, rtol=1e-4)


@pytest.mark.parametrize("variant", [dict(remat=True), dict(precision="bfloat16")])
def test_the_guided_loss_under_remat_and_bfloat16(random_weights, variant):
    mask = halves(40, 60)
    base = plan_for(random_weights, mask, mask_erode=True)
    other = plan_for(random_weights, mask, mask_erode=True, **variant)
    image = np.random.default_rng(2).uniform(size=(21, 32, 3)).astype(np.float32)
    total, _ = loss_of(base, image, base.scales[0])
    changed, _ = loss_of(other, image, other.scales[0])
    # remat recomputes the same numbers; bfloat16 VGG (statistics in float32) is close.
    np.testing.assert_allclose(changed, total, rtol=1e-5 if "remat" in variant else 0.05)


def test_the_api_takes_masks_as_images_and_arrays(random_weights, tmp_path):
    content = smooth_image(1, 40, 60)
    styles = [smooth_image(2, 40, 40), smooth_image(3, 30, 50)]
    style_mask = np.zeros((40, 40), bool)
    style_mask[:, :25] = True  # learn from the left part of the first style image only
    stylizer = stylejax.Stylizer(random_weights)
    out = stylizer.stylize(
        content,
        styles,
        mask=Image.fromarray(halves(40, 60)),
        style_masks=[style_mask, None],
        size=32,
        evaluations=3,
        **FAST_OPTIONS,
    )
    assert out.shape == (21, 32, 3) and out.dtype == np.uint8
    with pytest.raises(ConfigError, match="^mask has 3 styled regions|3 styled regions") as info:
        three = halves(40, 60)
        three[:10] = GREEN
        stylizer.stylize(content, styles, mask=three, size=32, evaluations=3, **FAST_OPTIONS)
    assert info.value.field == "mask" and "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="style_masks has 1 masks for 2 style images"):
        stylizer.stylize(content, styles, mask=halves(40, 60), style_masks=style_mask, size=32)


# --- bad input: one line, exit 2, nothing written --------------------------------------------


def write(path, array):
    Image.fromarray(np.asarray(array, np.uint8)).save(path)
    return str(path)


BAD = {
    "more regions than styles": (
        lambda d: [
            "--mask",
            write(d / "three.png", np.concatenate([halves(8, 12), halves(4, 12, GREEN, GREEN)])),
        ],
        "--mask the mask has 3 styled regions (#ff0000, #0000ff, #00ff00) but only 2 style",
    ),
    "fewer regions than styles": (
        lambda d: ["--mask", write(d / "one.png", np.full((8, 8, 3), 9))],
        "style image 2 has no region",
    ),
    "mask not an image": (
        lambda d: ["--mask", str(d / "notes.png")],
        "notes.png: not an image file Pillow can read",
    ),
    "missing mask": (lambda d: ["--mask", str(d / "nowhere.png")], "no such file"),
    "empty style-mask region": (
        lambda d: (
            ["--mask", write(d / "m.png", halves(8, 8))]
            + [
                "--style-masks",
                write(d / "white.png", np.full((8, 8), 255)),
                write(d / "black.png", np.zeros((8, 8))),
            ]
        ),
        "--style-masks style mask 2: the region is empty",
    ),
    "style masks miscounted": (
        lambda d: [
            "--mask",
            write(d / "m.png", halves(8, 8)),
            "--style-masks",
            write(d / "w.png", np.full((8, 8), 255)),
        ],
        "--style-masks has 1 masks for 2 style images",
    ),
    "mask colour not in the mask": (
        lambda d: ["--mask", write(d / "m.png", halves(8, 8)), "--mask-colors", "red", "lime"],
        "--mask-colors the colour(s) #00ff00 from mask_colors are not in the mask",
    ),
    "unreadable colour": (
        lambda d: ["--mask", write(d / "m.png", halves(8, 8)), "--mask-colors", "reddish", "blue"],
        "--mask-colors cannot read the colour 'reddish'",
    ),
    "kept colour not in the mask": (
        lambda d: ["--mask", write(d / "m.png", halves(8, 8)), "--keep-content", "lime"],
        "--keep-content #00ff00 is not a colour of the mask, which holds #ff0000, #0000ff",
    ),
    "mask colours without a mask": (
        lambda d: ["--mask-colors", "red", "blue"],
        "--mask-colors needs a mask",
    ),
    "style blend with a mask": (
        lambda d: ["--mask", write(d / "m.png", halves(8, 8)), "--style-blend", "1", "2"],
        "--style-blend cannot be used with a mask",
    ),
    "negative blur": (lambda d: ["--mask-blur", "-1"], "--mask-blur must be a finite number >= 0"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_masks_are_one_line_exit_2_and_nothing_written(
    tmp_path, inputs, weights_file, capsys, case
):
    extra, message = BAD[case]
    (inputs["mask"].parent / "notes.png").write_text("not a picture")
    out = tmp_path / "out" / "x.png"
    assert run.main(cli_args(weights_file, inputs, out, *extra(inputs["mask"].parent))) == 2
    err = capsys.readouterr().err
    assert err.startswith("stylejax: error: ") and err.count("\n") == 1, err
    assert message in err
    assert not (tmp_path / "out").exists()


def test_masks_with_a_margin_continue_each_edge_region_into_it(random_weights):
    """The region map is extended into the margin edge-wise, so the guides cover the canvas
    the loss sees, and the picture comes back at its own size."""
    mask = halves(40, 60)
    plan = plan_for(random_weights, mask, margin=16, size=64, evaluations=3)
    scale = plan.scales[0]
    assert scale.margin == 4 and scale.canvas == (scale.shape[0] + 8, scale.shape[1] + 8)
    targets = running.targets_at(plan, scale)
    canvas = np.zeros((1, *scale.canvas, 3), np.float32)
    features = plan.objective.features(plan.weights.params, canvas)
    for name in LAYERS:
        assert targets.guides.style[name].shape == (1, 2) + features[name].shape[1:3]
    # At full resolution (relu1_1, hard seams) the guide of the right region is the region
    # map padded edge-wise.
    hard = plan_for(random_weights, mask, margin=16, size=64, mask_blur=0.0)
    guide = np.asarray(running.targets_at(hard, scale).guides.style["relu1_1"])[0, 1]
    labels = regions.labels_at(hard.regions, scale.shape)
    np.testing.assert_array_equal(guide, np.pad(labels, 4, mode="edge") == 1)
    (result,) = running.execute(plan)
    assert result.image.shape == (*scale.shape, 3) and result.status == "finished"
