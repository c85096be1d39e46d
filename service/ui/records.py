"""Web pages of issue 22: a document's page with its history and the "Rätta" (correct) form, and the admin's page for
a reorganisation with its preview. The same domain functions as the API: the same decisions, the same events."""
from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from aiohttp import BodyPartReader, web
from pydantic import ValidationError

from ..domain import documents, units, versions
from ..errors import BryggaError, Conflict, InvalidRequest, NotFound, ValidationFailed
from ..http.documents import multipart_framing
from ..http.schemas import CorrectionMetadataIn, SuccessionIn
from .pages import caller, form, page, redirect, render, rt
from .staff import _local, fields_before_file


def _document_id(request: web.Request) -> UUID:
    try:
        return UUID(request.match_info["document_id"])
    except ValueError:
        raise NotFound() from None


async def _document_view(request: web.Request, document_id: UUID, *, errors: dict[str, str],
                         values: dict[str, Any], status: int = 200) -> web.Response:
    """The document (its latest version), every version oldest first, and the correction form for its unit."""
    runtime, who = rt(request), caller(request)
    document = await documents.read_metadata(runtime, who, document_id)
    history = await versions.versions(runtime, who, document_id)
    may_correct = document["unit"] == who.principal.unit and document["status"] == "active" \
        and not {"staff", "unit_manager"}.isdisjoint(map(str, who.principal.roles))
    return render(request, "document_versions.html", http_status=status, document=document, versions=history["items"],
                  may_correct=may_correct, errors=errors, values=values, local=_local)


@page()
async def document_page(request: web.Request) -> web.Response:
    return await _document_view(request, _document_id(request), errors={}, values={})


@page()
async def correct(request: web.Request) -> web.Response:
    """The "Rätta" form, multipart: csrf, reason, title (empty: as it is), then the file (none chosen: the content as
    it is). Judged by the API's rules; a refusal is shown beside the form."""
    document_id = _document_id(request)
    if request.content_type != "multipart/form-data":
        raise InvalidRequest("the form is sent as multipart/form-data")
    fields, part = await fields_before_file(request)
    values = {"reason": fields.get("reason", ""), "title": fields.get("title", "")}
    title = values["title"].strip()
    try:
        metadata = CorrectionMetadataIn.model_validate_json(
            json.dumps({"reason": values["reason"], **({"title": title} if title else {})}))
    except ValidationError as exc:
        errors = {f"correct_{error['loc'][0] if error['loc'] else 'reason'}": error["msg"] for error in exc.errors()}
        return await _document_view(request, document_id, errors=errors, values=values, status=422)
    file_part = part if isinstance(part, BodyPartReader) and part.filename else None

    async def chunks() -> AsyncGenerator[bytes, None]:
        assert file_part is not None
        while True:
            with multipart_framing("file"):
                chunk = await file_part.read_chunk(64 * 1024)
            if not chunk:
                return
            yield chunk

    correction = versions.Correction(
        reason=metadata.reason, title=metadata.title,
        declared_type=file_part.headers.get("Content-Type") if file_part is not None else None,
        chunks=chunks() if file_part is not None else None)
    try:
        await versions.correct(rt(request), caller(request), document_id, correction)
    except ValidationFailed as exc:
        errors = {f"correct_{error.get('field', 'reason')}": error.get("message", "")
                  for error in exc.extra.get("errors") or []}
        return await _document_view(request, document_id, errors=errors or {"correct_reason": str(exc)},
                                    values=values, status=422)
    return redirect(request, f"/ui/documents/{document_id}")


@page()
async def version_download(request: web.Request) -> web.Response:
    try:
        number = int(request.match_info["number"])
    except ValueError:
        raise NotFound() from None
    content_type, body = await versions.version_content(rt(request), caller(request), _document_id(request), number)
    return web.Response(body=body, headers={"Content-Type": content_type, "Content-Disposition": "attachment",
                                            "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
                                            "Content-Security-Policy": "default-src 'none'; sandbox"})


# --- reorganisations (admins)

async def _succession_view(request: web.Request, *, unit: str | None, successor: str | None, errors: dict[str, str],
                           done: dict[str, Any] | None = None, status: int = 200) -> web.Response:
    runtime, who = rt(request), caller(request)
    known = (await units.page(runtime, who.principal, after="", limit=500)).items
    preview = None
    if unit and any(u["id"] == unit for u in known):
        in_view = successor if successor and any(u["id"] == successor for u in known) else None
        preview = await units.succession_preview(runtime, who.principal, unit, in_view)
    return render(request, "succession.html", http_status=status, units=known, unit=unit, successor=successor,
                  preview=preview, errors=errors, done=done)


@page()
async def succession_page(request: web.Request) -> web.Response:
    """Choose the unit and its successor; the preview counts what would move before anything does."""
    units.require_admin(caller(request).principal)
    return await _succession_view(request, unit=request.query.get("unit"), successor=request.query.get("successor"),
                                  errors={})


@page()
async def succeed(request: web.Request) -> web.Response:
    data = await form(request)
    unit, successor = data.get("unit", ""), data.get("successor", "")
    try:
        body = SuccessionIn.model_validate_json(json.dumps({"successor": successor,
                                                            "effective_at": datetime.now(UTC).isoformat()}))
        done = await units.succession(rt(request), caller(request), unit, successor=body.successor,
                                      effective_at=body.effective_at, move_blocked=data.get("blocked_documents") == "move")
    except (ValidationError, ValidationFailed, Conflict, NotFound) as exc:
        text = "Enheterna måste höra till samma organisation och verksamhet (samma zon)." \
            if getattr(exc, "code", "") == "different_zone" else \
            "Flytten lyfter spärrar mot efterträdaren: kryssa i rutan för att flytta dem ändå." \
            if getattr(exc, "code", "") == "blocked_documents" else \
            "Enheten har redan efterträtts, eller efterträdaren är inaktiv eller samma enhet." \
            if isinstance(exc, Conflict) else "Välj en enhet och en efterträdare."
        return await _succession_view(request, unit=unit, successor=successor, errors={"successor": text},
                                      status=422 if not isinstance(exc, Conflict | NotFound) else
                                      (409 if isinstance(exc, Conflict) else 404))
    return await _succession_view(request, unit=None, successor=None, errors={}, done=done)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/ui/documents/{document_id}", document_page),
        web.post("/ui/documents/{document_id}/corrections", correct),
        web.get("/ui/documents/{document_id}/versions/{number}/content", version_download),
        web.get("/ui/admin/succession", succession_page), web.post("/ui/admin/succession", succeed),
    ]


__all__ = ["BryggaError", "routes"]
