"""Auditors' review: the emergency-access queue with verdicts, and the anomaly report.

The report's findings: per user and Swedish day, many clients read, repeated denials and many relations
opened; emergency access without a verdict after 24 hours; and relations opened and followed by no read or
upload by their unit within 14 days (relations_without_activity, a sign of browsing: PDL 4:1 lets a unit
read only while it takes part in the client's care or case), reported in the window in which the 14 days
ran out, with the day of the opening.

The queue holds emergency grants and emergency liftings of blocks (`kind`; PDL 4:4: an emergency lifting is
reviewed like emergency access), one verdict each.

Every call is an event in the transaction of its read or write: the queue and the
report as `audit.read`, a verdict as `emergency.review` naming the grant's client;
denials too. The emergency reason and the verdict's comment are sealed at rest.

An auditor sees the grants opened by units of their organisations, and the anomalies
found in the events they see (policies/audit.py `LogScope`); a verdict on another
organisation's grant is 404, as if there were none.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from policies.audit import auditor_scope, decide_audit, decide_review
from policies.decision import Reason
from policies.model import Zone
from policies.roles import Permission

from ..audit import Action, Caller
from ..errors import AlreadyReviewed, ValidationFailed
from ..runtime import Runtime
from ..store import audit_review as review_store
from .access import Judged, access, decided
from .paging import Paged, paged

_GRANT_RECORD = "emergency_grant"  # as service/domain/consents.py seals the reason
_LIFTING_RECORD = "block_lifting"  # as service/domain/blocks.py seals it
_REVIEW_RECORD = "emergency_review"
DEFAULT_WINDOW = timedelta(days=7)
MAX_WINDOW = timedelta(days=366)
REVIEW_DUE = timedelta(hours=24)
# A relation opened and followed by no read or upload by its unit within this long: a sign of browsing (issue 14).
RELATION_QUIET = timedelta(days=14)


def review_json(rt: Runtime, row: Any, *, grant_id: UUID) -> dict[str, Any]:
    comment = rt.field_sealer.open_text(row["comment_sealed"], record=_REVIEW_RECORD, record_id=str(grant_id), field="comment")
    return {"verdict": row["verdict"], "comment": comment, "reviewed_by": row["reviewed_by"],
            "reviewed_at": row["reviewed_at"]}


def grant_json(rt: Runtime, row: Any) -> dict[str, Any]:
    """A grant as the queue shows it, with its reason opened and its verdict (or null)."""
    grant_id = row["id"]
    record = _LIFTING_RECORD if row["kind"] == "block_lifting" else _GRANT_RECORD
    return {
        "id": grant_id, "kind": row["kind"], "client_id": row["client_id"], "unit": row["unit_id"],
        "organisation": row["organisation"], "domain": row["domain"], "sub": row["sub"],
        "reason": rt.field_sealer.open_text(row["reason_sealed"], record=record, record_id=str(grant_id), field="reason"),
        "opened_at": row["opened_at"], "expires_at": row["expires_at"], "accesses": row["accesses"],
        "review": review_json(rt, row, grant_id=grant_id) if row["verdict"] is not None else None,
    }


async def emergency_queue(rt: Runtime, caller: Caller, *, status: str, after: tuple[datetime, UUID],
                          limit: int) -> Paged[dict[str, Any]]:
    """The caller's organisations' emergency grants in `status` (open, reviewed, all) after the key `after`,
    oldest first; raises Forbidden."""
    async with access(rt, caller, Action.AUDIT_READ, decided(decide_audit(caller.principal, Permission.AUDIT_READ))) as act:
        rows = await review_store.grants_page(act.conn, scope=auditor_scope(caller.principal), status=status,
                                              after=after, limit=limit + 1)
    return paged([grant_json(rt, row) for row in rows], limit)


async def review(rt: Runtime, caller: Caller, grant_id: UUID, *, verdict: str, comment: str) -> dict[str, Any]:
    """Record the one, final verdict on an emergency grant, the comment sealed.

    Raises Forbidden, NotFound (no such grant, or another organisation's), Conflict `already_reviewed`.
    """
    principal = caller.principal

    async def judge(conn: asyncpg.Connection) -> Judged:
        grant = await review_store.grant(conn, grant_id)
        decision = decide_review(principal, grant_exists=grant is not None, grant_sub=grant["sub"] if grant else None,
                                 grant_zone=Zone(grant["organisation"], grant["domain"]) if grant else None)
        return Judged(decision, row=grant, client_id=grant["client_id"] if grant else None)

    answers = {Reason.ALREADY_REVIEWED: lambda: AlreadyReviewed(
        "this emergency access already has a verdict; verdicts are final")}
    async with access(rt, caller, Action.EMERGENCY_REVIEW, judge, answers=answers) as act:
        sealed = rt.field_sealer.seal(comment, record=_REVIEW_RECORD, record_id=str(grant_id), field="comment")
        insert = review_store.insert_lifting_review if act.row["kind"] == "block_lifting" else review_store.insert_review
        row = await insert(act.conn, grant_id, verdict=verdict, comment_sealed=sealed, reviewed_by=principal.sub,
                           reviewed_by_name=principal.name)
        if row is None:
            act.deny(Reason.ALREADY_REVIEWED)  # a concurrent or earlier verdict: the first one stands
    return {"grant_id": grant_id, **review_json(rt, row, grant_id=grant_id)}


def report_window(*, since: datetime | None, until: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """[since, until): default the 7 days up to `now`; raises ValidationFailed when unordered or over 366 days."""
    until = until or now
    since = since or until - DEFAULT_WINDOW
    if since >= until:
        raise ValidationFailed([{"field": "until", "message": "must be later than since"}])
    if until - since > MAX_WINDOW:
        raise ValidationFailed([{"field": "since", "message": "the window may span at most 366 days"}])
    return since, until


async def anomalies(rt: Runtime, caller: Caller, *, since: datetime | None, until: datetime | None) -> dict[str, Any]:
    """Findings in [since, until) (default: the last 7 days) over the events and grants the caller sees;
    raises Forbidden, ValidationFailed."""
    now = rt.clock()
    since, until = report_window(since=since, until=until, now=now)
    settings = rt.settings
    async with access(rt, caller, Action.AUDIT_READ, decided(decide_audit(caller.principal, Permission.AUDIT_READ))) as act:
        scope = auditor_scope(caller.principal)
        days = await review_store.per_day_counts(
            act.conn, scope=scope, since=since, until=until, clients_per_day=settings.anomaly_clients_per_day,
            denials_per_day=settings.anomaly_denials_per_day, relations_per_day=settings.anomaly_relations_per_day)
        grants = await review_store.unreviewed_grants(act.conn, scope=scope, since=since, until=until,
                                                    opened_before=now - REVIEW_DUE)
        quiet = await review_store.relations_without_activity(act.conn, scope=scope, since=since, until=until, now=now,
                                                             quiet=RELATION_QUIET)
    findings = [*_day_findings(rt, days), *(_grant_finding(row, now=now) for row in grants),
                *(_relation_finding(row, now=now) for row in quiet)]
    findings.sort(key=lambda f: (f["day"], f["kind"], f["actor"]))
    return {"since": since, "until": until, "findings": findings}


def _finding(kind: str, actor: str, units: list[str] | None, day: Any, count: int, threshold: int, detail: str) -> dict[str, Any]:
    units = sorted(units or [])
    if len(units) > 1:
        detail += f", from units {', '.join(units)}"
    return {"kind": kind, "actor": actor, "unit": units[0] if len(units) == 1 else None, "day": day,
            "count": count, "threshold": threshold, "detail": detail, "client_id": None}


# Per-day kinds: (kind, its count and units in the store's row, the setting holding its threshold, detail).
_DAY_KINDS = (
    ("many_clients_read", "clients_read", "read_units", "anomaly_clients_per_day",
     "read {count} distinct clients on {day} (threshold: more than {threshold})"),
    ("repeated_denials", "denials", "denial_units", "anomaly_denials_per_day",
     "{count} denied attempts on {day} (threshold: {threshold})"),
    ("many_relations_opened", "relations_opened", "relation_units", "anomaly_relations_per_day",
     "opened relations to {count} distinct clients on {day} (threshold: more than {threshold})"),
)


def _day_findings(rt: Runtime, rows: list[Any]) -> list[dict[str, Any]]:
    findings = []
    for row in rows:
        for kind, count, units, setting, detail in _DAY_KINDS:
            if row[kind]:
                threshold = getattr(rt.settings, setting)
                findings.append(_finding(kind, row["actor"], row[units], row["day"], row[count], threshold,
                                         detail.format(count=row[count], day=row["day"], threshold=threshold)))
    return findings


def _grant_finding(row: Any, *, now: datetime) -> dict[str, Any]:
    hours = int((now - row["opened_at"]) / timedelta(hours=1))
    threshold = int(REVIEW_DUE / timedelta(hours=1))
    what = "emergency lifting of a block" if row["kind"] == "block_lifting" else "emergency access"
    return _finding("emergency_unreviewed", row["sub"], [row["unit_id"]], row["day"], hours, threshold,
                    f"{what} {row['id']} has had no verdict for {hours} h (due within {threshold} h); "
                    f"{row['accesses']} access(es) under it")


def _relation_finding(row: Any, *, now: datetime) -> dict[str, Any]:
    """A relation its unit did nothing with for RELATION_QUIET: `day` is the day it was opened (Swedish), `count`
    the whole days from the opening to the unit's first read or upload of the client, or to now when none."""
    days = int(((row["first_activity"] or now) - row["started_at"]) / timedelta(days=1))
    threshold = RELATION_QUIET.days
    after = (f"first read or upload {days} days after" if row["first_activity"] is not None
             else "no read or upload since")
    finding = _finding("relations_without_activity", row["started_by"], [row["unit_id"]], row["day"], days, threshold,
                       f"opened a {row['kind']} relation {row['id']} to client {row['client_id']} on {row['day']}; "
                       f"no read or upload by {row['unit_id']} within {threshold} days ({after})")
    finding["client_id"] = row["client_id"]
    return finding
