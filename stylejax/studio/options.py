"""A studio job's `options`: the JSON object of library options, checked before anything runs.

The checks go from cheap to thorough, and none does work that grows faster than the text:
the JSON is parsed (too deep a nesting is refused, not a crash), every value is checked against
its `Config` field's type (a finite number, a whole number, text, a list of them: nothing deeper),
the sweep's size is counted from its axes' lengths before any member is made, and only then does
`stylejax.check_options` validate the values as the CLI does. Every refusal names its field.

Call `parse_options` in a worker thread (the app does): it is pure, and it must not hold up the
event loop.
"""

from __future__ import annotations

import json
import math
import types
import typing
from typing import Any

import stylejax
from stylejax.config import OPTIONS, PRESET_OPTION, SEQUENCES, SWEEPABLE

# Images one studio job may make. Each member is a full optimization held in device memory at
# once where it fits, and one job holds the studio's single worker for all of them; 64 is an
# 8x8 grid, more than a person compares by eye. The CLI has no such limit.
MAX_MEMBERS = 64
# The options text: a job's options are a few hundred characters; 65,536 leave room for long
# style layer lists and 64-value sweeps while bounding what is parsed.
MAX_OPTIONS_CHARACTERS = 64 * 1024
# The studio owns these: `init` may only be "random" or "content" (a path would read the
# server's files), and images are read with the server's own pixel limit.
SERVER_OWNED = ("max_pixels", "weights")
INIT_CHOICES = ("random", "content")
FIELD_TYPES = typing.get_type_hints(stylejax.Config) | {PRESET_OPTION: str}


class OptionsError(ValueError):
    """Options refused: a one-line message and the option (or `options`) it is about."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def shown(value: Any, limit: int = 40) -> str:
    """`repr(value)`, cut to `limit` characters: a refusal never echoes a whole upload."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        return f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_number(value: Any) -> bool:
    """A JSON number that is a finite float64: not a bool, not inf/nan, not a huge integer."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _accepts(kind: Any, value: Any) -> bool:
    """Whether the JSON `value` has the Python type `kind` (a Config field's annotation)."""
    if isinstance(kind, types.UnionType):
        return any(_accepts(k, value) for k in typing.get_args(kind))
    if kind is type(None):
        return value is None
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return _is_number(value)
    if kind is str:
        return isinstance(value, str)
    if typing.get_origin(kind) is tuple:  # tuple[X, ...]: a JSON list of X
        item = typing.get_args(kind)[0]
        return isinstance(value, list) and all(_accepts(item, v) for v in value)
    raise TypeError(f"no JSON form for {kind!r}")


def _described(kind: Any) -> str:
    if isinstance(kind, types.UnionType):
        return " or ".join(_described(k) for k in typing.get_args(kind))
    if typing.get_origin(kind) is tuple:
        return f"a list of {_described(typing.get_args(kind)[0]).removeprefix('a ')}s"
    return {
        type(None): "null",
        bool: "true or false",
        int: "a whole number",
        float: "a finite number",
        str: "a string",
    }[kind]


def check_types(options: dict) -> None:
    """OptionsError naming the first option whose value is not of its field's JSON type.

    A sweepable option may instead be a list of such values (a sweep). Nothing deeper than a
    list of scalars is accepted, so later checks never recurse into user data."""
    for name, value in options.items():
        if name not in (*OPTIONS, PRESET_OPTION):
            names = ", ".join((*OPTIONS, PRESET_OPTION))
            raise OptionsError(name, f"{name} is not an option; options are {names}")
        kind = FIELD_TYPES[name]
        if _accepts(kind, value):
            continue
        if isinstance(value, list) and name not in SEQUENCES:
            if name not in SWEEPABLE:
                raise OptionsError(
                    name,
                    f"{name} takes one value; only {', '.join(SWEEPABLE)} can be swept with a list",
                )
            bad = [v for v in value if not _accepts(kind, v)]
            if not bad:
                continue
            raise OptionsError(
                name, f"{name} values must each be {_described(kind)}, got {shown(bad[0])}"
            )
        raise OptionsError(name, f"{name} must be {_described(kind)}, got {shown(value)}")


def count_members(options: dict) -> int:
    """How many images the options make (the product of the sweep's axis lengths, repeated
    values counted once as the library does); OptionsError naming the axis that takes the
    count past MAX_MEMBERS. Call after `check_types`: the values are then hashable."""
    count, over = 1, None
    for name, value in options.items():
        if isinstance(value, list) and name not in SEQUENCES:
            count *= max(len(dict.fromkeys(value)), 1)
            if count > MAX_MEMBERS and over is None:
                over = name
    if over is not None:
        raise OptionsError(
            over,
            f"{over}: this sweep makes {count} images, more than the studio's {MAX_MEMBERS} "
            f"per job; sweep fewer values (the command line has no such limit)",
        )
    return count


def _field_of(options: dict) -> str:
    """The option a library error without a field is about: the first one refused alone."""
    for name, value in options.items():
        try:
            stylejax.check_options(**{name: value})
        except (ValueError, TypeError, ArithmeticError):
            return name
    return "options"


def parse_options(text: str | bytes | None, preset: str | None = None) -> tuple[dict, int]:
    """The `options` form field, validated like the CLI's flags: (the options, how many
    images the job makes). OptionsError naming the field otherwise.

    `preset`: the server's (`--preset`), which options without one of their own start from."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if text is None or not text.strip():
        text = "{}"
    if len(text) > MAX_OPTIONS_CHARACTERS:
        raise OptionsError(
            "options", f"options are {len(text)} characters, more than {MAX_OPTIONS_CHARACTERS}"
        )
    try:
        options = json.loads(text)
    except RecursionError:
        raise OptionsError("options", "options are nested too deeply to be options") from None
    except ValueError as e:  # JSONDecodeError, or an integer over Python's digit limit
        raise OptionsError("options", f"options: not valid JSON ({_one_line(e)})") from None
    if not isinstance(options, dict):
        raise OptionsError("options", "options must be a JSON object of option names")
    for name in SERVER_OWNED:
        if name in options:
            raise OptionsError(name, f"{name} is set by the server, not per job")
    if preset is not None:
        options = {PRESET_OPTION: preset} | options
    check_types(options)
    if "init" in options and options["init"] not in INIT_CHOICES:
        raise OptionsError(
            "init",
            f"init must be one of {', '.join(INIT_CHOICES)} in the studio, "
            f"got {shown(options['init'])}",
        )
    members = count_members(options)
    try:
        stylejax.check_options(**options)
    except (ValueError, TypeError, ArithmeticError) as e:
        field = getattr(e, "field", None) or _field_of(options)
        message = _one_line(e)
        raise OptionsError(field, message if field in message else f"{field}: {message}") from None
    return options, members


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300] or type(error).__name__
