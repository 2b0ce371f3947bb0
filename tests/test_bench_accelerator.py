"""The accelerator benchmark (`scripts/bench_accelerator.py`) runs end to end at tiny
sizes on CPU, so that it is ready for a GPU: every precision, the sweep and the size probes.
Under the Gram loss, which compiles in a third of the Wasserstein loss's time: this tests the
script; the Wasserstein loss in bfloat16 and under remat is tested in test_wasserstein.py."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import bench_accelerator  # noqa: E402


@pytest.mark.slow
def test_the_quick_accelerator_benchmark_measures_everything(tmp_path, weights_file, capsys):
    out = tmp_path / "accelerator.json"
    argv = ["--quick", "--weights", str(weights_file), "--json", str(out), "--style-loss", "gram"]
    report = bench_accelerator.main(argv)
    assert report["style_loss"] == "gram"

    assert json.loads(out.read_text())["device"] == report["device"]
    rows = {row["mode"]: row for row in report["per_eval"]}
    assert set(rows) == {"float32", "tf32", "bfloat16"}
    assert all(row["s_per_eval"] > 0 and np.isfinite(row["loss"]) for row in rows.values())
    # bfloat16 evaluates the same objective at the same start, within its stated tolerance.
    np.testing.assert_allclose(rows["bfloat16"]["loss"], rows["float32"]["loss"], rtol=2e-2)
    sweep = report["sweep"]
    assert sweep[2]["members"] == 2 and sweep["speedup_per_member"] > 0
    largest = report["largest"]
    assert [p["size"] for p in largest["probes"]] == [32]  # doubling stops at the limit (48)
    assert all(
        p["ok"] and p["peak_bytes"] > 0 and p["predicted_bytes"] > 0 for p in largest["probes"]
    )
    assert largest["largest"] == 32
    table = capsys.readouterr().out
    assert "| 32² | bfloat16 |" in table and "Largest size with remat + bf16: 32 px" in table
