"""The border fix: VGG's padding modes against torch, and the margin cut from the picture."""

import jax
import numpy as np
import pytest
from PIL import Image

from stylejax.config import MARGIN, Config, ConfigError, preset
from stylejax.engine import margin
from stylejax.model.vgg import CAFFE, VGG19
from tests.reference import random_oihw_layers, to_flax, torch_vgg

NAMES = ("conv1_1", "relu1_2", "relu2_1")


@pytest.mark.parametrize("padding", ["replicate", "reflect", "replicate-all", "reflect-all"])
def test_padding_modes_match_torch(padding):
    torch = pytest.importorskip("torch")
    layers = random_oihw_layers(seed=5, upto="relu2_1")
    images = np.random.default_rng(2).uniform(size=(1, 18, 22, 3)).astype(np.float32)
    model = VGG19(preprocessing=CAFFE, padding=padding)
    ours = jax.jit(model.apply, static_argnums=2)(to_flax(layers), images, NAMES)
    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    with torch.no_grad():
        reference = torch_vgg(x, layers, CAFFE, "avg", NAMES, padding=padding)
        zeros = torch_vgg(x, layers, CAFFE, "avg", NAMES)
    for name in NAMES:
        want = reference[name].permute(0, 2, 3, 1).numpy()
        scale = np.abs(want).max()
        np.testing.assert_allclose(ours[name], want, rtol=1e-4, atol=1e-5 * scale, err_msg=name)
        # The border mode changes the edge, and only the edge, of the first conv's output.
        if name == "conv1_1":
            diff = np.abs(want - zeros[name].permute(0, 2, 3, 1).numpy()).max(axis=(0, 3))
            assert diff[1:-1, 1:-1].max() == 0 and diff[0].min() > 0 and diff[:, -1].min() > 0


def test_unknown_padding_is_refused():
    with pytest.raises(ValueError, match="padding must be one of zeros"):
        VGG19(preprocessing=CAFFE, padding="wrap").init(
            jax.random.key(0), np.zeros((1, 4, 4, 3), np.float32), ("conv1_1",)
        )


def test_margin_mirrors_the_photo_around_the_picture_and_crops_it_back():
    pictures = np.random.default_rng(0).uniform(size=(2, 9, 13, 3)).astype(np.float32)
    want = np.pad(pictures, ((0, 0), (4, 4), (4, 4), (0, 0)), mode="reflect")
    np.testing.assert_array_equal(margin.pad(pictures, 4), want)
    np.testing.assert_array_equal(np.asarray(margin.pad(jax.numpy.asarray(pictures), 4)), want)
    # Wider than the picture: mirrored again, as NumPy does.
    np.testing.assert_array_equal(
        margin.pad(pictures[0], 11), np.pad(pictures[0], ((11, 11), (11, 11), (0, 0)), "reflect")
    )
    np.testing.assert_array_equal(margin.crop(want, 4), pictures)
    assert margin.pad(pictures, 0) is pictures and margin.crop(pictures, 0) is pictures
    # The margin shrinks on small scales, to 1/16 of the longest side.
    assert [margin.at_size(16, size) for size in (1024, 256, 128, 64, 15)] == [16, 16, 8, 4, 0]
    labels = np.array([[0, 1], [2, 2]], np.int32)
    np.testing.assert_array_equal(margin.pad_labels(labels, 2), np.pad(labels, 2, mode="edge"))


def run_cli(tmp_path, weights_file, name, *flags):
    from stylejax.cli import main as run

    out = tmp_path / f"{name}.png"
    argv = ["--weights", str(weights_file), "--size", "40", "--output", str(out), *flags]
    assert run.main([*argv, "--overwrite"]) == 0
    with Image.open(out) as image:
        return np.asarray(image.convert("RGB"))


@pytest.mark.slow
def test_margin_through_the_cli_is_cut_from_the_picture_and_its_frames(tmp_path, weights_file):
    content = np.random.default_rng(1).integers(0, 256, (30, 40, 3), np.uint8)
    Image.fromarray(content).save(tmp_path / "photo.png")
    # The Gram loss: the margin is the loss's business only through the canvas, and it
    # compiles in a third of the Wasserstein loss's time.
    common = ["--content", str(tmp_path / "photo.png"), "--init", "content", "--style-loss", "gram"]
    # No style: the photo is the optimum and the start, so the picture is the photo itself,
    # pixel for pixel; a margin cut one pixel off would shift it.
    still = run_cli(
        tmp_path,
        weights_file,
        "still",
        *common,
        "--style-weight",
        "0",
        "--margin",
        "2",
        "--evaluations",
        "3",
    )
    np.testing.assert_array_equal(still, content)
    # With style, every frame and the picture have the picture's size, and the margin
    # changes the picture (its border pixels are interior pixels of the canvas).
    styled = [
        run_cli(
            tmp_path,
            weights_file,
            f"m{m}",
            *common,
            "--margin",
            str(m),
            "--evaluations",
            "4",
            "--save-every",
            "2",
            "--padding",
            "zeros",
        )
        for m in (0, 2)
    ]
    assert styled[0].shape == styled[1].shape == content.shape
    assert np.abs(styled[0].astype(int) - styled[1]).max() > 0
    frames = sorted((tmp_path / "m2_frames").iterdir())
    assert [f.name for f in frames] == ["00000.png", "00002.png", "00004.png"]
    for frame in frames:
        with Image.open(frame) as image:
            assert image.size == (40, 30)


def test_margin_is_validated_and_off_in_the_seed_and_classic_presets():
    assert Config().margin == MARGIN > 0
    assert preset("seed").margin == preset("classic").margin == 0
    for bad in (-1, 1.5, True, 10**6):
        with pytest.raises(ConfigError, match="margin must be"):
            Config(margin=bad)
