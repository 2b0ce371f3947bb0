"""scripts/benchmark.py, the speed benchmark against PyTorch, end to end at its smoke size: it
ran the seed's algorithm on both sides, and its own checks (torch's loss and gradient at the
shared start, and each run's first loss) hold. It had broken silently once when the Config
defaults stopped being the seed's; this catches that."""

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import benchmark  # noqa: E402


@pytest.mark.slow
def test_the_quick_benchmark_runs_the_seed_on_both_sides_and_checks_them(tmp_path, weights_file):
    out = tmp_path / "bench.json"
    flags = ["--quick", "--optimizers", "lbfgs", "--weights", str(weights_file)]
    benchmark.main([*flags, "--json", str(out)])  # --quick: 64 px, 20 evaluations
    report = json.loads(out.read_text())
    [per_eval] = report["per_eval"]
    check = per_eval["check"]
    assert check["rel_diff"] <= benchmark.RTOL and check["grad_rel_l2"] <= benchmark.GRAD_RTOL
    torch_run, stylejax_run = report["runs"]
    assert torch_run["name"] == "torch LBFGS (seed)" and stylejax_run["status"] == "finished"
    assert stylejax_run["init_check"]["rel_diff"] <= benchmark.RTOL
    assert stylejax_run["evaluations"] >= 20
    # The seed's objective: relu4_1 content and the five style layers, uniform noise start.
    assert "content relu4_1" in report["markdown"] and "init uniform noise" in report["markdown"]
