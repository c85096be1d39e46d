"""Staff pages: find or register a client, relation, documents, upload, download, consents, emergency access.

Every page calls the same domain functions as the API: the same decisions, the same events.
"""
from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from aiohttp import BodyPartReader, web
from pydantic import ValidationError

from ..domain import blocks, clients, consents, disclosures, documents, relations, sip, units
from ..errors import BryggaError, CsrfRefused, NotFound, RetentionMinimum, ValidationFailed
from ..fhir import consent_resource
from ..http.cursor import START
from ..http.documents import multipart_framing, next_part, refuse_declared_too_large, stream_content
from ..http.schemas import (
    CATEGORIES,
    PURPOSES,
    BlockLiftingIn,
    ConsentIn,
    DisclosureIn,
    DocumentMetadataIn,
    ReasonIn,
    RelationIn,
    ShredIn,
)
from . import session as sessions
from .pages import caller, form, page, redirect, render, rt, validated

SWEDEN = ZoneInfo("Europe/Stockholm")
# The consent rules' codes (policies/consents.py) in the staff's words; i18n.EN has them in English.
RULE_TEXT = {
    "same_zone": "Från- och till-zon måste vara olika.",
    "invalid_period": "Perioden är ogiltig: slutet måste komma efter början och inom den längsta tillåtna tiden.",
    "evidence_required": "Ett skriftligt samtycke kräver det underskrivna formuläret (ett dokument i kategorin consent_form).",
    "minor_requires_guardian_or_maturity": "För en minderårig krävs vårdnadshavarens samtycke eller en gjord mognadsbedömning.",
    "guardian_required": "Ett samtycke från vårdnadshavare ska ange vårdnadshavarens namn och personnummer.",
    "client_came_of_age": "Klienten har fyllt 18 år: vårdnadshavaren kan inte längre samtycka, klienten själv behövs.",
}

# A refused shred of a patient record younger than ten years, in words (policies/retention.py; PDL 3:17, 8:4).
RETENTION_TEXT = ("Journalhandlingar bevaras i minst tio år (PDL 3 kap. 17 §). Den här är yngre och får förstöras "
                  "bara efter beslut av IVO (PDL 8 kap. 4 §): ange beslutets diarienummer.")


# The grounds of a disclosure without consent, in the law's words (OSL 25:12, 26:9), Swedish first.
GROUNDS = (
    ("under_18", "Personen är under 18 år"),
    ("ongoing_misuse", "Personen har ett pågående missbruk av alkohol, narkotika eller flyktiga lösningsmedel"),
    ("lpt_lrv", "Personen vårdas enligt lagen om psykiatrisk tvångsvård (LPT) eller rättspsykiatrisk vård (LRV)"),
)


# Purposes, relation kinds and domains in the staff's words (the API's codes stay in the URLs and forms).
PURPOSE_WORDS = (("care", "Vård och behandling"), ("case_handling", "Handläggning"),
                 ("coordination", "Samordning (SIP)"), ("followup", "Uppföljning"))
KIND_WORDS = {"care": "vårdrelation", "case": "ärende", "sip": "SIP", "referral": "remiss"}
DOMAIN_WORDS = {"social": "socialtjänst", "health": "hälso- och sjukvård"}


def _uuid(request: web.Request, name: str) -> UUID:
    try:
        return UUID(request.match_info[name])
    except ValueError:
        raise NotFound() from None


@page()
async def clients_page(request: web.Request) -> web.Response:
    return render(request, "clients.html", not_found="not_found" in request.query, errors={}, values={})


@page()
async def find_client(request: web.Request) -> web.Response:
    data = await form(request)
    try:
        found = await clients.lookup(rt(request), caller(request), personal_number=data.get("personal_number", ""))
    except NotFound:
        return render(request, "clients.html", http_status=404, not_found=True, errors={}, values={})
    except ValidationFailed as exc:
        return render(request, "clients.html", http_status=422, not_found=False, errors=_field_errors(exc), values={})
    return redirect(request, f"/ui/clients/{found['id']}")


@page()
async def register_client(request: web.Request) -> web.Response:
    data = await form(request)
    try:
        client, _ = await clients.register(rt(request), caller(request), personal_number=data.get("new_personal_number", ""),
                                           name=(data.get("name") or "").strip())
    except ValidationFailed as exc:
        errors = {("new_personal_number" if key == "personal_number" else key): value
                  for key, value in _field_errors(exc).items()}
        return render(request, "clients.html", http_status=422, not_found=False, errors=errors, values={"name": data.get("name", "")})
    return redirect(request, f"/ui/clients/{client['id']}")


def _field_errors(exc: ValidationFailed) -> dict[str, str]:
    errors: dict[str, str] = {}
    for item in exc.extra.get("errors", []) or []:
        errors.setdefault(str(item.get("field", "")), str(item.get("message", "")))
    return errors or {"": str(exc)}


@page()
async def client_page(request: web.Request) -> web.Response:
    return await _client_view(request, _uuid(request, "client_id"), errors={}, values={})


async def _client_view(request: web.Request, client_id: UUID, *, errors: dict[str, str], values: dict[str, Any],
                       status: int = 200) -> web.Response:
    runtime, who = rt(request), caller(request)
    try:
        client = await clients.read(runtime, who, client_id)
    except NotFound:
        # No relation (or no such client): the way to open one, and what was disclosed to the unit (OSL 25:12, 26:9).
        return await _without_relation(request, client_id)
    purpose = _purpose(request)
    items = (await documents.page(runtime, who, client_id, category=None, after=START, limit=200,
                                  purpose=purpose)).items
    emergency = await consents.active_emergency(runtime, who, client_id)
    if emergency:
        emergency["expires_local"] = _local(emergency["expires_at"])
    made = (await disclosures.page(runtime, who, client_id, before=None, limit=100)).items
    zone = who.principal.zone
    receivers = [u for u in (await units.page(runtime, who.principal, after="", limit=500)).items
                 if u["active"] and zone is not None and u["domain"] != zone.domain]
    own = [d for d in items if d["unit"] == who.principal.unit and d["status"] == "active"]
    # The emergency form only for units that may open emergency access (policies: health care's road by default).
    return render(request, "client.html", http_status=status, client=client, documents=items, emergency=emergency,
                  categories=CATEGORIES, domains=runtime.settings.emergency_domains, errors=errors, values=values,
                  may_open_emergency=consents.may_open_emergency(runtime, who), disclosures=made, own_documents=own,
                  receivers=receivers, grounds=GROUNDS, local=_local, purpose=purpose, purposes=PURPOSE_WORDS,
                  plans=(await sip.page_of_client(runtime, who, client_id, before=None, limit=50)).items,
                  network=await sip.network(runtime, who, client_id), kinds=KIND_WORDS, domain_words=DOMAIN_WORDS)


def _purpose(request: web.Request) -> str:
    """The purpose the documents are listed and read for (the page's chooser; a consent opens only for its
    purposes: a SIP document of another zone shows under `coordination`). Anything else reads as care."""
    chosen = request.query.get("purpose", "care")
    return chosen if chosen in PURPOSES else "care"


def _local(at: datetime) -> str:
    return at.astimezone(SWEDEN).strftime("%Y-%m-%d %H:%M")


async def _without_relation(request: web.Request, client_id: UUID) -> web.Response:
    """No relation: nothing is shown but the way to open one, and to what was disclosed to the unit."""
    return render(request, "client_no_relation.html", http_status=404, client_id=client_id)


@page()
async def received_disclosures(request: web.Request) -> web.Response:
    """What was disclosed to the caller's unit without consent (OSL 25:12, 26:9), what and why, to read: a unit
    that received something needs no relation for it; anyone else gets the 404 of a client it may not know."""
    client_id = _uuid(request, "client_id")
    runtime, who = rt(request), caller(request)
    mine = (await disclosures.page(runtime, who, client_id, before=None, limit=100, made=False)).items
    for disclosure in mine:
        disclosure["documents"] = [await documents.read_metadata(runtime, who, document_id)
                                   for document_id in disclosure["document_ids"]]
    return render(request, "disclosures_received.html", received=mine, grounds=dict(GROUNDS), local=_local)


def _refused(form_name: str, exc: ValidationError | ValidationFailed) -> dict[str, str]:
    """A refused form of the client page, its messages by field, each key prefixed with the form's name (the
    page holds several forms): the model's (ValidationError) or the rules' (ValidationFailed)."""
    if isinstance(exc, ValidationError):
        return {f"{form_name}_{error['loc'][0] if error['loc'] else ''}": error["msg"] for error in exc.errors()}
    return {f"{form_name}_{key}": value for key, value in _field_errors(exc).items()}


@page()
async def disclose(request: web.Request) -> web.Response:
    """The disclosure form: the API's rules (DisclosureIn, then policies/disclosures.py) judge what was sent."""
    client_id = _uuid(request, "client_id")
    data = await form(request)
    posted = await request.post()
    picked = [str(v) for v in posted.getall("document_ids", [])]
    values: dict[str, Any] = {**data, "document_ids": picked}
    try:
        body = DisclosureIn.model_validate_json(json.dumps({
            "to_unit": data.get("to_unit", ""), "ground": data.get("ground", ""), "need": data.get("need", ""),
            "document_ids": picked}))
        await disclosures.create(rt(request), caller(request), client_id, body.command())
    except (ValidationError, ValidationFailed) as exc:
        return await _client_view(request, client_id, errors=_refused("disclosure", exc), values=values, status=422)
    return redirect(request, f"/ui/clients/{client_id}#disclosures")


@page()
async def lift_block(request: web.Request) -> web.Response:
    """The lifting form (PDL 4:4): the API's rules judge it; a refusal is shown beside the form."""
    client_id = _uuid(request, "client_id")
    data = await form(request)
    values: dict[str, Any] = dict(data)
    try:
        hours = int(data.get("hours") or "0")
    except ValueError:
        hours = 0
    basis = data.get("basis", "")
    try:
        body = BlockLiftingIn.model_validate_json(json.dumps({
            "basis": basis, "scope": data.get("scope", ""), "hours": hours, "reason": data.get("reason", ""),
            "form": (data.get("form") or None) if basis == "consent" else None,
            "evidence_document_id": (data.get("evidence_document_id") or None) if basis == "consent" else None}))
        await blocks.lift(rt(request), caller(request), client_id, body.command())
    except (ValidationError, ValidationFailed) as exc:
        return await _client_view(request, client_id, errors=_refused("lifting", exc), values=values, status=422)
    return redirect(request, f"/ui/clients/{client_id}")


@page()
async def shred_document(request: web.Request) -> web.Response:
    """The shred form (unit managers, the unit's own documents): the API's body and rules judge it; a patient record
    younger than ten years needs IVO's decision, and its refusal (audited like the API's) is shown in words."""
    client_id = _uuid(request, "client_id")
    data = await form(request)
    values: dict[str, Any] = dict(data)
    try:
        document_id = UUID(data.get("document_id", ""))
    except ValueError:
        raise NotFound() from None
    ivo = (data.get("ivo_decision") or "").strip()  # an empty field: no decision named
    try:
        body = ShredIn.model_validate_json(json.dumps({"reason": data.get("reason", ""),
                                                       **({"ivo_decision": ivo} if ivo else {})}))
        await documents.shred(rt(request), caller(request), document_id, reason=body.reason,
                              ivo_decision=body.ivo_decision)
    except (ValidationError, ValidationFailed) as exc:
        return await _client_view(request, client_id, errors=_refused("shred", exc), values=values, status=422)
    except RetentionMinimum:
        return await _client_view(request, client_id, errors={"shred_ivo_decision": RETENTION_TEXT}, values=values,
                                  status=409)
    return redirect(request, f"/ui/clients/{client_id}")


@page()
async def open_relation(request: web.Request) -> web.Response:
    data = await form(request)
    client_id = _uuid(request, "client_id")
    body = validated(RelationIn, {key: value for key in ("kind", "reason") if (value := (data.get(key) or "").strip())})
    await relations.open_relation(rt(request), caller(request), client_id, kind=body.kind, reason=body.reason)
    return redirect(request, f"/ui/clients/{client_id}")


@page()
async def open_emergency(request: web.Request) -> web.Response:
    data = await form(request)
    client_id = _uuid(request, "client_id")
    reason = (data.get("reason") or "").strip()
    if len(reason) < 20:
        raise ValidationFailed([{"field": "reason", "message": "at least 20 characters"}])
    await consents.open_emergency(rt(request), caller(request), client_id, reason=reason,
                                  domain=data.get("domain") or "health")
    return redirect(request, f"/ui/clients/{client_id}")


# An upload form's fields before the file (csrf, category, title): far above any of their own limits.
_FIELD_LIMIT = 1000


async def _field_text(part: BodyPartReader) -> str:
    """A form field's text, read no further than its limit: a longer one is refused, never cut (the API's rules
    then judge what was sent), and a huge one is not read into memory to find out."""
    raw = bytearray()
    while not part.at_eof():
        raw += await part.read_chunk(4096)
        if len(raw) > 4 * _FIELD_LIMIT:
            break
    try:
        text = part.decode(bytes(raw)).decode(part.get_charset("utf-8"))
    except (UnicodeDecodeError, LookupError):
        raise ValidationFailed([{"field": part.name or "", "message": "not text"}]) from None
    if len(text) > _FIELD_LIMIT:
        raise ValidationFailed([{"field": part.name or "", "message": f"at most {_FIELD_LIMIT} characters"}])
    return text


@page()
async def upload(request: web.Request) -> web.Response:
    """A multipart form: csrf, category, title, then the file, streamed like the API's upload."""
    client_id = _uuid(request, "client_id")
    refuse_declared_too_large(request, rt(request).settings.max_document_bytes)
    with multipart_framing("boundary"):
        reader = await request.multipart()
    fields: dict[str, str] = {}
    part = await next_part(reader, "form field")
    while isinstance(part, BodyPartReader) and part.name != "file" and len(fields) < 8:
        with multipart_framing("form field"):
            fields[part.name or ""] = await _field_text(part)
        part = await next_part(reader, "form field")
    if not sessions.csrf_ok(sessions.load(request), fields.get("csrf")):
        raise CsrfRefused("the form's CSRF token does not match this session")
    if not isinstance(part, BodyPartReader):
        raise ValidationFailed([{"field": "file", "message": "choose a file"}])
    try:  # the API's metadata rules (category, title length, no control or bidi characters)
        metadata = DocumentMetadataIn.model_validate_json(
            json.dumps({"category": fields.get("category", ""), "title": fields.get("title", "")}))
    except ValidationError as exc:
        raise ValidationFailed([{"field": str(error["loc"][0]) if error["loc"] else "title", "message": error["msg"]}
                                for error in exc.errors()]) from None

    async def chunks() -> AsyncGenerator[bytes, None]:
        while True:
            with multipart_framing("file"):
                chunk = await part.read_chunk(64 * 1024)
            if not chunk:
                return
            yield chunk

    upload_ = documents.Upload(category=metadata.category, title=metadata.title,
                               declared_type=part.headers.get("Content-Type"), chunks=chunks())
    await documents.create(rt(request), caller(request), client_id, upload_)
    return redirect(request, f"/ui/clients/{client_id}")


@page()
async def download(request: web.Request) -> web.StreamResponse:
    return await stream_content(request, caller(request), _uuid(request, "document_id"), purpose=_purpose(request))


# --- consents

def _consent_body(data: dict[str, str], multi: dict[str, list[str]]) -> dict[str, Any]:
    """The API's consent body from the form's fields (datetime-local read as Swedish time)."""
    def instant(name: str) -> str | None:
        raw = data.get(name) or ""
        if not raw:
            return None
        try:
            return datetime.fromisoformat(raw).replace(tzinfo=SWEDEN).isoformat()
        except ValueError:
            return raw  # the model names the field
    return {
        "from": {"organisation": data.get("from_organisation", ""), "domain": data.get("from_domain", "")},
        "to": {"organisation": data.get("to_organisation", ""), "domain": data.get("to_domain", ""),
               "unit": data.get("to_unit") or None},
        "categories": multi.get("categories") or [], "purposes": multi.get("purposes") or [],
        "valid_from": instant("valid_from"), "valid_until": instant("valid_until"),
        "given_by": data.get("given_by", ""), "form": data.get("form", ""),
        "maturity_assessed": data.get("maturity_assessed") == "on",
        "evidence_document_id": data.get("evidence_document_id") or None, "note": data.get("note") or None,
        # The guardian and the maturity assessment, when any of their fields was filled in (the API's rules then
        # judge them whole: guardian_required for a guardian's consent without one).
        "guardian": {"name": data.get("guardian_name", ""), "personal_number": data.get("guardian_personal_number", "")}
        if data.get("guardian_name") or data.get("guardian_personal_number") else None,
        "maturity": {"assessed_by": data.get("maturity_assessed_by", ""), "assessed_at": data.get("maturity_assessed_at", ""),
                     "basis": data.get("maturity_basis", "")}
        if data.get("maturity_assessed_by") or data.get("maturity_assessed_at") or data.get("maturity_basis") else None,
    }


async def _consents_view(request: web.Request, client_id: UUID, *, errors: dict[str, str], values: dict[str, Any],
                         status: int = 200) -> web.Response:
    runtime, who = rt(request), caller(request)
    history = (await consents.page(runtime, who, client_id, after=START, limit=200)).items
    items = (await documents.page(runtime, who, client_id, category="consent_form", after=START, limit=200)).items
    zone = who.principal.zone
    defaults = {"from_organisation": zone.organisation if zone else "", "from_domain": zone.domain if zone else "",
                "given_by": "client", "form": "written", "categories": [], "purposes": ["care"]}
    # Consents the receiving zone recorded wait for a unit of the holding (from) zone: its units get the button.
    holding = [c for c in history if c["status"] == "awaiting_confirmation" and zone is not None
               and (c["from"]["organisation"], c["from"]["domain"]) == (zone.organisation, zone.domain)]
    return render(request, "consents.html", http_status=status, client_id=client_id, consents=history, forms=items,
                  categories=CATEGORIES, purposes=PURPOSES, errors=errors, values={**defaults, **values},
                  domains=runtime.settings.domains, to_confirm={c["id"] for c in holding})


@page()
async def consents_page(request: web.Request) -> web.Response:
    return await _consents_view(request, _uuid(request, "client_id"), errors={}, values={})


@page()
async def grant_consent(request: web.Request) -> web.Response:
    client_id = _uuid(request, "client_id")
    data = await form(request)
    posted = await request.post()
    multi = {"categories": [str(v) for v in posted.getall("categories", [])],
             "purposes": [str(v) for v in posted.getall("purposes", [])]}
    values = {**data, **multi}
    try:
        body = ConsentIn.model_validate_json(json.dumps(_consent_body(data, multi)))
        await consents.grant(rt(request), caller(request), client_id, body.command())
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            loc = [str(part) for part in error["loc"] if not str(part).isdigit()]
            field = "_".join(loc[:2]) if loc and loc[0] in ("from", "to", "guardian", "maturity") else (loc[0] if loc else "")
            errors.setdefault(field, error["msg"])
        return await _consents_view(request, client_id, errors=errors, values=values, status=422)
    except ValidationFailed as exc:
        rule = RULE_TEXT.get(exc.code)
        errors = {key.replace(".", "_"): rule or value for key, value in _field_errors(exc).items()}
        if rule:
            errors[exc.code] = rule
        return await _consents_view(request, client_id, errors=errors, values=values, status=422)
    return redirect(request, f"/ui/clients/{client_id}/consents")


@page()
async def revoke_consent(request: web.Request) -> web.Response:
    data = await form(request)
    consent_id = _uuid(request, "consent_id")
    body = validated(ReasonIn, {"reason": (data.get("reason") or "").strip() or "återkallat"})
    revoked = await consents.revoke(rt(request), caller(request), consent_id, reason=body.reason)
    return redirect(request, f"/ui/clients/{revoked['client_id']}/consents")


@page()
async def confirm_consent(request: web.Request) -> web.Response:
    await form(request)
    confirmed = await consents.confirm(rt(request), caller(request), _uuid(request, "consent_id"))
    return redirect(request, f"/ui/clients/{confirmed['client_id']}/consents")


@page()
async def consent_fhir(request: web.Request) -> web.Response:
    _, consent = await consents.read(rt(request), caller(request), _uuid(request, "consent_id"))
    text = json.dumps(consent_resource(consent), indent=2, ensure_ascii=False, default=str)
    return render(request, "consent_fhir.html", consent=consent, fhir=text)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/ui/clients", clients_page), web.post("/ui/clients/find", find_client),
        web.post("/ui/clients", register_client), web.get("/ui/clients/{client_id}", client_page),
        web.post("/ui/clients/{client_id}/relation", open_relation),
        web.post("/ui/clients/{client_id}/emergency", open_emergency),
        web.post("/ui/clients/{client_id}/disclosures", disclose),
        web.get("/ui/clients/{client_id}/disclosures", received_disclosures),
        web.post("/ui/clients/{client_id}/block-liftings", lift_block),
        web.post("/ui/clients/{client_id}/shred", shred_document),
        web.post("/ui/clients/{client_id}/documents", upload),
        web.get("/ui/documents/{document_id}/content", download),
        web.get("/ui/clients/{client_id}/consents", consents_page),
        web.post("/ui/clients/{client_id}/consents", grant_consent),
        web.post("/ui/consents/{consent_id}/revoke", revoke_consent),
        web.post("/ui/consents/{consent_id}/confirm", confirm_consent),
        web.get("/ui/consents/{consent_id}/fhir", consent_fhir),
    ]


__all__ = ["BryggaError", "routes"]
