"""Holes found by trying to break the command line and the library (issue 15), each closed for
its whole class: values checked by range as well as type, every check before any work, stored
state (checkpoints) checked for structure, and nothing written half or over another run's."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

import stylejax
from stylejax.cli import main as run
from stylejax.config import MAX_EVALUATIONS, MAX_SEED, Config, ConfigError
from stylejax.files import cache
from tests.tiny import FAST, FAST_OPTIONS, smooth_image

CONTENT = smooth_image(1, 21, 32)


def cli(weights_file, tmp_path, *extra):
    return ["--weights", str(weights_file), *FAST, "--size", "32", "--evaluations", "2",
            "--output", str(tmp_path / "out.png"), *extra]  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--seed", "-1"], f"--seed must be between 0 and {MAX_SEED}, got -1"),
        (["--seed", str(MAX_SEED + 1)], "--seed must be between 0"),
        (["--evaluations", "2147483648"], f"--evaluations must be between 1 and {MAX_EVALUATIONS}"),
        (["--style-scale", "1e-9"], "--style-scale makes the style image 0 pixels"),
        (["--style-scale", "1e9"], "--style-scale must be a finite number > 0 and <= 65535"),
        (["--style-weight", "1e39"], "--style-weight must be a finite number >= 0 and <= 3.4e+38"),
        (["--size", "100000"], "--size must be between 1 and 65535"),
        (["--min-size", "64"], "--min-size must not exceed size (32), got 64"),
    ],
)
def test_values_out_of_range_are_one_line_before_any_work(
    tmp_path, capsys, weights_file, flags, message
):
    assert run.main(cli(weights_file, tmp_path, *flags)) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (dict(seed=1.5), "seed"),
        (dict(seed=-1), "seed"),
        (dict(seed="3"), "seed"),
        (dict(seed=[0, -1]), "seed"),
        (dict(evaluations=True), "evaluations"),
        (dict(style_weight="1e5"), "style_weight"),
        (dict(style_weight=[1e5, "x"]), "style_weight"),
        (dict(style_layers=5), "style_layers"),
        (dict(style_layers="relu1_1"), "style_layers"),
        (dict(style_blend=[1.0, float("nan")]), "style_blend"),
        (dict(remat="yes"), "remat"),
        (dict(init=3), "init"),
        (dict(style_scale=1e-9), "style_scale"),
    ],
)
def test_the_library_refuses_mistyped_or_out_of_range_options_naming_them(options, field):
    with pytest.raises(ConfigError) as raised:
        stylejax.check_options(**(FAST_OPTIONS | options))
    assert raised.value.field == field


@pytest.mark.parametrize("empty", [np.zeros((0, 0, 3), np.uint8), Image.new("RGB", (0, 0))])
def test_an_empty_image_is_a_clear_error(random_weights, empty):
    stylizer = stylejax.Stylizer(random_weights)
    with pytest.raises(ValueError, match="content: .*empty|H, W >= 1"):
        stylizer.stylize(empty, CONTENT, size=32, evaluations=1, **FAST_OPTIONS)
    with pytest.raises(ValueError, match="style: .*empty|H, W >= 1"):
        stylizer.stylize(CONTENT, empty, size=32, evaluations=1, **FAST_OPTIONS)


def test_an_output_folder_that_cannot_be_made_is_refused_before_the_run(
    tmp_path, capsys, weights_file
):
    """Checked by making the folder and a file in it, which also catches a read-only folder
    for users other than root (root may write anywhere; a path through a file it cannot)."""
    (tmp_path / "a-file").write_text("not a folder")
    argv = cli(weights_file, tmp_path, "--output", str(tmp_path / "a-file" / "out.png"))
    assert run.main(argv) == 2
    err = capsys.readouterr().err
    assert "a-file: cannot write there" in err and err.count("\n") == 1


def test_an_output_that_is_a_directory_is_refused_before_the_run(tmp_path, capsys, weights_file):
    (tmp_path / "log.json").mkdir()
    argv = cli(weights_file, tmp_path, "--log", str(tmp_path / "log.json"), "--overwrite")
    assert run.main(argv) == 2
    assert "log.json: is a directory" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()


def test_a_run_finishing_second_never_replaces_the_first_ones_output(
    tmp_path, capsys, weights_file, monkeypatch
):
    """The output name is checked at the start and again, atomically, at the moment of
    writing: a picture another run wrote meanwhile stays, and this one is saved elsewhere."""
    real = run.execute

    def meanwhile(plan, **kwargs):
        results = real(plan, **kwargs)
        Image.new("RGB", (4, 4), "red").save(tmp_path / "out.png")  # another run finished
        return results

    monkeypatch.setattr(run, "execute", meanwhile)
    assert run.main(cli(weights_file, tmp_path)) == 1
    err = capsys.readouterr().err
    assert "out.png: appeared while this run was working" in err
    with Image.open(tmp_path / "out.png") as kept:
        assert kept.size == (4, 4)
    rescued = err.split("instead as ")[1].split()[0]
    with Image.open(rescued) as picture:
        assert picture.size == (32, 21)
    os.unlink(rescued)


def test_ctrl_c_while_starting_up_exits_130_without_a_traceback(tmp_path, weights_file):
    """SIGINT at several moments of start-up: importing JAX, loading weights, planning."""
    argv = [sys.executable, "-m", "stylejax.run", *cli(weights_file, tmp_path)]
    for delay in (0.3, 2.0):
        process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
        if process.returncode == 0:  # the whole tiny run finished first: nothing to check
            continue
        assert process.returncode == 130, err
        assert "Traceback" not in err and "interrupted" in err


@pytest.fixture
def checkpointed(tmp_path, weights_file, monkeypatch):
    """A finished run with a checkpoint, and a way to rewrite the checkpoint's metadata."""
    monkeypatch.chdir(tmp_path)
    argv = cli(weights_file, tmp_path, "--checkpoint-every", "2", "--log", "log.json")
    assert run.main(argv) == 0
    path = tmp_path / "out.ckpt.npz"

    def rewrite(change):
        with np.load(path) as data:
            arrays = {name: data[name] for name in data.files}
        arrays = change(arrays)
        np.savez(path, **arrays)

    return argv, rewrite


def meta_as(value):
    def change(arrays):
        meta = json.loads(str(arrays["meta"]))
        arrays["meta"] = np.asarray(json.dumps(value(meta)))
        return arrays

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (meta_as(lambda m: [m["fingerprint"]]), "other settings"),
        (meta_as(lambda m: {k: v for k, v in m.items() if k != "scale"}), "its scale"),
        (meta_as(lambda m: m | {"histories": 5}), "its histories"),
        (meta_as(lambda m: m | {"schedule": [["32", 2]]}), "its schedule"),
        (lambda a: a | {"leaf0": a["leaf0"][..., :2]}, "arrays of other shapes"),
    ],
)
def test_a_checkpoint_whose_fingerprint_matches_is_still_checked_for_structure(
    checkpointed, capsys, change, message
):
    argv, rewrite = checkpointed
    rewrite(change)
    capsys.readouterr()
    assert run.main([*argv, "--evaluations", "4", "--resume"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_the_compilation_cache_lives_in_the_users_cache_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("STYLEJAX_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.default_folder() == tmp_path / "stylejax" / cache.FOLDER
    monkeypatch.setenv("STYLEJAX_CACHE", str(tmp_path / "mine"))
    assert cache.default_folder() == tmp_path / "mine" / cache.FOLDER


def test_config_normalizes_what_it_accepts():
    config = Config(seed=np.int64(3), style_weight=np.float32(2.0), style_layers=["relu1_1"])
    assert type(config.seed) is int and type(config.style_weight) is float
    assert config.style_layers == ("relu1_1",)
