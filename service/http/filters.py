"""The audit log's filters from a query, for the API and the web interface alike (one set of rules).

The two differ only in how a form sends what the API's query says: an HTML form sends every field, empty
when unset, a flag as `yes`/`no`, and a time from a `datetime-local` control without an offset (Swedish
time, the clinics' own); the API's query leaves unset fields out, says `true`/`false`, and needs an offset.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from uuid import UUID

from policies.audit import EventFilter

from ..audit import Action
from ..errors import ValidationFailed

API_FLAGS = {"true": True, "false": False}
FORM_FLAGS = {"yes": True, "no": False}


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed([{"field": name, "message": message}])


def event_filter(query: Mapping[str, str], *, form: bool = False, local: tzinfo | None = None) -> EventFilter:
    """The EventFilter a query asks for; 422 validation_failed naming the first field that is not one.

    `form`: the web interface's form (empty means unset, flags `yes`/`no`, times without an offset in `local`).
    """
    def value(name: str) -> str | None:
        raw = query.get(name)
        return None if raw is None or (form and raw == "") else raw

    client_id = None
    if (raw := value("client_id")) is not None:
        try:
            client_id = UUID(raw)
        except ValueError:
            raise _invalid("client_id", "must be a uuid") from None
    action = value("action")
    if action is not None and action not in Action._value2member_map_:
        raise _invalid("action", "not an audited action")
    decision = value("decision")
    if decision not in (None, "allow", "deny"):
        raise _invalid("decision", "must be allow or deny")
    flags = FORM_FLAGS if form else API_FLAGS
    flagged = value("flagged")
    if flagged is not None and flagged not in flags:
        raise _invalid("flagged", f"must be {' or '.join(flags)}")
    texts = {name: value(name) for name in ("actor", "unit")}
    for name, text in texts.items():
        if text is not None and "\x00" in text:  # routing.FREE_TEXT's rule: PostgreSQL text cannot hold U+0000
            raise _invalid(name, "must not contain U+0000")
    since, until = instant(value("since"), "since", local=local), instant(value("until"), "until", local=local)
    if since and until and since >= until:
        raise _invalid("until", "must be after since")
    return EventFilter(client_id=client_id, actor=texts["actor"], unit=texts["unit"], action=action,
                       decision=decision, flagged=None if flagged is None else flags[flagged], since=since, until=until)


def instant(raw: str | None, name: str, *, local: tzinfo | None = None) -> datetime | None:
    """An ISO 8601 instant in UTC; without an offset only where `local` says what it is; None when absent."""
    if raw is None:
        return None
    value: datetime | None
    try:
        value = datetime.fromisoformat(raw)
        if value.tzinfo is None:
            value = value.replace(tzinfo=local) if local is not None else None
        value = value.astimezone(UTC) if value is not None else None
    except (ValueError, OverflowError):  # not a date, or one that leaves the calendar once in UTC
        value = None
    if value is None:
        raise _invalid(name, "must be an ISO 8601 instant with an offset, e.g. 2026-11-25T08:00:00Z")
    return value
