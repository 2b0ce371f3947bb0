"""JSON that is JSON: non-finite numbers become null, never `Infinity` or `NaN`.

Python's `json` writes `Infinity` and `NaN`, which no other JSON reader accepts (a browser's
`JSON.parse` refuses the whole document). Every JSON file, HTTP body and event that stylejax
writes goes through `dumps`: a loss that overflowed is shown as null, never as broken JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """`value` with every non-finite float (inf, -inf, nan) in it replaced by None.

    Walks dicts, lists and tuples (tuples become lists, as JSON has them); other values are
    returned as they are. Floats include NumPy's float64, a float subclass."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def dumps(value: Any, **kwargs) -> str:
    """`json.dumps` of `finite(value)`; `allow_nan=False` guarantees standard JSON."""
    return json.dumps(finite(value), allow_nan=False, **kwargs)
