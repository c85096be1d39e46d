"""verify_chain collects less often while it walks, and overlapping walks leave the collector as they found it."""
from __future__ import annotations

import gc

from service.domain.audit_log import _collecting_less_often


def test_overlapping_walks_ending_out_of_order_put_the_threshold_back():
    before = gc.get_threshold()
    first, second = _collecting_less_often(), _collecting_less_often()
    try:
        first.__enter__()
        assert gc.get_threshold()[0] == 50_000
        second.__enter__()
        first.__exit__(None, None, None)  # the first one ends while the second still walks
        assert gc.get_threshold()[0] == 50_000
        second.__exit__(None, None, None)
        assert gc.get_threshold() == before
    finally:
        gc.set_threshold(*before)


def test_a_walk_that_fails_puts_it_back_too():
    before = gc.get_threshold()
    try:
        with _collecting_less_often():
            raise RuntimeError("the database went away")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
