"""Follow-up records (API-1.1 "Follow-up records and indicators"): /v1/clients/{id}/episodes|contacts|assessments|
interventions, /v1/episodes/{id}/close, /v1/{kind}s/{id}/void."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from policies.model import PURPOSES
from policies.roles import Permission

from ..audit import Action
from ..domain import followup
from ..domain.followup import NewRecord
from ..errors import ValidationFailed
from . import cursor
from .context import authenticate, runtime
from .routing import (
    PAGE_QUERY,
    Handler,
    Routes,
    by_time_and_id,
    json_response,
    page_params,
    page_response,
    path_uuid,
    read_body,
)
from .schemas import (
    AssessmentIn,
    AssessmentOut,
    ContactIn,
    ContactOut,
    EpisodeCloseIn,
    EpisodeIn,
    EpisodeOut,
    InterventionIn,
    InterventionOut,
    Page,
    VoidIn,
)

routes = Routes("followup")
_HIDDEN = ((404, "not_found"),)  # no client, no relation, a record the caller may not read: alike
_RULES = ((422, "validation_failed"),)  # a field the records' rules refuse, named (dates, scores, the joint unit)
_PURPOSE_HEADER = (("Brygga-Purpose", "why the caller reads (default care); another zone's records open under a "
                    "consent naming category followup for this purpose", {"type": "string", "enum": list(PURPOSES)}),)


def _purpose(request: web.Request) -> str:
    purpose = request.headers.get("Brygga-Purpose", "care").strip()
    if purpose not in PURPOSES:
        raise ValidationFailed([{"field": "Brygga-Purpose", "message": f"must be one of {', '.join(PURPOSES)}"}])
    return purpose


def _episode(body: EpisodeIn) -> NewRecord:
    return NewRecord("episode", body.opened_on)


def _contact(body: ContactIn) -> NewRecord:
    return NewRecord("contact", body.on, detail=body.kind, with_unit=body.with_unit)


def _assessment(body: AssessmentIn) -> NewRecord:
    return NewRecord("assessment", body.on, detail=body.instrument, score=body.score)


def _intervention(body: InterventionIn) -> NewRecord:
    return NewRecord("intervention", body.started_on, detail=body.kind, end_date=body.ended_on)


# Each kind with its paths written out (the client's records: record and list; a record's void).
_KINDS: tuple[tuple[str, str, str, type[BaseModel], type[BaseModel], Any], ...] = (
    ("episode", "/v1/clients/{client_id}/episodes", "/v1/episodes/{record_id}/void", EpisodeIn, EpisodeOut,
     _episode),
    ("contact", "/v1/clients/{client_id}/contacts", "/v1/contacts/{record_id}/void", ContactIn, ContactOut,
     _contact),
    ("assessment", "/v1/clients/{client_id}/assessments", "/v1/assessments/{record_id}/void", AssessmentIn,
     AssessmentOut, _assessment),
    ("intervention", "/v1/clients/{client_id}/interventions", "/v1/interventions/{record_id}/void", InterventionIn,
     InterventionOut, _intervention),
)


def _create_handler(body_model: type[BaseModel], out: type[BaseModel], command: Any) -> Handler:
    async def create(request: web.Request) -> web.Response:
        caller = await authenticate(request)
        client_id = path_uuid(request, "client_id")
        body = await read_body(request, body_model)
        record = await followup.create(runtime(request), caller, client_id, command(body))
        return json_response(out, record, status=201)
    create.__name__ = create.__qualname__ = f"create_{body_model.__name__.removesuffix('In').lower()}"
    return create


def _list_handler(kind: str, out: type[BaseModel]) -> Handler:
    async def list_records(request: web.Request) -> web.Response:
        caller = await authenticate(request)
        client_id = path_uuid(request, "client_id")
        after, limit = page_params(request)
        before = cursor.decode_time_id(after) if after else None
        page = await followup.page(runtime(request), caller, client_id, kind, purpose=_purpose(request), before=before,
                                   limit=limit)
        return page_response(out, page, by_time_and_id("recorded_at"))
    list_records.__name__ = list_records.__qualname__ = f"list_{kind}s"
    return list_records


def _void_handler(out: type[BaseModel], kind: str) -> Handler:
    async def void(request: web.Request) -> web.Response:
        caller = await authenticate(request)
        record_id = path_uuid(request, "record_id")
        body = await read_body(request, VoidIn)
        return json_response(out, await followup.void(runtime(request), caller, record_id, body.reason, kind=kind))
    void.__name__ = void.__qualname__ = f"void_{kind}"
    return void


for _kind, _records, _void, _in, _out, _command in _KINDS:
    _plural = f"{_kind}s"
    routes.post(_records,
                summary=f"Record a follow-up {_kind} of the caller's unit for the client (never edited; voided)",
                permission=Permission.FOLLOWUP_WRITE, action=Action.FOLLOWUP_CREATE, body=_in, responses={201: _out},
                errors=(*_HIDDEN, *_RULES))(_create_handler(_in, _out, _command))
    routes.get(_records,
               summary=f"The client's follow-up {_plural} the caller may read (own zone; another zone's under a "
                       "consent naming followup), newest first",
               permission=Permission.FOLLOWUP_READ, action=Action.FOLLOWUP_LIST, responses={200: Page[_out]},  # type: ignore[valid-type]
               errors=(*_HIDDEN, (422, "validation_failed")), headers=_PURPOSE_HEADER,
               query=PAGE_QUERY)(_list_handler(_kind, _out))
    routes.post(_void,
                summary=f"Void a follow-up {_kind} of the caller's unit, with a reason (a voided one is returned as it is)",
                permission=Permission.FOLLOWUP_WRITE, action=Action.FOLLOWUP_VOID, body=VoidIn, responses={200: _out},
                errors=(*_HIDDEN, (403, "not_owning_unit")))(_void_handler(_out, _kind))


@routes.post(
    "/v1/episodes/{record_id}/close", summary="Close an open episode of the caller's unit, with a reason",
    permission=Permission.FOLLOWUP_WRITE, action=Action.FOLLOWUP_CLOSE, body=EpisodeCloseIn, responses={200: EpisodeOut},
    errors=(*_HIDDEN, (403, "not_owning_unit"), *_RULES),
)
async def close_episode(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    episode_id = path_uuid(request, "record_id")
    body = await read_body(request, EpisodeCloseIn)
    episode = await followup.close(runtime(request), caller, episode_id, closed_on=body.closed_on, reason=body.reason)
    return json_response(EpisodeOut, episode)
