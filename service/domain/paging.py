"""One page shape for every listing: the items, and whether there are more after them.

A listing reads one row past its limit to know; the web layer makes the cursor from the last item
(http/routing.py page_response), so the API, the web interface and the command line page alike.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Paged(Generic[T]):
    items: list[T]
    more: bool


def paged(rows: Sequence[T], limit: int) -> Paged[T]:
    """The page of `rows` read with `limit + 1` (one past the limit, to know whether more follow)."""
    return Paged(list(rows[:limit]), len(rows) > limit)


Item = dict[str, Any]
