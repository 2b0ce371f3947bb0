"""What a stored job looks like: the one schema every job.json and log.json is checked against
when the studio starts.

The studio lists jobs of earlier servers from their folders, and a folder may hold anything: an
older version's file, a hand edit, a disk error. A record is used only once every field has the
type the studio relies on; one that has not is skipped with a warning, as an unreadable one is.
Non-finite numbers (written as `Infinity` by versions before stylejax.files.finite_json) are read as
null first, so an old job whose loss overflowed is still listed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from stylejax.files.finite_json import finite
from stylejax.studio.options import OptionsError, check_types

STATUSES = ("queued", "running", "finished", "failed", "cancelled")


class BadRecord(ValueError):
    """A stored job.json or log.json that does not fit the schema: says which field and why."""


def _whole(minimum: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum


def _number(value: Any) -> bool:
    """A finite JSON number (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


def _list_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, list) and all(check(item) for item in v)


def loss_record(value: Any) -> bool:
    """One loss record: {"total": 1.5, "evaluations": 8, "size": [26, 32], ...}; numbers are
    finite or null, `size` a list of whole numbers."""
    return isinstance(value, dict) and all(
        isinstance(key, str) and (item is None or _number(item) or _list_of(_whole(0))(item))
        for key, item in value.items()
    )


def _names(value: Any) -> bool:
    """The uploads' file names: {"content": str, "style": [str], "mask": str} (any may be
    missing)."""
    return (
        isinstance(value, dict)
        and set(value) <= {"content", "style", "mask"}
        and isinstance(value.get("content", ""), str)
        and isinstance(value.get("mask", ""), str)
        and _list_of(lambda s: isinstance(s, str))(value.get("style", []))
    )


def _options(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    try:
        check_types(value)
    except OptionsError:
        return False
    return True


def _finite(value: Any, what: str) -> Any:
    """`finite(value)`; BadRecord for a value nested too deeply to walk (no record is)."""
    try:
        return finite(value)
    except RecursionError:
        raise BadRecord(f"{what} is nested too deeply") from None


# field: (required, check, what it must be)
RECORD: dict[str, tuple[bool, Callable[[Any], bool], str]] = {
    "id": (True, lambda v: isinstance(v, str), "the folder's id"),
    "status": (True, lambda v: v in STATUSES, f"one of {', '.join(STATUSES)}"),
    "options": (True, _options, "an object of library options of their types"),
    "styles": (True, _whole(1), "a whole number >= 1"),
    "members": (True, _whole(1), "a whole number >= 1"),
    "names": (True, _names, 'an object {"content": string, "style": [strings], "mask": string}'),
    "mask": (False, lambda v: isinstance(v, bool), "true or false"),
    "created": (True, _number, "a finite number (seconds since 1970)"),
    "started": (False, _optional(_number), "a finite number or null"),
    "finished": (False, _optional(_number), "a finite number or null"),
    "evaluations": (False, _whole(0), "a whole number >= 0"),
    "budget": (False, _whole(0), "a whole number >= 0"),
    "seconds": (False, lambda v: _number(v) and v >= 0, "a finite number >= 0"),
    "size": (
        False,
        _optional(lambda v: _list_of(_whole(1))(v) and len(v) == 2),
        "[height, width] or null",
    ),
    "losses": (False, _list_of(loss_record), "a list of loss records"),
    "loss": (False, _optional(loss_record), "a loss record or null"),
    "error": (False, _optional(lambda v: isinstance(v, str)), "a string or null"),
}


def checked_record(record: Any, job_id: str) -> dict:
    """The fields RECORD names of the job.json of folder `job_id`, non-finite numbers as null;
    BadRecord naming the first field that does not fit. Other fields are dropped."""
    if not isinstance(record, dict):
        raise BadRecord(f"job.json holds a {type(record).__name__}, not an object")
    checked = {}
    for name, (required, check, expected) in RECORD.items():
        if name not in record:
            if required:
                raise BadRecord(f"job.json has no {name!r}")
            continue
        value = _finite(record[name], f"job.json: {name!r}")
        if not check(value):
            raise BadRecord(f"job.json: {name!r} must be {expected}")
        checked[name] = value
    record = checked
    if record["id"] != job_id:
        raise BadRecord(f"job.json: 'id' is not the folder's name {job_id}")
    if len(record.get("losses", [])) > record["members"]:
        raise BadRecord("job.json: 'losses' has more entries than the job has members")
    return record


def checked_histories(saved_log: Any, members: int) -> list[list[dict]]:
    """The loss histories of a log.json (non-finite numbers as null); BadRecord unless it is an
    object whose `histories` (if any) is at most `members` lists of loss records."""
    if not isinstance(saved_log, dict):
        raise BadRecord(f"log.json holds a {type(saved_log).__name__}, not an object")
    histories = _finite(saved_log.get("histories") or [], "log.json: 'histories'")
    if not (_list_of(_list_of(loss_record))(histories) and len(histories) <= members):
        raise BadRecord(f"log.json: 'histories' must be at most {members} lists of loss records")
    return histories
