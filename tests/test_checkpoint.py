"""Checkpoints through a pyramid: a run stopped at either scale and resumed equals the
uninterrupted run bit for bit; resuming across a changed pyramid is refused."""

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from stylejax.cli import main as run
from stylejax.config import Config
from stylejax.engine import execute, pyramid
from stylejax.engine import plan as planning
from stylejax.optim import checkpoint
from tests.tiny import FAST, FAST_OPTIONS, smooth_image

# 16 -> 32 pixels: a pyramid of exactly two scales.
TWO_SCALES = ["--min-size", "16", "--scale-step", "2"]


CONTENT = Image.fromarray(smooth_image(1, 40, 60))
STYLE = Image.fromarray(smooth_image(2, 48, 48))
PYRAMID = dict(min_size=16, size=32, scale_step=2.0, evaluations=20)


class Stop(Exception):
    """Stands for Ctrl-C: the CLI's handler raises inside the loop the same way."""


def plan_for(weights, **options):
    config = Config(**(FAST_OPTIONS | PYRAMID | options))
    return planning.prepare(config, None, content=CONTENT, styles=[STYLE], weights=weights)


@pytest.mark.parametrize("where", ["first scale", "end of first scale", "second scale"])
def test_a_pyramid_stopped_and_resumed_equals_the_uninterrupted_run(
    tmp_path, random_weights, where
):
    # A callback every evaluation (save_every=1), so the run can stop anywhere.
    (whole,) = execute.execute(
        plan_for(random_weights, output=str(tmp_path / "whole.png"), save_every=1)
    )
    output = str(tmp_path / "cut.png")
    first = plan_for(random_weights, output=output, checkpoint_every=5, save_every=1)
    done, rest = (s.evaluations for s in first.scales)
    stop = {"first scale": max(1, done // 2), "end of first scale": done}.get(
        where, done + rest // 2
    )

    def interrupt(snapshot):
        if snapshot.evaluations >= stop:
            raise Stop

    with pytest.raises(Stop):
        execute.execute(first, callback=interrupt)
    saved = checkpoint.load(checkpoint.path_for(output, 0), first.fingerprint, first.schedule)
    assert saved.scale == (1 if where == "second scale" else 0)
    assert saved.histories[0][-1]["evaluations"] == stop

    seen = []
    (resumed,) = execute.execute(
        plan_for(random_weights, output=output, checkpoint_every=5, save_every=1, resume=True),
        callback=seen.append,
    )
    assert seen[0].evaluations > stop  # it continued; it did not start over
    np.testing.assert_array_equal(resumed.image, whole.image)
    assert resumed.evaluations == whole.evaluations == 20
    strip = lambda history: [{k: v for k, v in r.items() if k != "seconds"} for r in history]  # noqa: E731
    assert strip(resumed.history) == strip(whole.history)


def test_the_cli_resumes_an_interrupted_pyramid_exactly(tmp_path, monkeypatch, weights_file):
    """Through the CLI: interrupted after the scale change (exit 130, latest image and log
    kept), then resumed to the uninterrupted run's pixels and records."""
    monkeypatch.chdir(tmp_path)
    common = [
        "--weights",
        str(weights_file),
        *FAST,
        "--size",
        "32",
        "--min-size",
        "16",
        "--scale-step",
        "2",
    ]
    common += ["--evaluations", "20", "--seed", "3"]
    assert run.main([*common, "--output", "a.png", "--log", "a.json", "--save-every", "5"]) == 0

    report = run.Reporter.__call__

    def interrupted(self, snapshot):
        report(self, snapshot)
        if snapshot.scale == 1 and snapshot.evaluations >= 15:
            raise run.Interrupted(130)

    second = [*common, "--output", "b.png", "--log", "b.json", "--checkpoint-every", "5"]
    second += ["--save-every", "5"]
    with monkeypatch.context() as patch:
        patch.setattr(run.Reporter, "__call__", interrupted)
        assert run.main(second) == 130
    log = json.loads((tmp_path / "b.json").read_text())
    assert log["status"] == "interrupted" and log["records"][-1]["evaluations"] == 15
    assert log["records"][-1]["size"] == [21, 32]
    with Image.open("b.png") as image:
        assert image.size == (32, 21)
    seen = []

    def watched(self, snapshot):
        seen.append(snapshot.evaluations)
        report(self, snapshot)

    with monkeypatch.context() as patch:
        patch.setattr(run.Reporter, "__call__", watched)
        assert run.main([*second, "--resume"]) == 0
    assert seen[0] > 15  # it continued; it did not start over
    with Image.open("a.png") as a, Image.open("b.png") as b:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    a, b = (json.loads((tmp_path / f"{n}.json").read_text())["records"] for n in "ab")
    assert [r["evaluations"] for r in b] == [r["evaluations"] for r in a]
    assert [r["total"] for r in b] == [r["total"] for r in a]


def listing(folder):
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--min-size", "8"], "belongs to a run with other settings"),
        (
            [*TWO_SCALES, "--evaluations", "40"],
            "the checkpoint was taken on the pyramid",
        ),
    ],
)
def test_resume_across_a_changed_pyramid_is_refused(
    tmp_path, monkeypatch, capsys, weights_file, change, message
):
    monkeypatch.chdir(tmp_path)
    common = ["--weights", str(weights_file), *FAST, "--size", "32", "--log", "log.json"]
    first = [
        *common,
        "--min-size",
        "16",
        "--scale-step",
        "2",
        "--evaluations",
        "20",
        "--checkpoint-every",
        "10",
    ]
    assert run.main(first) == 0
    # The finished first scale's budget differs in the second case: that cannot continue.
    sizes = pyramid.sizes(16, 32, Config().scale_step)
    assert pyramid.budget_split(sizes, 20)[0] != pyramid.budget_split(sizes, 40)[0]
    before = listing(tmp_path)
    capsys.readouterr()
    assert run.main([*common, *change, "--checkpoint-every", "10", "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stylejax: error: ") and err.count("\n") == 1 and message in err
    assert listing(tmp_path) == before


def test_a_checkpoint_refuses_what_it_does_not_fit(tmp_path, random_weights):
    plan = plan_for(random_weights, output=str(tmp_path / "o.png"), checkpoint_every=20)
    execute.execute(plan)
    path = checkpoint.path_for(plan.config.output, 0)
    assert (
        path == tmp_path / "o.ckpt.npz" and checkpoint.path_for(path, 4).name == "o.ckpt.4.ckpt.npz"
    )
    saved = checkpoint.load(path, plan.fingerprint, plan.schedule)
    assert saved.scale == len(plan.scales) - 1 and saved.schedule == plan.schedule
    other = plan_for(random_weights, output=str(tmp_path / "o.png"), seed=1)
    with pytest.raises(ValueError, match="other settings"):
        checkpoint.load(path, other.fingerprint, other.schedule)
    # More evaluations at the last scale may continue; fewer or more at a finished one not.
    grown = [*plan.schedule[:-1], [plan.schedule[-1][0], plan.schedule[-1][1] + 10]]
    assert checkpoint.load(path, plan.fingerprint, grown).scale == saved.scale
    shifted = [[plan.schedule[0][0], plan.schedule[0][1] + 1], *plan.schedule[1:]]
    with pytest.raises(ValueError, match="taken on the pyramid"):
        checkpoint.load(path, plan.fingerprint, shifted)
    broken = tmp_path / "broken.ckpt.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable stylejax checkpoint"):
        checkpoint.load(broken, plan.fingerprint, plan.schedule)
    # The fingerprint ignores what a resumed run may change.
    free = dataclasses.replace(plan.config, evaluations=99, output="x.png", resume=True)
    assert planning.fingerprint(free, {}, random_weights.sha256) == plan.fingerprint
