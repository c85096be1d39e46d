"""Opaque keyset-pagination cursors: base64url of the last row's sort key."""
from __future__ import annotations

import base64
import json
from typing import Any

from ..errors import ValidationFailed


def encode(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, default=str, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(cursor: str, *, length: int) -> list[Any]:
    """The sort key in `cursor`; 422 validation_failed when it is not one of ours."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        key = None
    if not isinstance(key, list) or len(key) != length or not all(isinstance(part, str) for part in key):
        raise ValidationFailed([{"field": "cursor", "message": "not a cursor this endpoint issued"}])
    return key
