"""Key ring changes from several processes at once: no version is lost, no ring is overwritten."""
from __future__ import annotations

import multiprocessing
from pathlib import Path

from crypto import FileKeyProvider, KeyRingError

_fork = multiprocessing.get_context("fork")


def _rotate(path: str, times: int, results) -> None:
    results.put([FileKeyProvider(Path(path)).rotate() for _ in range(times)])


def _init(path: str, results) -> None:
    try:
        ring = FileKeyProvider(Path(path)).init()
    except KeyRingError:
        results.put(None)
    else:
        results.put(ring.pepper)


def _run(target, args: tuple, processes: int) -> list:
    results = _fork.Queue()
    workers = [_fork.Process(target=target, args=(*args, results)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    return outcomes


def test_concurrent_rotations_each_add_a_version_of_their_own(tmp_path: Path):
    path = tmp_path / "keyring.json"
    first = FileKeyProvider(path).init()
    returned = sorted(v for batch in _run(_rotate, (str(path), 5), processes=6) for v in batch)
    ring = FileKeyProvider(path).load()
    assert returned == list(range(2, 32))  # 30 rotations: versions 2..31, none handed out twice
    assert sorted(ring.keks) == list(range(1, 32)) and ring.current_kek_version == 31
    assert len({ring.kek(v) for v in ring.keks}) == 31  # every version a key of its own
    assert ring.kek(1) == first.kek(1) and ring.pepper == first.pepper


def test_concurrent_inits_make_one_ring_and_the_others_refuse(tmp_path: Path):
    path = tmp_path / "keyring.json"
    outcomes = _run(_init, (str(path),), processes=6)
    winners = [pepper for pepper in outcomes if pepper is not None]
    assert len(winners) == 1
    assert FileKeyProvider(path).load().pepper == winners[0]  # the ring on disk is the one its creator was told of
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temporary file left behind
