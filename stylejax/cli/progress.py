"""The progress display: a tqdm bar on a terminal, periodic plain lines anywhere else.

On a terminal, tqdm draws one bar over evaluations with rate and ETA, and the latest losses as
its postfix. Where stderr is a file or a pipe (SLURM, CI, `2> log`), `\\r` redraws would pile up
as garbage, so the display degrades to whole lines: one when a new tenth of the total is
reached or `every_seconds` have passed since the last line, and always the last one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import TextIO

from tqdm import tqdm


def describe(losses: Mapping[str, float], note: str = "") -> str:
    """`members 1-4  loss 1.234e+05 (content 12.3, style 4.56e+03)`, for the latest record."""
    parts = [note] if note else []
    if "total" in losses:
        detail = ", ".join(
            f"{name} {losses[name]:.3g}"
            for name in ("content", "style", "tv")
            if name in losses and (name != "tv" or losses[name])
        )
        parts.append(f"loss {losses['total']:.4g}" + (f" ({detail})" if detail else ""))
    return "  ".join(parts)


class ProgressBar:
    """Progress over `total` evaluations: the limit that will actually stop the run.

    `update(evaluations, losses, note)` takes the count reached so far (not an increment), the
    latest {"total", "content", "style"[, "tv"]} losses and a note such as "members 1-4".
    `tty` overrides `stream.isatty()`; `clock` times the plain lines (tests pass a fake one).
    """

    def __init__(
        self,
        total: int,
        *,
        stream: TextIO | None = None,
        tty: bool | None = None,
        every_seconds: float = 30.0,
        desc: str = "stylejax",
        clock: Callable[[], float] = time.monotonic,
    ):
        if total < 1:
            raise ValueError(f"a progress bar needs a total of at least 1, got {total}")
        self.total, self.desc, self.every_seconds, self.clock = total, desc, every_seconds, clock
        self.stream = sys.stderr if stream is None else stream
        if tty is None:
            isatty = getattr(self.stream, "isatty", None)
            tty = bool(isatty and isatty())
        self.evaluations, self.text = 0, ""
        self.started = clock()
        self._bar = (
            tqdm(
                total=total,
                file=self.stream,
                desc=desc,
                unit="eval",
                dynamic_ncols=True,
                leave=True,
            )
            if tty
            else None
        )
        self._printed_tenth, self._printed_at, self._printed_count = 0, self.started, None

    def update(self, evaluations: int, losses: Mapping[str, float], note: str = "") -> None:
        """Shows `evaluations` of `total` done, with the latest losses and an optional note."""
        step = evaluations - self.evaluations
        self.evaluations, self.text = evaluations, describe(losses, note)
        if self._bar is not None:
            self._bar.set_postfix_str(self.text, refresh=False)
            self._bar.update(step)
            return
        tenth = min(10, 10 * evaluations // self.total)
        now = self.clock()
        if tenth > self._printed_tenth or now - self._printed_at >= self.every_seconds:
            self._line(now)
            self._printed_tenth = max(self._printed_tenth, tenth)

    def close(self) -> None:
        """Ends the display: the bar's final state, or the last plain line if not yet shown."""
        if self._bar is not None:
            self._bar.close()
        elif self._printed_count != self.evaluations and self.evaluations:
            self._line(self.clock())

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _line(self, now: float) -> None:
        elapsed = now - self.started
        rate = self.evaluations / elapsed if elapsed > 0 else 0.0
        left = self.total - self.evaluations
        if left <= 0:
            eta = tqdm.format_interval(0)
        else:
            eta = tqdm.format_interval(left / rate) if rate > 0 else "?"
        percent = 100 * self.evaluations // self.total
        line = (
            f"{self.desc}: {self.evaluations}/{self.total} evals ({percent}%)  "
            f"{tqdm.format_interval(elapsed)} elapsed, {rate:.3g} evals/s, ETA {eta}"
        )
        self.stream.write(line + (f"  {self.text}" if self.text else "") + "\n")
        self.stream.flush()
        self._printed_at, self._printed_count = now, self.evaluations
