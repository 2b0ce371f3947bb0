"""stylejax.files.finite_json: what stylejax writes as JSON is standard JSON, overflowed losses too.

The reference is a strict reader: Python's own `json` refusing the `Infinity` and `NaN` tokens
that `json.dumps` writes by default and that no browser reads.
"""

import json
import math

import numpy as np
import pytest

from stylejax.cli import main as run
from stylejax.files import finite_json
from tests.tiny import FAST


def _refuse(token: str):
    raise ValueError(f"{token} is not JSON")


def strict_json(text: str):
    """`json.loads` that refuses Infinity, -Infinity and NaN, as RFC 8259 and browsers do."""
    return json.loads(text, parse_constant=_refuse)


def test_non_finite_numbers_become_null_at_any_depth():
    value = {
        "a": [1.5, math.inf, (-math.inf, math.nan)],
        "b": np.float64("inf"),
        "c": {"d": {"e": [math.nan]}},
        "f": "Infinity",
        "g": None,
        "h": 3,
        "i": 10**30,
        "j": True,
    }
    with pytest.raises(ValueError):
        strict_json(json.dumps(value))  # what Python writes by default is not JSON
    assert strict_json(finite_json.dumps(value)) == {
        "a": [1.5, None, [None, None]],
        "b": None,
        "c": {"d": {"e": [None]}},
        "f": "Infinity",
        "g": None,
        "h": 3,
        "i": 10**30,
        "j": True,
    }
    assert finite_json.finite(value["a"]) == [1.5, None, [None, None]]
    assert value["a"][1] == math.inf  # the input is not changed


# content_weight 3e38, about the largest float32 and so accepted: times the content loss of
# random features the total overflows to inf at the first evaluation.
def test_the_cli_log_of_an_overflowing_run_is_json(tmp_path, weights_file, capsys):
    log = tmp_path / "log.json"
    argv = ["--weights", str(weights_file), *FAST, "--size", "32", "--evaluations", "4"]
    argv += [
        "--init",
        "random",
        "--content-weight",
        "3e38",
        "--output",
        str(tmp_path / "o.png"),
        "--log",
        str(log),
    ]
    assert run.main(argv) == 0
    assert "non-finite" in capsys.readouterr().err
    text = log.read_text()
    assert "Infinity" not in text and "NaN" not in text
    written = strict_json(text)
    assert written["status"] == "nonfinite"
    assert written["records"][0]["total"] is None  # inf at the first evaluation
    assert math.isfinite(written["records"][0]["content"])
