"""The library API: images come back in the kind they went in, sweeps give lists, callbacks see
`Update`s and can stop the run, bad options raise ConfigError, and repeated shapes reuse the
compiled programs. Also runs README's notebook example verbatim."""

import re
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image

import stylejax
from stylejax import ConfigError, config
from tests.tiny import FAST_OPTIONS, smooth_image

CONTENT = smooth_image(1, 40, 60)  # uint8, landscape: 32x21 at size 32
STYLE = smooth_image(2, 48, 48)
OPTIONS = FAST_OPTIONS | dict(size=32, evaluations=6)


@pytest.fixture(scope="module")
def stylizer(random_weights):
    return stylejax.Stylizer(weights=random_weights)


def test_each_kind_of_image_comes_back_as_it_went_in(stylizer, tmp_path):
    content_path, style_path = tmp_path / "content.png", tmp_path / "style.png"
    Image.fromarray(CONTENT).save(content_path)
    Image.fromarray(STYLE).save(style_path)
    pil = stylizer.stylize(Image.fromarray(CONTENT), Image.fromarray(STYLE), **OPTIONS)
    assert isinstance(pil, Image.Image) and pil.mode == "RGB" and pil.size == (32, 21)
    uint8 = stylizer.stylize(CONTENT, STYLE, **OPTIONS)
    assert isinstance(uint8, np.ndarray) and uint8.dtype == np.uint8 and uint8.shape == (21, 32, 3)
    floats = stylizer.stylize(CONTENT.astype(np.float32) / 255, STYLE, **OPTIONS)
    assert floats.dtype == np.float32 and floats.shape == (21, 32, 3)
    assert floats.min() >= 0 and floats.max() <= 1
    doubles = stylizer.stylize(CONTENT / 255.0, STYLE, **OPTIONS)
    assert doubles.dtype == np.float64
    from_path = stylizer.stylize(content_path, str(style_path), **OPTIONS)
    assert isinstance(from_path, Image.Image)
    # The same picture whatever the kind (a uint8 image and its float version are one input).
    np.testing.assert_array_equal(np.asarray(pil), uint8)
    np.testing.assert_array_equal(np.asarray(from_path), uint8)
    np.testing.assert_array_equal(np.round(floats * 255), uint8)
    np.testing.assert_allclose(doubles, floats, atol=1e-6)


def test_a_list_of_style_weights_gives_a_list_of_images(stylizer):
    images = stylizer.stylize(CONTENT, STYLE, **(OPTIONS | dict(style_weight=[1e3, 1e7])))
    assert isinstance(images, list) and len(images) == 2
    assert all(i.dtype == np.uint8 and i.shape == (21, 32, 3) for i in images)
    assert not np.array_equal(images[0], images[1])
    # A one-value list is no sweep.
    assert isinstance(stylizer.stylize(CONTENT, STYLE, **(OPTIONS | dict(seed=[4]))), np.ndarray)


def test_the_callback_gets_updates_and_can_stop_the_run(stylizer):
    updates = []

    def watch(update):
        updates.append(update)
        return update.evaluations >= 4

    options = OPTIONS | dict(save_every=2)
    picture = stylizer.stylize(Image.fromarray(CONTENT), STYLE, callback=watch, **options)
    assert all(isinstance(u, stylejax.Update) for u in updates)
    assert [u.evaluations for u in updates] == [1, 2, 4]
    first = updates[0]
    assert first.budget == 6 and first.size == (21, 32) and first.seconds == 0.0
    assert set(first.loss) >= {"total", "content", "style", "tv"}
    assert isinstance(first.image, Image.Image) and first.image.size == (32, 21)
    # Stopped early: the latest image comes back.
    np.testing.assert_array_equal(np.asarray(picture), np.asarray(updates[-1].image))
    assert [r["evaluations"] for r in updates[-1].histories[0]] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (dict(sizes=32), "sizes"),  # a typo
        (dict(output="x.png"), "output"),  # the command line's
        (dict(checkpoint_every=5), "checkpoint_every"),
        (dict(size=0), "size"),
        (dict(pooling="median"), "pooling"),
        (dict(pooling=["avg", "max"]), "pooling"),  # not sweepable
        (dict(style_weight=[]), "style_weight"),
        (dict(min_size=64, size=32), "min_size"),
        (dict(preserve_colors="sepia"), "preserve_colors"),
        (dict(preset="fancy"), "preset"),
        (dict(preset="classic", style_loss="sliced"), "style_loss"),
    ],
)
def test_bad_options_raise_config_error_naming_the_parameter(stylizer, options, field):
    with pytest.raises(ConfigError) as caught:
        stylizer.stylize(CONTENT, STYLE, **options)
    assert caught.value.field == field and "--" not in str(caught.value)
    with pytest.raises(ConfigError):  # checked without loading anything
        stylejax.check_options(**options)


def test_a_preset_is_the_base_that_the_other_options_apply_on_top_of():
    """As `--preset`: the preset's fields, then the options; the seed's single scale follows
    the size asked for."""
    seed, _ = stylejax.check_options(preset="seed", size=64)
    assert seed == stylejax.Config(**(config.PRESETS["seed"] | {"size": 64, "min_size": 64}))
    classic, axes = stylejax.check_options(preset="classic", style_weight=[1e5, 1e6], seed=3)
    assert classic == stylejax.Config(**(config.CLASSIC | {"style_weight": 1e5, "seed": 3}))
    assert axes == {"style_weight": (1e5, 1e6)}
    assert stylejax.check_options()[0] == stylejax.Config()


class Compilations:
    """Counts XLA compilations (JAX's backend-compile monitoring event)."""

    EVENT = "/jax/core/compile/backend_compile_duration"

    def __init__(self):
        self.count = 0

    def __call__(self, event, duration, **kwargs):
        self.count += event == self.EVENT

    def __enter__(self):
        jax.monitoring.register_event_duration_secs_listener(self)
        return self

    def __exit__(self, *exc):
        jax.monitoring.unregister_event_duration_listener(self)


def test_a_second_call_with_the_same_shapes_does_not_recompile(stylizer):
    stylizer.stylize(CONTENT, STYLE, **OPTIONS)
    with Compilations() as compiled:
        # Other pixels, weights and seed: data to the same programs.
        stylizer.stylize(CONTENT[::-1].copy(), STYLE, style_weight=3e5, seed=2, **OPTIONS)
    assert compiled.count == 0
    with Compilations() as control:  # the counter does see a compilation
        jax.jit(lambda x: x * 3 + 1)(np.zeros(7, np.float32))
    assert control.count == 1


# README's notebook example, used when README has none yet (keep both in sync).
EXAMPLE = """\
import stylejax
from PIL import Image

stylizer = stylejax.Stylizer()  # loads the VGG19 weights once
content = Image.open("photo.jpg")
style = Image.open("painting.jpg")

def show(update):
    print(f"{update.evaluations}/{update.budget}  loss {update.loss['total']:.3g}")

picture = stylizer.stylize(content, style, size=256, evaluations=100, callback=show)
picture.save("stylized.png")
"""


def readme_example() -> str:
    """The ```python block under README's first heading that mentions a notebook."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    heading = re.search(r"^#+ .*notebook.*$", readme, re.IGNORECASE | re.MULTILINE)
    if heading is None:
        return EXAMPLE
    block = re.search(r"^```python\n(.*?)^```", readme[heading.end() :], re.DOTALL | re.MULTILINE)
    assert block, "README's notebook section has no ```python block"
    return block.group(1)


def test_the_readme_notebook_example_runs_verbatim(tmp_path, monkeypatch, capsys, weights_file):
    code = readme_example()
    # Only the numbers change (tiny and quick); the weights come from $STYLEJAX_WEIGHTS.
    for old, new in (("size=256", "size=48"), ("evaluations=100", "evaluations=6")):
        assert code.count(old) == 1, f"README's example no longer has {old}"
        code = code.replace(old, new)
    monkeypatch.setenv("STYLEJAX_WEIGHTS", str(weights_file))
    monkeypatch.chdir(tmp_path)
    Image.fromarray(CONTENT).save("photo.jpg")
    Image.fromarray(STYLE).save("painting.jpg")
    exec(compile(code, "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("1/6  loss ") and lines[-1].startswith("6/6  loss ")
    with Image.open("stylized.png") as picture:
        assert picture.size == (48, 32)
