"""stylejax.cli.progress: a tqdm bar on a terminal, periodic whole lines anywhere else."""

from __future__ import annotations

import io

import pytest

from stylejax.cli.progress import ProgressBar, describe

LOSSES = {"total": 123456.0, "content": 12.25, "style": 4567.0, "tv": 0.0}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_describe_names_the_note_and_the_latest_losses():
    assert describe(LOSSES, "members 1-4") == (
        "members 1-4  loss 1.235e+05 (content 12.2, style 4.57e+03)"
    )
    assert describe(LOSSES | {"tv": 0.5}) == (
        "loss 1.235e+05 (content 12.2, style 4.57e+03, tv 0.5)"
    )


def test_a_file_gets_a_line_per_tenth_and_no_carriage_returns():
    stream, clock = io.StringIO(), FakeClock()
    bar = ProgressBar(100, stream=stream, clock=clock, every_seconds=1e9)
    for evaluations in range(1, 101):
        clock.now += 0.5
        bar.update(evaluations, LOSSES, note="members 1-4")
    bar.close()
    text = stream.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert [line.split()[1] for line in lines] == [f"{10 * k}/100" for k in range(1, 11)]
    assert all("members 1-4  loss 1.235e+05" in line for line in lines)
    assert "(100%)" in lines[-1] and "ETA 00:00" in lines[-1]


def test_rate_and_eta_follow_the_clock():
    stream, clock = io.StringIO(), FakeClock()
    bar = ProgressBar(200, stream=stream, clock=clock)
    clock.now += 10.0
    bar.update(20, LOSSES)  # 20 evaluations in 10 s: 2/s, 180 left: 90 s
    assert stream.getvalue().splitlines() == [
        "stylejax: 20/200 evals (10%)  00:10 elapsed, 2 evals/s, ETA 01:30  "
        "loss 1.235e+05 (content 12.2, style 4.57e+03)"
    ]


def test_between_tenths_a_line_comes_every_so_many_seconds_and_the_last_one_at_close():
    stream, clock = io.StringIO(), FakeClock()
    bar = ProgressBar(1000, stream=stream, clock=clock, every_seconds=10)
    for evaluations in range(1, 56):  # 5.5 % in 55 s: no tenth reached
        clock.now += 1.0
        bar.update(evaluations, LOSSES)
    assert [line.split()[1] for line in stream.getvalue().splitlines()] == [
        "10/1000",
        "20/1000",
        "30/1000",
        "40/1000",
        "50/1000",
    ]
    bar.close()
    assert stream.getvalue().splitlines()[-1].split()[1] == "55/1000"
    bar.close()  # nothing new: no second copy of the last line
    assert len(stream.getvalue().splitlines()) == 6


def test_a_terminal_gets_a_tqdm_bar_with_rate_eta_and_losses():
    stream = Terminal()
    with ProgressBar(30, stream=stream) as bar:
        for evaluations in (10, 20, 30):
            bar.update(evaluations, LOSSES, note="members 1-2")
    text = stream.getvalue()
    assert "\r" in text  # redrawn in place
    last = text.split("\r")[-1]
    assert "30/30" in last and "100%" in last
    assert "eval/s" in last or "s/eval" in last
    assert "members 1-2  loss 1.235e+05" in last


def test_the_stream_decides_unless_told():
    terminal = Terminal()
    ProgressBar(5, stream=terminal, tty=False).update(5, LOSSES)
    assert "\r" not in terminal.getvalue() and "5/5 evals" in terminal.getvalue()


def test_a_total_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1, got 0"):
        ProgressBar(0, stream=io.StringIO())
