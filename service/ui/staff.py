"""Staff pages: find or register a client, relation, documents, upload, download, consents, emergency access.

Every page calls the same domain functions as the API: the same decisions, the same events.
"""
from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from datetime import date, datetime, time
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from aiohttp import BodyPartReader, web
from pydantic import ValidationError

from ..domain import blocks, clients, consents, disclosures, documents, relations, sip, units
from ..errors import BryggaError, CsrfRefused, NotFound, RetentionMinimum, ValidationFailed
from ..fhir import consent_resource
from ..http.cursor import START, decode_time_id, encode_time_id
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
from . import labels
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

DATE_TEXT = "Skriv datumet som ÅÅÅÅ-MM-DD."

# A refused shred of a patient record younger than ten years, in words (policies/retention.py; PDL 3:17, 8:4).
RETENTION_TEXT = ("Journalhandlingar bevaras i minst tio år (PDL 3 kap. 17 §). Den här är yngre och får förstöras "
                  "bara efter beslut av IVO (PDL 8 kap. 4 §): ange beslutets diarienummer.")


# The grounds of a disclosure without consent, in the law's words (OSL 25:12, 26:9), Swedish first.
# (Their words are the catalogue's: service/ui/labels.py, kind "ground".)
GROUNDS = ("under_18", "ongoing_misuse", "lpt_lrv")


def _uuid(request: web.Request, name: str) -> UUID:
    try:
        return UUID(request.match_info[name])
    except ValueError:
        raise NotFound() from None


async def _clients_view(request: web.Request, *, status: int = 200, not_found: bool = False,
                        errors: dict[str, str], values: dict[str, Any]) -> web.Response:
    """The clients page: "Mina klienter" (the unit's clients with an active relation, newest first, paged), the
    search by personal number and the registration."""
    mine: list[dict[str, Any]] = []
    next_before = None
    if caller(request).principal.unit is not None:
        try:
            before = decode_time_id(request.query.get("before") or None) if request.query.get("before") else \
                clients.NEWEST
        except ValidationFailed:
            before = clients.NEWEST
        listed = await clients.of_unit(rt(request), caller(request), before=before, limit=PAGE)
        mine = listed.items
        next_before = encode_time_id(mine[-1]["since"], mine[-1]["id"]) if listed.more and mine else None
    return render(request, "clients.html", http_status=status, not_found=not_found, errors=errors, values=values,
                  mine=mine, next_before=next_before, paged="before" in request.query,
                  ended="ended" in request.query)


@page()
async def clients_page(request: web.Request) -> web.Response:
    return await _clients_view(request, not_found="not_found" in request.query, errors={}, values={})


@page()
async def find_client(request: web.Request) -> web.Response:
    data = await form(request)
    try:
        found = await clients.lookup(rt(request), caller(request), personal_number=data.get("personal_number", ""))
    except NotFound:
        return await _clients_view(request, status=404, not_found=True, errors={}, values={})
    except ValidationFailed as exc:
        return await _clients_view(request, status=422, errors=_field_errors(exc), values={})
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
        return await _clients_view(request, status=422, errors=errors, values={"name": data.get("name", "")})
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
    listed = await documents.page(runtime, who, client_id, category=None, after=_after(request), limit=PAGE,
                                  purpose=purpose)
    items = listed.items
    # A consent basis in words names its zones and last day: the consents, read only when a document needs them.
    consent_index: dict[str, Any] = {}
    if any(d["access_basis"].startswith("consent:") for d in items):
        consent_index = {str(c["id"]): c for c in await _all_consents(request, client_id)}
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
                  receivers=receivers, grounds=GROUNDS, purpose=purpose, purposes=PURPOSES,
                  plans=(await sip.page_of_client(runtime, who, client_id, before=None, limit=50)).items,
                  network=await sip.network(runtime, who, client_id), consent_index=consent_index,
                  next_cursor=_next_cursor(items, listed.more, "created_at"), paged="after" in request.query,
                  shredded="shredded" in request.query, anchors=CLIENT_ANCHORS,
                  uploaded=_uploaded(request, items))


# Where each refusal of the client page's forms points in its error summary.
CLIENT_ANCHORS = {"upload_": "upload-form", "upload_file": "file", "upload_title": "title", "upload_category": "category",
                  "disclosure_": "disclosure-form", "disclosure_document_ids": "disclosure-form",
                  "disclosure_to_unit": "to_unit", "disclosure_ground": "disclosure-form", "disclosure_need": "need",
                  "lifting_": "lifting-form", "lifting_hours": "hours", "lifting_reason": "lifting-reason",
                  "lifting_basis": "lifting-form", "lifting_scope": "lifting-form", "lifting_form": "lifting-form-of-consent",
                  "lifting_evidence_document_id": "lifting-form"}


def _uploaded(request: web.Request, items: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The document just uploaded (`?uploaded=<id>`), named when it is on the page, for the announced result."""
    uploaded = request.query.get("uploaded")
    if not uploaded:
        return None
    return next((d for d in items if str(d["id"]) == uploaded), {"title": None})


async def _all_consents(request: web.Request, client_id: UUID) -> list[dict[str, Any]]:
    """Every consent of the client from or to the caller's zone (one audited consent.read a page of 200)."""
    found: list[dict[str, Any]] = []
    after = START
    while True:
        listed = await consents.page(rt(request), caller(request), client_id, after=after, limit=200)
        found += listed.items
        if not listed.more or not listed.items:
            return found
        after = (listed.items[-1]["recorded_at"], listed.items[-1]["id"])


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
    return render(request, "disclosures_received.html", received=mine)


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
async def document_page(request: web.Request) -> web.Response:
    """One document: its details in words, its download by name, and what the caller's unit may do with it (block or
    unblock on the client's request, shred after a confirmation that names it). The read is the API's
    (document.read_metadata, audited)."""
    return await _document_view(request, _uuid(request, "client_id"), _uuid(request, "document_id"), errors={},
                                values={})


async def _document_view(request: web.Request, client_id: UUID, document_id: UUID, *, errors: dict[str, str],
                         values: dict[str, Any], status: int = 200, template: str = "document.html") -> web.Response:
    runtime, who = rt(request), caller(request)
    purpose = _purpose(request)
    document = await documents.read_metadata(runtime, who, document_id, purpose=purpose, of_client=client_id)
    consent_index: dict[str, Any] = {}
    if document["access_basis"].startswith("consent:"):
        consent_index = {str(c["id"]): c for c in await _all_consents(request, client_id)}
    own = document["unit"] == who.principal.unit
    return render(request, template, http_status=status, client_id=client_id, document=document, purpose=purpose,
                  consent_index=consent_index, errors=errors, values=values,
                  request_done={"blocked": "Dokumentet är spärrat.", "unblocked": "Spärren är borttagen."}.get(
                      request.query.get("done", ""), ""),
                  may_block=own and document["status"] == "active",
                  may_shred=own and document["status"] == "active" and "unit_manager" in who.principal.roles)


async def _set_block(request: web.Request, *, blocked: bool) -> web.Response:
    """Block (spärr, PDL 4:4) or unblock on the client's request, with the reason; the API's rules and events."""
    client_id, document_id = _uuid(request, "client_id"), _uuid(request, "document_id")
    data = await form(request)
    try:
        body = ReasonIn.model_validate_json(json.dumps({"reason": (data.get("reason") or "").strip()}))
    except ValidationError:
        return await _document_view(request, client_id, document_id, status=422, values=data,
                                    errors={"block-reason": "Skriv varför (klientens begäran)."})
    await documents.set_blocked(rt(request), caller(request), document_id, blocked=blocked, reason=body.reason,
                                of_client=client_id)
    return redirect(request, f"/ui/clients/{client_id}/documents/{document_id}?done={'blocked' if blocked else 'unblocked'}")


@page()
async def block_document(request: web.Request) -> web.Response:
    return await _set_block(request, blocked=True)


@page()
async def unblock_document(request: web.Request) -> web.Response:
    return await _set_block(request, blocked=False)


@page()
async def shred_confirmation(request: web.Request) -> web.Response:
    """The confirmation step before a shred: it names the document (title, category, date) and asks the reason."""
    return await _document_view(request, _uuid(request, "client_id"), _uuid(request, "document_id"), errors={},
                                values={}, template="shred_confirm.html")


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
                              ivo_decision=body.ivo_decision, of_client=client_id)
    except (ValidationError, ValidationFailed) as exc:
        return await _document_view(request, client_id, document_id, errors=_refused("shred", exc), values=values,
                                    status=422, template="shred_confirm.html")
    except RetentionMinimum:
        return await _document_view(request, client_id, document_id, errors={"shred_ivo_decision": RETENTION_TEXT},
                                    values=values, status=409, template="shred_confirm.html")
    return redirect(request, f"/ui/clients/{client_id}?shredded=1")


@page()
async def open_relation(request: web.Request) -> web.Response:
    data = await form(request)
    client_id = _uuid(request, "client_id")
    body = validated(RelationIn, {key: value for key in ("kind", "reason") if (value := (data.get(key) or "").strip())})
    await relations.open_relation(rt(request), caller(request), client_id, kind=body.kind, reason=body.reason)
    return redirect(request, f"/ui/clients/{client_id}")


async def _own_relation(request: web.Request, client_id: UUID) -> dict[str, Any] | None:
    """The caller's unit's active relation with the client (relations of the caller's zone: relation.list)."""
    unit = caller(request).principal.unit
    after = START
    while True:
        listed = await relations.page_in_zone(rt(request), caller(request), client_id, after=after, limit=200)
        for relation in listed.items:
            if relation["unit"] == unit and relation["ended_at"] is None:
                return relation
        if not listed.more or not listed.items:
            return None
        after = (listed.items[-1]["started_at"], UUID(listed.items[-1]["id"]))


@page()
async def end_relation_confirmation(request: web.Request) -> web.Response:
    """Ending the unit's relation, confirmed first: after it the unit no longer sees the client."""
    client_id = _uuid(request, "client_id")
    client = await clients.read(rt(request), caller(request), client_id)
    relation = await _own_relation(request, client_id)
    if relation is None:
        raise NotFound()
    return render(request, "relation_end.html", client=client, relation=relation)


@page()
async def end_relation(request: web.Request) -> web.Response:
    client_id = _uuid(request, "client_id")
    await form(request)
    await relations.end_relation(rt(request), caller(request), client_id, _uuid(request, "relation_id"))
    return redirect(request, "/ui/clients?ended=1")


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


async def fields_before_file(request: web.Request) -> tuple[dict[str, str], BodyPartReader | None]:
    """A multipart form with a file (an upload, a correction): its fields up to the file part, read within their
    limits, the CSRF token checked (raises CsrfRefused) before the file is read; the file part, or None."""
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
    return fields, part if isinstance(part, BodyPartReader) else None


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
    fields, part = await fields_before_file(request)
    if not isinstance(part, BodyPartReader):
        return await _client_view(request, client_id, errors={"upload_file": "Välj en fil."}, values={}, status=422)
    try:  # the API's metadata rules (category, title length, no control or bidi characters)
        metadata = DocumentMetadataIn.model_validate_json(
            json.dumps({"category": fields.get("category", ""), "title": fields.get("title", "")}))
    except ValidationError as exc:  # beside the form, in its error summary (the file part is left unread)
        return await _client_view(request, client_id, values={}, status=422, errors={
            f"upload_{error['loc'][0] if error['loc'] else 'title'}": error["msg"] for error in exc.errors()})

    async def chunks() -> AsyncGenerator[bytes, None]:
        while True:
            with multipart_framing("file"):
                chunk = await part.read_chunk(64 * 1024)
            if not chunk:
                return
            yield chunk

    upload_ = documents.Upload(category=metadata.category, title=metadata.title,
                               declared_type=part.headers.get("Content-Type"), chunks=chunks())
    created, _ = await documents.create(rt(request), caller(request), client_id, upload_)
    return redirect(request, f"/ui/clients/{client_id}?uploaded={created['id']}")  # the page says so, by name


@page()
async def download(request: web.Request) -> web.StreamResponse:
    return await stream_content(request, caller(request), _uuid(request, "document_id"), purpose=_purpose(request))


# --- consents

def _day_or_instant(raw: str, *, end_of_day: bool) -> str | None:
    """A date field's ÅÅÅÅ-MM-DD as an instant, Swedish time: the day's start, or its last minute (`end_of_day`: the
    last day counts whole). A full timestamp passes as it is; anything else goes on as sent, for the model to name."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        day_ = date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        return raw
    if day_ is None:
        try:
            return datetime.fromisoformat(raw).replace(tzinfo=SWEDEN).isoformat()
        except ValueError:
            return raw
    if end_of_day:
        return datetime.combine(day_, time(23, 59), SWEDEN).isoformat()
    if day_ <= datetime.now(SWEDEN).date():
        return None  # today (or before, which the rules refuse anyway for a client's own): from now
    return datetime.combine(day_, time(0, 0), SWEDEN).isoformat()


def _zone_of(value: str) -> dict[str, str]:
    organisation, _, domain = value.partition("/")
    return {"organisation": organisation, "domain": domain}


def _recipient(value: str, known: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The chooser's `unit:<id>` (the unit's zone, that unit) or `zone:<org>/<domain>` (the whole zone)."""
    kind, _, rest = value.partition(":")
    if kind == "unit" and rest in known:
        return {"organisation": known[rest]["organisation"], "domain": known[rest]["domain"], "unit": rest}
    if kind == "zone":
        return {**_zone_of(rest), "unit": None}
    return {"organisation": "", "domain": "", "unit": None}


def _consent_body(data: dict[str, str], multi: dict[str, list[str]], known: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The API's consent body from the form's choosers and ÅÅÅÅ-MM-DD dates (read as Swedish days)."""
    maturity_day = (data.get("maturity_assessed_at") or "").strip()
    return {
        "from": _zone_of(data.get("from_zone", "")), "to": _recipient(data.get("to", ""), known),
        "categories": multi.get("categories") or [], "purposes": multi.get("purposes") or [],
        "valid_from": _day_or_instant(data.get("valid_from") or "", end_of_day=False),
        "valid_until": _day_or_instant(data.get("valid_until") or "", end_of_day=True),
        "given_by": data.get("given_by", ""), "form": data.get("form", ""),
        "maturity_assessed": data.get("maturity_assessed") == "on",
        "evidence_document_id": data.get("evidence_document_id") or None, "note": data.get("note") or None,
        # The guardian and the maturity assessment, when any of their fields was filled in (the API's rules then
        # judge them whole: guardian_required for a guardian's consent without one).
        "guardian": {"name": data.get("guardian_name", ""), "personal_number": data.get("guardian_personal_number", "")}
        if data.get("guardian_name") or data.get("guardian_personal_number") else None,
        "maturity": {"assessed_by": data.get("maturity_assessed_by", ""), "assessed_at": maturity_day,
                     "basis": data.get("maturity_basis", "")}
        if data.get("maturity_assessed_by") or maturity_day or data.get("maturity_basis") else None,
    }


def zone_choices(known: dict[str, dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """The registered zones (of active units) for the consent form's choosers, each with its units by name."""
    zones: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for unit in sorted(known.values(), key=lambda u: u["name"]):
        if unit["active"]:
            zones.setdefault((unit["organisation"], unit["domain"]), []).append(unit)
    return [{"value": f"{org}/{domain}", "units": members,
             "words": f"{labels.organisation(org)}, {labels.text('domain', domain, lang).lower()}"}
            for (org, domain), members in sorted(zones.items(), key=lambda z: labels.organisation(z[0][0]))]


# Where each refusal of the consent form points in its error summary (the field to correct).
CONSENT_ANCHORS = {
    "from": "from_zone", "from_organisation": "from_zone", "from_domain": "from_zone", "to": "to",
    "to_organisation": "to", "to_domain": "to", "to_unit": "to", "categories": "cat-all",
    "purposes": "purpose-care", "given_by": "given_by-client", "form": "form-written",
    "guardian": "guardian_name", "maturity": "maturity_assessed_by", "same_zone": "to",
    "invalid_period": "valid_until", "evidence_required": "evidence_document_id",
    "minor_requires_guardian_or_maturity": "maturity_assessed", "guardian_required": "guardian_name",
    "client_came_of_age": "given_by-client", "": "",
}
# The field each consent rule's refusal stands beside (policies/consents.py codes).
RULE_FIELD = {"same_zone": "to", "invalid_period": "valid_until", "evidence_required": "evidence_document_id",
              "minor_requires_guardian_or_maturity": "maturity_assessed", "guardian_required": "guardian_name",
              "client_came_of_age": "given_by"}
# A consent form's field refused by the API's model, in words (the model's own message names a pattern or a type).
CONSENT_FIELD_TEXT = {"to": "Välj vem som får informationen.", "from": "Välj var informationen finns.",
                      "categories": "Välj minst en kategori.", "purposes": "Välj minst ett ändamål.",
                      "given_by": "Välj vem som lämnade samtycket.", "form": "Välj samtyckets form.",
                      "evidence_document_id": "Välj det underskrivna formuläret."}
DATE_FIELDS = ("valid_from", "valid_until", "maturity_assessed_at", "maturity_assessed_at")
PAGE = 50


def _after(request: web.Request) -> tuple[datetime, UUID]:
    """The page's cursor (`after`, from a "next page" link); an unreadable one starts over."""
    try:
        return decode_time_id(request.query.get("after") or None)
    except ValidationFailed:
        return START


def _next_cursor(items: list[dict[str, Any]], more: bool, key: str) -> str | None:
    return encode_time_id(items[-1][key], items[-1]["id"]) if more and items else None


async def _consents_view(request: web.Request, client_id: UUID, *, errors: dict[str, str], values: dict[str, Any],
                         status: int = 200) -> web.Response:
    runtime, who = rt(request), caller(request)
    listed = await consents.page(runtime, who, client_id, after=_after(request), limit=PAGE)
    history = listed.items
    items = (await documents.page(runtime, who, client_id, category="consent_form", after=START, limit=200)).items
    zone = who.principal.zone
    defaults = {"from_zone": f"{zone.organisation}/{zone.domain}" if zone else "", "to": "",
                "given_by": "client", "form": "written", "categories": [], "purposes": ["care"]}
    # Consents the receiving zone recorded wait for a unit of the holding (from) zone: its units get the button.
    holding = [c for c in history if c["status"] == "awaiting_confirmation" and zone is not None
               and (c["from"]["organisation"], c["from"]["domain"]) == (zone.organisation, zone.domain)]
    known = labels.loaded_units(request)
    return render(request, "consents.html", http_status=status, client_id=client_id, consents=history, forms=items,
                  categories=CATEGORIES, purposes=PURPOSES, errors=errors, values={**defaults, **values},
                  zones=zone_choices(known, sessions.load(request).lang), to_confirm={c["id"] for c in holding},
                  anchors=CONSENT_ANCHORS, next_cursor=_next_cursor(history, listed.more, "recorded_at"),
                  paged="after" in request.query, recorded="recorded" in request.query)


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
        body = ConsentIn.model_validate_json(json.dumps(_consent_body(data, multi, labels.loaded_units(request))))
        await consents.grant(rt(request), caller(request), client_id, body.command())
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            loc = [str(part) for part in error["loc"] if not str(part).isdigit()]
            field = "_".join(loc[:2]) if loc and loc[0] in ("from", "to", "guardian", "maturity") else (loc[0] if loc else "")
            field = {"to_organisation": "to", "to_domain": "to", "to_unit": "to", "from_organisation": "from",
                     "from_domain": "from"}.get(field, field)  # the chooser that sets them
            errors.setdefault(field, DATE_TEXT if field in DATE_FIELDS else CONSENT_FIELD_TEXT.get(field, error["msg"]))
        return await _consents_view(request, client_id, errors=errors, values=values, status=422)
    except ValidationFailed as exc:
        rule = RULE_TEXT.get(exc.code or "")
        errors = {key.replace(".", "_"): rule or value for key, value in _field_errors(exc).items()}
        if rule:  # one message for the rule, beside the field to correct
            errors = {RULE_FIELD.get(exc.code or "", ""): rule}
        return await _consents_view(request, client_id, errors=errors, values=values, status=422)
    return redirect(request, f"/ui/clients/{client_id}/consents?recorded=1")  # the page says so, focused


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
        web.get("/ui/clients/{client_id}/documents/{document_id}", document_page),
        web.get("/ui/clients/{client_id}/documents/{document_id}/shred", shred_confirmation),
        web.post("/ui/clients/{client_id}/documents/{document_id}/block", block_document),
        web.post("/ui/clients/{client_id}/documents/{document_id}/unblock", unblock_document),
        web.get("/ui/clients/{client_id}/relation/end", end_relation_confirmation),
        web.post("/ui/clients/{client_id}/relations/{relation_id}/end", end_relation),
        web.post("/ui/clients/{client_id}/documents", upload),
        web.get("/ui/documents/{document_id}/content", download),
        web.get("/ui/clients/{client_id}/consents", consents_page),
        web.post("/ui/clients/{client_id}/consents", grant_consent),
        web.post("/ui/consents/{consent_id}/revoke", revoke_consent),
        web.post("/ui/consents/{consent_id}/confirm", confirm_consent),
        web.get("/ui/consents/{consent_id}/fhir", consent_fhir),
    ]


__all__ = ["BryggaError", "routes"]
