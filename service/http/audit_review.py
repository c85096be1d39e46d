"""Auditors' review: the emergency-access queue with verdicts, and the anomaly report."""
from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from aiohttp import web
from pydantic import Field

from policies.audit import REVIEW_STATUSES as STATUSES
from policies.roles import Permission

from ..domain import audit_review
from ..errors import ValidationFailed
from . import cursor
from .context import authenticate, runtime
from .routing import (
    INSTANT,
    PAGE_QUERY,
    Routes,
    by_time_and_id,
    json_response,
    page_params,
    page_response,
    path_uuid,
    query_instant,
    read_body,
)
from .schemas import EmergencyReviewIn, Out, Page

routes = Routes("audit")


class EmergencyVerdict(Out):
    """An auditor's verdict on an emergency access: recorded once, never changed."""

    verdict: Literal["justified", "unjustified"]
    comment: str
    reviewed_by: str
    reviewed_at: datetime


class EmergencyReviewOut(EmergencyVerdict):
    """The verdict just recorded."""

    grant_id: UUID


class EmergencyQueueItem(Out):
    """An emergency access (nödåtkomst) with what an auditor needs to judge it."""

    id: UUID
    kind: Literal["emergency_access", "block_lifting"] = Field(
        description="emergency access, or an emergency lifting of the client's blocks (reviewed alike; extends API-1.1)")
    client_id: UUID
    unit: str
    organisation: str
    domain: str = Field(description="the domain of the unit that opened it")
    sub: str = Field(description="the staff member who opened it")
    reason: str
    opened_at: datetime
    expires_at: datetime
    accesses: int = Field(description="events recorded under it (basis emergency:<id>), the opening left out")
    review: EmergencyVerdict | None


class AnomalyFinding(Out):
    kind: Literal["many_clients_read", "repeated_denials", "many_relations_opened", "emergency_unreviewed",
                  "relations_without_activity"] = Field(
        description="relations_without_activity: a relation opened and followed by no read or upload of the client "
                    "by its unit within 14 days (a sign of browsing), reported in the window in which the 14 days ran "
                    "out (and only once they have)")
    actor: str = Field(description="the user's sub (relations_without_activity: who opened it)")
    unit: str | None = Field(description="the unit the user acted from; null when several (detail names them)")
    day: date | None = Field(description="the calendar day in Europe/Stockholm (relations_without_activity: the day "
                                         "the relation was opened)")
    count: int = Field(description="emergency_unreviewed: whole hours without a verdict; relations_without_activity: "
                                   "whole days from the opening to the unit's first read or upload, or to now")
    threshold: int = Field(description="relations_without_activity: 14 (days)")
    detail: str
    client_id: UUID | None = Field(description="relations_without_activity: the client; null for the other kinds")


class AnomalyReport(Out):
    """Findings for review in [since, until)."""

    since: datetime
    until: datetime
    findings: list[AnomalyFinding]


_STATUS_QUERY = (("status", {"type": "string", "enum": list(STATUSES)}, "open (no verdict yet; default), reviewed or all"),)
_WINDOW_QUERY = (
    ("since", INSTANT, "inclusive (default: 7 days before until)"),
    ("until", INSTANT, "exclusive (default: now); at most 366 days after since"),
)


@routes.get(
    "/v1/audit/emergency-reviews", summary="The emergency-access review queue, oldest first",
    permission=Permission.AUDIT_READ, responses={200: Page[EmergencyQueueItem]}, query=(*_STATUS_QUERY, *PAGE_QUERY),
)
async def list_emergency_reviews(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    status = request.query.get("status", "open")
    if status not in STATUSES:
        raise ValidationFailed([{"field": "status", "message": f"must be one of {', '.join(STATUSES)}"}])
    after_cursor, limit = page_params(request)
    after = cursor.decode_time_id(after_cursor)
    page = await audit_review.emergency_queue(runtime(request), caller, status=status, after=after, limit=limit)
    return page_response(EmergencyQueueItem, page, by_time_and_id("opened_at"))


@routes.post(
    "/v1/audit/emergency-reviews/{grant_id}", summary="Record the final verdict on an emergency access",
    permission=Permission.AUDIT_REVIEW, body=EmergencyReviewIn, responses={201: EmergencyReviewOut},
    errors=((404, "not_found"), (409, "already_reviewed")),
)
async def review_emergency(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    grant_id = path_uuid(request, "grant_id")
    body = await read_body(request, EmergencyReviewIn)
    verdict = await audit_review.review(runtime(request), caller, grant_id, verdict=body.verdict, comment=body.comment)
    return json_response(EmergencyReviewOut, verdict, status=201)


@routes.get(
    "/v1/audit/anomalies", summary="Findings for review: many clients read, repeated denials, many relations "
                                   "opened, emergency access without a verdict after 24 h, relations without "
                                   "activity within 14 days",
    permission=Permission.AUDIT_READ, responses={200: AnomalyReport}, errors=((422, "validation_failed"),),
    query=_WINDOW_QUERY,
)
async def anomaly_report(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    report = await audit_review.anomalies(runtime(request), caller, since=query_instant(request, "since"),
                                          until=query_instant(request, "until"))
    return json_response(AnomalyReport, report)
