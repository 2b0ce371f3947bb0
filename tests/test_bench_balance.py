"""The balance study (`scripts/balance_study.py`) and the time-to-quality judge
(`scripts/time_to_quality.py`) end to end at 80 px (the judge needs 16 px at a quarter of
the size)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylejax import samples

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import balance_study  # noqa: E402
import quality_metrics as qm  # noqa: E402
import time_to_quality  # noqa: E402


@pytest.fixture
def images(tmp_path):
    """An images folder as the shared one is laid out (one photo, one painting)."""
    for sub in ("content", "style"):
        (tmp_path / "images" / sub).mkdir(parents=True)
    with Image.open(samples.CONTENT) as photo, Image.open(samples.STYLE) as painting:
        photo.convert("RGB").resize((40, 40)).save(tmp_path / "images/content/cat.jpg")
        painting.convert("RGB").resize((40, 40)).save(tmp_path / "images/style/swirl.jpg")
    return tmp_path / "images"


@pytest.mark.slow
def test_the_balance_study_judges_every_pair_and_variant(tmp_path, images, weights_file):
    out = tmp_path / "out"
    argv = ["--images", str(images), "--size", "80", "--evaluations", "4", "--out", str(out)]
    argv += ["--weights", str(weights_file)]
    rows = balance_study.main(argv)

    assert [(r["pair"], r["variant"]) for r in rows] == [
        ("cat x swirl", "defaults"),
        ("cat x swirl", "normalized"),
    ]
    assert [r["flags"] for r in rows[:2]] == ["", "--style-normalize"]
    for row in rows:
        assert row["content"] > 0  # every default run starts from the photo and leaves it
        assert row["closed"] == pytest.approx(1 - row["sliced"] / row["photo_sliced"])
        with Image.open(out / f"{row['pair'].replace(' x ', '__')}__{row['variant']}.png") as p:
            assert max(p.size) == 80
    saved = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert saved == rows
    assert (out / "contact_sheet.png").exists()
    # Judged pictures are not made again.
    again = balance_study.main([*argv, "--reuse"])
    assert again == rows
    assert len((out / "results.jsonl").read_text().splitlines()) == 2


def test_options_are_the_flags_config_fields():
    assert balance_study.options("", 256, 150) == {"evaluations": 150}
    assert balance_study.options("--style-normalize --margin 0", 300, 150) == {
        "size": 300,
        "evaluations": 150,
        "style_normalize": True,
        "margin": 0,
    }


@pytest.mark.slow
def test_time_to_quality_judges_every_frame_against_the_reference(tmp_path, images, weights_file):
    content, style = images / "content/cat.jpg", images / "style/swirl.jpg"
    run = tmp_path / "run" / "out.png"
    command = [sys.executable, "-m", "stylejax.run", "--content", str(content)]
    command += ["--style", str(style), "--size", "80", "--evaluations", "20"]
    command += ["--save-every", "5", "--log", str(tmp_path / "run/log.json"), "--output", str(run)]
    command += ["--weights", str(weights_file)]
    subprocess.run(command, check=True, capture_output=True)
    # The reference: the run's own frame at evaluation 10, so it is reached by then.
    reference = tmp_path / "reference.png"
    Image.open(tmp_path / "run/out_frames/00010.png").save(reference)
    record = tmp_path / "kc.json"
    record.write_text(json.dumps({"seconds": 100.0}))

    result = time_to_quality.main(
        ["--content", str(content), "--style", str(style), "--run", str(run)]
        + ["--log", str(tmp_path / "run/log.json"), "--reference", str(reference)]
        + ["--reference-record", str(record), "--weights", str(weights_file)]
        + ["--json", str(tmp_path / "ttq.json")]
    )

    log = json.loads((tmp_path / "run/log.json").read_text())
    seconds = {0: 0.0} | {r["evaluations"]: r["seconds"] for r in log["records"]}
    assert [f["evaluation"] for f in result["frames"]] == [0, 5, 10, 15, 20]
    for frame in result["frames"]:
        assert frame["seconds"] == pytest.approx(
            seconds[frame["evaluation"]] + log["compile_seconds"]
        )
    features = qm.vgg_features(str(weights_file))
    load = time_to_quality.load
    judged = qm.judge(
        load(reference),
        load(content),
        qm.style_reference(load(style), 80, features),
        features,
    )
    assert result["reference"]["sliced"] == pytest.approx(judged.sliced)
    reached = result["reached"]
    assert reached["evaluation"] <= 10 and reached["sliced"] <= judged.sliced
    before = [f for f in result["frames"] if f["evaluation"] < reached["evaluation"]]
    assert before and all(f["sliced"] > judged.sliced for f in before)  # the first to reach it
    assert json.loads((tmp_path / "ttq.json").read_text())["reached"] == result["reached"]
    assert np.isfinite([f["sliced"] for f in result["frames"]]).all()
