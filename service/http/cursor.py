"""Opaque keyset-pagination cursors: base64url of the last row's sort key."""
from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from ..errors import ValidationFailed


def encode(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, default=str, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(cursor: str, *, length: int) -> list[Any]:
    """The sort key in `cursor`; 422 validation_failed when it is not one of ours."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, RecursionError):  # RecursionError: a forged cursor nested past Python's stack limit
        key = None
    if not isinstance(key, list) or len(key) != length or not all(isinstance(part, str) for part in key):
        raise ValidationFailed([{"field": "cursor", "message": "not a cursor this endpoint issued"}])
    return key


# Before every (timestamp, id) key: where a keyset listing ordered by time then id starts.
START: tuple[datetime, UUID] = (datetime(1970, 1, 1, tzinfo=UTC), UUID(int=0))


def encode_time_id(at: datetime, ident: Any) -> str:
    return encode([at.isoformat(), str(ident)])


def decode_time_id(cursor: str | None) -> tuple[datetime, UUID]:
    """The (timestamp, id) key in `cursor`, START when there is none; 422 validation_failed when not ours."""
    if not cursor:
        return START
    at, ident = decode(cursor, length=2)
    try:
        return datetime.fromisoformat(at), UUID(ident)
    except ValueError:
        raise ValidationFailed([{"field": "cursor", "message": "not a cursor this endpoint issued"}]) from None
