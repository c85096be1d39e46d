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


def test_verifying_a_file_tells_its_progress_each_50000_lines():
    """`audit verify --file` of a large export prints its progress too (verify_lines' `progress`)."""
    import json

    from service.audit_file import FORMAT, PROGRESS_LINES, verify_lines
    from tests.unit.test_crypto_chain import KEYS, chain

    rows = chain(range(1, PROGRESS_LINES * 2 + 1001))
    lines = [json.dumps({FORMAT: 1, "exported_at": "2026-12-02T00:00:00+00:00"}).encode()]
    lines += [json.dumps({"seq": seq, "prev_seq": link.prev_seq, "prev_hash": link.prev_hash.hex(), "hash": link.hash.hex(),
                          "event": [1, *values]}, separators=(",", ":"), ensure_ascii=False).encode()
              for seq, values, link in rows]
    counts: list[int] = []
    verdict, _ = verify_lines(lines, KEYS, progress=counts.append)
    assert verdict.ok and verdict.checked == len(rows)
    assert len(counts) == 2 and counts == sorted(counts) and 0 < counts[0] < PROGRESS_LINES <= counts[1] < len(rows)
