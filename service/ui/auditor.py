"""Auditor pages: the event log, the chain's status, the emergency review queue, anomalies, the client's extract."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from aiohttp import web

from policies.audit import EventFilter

from ..audit import Action
from ..domain import audit_log, audit_review, clients
from ..errors import NotFound, ValidationFailed
from ..http.cursor import START
from ..http.filters import event_filter, instant
from ..http.schemas import EmergencyReviewIn
from .pages import caller, form, page, redirect, render, rt, validated
from .staff import SWEDEN, _uuid

PAGE = 50


def _filters(query: Mapping[str, str]) -> EventFilter:
    """The API's filters, as the form sends them (http/filters.py)."""
    return event_filter(query, form=True, local=SWEDEN)


@page()
async def events(request: web.Request) -> web.Response:
    query = request.query
    try:
        filters = _filters(query)
    except ValidationFailed as exc:
        return render(request, "audit_events.html", http_status=422, events=[], next_after=None, query=query,
                      actions=sorted(Action._value2member_map_), error=str(exc))
    after = int(query["after"]) if query.get("after", "").isdigit() else 0
    page_ = await audit_log.page(rt(request), caller(request), filters, after=after, limit=PAGE)
    keep = {k: v for k, v in query.items() if k != "after" and v}
    next_after = page_.items[-1]["seq"] if page_.more else None
    return render(request, "audit_events.html", events=page_.items, next_after=next_after, query=keep,
                  actions=sorted(Action._value2member_map_), error=None)


@page()
async def chain(request: web.Request) -> web.Response:
    runtime, who = rt(request), caller(request)
    verdict = await audit_log.verify(runtime, who)
    latest = (await audit_log.checkpoints(runtime, who, after=0, limit=1, latest=True)).items
    return render(request, "audit_chain.html", verdict=verdict, checkpoint=latest[0] if latest else None)


@page()
async def reviews(request: web.Request) -> web.Response:
    chosen = request.query.get("status")
    status = chosen if chosen is not None and chosen in ("open", "reviewed", "all") else "open"
    items = (await audit_review.emergency_queue(rt(request), caller(request), status=status,
                                               after=START, limit=200)).items
    return render(request, "audit_reviews.html", grants=items, status=status)


@page()
async def review(request: web.Request) -> web.Response:
    data = await form(request)
    grant_id = _uuid(request, "grant_id")
    verdict = data.get("verdict")
    if verdict not in ("justified", "unjustified"):
        raise ValidationFailed([{"field": "verdict", "message": "choose a verdict"}])
    body = validated(EmergencyReviewIn, {"verdict": verdict, "comment": (data.get("comment") or "").strip()})
    await audit_review.review(rt(request), caller(request), grant_id, verdict=body.verdict, comment=body.comment)
    return redirect(request, "/ui/audit/emergency-reviews")


@page()
async def anomalies(request: web.Request) -> web.Response:
    since = instant(request.query.get("since") or None, "since", local=SWEDEN)
    until = instant(request.query.get("until") or None, "until", local=SWEDEN)
    report = await audit_review.anomalies(rt(request), caller(request), since=since, until=until)
    return render(request, "audit_anomalies.html", report=report)


@page()
async def access_log(request: web.Request) -> web.Response:
    client_id = _uuid(request, "client_id")
    items = (await audit_log.access_log(rt(request), caller(request), client_id, after=0, limit=500)).items
    return render(request, "access_log.html", client_id=client_id, entries=items, printed=datetime.now(SWEDEN))


@page()
async def lookup_page(request: web.Request) -> web.Response:
    """The auditor's client lookup by personal number (issue #20), leading to the client's log extract."""
    return render(request, "audit_lookup.html", errors={}, not_found=False)


@page()
async def lookup(request: web.Request) -> web.Response:
    """Audited as client.lookup, allowed or denied (policies/audit.py decide_auditor_lookup); the number goes in the
    form's body, never a URL."""
    data = await form(request)
    try:
        found = await clients.lookup_for_audit(rt(request), caller(request),
                                               personal_number=data.get("personal_number", ""))
    except NotFound:
        return render(request, "audit_lookup.html", http_status=404, errors={}, not_found=True)
    except ValidationFailed as exc:
        messages = {str(e.get("field", "")): str(e.get("message", "")) for e in exc.extra.get("errors", []) or []}
        return render(request, "audit_lookup.html", http_status=422, not_found=False,
                      errors={"personal_number": messages.get("personal_number") or str(exc)})
    return redirect(request, f"/ui/clients/{found['id']}/access-log")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/ui/audit/events", events), web.get("/ui/audit/chain", chain),
        web.get("/ui/audit/emergency-reviews", reviews), web.post("/ui/audit/emergency-reviews/{grant_id}", review),
        web.get("/ui/audit/anomalies", anomalies),
        web.get("/ui/audit/clients", lookup_page), web.post("/ui/audit/clients", lookup),
        web.get("/ui/clients/{client_id}/access-log", access_log),
    ]
