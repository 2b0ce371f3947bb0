"""Style octaves: the halving against Pillow's box filter, how many octaves a scale uses, the
octave terms against torch's VGG and a float64 SciPy/NumPy reference, and the option through
the command line."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from stylejax.cli import main as run
from stylejax.config import Config, ConfigError, preset
from stylejax.model.vgg import TORCHVISION
from stylejax.objective import octaves, wasserstein
from stylejax.objective.total import LossInputs, LossWeights, Objective, compute_targets, total_loss
from tests.reference import random_oihw_layers, to_flax, torch_vgg
from tests.tiny import FAST, smooth_image

STYLE = ("relu1_1", "relu2_1")


def test_halving_is_pillows_bilinear_reduction_on_each_channel():
    images = np.random.default_rng(0).uniform(size=(2, 9, 14, 3)).astype(np.float32)
    got = np.asarray(octaves.halve(jnp.asarray(images)))
    assert got.shape == (2, 4, 7, 3)
    for n in range(2):
        for c in range(3):
            channel = Image.fromarray(images[n, :, :, c], mode="F")
            want = np.asarray(channel.resize((7, 4), Image.Resampling.BILINEAR))
            np.testing.assert_allclose(got[n, :, :, c], want, atol=1e-6)


def test_the_halvings_gradient_has_no_blocks():
    """A 2x2 block mean pulls the four pixels of a block alike (a step at every block edge);
    the triangle filter spreads one output pixel's gradient over overlapping, graded
    weights."""
    grad = jax.grad(lambda x: octaves.halve(x)[0, 4, 4, 0])(jnp.zeros((1, 16, 16, 3)))
    footprint = np.asarray(grad[0, :, :, 0])
    rows = footprint[footprint.any(axis=1)][:, footprint.any(axis=0)]
    assert rows.shape == (4, 4)  # four pixels wide: overlapping with the neighbours'
    np.testing.assert_allclose(rows, np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64, rtol=1e-6)


def test_a_scale_uses_the_octaves_that_keep_128_pixels_and_what_vgg_needs():
    count = octaves.octave_count
    # The default pyramid to 512 px, each canvas with its margin: 128+16 .. 512+32.
    canvases = [(144, 112), (203, 155), (288, 224), (394, 304), (544, 416)]
    styles = [(1200, 900)]
    assert [count(c, styles, 2, 16) for c in canvases] == [0, 0, 1, 1, 2]
    assert count((2080, 1568), styles, 2, 16) == 2  # at most the octaves asked for
    assert count((2080, 1568), styles, 3, 16) == 3
    assert count((544, 416), styles, 0, 16) == 0  # off
    # A small style image, or a wide and low canvas, stops the halving at VGG's minimum.
    assert count((544, 416), [(60, 40)], 2, 16) == 1
    assert count((544, 40), styles, 2, 16) == 1


@pytest.mark.slow
@pytest.mark.parametrize("style_loss", ["gram", "wasserstein"])
def test_octave_terms_are_the_style_loss_of_the_halved_picture_against_torch(
    style_loss, monkeypatch
):
    """Two octaves add, per layer, the style loss of the picture halved once and twice
    against the style halved as often, each with the layer's weight: computed here on torch's
    VGG after torch's antialiased bilinear reduction, with a float64 NumPy Gram loss or
    stylejax's W2 loss on those features."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(octaves, "MIN_OCTAVE_SIDE", 8)
    layers = random_oihw_layers(seed=3, upto="relu2_1")
    params = to_flax(layers)
    rng = np.random.default_rng(1)
    content, image = rng.uniform(size=(2, 36, 44, 3)).astype(np.float32)
    style = rng.uniform(size=(40, 32, 3)).astype(np.float32)
    weights = LossWeights(
        {"relu2_1": jnp.float32(0.0)},
        {"relu1_1": jnp.float32(3.0), "relu2_1": jnp.float32(0.5)},
        jnp.float32(0.0),
    )

    def loss(octave_count):
        objective = Objective(
            ("relu2_1",), STYLE, "avg", TORCHVISION, style_loss=style_loss,
            style_octaves=octave_count,
        )  # fmt: skip
        targets = compute_targets(objective, params, content, [style], [1.0])
        assert len(targets.octaves) == octave_count
        inputs = LossInputs(params, targets, weights)
        return jax.jit(total_loss, static_argnums=2)(image, inputs, objective)[0]

    def reference_term(picture, painting):
        with torch.no_grad():
            f = torch_vgg(picture, layers, TORCHVISION, "avg", STYLE)
            s = torch_vgg(painting, layers, TORCHVISION, "avg", STYLE)
        total = 0.0
        for name, weight in (("relu1_1", 3.0), ("relu2_1", 0.5)):
            x = f[name][0].permute(1, 2, 0).numpy().astype(np.float64)
            y = s[name][0].permute(1, 2, 0).numpy().astype(np.float64)
            if style_loss == "gram":
                gx, gy = (a.reshape(-1, a.shape[-1]) for a in (x, y))
                gram_x, gram_y = gx.T @ gx / gx.size, gy.T @ gy / gy.size
                term = np.mean((gram_x - gram_y) ** 2)
            else:  # the loss itself is checked against SciPy in test_wasserstein
                mean, second = wasserstein.feature_moments(jnp.asarray(y[None], jnp.float32))
                target = wasserstein.gaussian_target(mean[0], second[0], 1e-4)
                features = jnp.asarray(x[None], jnp.float32)
                term = float(wasserstein.w2_style_loss(features, target)[0])
            total += weight * term
        return total

    def halve_torch(t):
        size = (t.shape[2] // 2, t.shape[3] // 2)
        return torch.nn.functional.interpolate(t, size, mode="bilinear", antialias=True)

    picture = torch.from_numpy(image).permute(2, 0, 1)[None]
    painting = torch.from_numpy(style).permute(2, 0, 1)[None]
    want = []
    for _ in range(2):
        picture, painting = (halve_torch(t) for t in (picture, painting))
        want.append(reference_term(picture, painting))
    base = float(loss(0))
    np.testing.assert_allclose(float(loss(1)) - base, want[0], rtol=2e-3)
    np.testing.assert_allclose(float(loss(2)) - base, want[0] + want[1], rtol=2e-3)


def test_octaves_are_validated_and_off_in_the_seed_and_classic_presets():
    assert Config().style_octaves == 2
    assert preset("seed").style_octaves == preset("classic").style_octaves == 0
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ConfigError, match="style_octaves"):
            Config(style_octaves=bad)


def test_octaves_through_the_command_line(tmp_path, weights_file, capsys, monkeypatch):
    """--style-octaves changes the picture where a scale is large enough, is logged, and a bad
    value is one line. (Octaves start at 16 px here instead of 128, to keep the test small.)"""
    monkeypatch.setattr(octaves, "MIN_OCTAVE_SIDE", 16)
    content, style = tmp_path / "c.png", tmp_path / "s.png"
    Image.fromarray(smooth_image(1, 36, 48)).save(content)
    Image.fromarray(smooth_image(2, 40, 40)).save(style)
    common = ["--content", str(content), "--style", str(style), "--weights", str(weights_file)]
    common += ["--size", "48", "--min-size", "48", "--evaluations", "3", "--margin", "0"]
    common += [*FAST]
    common += ["--init", "random"]
    pictures, first_style = {}, {}
    for count in (0, 1):
        out, log = tmp_path / f"o{count}.png", tmp_path / f"o{count}.json"
        argv = [*common, "--style-octaves", str(count), "--output", str(out), "--log", str(log)]
        assert run.main(argv) == 0
        written = json.loads(log.read_text())
        assert written["config"]["style_octaves"] == count
        first_style[count] = written["records"][0]["style"]
        pictures[count] = np.asarray(Image.open(out))
    # The same start: the octave's term adds to the style loss, and the picture goes elsewhere.
    assert first_style[1] > first_style[0] > 0
    assert np.abs(pictures[0].astype(int) - pictures[1]).max() > 0
    capsys.readouterr()
    assert run.main([*common, "--style-octaves", "-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--style-octaves" in err and len(err.splitlines()) == 1
