"""Request ids are unique within a process and across forks, and cost no system call."""
from __future__ import annotations

import multiprocessing
import re

from service.http.middleware import new_request_id


def _child_ids(queue) -> None:
    queue.put([new_request_id() for _ in range(3)])


def test_ids_are_unique_hex_of_fixed_length():
    ids = [new_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_a_forked_process_draws_from_a_prefix_of_its_own():
    mine = new_request_id()
    queue = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(target=_child_ids, args=(queue,))
    child.start()
    theirs = queue.get(timeout=30)
    child.join(30)
    assert {i[:16] for i in theirs} == {theirs[0][:16]} and theirs[0][:16] != mine[:16]
    assert mine not in theirs
