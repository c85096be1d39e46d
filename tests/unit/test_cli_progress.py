"""`audit verify`'s progress line (service/__main__.py ProgressLine): at most one line each `every` seconds, with the
count and the rate since the start, on standard error."""
from __future__ import annotations

from service.__main__ import ProgressLine


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_line_each_interval_with_the_count_and_the_rate(capsys):
    clock = Clock()
    line = ProgressLine("verifying", every=5.0, clock=clock)
    for count, at in ((50_000, 101.0), (100_000, 104.9), (1_000_000, 105.0), (1_050_000, 109.0), (2_000_000, 110.0)):
        clock.now = at
        line(count)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == ["verifying: 1,000,000 events (200,000 a second)",
                                         "verifying: 2,000,000 events (200,000 a second)"]
