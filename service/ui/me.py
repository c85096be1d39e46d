"""The client's own pages, /ui/me/ (issue #18): their consents, who read their records, released documents.

Swedish first and in plain words (no codes), built for a phone as well as a desk. Every page calls the same
domain functions as the API (service/domain/me.py): the same decisions, the same events.
"""
from __future__ import annotations

import json
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import ValidationError

from ..domain import me
from ..errors import Minor, NotFound, ValidationFailed
from ..http.cursor import START
from ..http.documents import stream_content
from ..http.schemas import MeConsentIn
from .pages import caller, form, page, redirect, render, rt

SWEDEN = ZoneInfo("Europe/Stockholm")
# What a consent may cover, in a person's words (the API's codes stay in the form's values).
CATEGORY_WORDS = (("*", "Alla slags uppgifter"), ("assessment", "Utredningar och bedömningar"),
                  ("journal_note", "Journalanteckningar"), ("treatment_plan", "Behandlingsplaner"),
                  ("sip", "Samordnad individuell plan (SIP)"), ("decision", "Beslut"), ("referral", "Remisser"))
PURPOSE_WORDS = (("care", "Vård och behandling"), ("case_handling", "Handläggning av ärenden"),
                 ("coordination", "Samordning (SIP)"), ("followup", "Uppföljning"))
DOMAIN_WORDS = {"social": "socialtjänsten", "health": "hälso- och sjukvården"}
STATUS_WORDS = {"active": "Gäller", "pending": "Gäller från startdagen", "awaiting_confirmation": "Väntar på bekräftelse",
                "expired": "Har upphört", "revoked": "Återkallat"}
RULE_WORDS = {"same_zone": "Välj två olika verksamheter: uppgifterna ska gå från den ena till den andra.",
              "invalid_period": "Välj ett slutdatum efter i dag och högst två år fram."}


def _uuid(request: web.Request, name: str) -> UUID:
    try:
        return UUID(request.match_info[name])
    except ValueError:
        raise NotFound() from None


@page()
async def home(request: web.Request) -> web.Response:
    record = await me.record(rt(request), caller(request))
    return render(request, "me_home.html", record=record)


async def _consents_view(request: web.Request, *, errors: dict[str, str], values: dict[str, object],
                         status: int = 200) -> web.Response:
    runtime, who = rt(request), caller(request)
    consents = (await me.consents(runtime, who, after=START, limit=200)).items
    zones = await me.zones(runtime, who)
    return render(request, "me_consents.html", http_status=status, consents=consents, zones=zones,
                  categories=CATEGORY_WORDS, purposes=PURPOSE_WORDS, domains=DOMAIN_WORDS, statuses=STATUS_WORDS,
                  errors=errors, values={"categories": [], "purposes": ["care"], **values},
                  given="given" in request.query, revoked="revoked" in request.query)


@page()
async def consents_page(request: web.Request) -> web.Response:
    return await _consents_view(request, errors={}, values={})


def _zone(value: str) -> dict[str, str]:
    organisation, _, domain = value.partition("/")
    return {"organisation": organisation, "domain": domain}


@page()
async def give_consent(request: web.Request) -> web.Response:
    data = await form(request)
    posted = await request.post()
    multi = {"categories": [str(v) for v in posted.getall("categories", [])],
             "purposes": [str(v) for v in posted.getall("purposes", [])]}
    values: dict[str, object] = {**data, **multi}
    until = data.get("valid_until", "")
    try:  # the last day counts whole: the consent ends at midnight after it, Swedish time
        valid_until = datetime.fromisoformat(until).replace(hour=23, minute=59, tzinfo=SWEDEN).isoformat()
    except ValueError:
        valid_until = until
    body = {"from": _zone(data.get("from", "")), "to": {**_zone(data.get("to", "")), "unit": None},
            "categories": multi["categories"], "purposes": multi["purposes"], "valid_until": valid_until}
    try:
        command = MeConsentIn.model_validate_json(json.dumps(body)).command()
        await me.give_consent(rt(request), caller(request), command)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            errors.setdefault({"from_": "from"}.get(field, field), "Fyll i det här.")
        return await _consents_view(request, errors=errors, values=values, status=422)
    except Minor:
        return await _consents_view(request, errors={"minor": "minor"}, values=values, status=403)
    except ValidationFailed as exc:
        return await _consents_view(request, errors={"rule": RULE_WORDS.get(exc.code or "", str(exc))}, values=values,
                                    status=422)
    return redirect(request, "/ui/me/consents?given=1")


@page()
async def revoke_consent(request: web.Request) -> web.Response:
    await form(request)
    await me.revoke_consent(rt(request), caller(request), _uuid(request, "consent_id"), reason=None)
    return redirect(request, "/ui/me/consents?revoked=1")


@page()
async def access_log(request: web.Request) -> web.Response:
    after = request.query.get("after", "0")
    page_ = await me.access_log(rt(request), caller(request), after=int(after) if after.isdigit() and len(after) <= 18 else 0, limit=50)
    entries = page_.items
    return render(request, "me_access_log.html", entries=entries, more=page_.more,
                  next_after=entries[-1]["seq"] if entries else 0, printed=datetime.now(SWEDEN))


@page()
async def documents_page(request: web.Request) -> web.Response:
    items = (await me.documents(rt(request), caller(request), after=START, limit=200)).items
    return render(request, "me_documents.html", documents=items)


@page()
async def download(request: web.Request) -> web.StreamResponse:
    return await stream_content(request, caller(request), _uuid(request, "document_id"), purpose=None)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/ui/me/", home), web.get("/ui/me/consents", consents_page),
        web.post("/ui/me/consents", give_consent), web.post("/ui/me/consents/{consent_id}/revoke", revoke_consent),
        web.get("/ui/me/access-log", access_log), web.get("/ui/me/documents", documents_page),
        web.get("/ui/me/documents/{document_id}/content", download),
    ]
