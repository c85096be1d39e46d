"""Corrections: a document corrected by a new version, the old one kept (API-1.1 "Corrections and reorganisations").

The Patient Data Act forbids removing record content; a correction must show the old and the new, when and by whom
(PDL 3:14; for social services the same duty to keep records, SoL 11:5, 11:17). So a correction never edits the
content: the new content is encrypted under its own data key like any upload (documents.encrypt_content), and the
version it replaces is kept with the reason, who and when, linked to the one that superseded it.

The document keeps its id, so every rule that covered it covers every version: a version is read under the very
decision of its document (documents.document_decision, for the same permission), and no version has a decision
of its own (tests/unit/test_version_access.py). Shredding and culling take every version together
(store.documents.shred / shred_versions).
"""
from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from crypto import DecryptionFailed
from crypto.envelope import KeyBinding, WrappedKey, re_epoch, unwrap
from crypto.stream import StreamDecryptor
from policies.decide import DEFAULT_PURPOSE
from policies.decision import Reason
from policies.model import Zone
from policies.roles import Permission, role_gate
from policies.versions import history_gate

from ..audit import Action, Caller
from ..errors import ValidationFailed
from ..runtime import Runtime
from ..sniff import SNIFF_BYTES
from ..store import documents as documents_store
from ..store import me as me_store
from .access import access, access_on, refuse
from .documents import (
    _RECORD,
    _binding,
    _bounded,
    _check_type,
    _head,
    _upload_connection,
    content_id_of,
    document_decision,
    document_json,
    encrypt_content,
)

_VERSION_RECORD = "document_version"


@dataclass(frozen=True, slots=True)
class Correction:
    """A parsed correction: why, the new title (None: as it is), and the new content's bytes (None: as it is)."""

    reason: str
    title: str | None
    declared_type: str | None = None
    chunks: AsyncIterator[bytes] | None = None


async def gate_correct(rt: Runtime, caller: Caller, document_id: UUID | None) -> None:
    """The role gate before anything of the body is read (API-1.1 "Order of checks"); audited when it refuses."""
    decision = role_gate(caller.principal.roles, Permission.DOCUMENT_CORRECT)
    if not decision:
        await refuse(rt, caller, decision, Action.DOCUMENT_CORRECT, document_id=document_id)


async def _nothing() -> AsyncGenerator[bytes, None]:
    return
    yield b""  # an async generator that yields nothing


async def correct(rt: Runtime, caller: Caller, document_id: UUID, correction: Correction) -> dict[str, Any]:
    """Make a new version of the document (new content, new title, or both) and keep the one it replaces.

    The owning unit's staff only (policies.decide: not_owning_unit); a shredded document is gone (410). The new
    content's head is checked like an upload's before a connection is taken. One transaction: the new segments,
    the kept version, the document row and the `document.correct` event commit together or not at all.
    Raises Forbidden, NotOwningUnit, NotFound, Gone, ValidationFailed, EmptyFile, UnsupportedMediaType,
    ContentTypeMismatch, TooLarge, RequestTimeout, PoolExhausted.
    """
    if correction.chunks is None and correction.title is None:
        raise ValidationFailed([{"field": "title", "message": "a correction without a file must give the new title"}])
    principal = caller.principal
    given = correction.chunks if correction.chunks is not None else _nothing()
    async with aclosing(_bounded(given, rt.settings.body_chunk_timeout)) as chunks:
        head, ended, content_type = b"", True, None
        if correction.chunks is not None:
            head, ended = await _head(chunks, SNIFF_BYTES)
            content_type = _check_type(head, correction.declared_type)
        async with _upload_connection(rt) as conn:
            judge = document_decision(rt, caller, document_id, Permission.DOCUMENT_CORRECT)
            async with access_on(conn, caller, Action.DOCUMENT_CORRECT, judge, document_id=document_id) as act:
                assert principal.unit is not None  # decide() allowed: the owning unit's member
                row = await documents_store.lock(conn, document_id, act.row["client_id"])
                if row is None or row["status"] != "active":  # shredded or culled meanwhile
                    act.deny(Reason.SHREDDED)
                    return {}
                if correction.chunks is None:  # a new title only: the content as it is, under a key of its own
                    source = _stored_plaintext(rt, conn, row)
                    head, ended = await _head(source, SNIFF_BYTES)
                    new_chunks, content_type = source, row["content_type"]
                else:
                    new_chunks = chunks
                assert content_type is not None
                act.row = await _write_version(rt, conn, caller, row, correction, new_chunks, content_type, head, ended)
    return document_json(rt, act.row, act.decision)


async def _write_version(rt: Runtime, conn: asyncpg.Connection, caller: Caller, row: Any, correction: Correction,
                         chunks: AsyncIterator[bytes], content_type: str, head: bytes, ended: bool) -> Any:
    """Encrypt the new version under a new content id, keep the latest as superseded; the document row after."""
    principal = caller.principal
    assert principal.unit is not None
    document_id, client_id = row["id"], row["client_id"]
    zone = Zone(row["organisation"], row["domain"])
    new_id, version_id = uuid4(), uuid4()
    written = await encrypt_content(rt, conn, new_id, client_id=client_id, zone=zone, category=row["category"],
                                    chunks=chunks, head=head, ended=ended)
    epoch = written.wrapped.epoch
    # A correction is an entry in the file: the file's culling month is now the new version's, and the versions it
    # keeps go with it (keys only), so that no culling epoch is destroyed while a version still needs it.
    ring = await rt.keys.with_epoch(epoch)
    old_key = re_epoch(ring, WrappedKey(row["kek_version"], row["dek_wrapped"], row["epoch"]), binding=_binding(row),
                       epoch=epoch)
    moved = []
    for kept in await documents_store.version_keys(conn, document_id):
        binding = KeyBinding(document_id=kept["content_id"], client_id=client_id, organisation=zone.organisation,
                             domain=zone.domain)
        wrapped = re_epoch(ring, WrappedKey(kept["kek_version"], kept["dek_wrapped"], kept["epoch"]), binding=binding,
                           epoch=epoch)
        moved.append((kept["id"], wrapped.kek_version, wrapped.ciphertext, wrapped.epoch))
    await documents_store.set_version_keys(conn, moved)
    sealer = rt.field_sealer
    old_title = sealer.open_text(row["title_sealed"], record=_RECORD, record_id=str(document_id), field="title")
    title = correction.title if correction.title is not None else old_title
    kept_as = {"record": _VERSION_RECORD, "record_id": str(version_id)}
    superseded = documents_store.Superseded(
        id=version_id, title_sealed=sealer.seal(old_title, **kept_as, field="title"),
        kek_version=old_key.kek_version, dek_wrapped=old_key.ciphertext, epoch=old_key.epoch,
        reason_sealed=sealer.seal(correction.reason, **kept_as, field="reason"),
        corrected_by=principal.sub, corrected_by_unit=principal.unit)
    new = documents_store.NewContent(
        content_id=new_id, title_sealed=sealer.seal(title, record=_RECORD, record_id=str(document_id), field="title"),
        content_type=content_type, size=written.size, content_mac=written.mac, kek_version=written.wrapped.kek_version,
        dek_wrapped=written.wrapped.ciphertext, stream_header=written.header, segment_count=written.segments,
        epoch=epoch)
    corrected = await documents_store.correct(conn, document_id, superseded, new)
    await me_store.hold_after_correction(conn, document_id)  # released with a delay: the delay again, from now
    return corrected


async def _stored_plaintext(rt: Runtime, conn: asyncpg.Connection, row: Any) -> AsyncGenerator[bytes, None]:
    """The latest version's content, decrypted segment by segment on `conn` (a correction of the title alone)."""
    content_id, count = content_id_of(row), row["segment_count"]
    key = unwrap(rt.keyring, WrappedKey(row["kek_version"], row["dek_wrapped"], row["epoch"]), binding=_binding(row))
    decryptor = StreamDecryptor(key, document_id=content_id, header=row["stream_header"])
    index = 0
    async with aclosing(rt.blobs.read(conn, content_id, start=0, count=count)) as read:
        async for ciphertext in read:
            yield decryptor.decrypt_segment(index, ciphertext, last=index == count - 1)
            index += 1
    if index != count:
        raise DecryptionFailed()


def _version_json(rt: Runtime, version: Any) -> dict[str, Any]:
    """A superseded version as the contract shows it: corrected when, by whom, why, and which replaced it."""
    bound = {"record": _VERSION_RECORD, "record_id": str(version["id"])}
    return {
        "number": version["number"],
        "title": rt.field_sealer.open_text(version["title_sealed"], **bound, field="title"),
        "content_type": version["content_type"], "size": version["size"], "status": version["status"],
        "created_at": version["created_at"], "created_by": version["created_by"],
        "corrected_at": version["corrected_at"], "corrected_by": version["corrected_by"],
        "reason": rt.field_sealer.open_text(version["reason_sealed"], **bound, field="reason"),
        "superseded_by": version["number"] + 1,
    }


def _latest_json(rt: Runtime, row: Any) -> dict[str, Any]:
    return {
        "number": row["version_count"],
        "title": rt.field_sealer.open_text(row["title_sealed"], record=_RECORD, record_id=str(row["id"]), field="title"),
        "content_type": row["content_type"], "size": row["size"], "status": row["status"],
        "created_at": row["version_at"] or row["created_at"], "created_by": row["version_by"] or row["created_by"],
        "corrected_at": None, "corrected_by": None, "reason": None, "superseded_by": None,
    }


async def versions(rt: Runtime, caller: Caller, document_id: UUID, *, purpose: str = DEFAULT_PURPOSE) -> dict[str, Any]:
    """Every version of the document, oldest first, for whoever may read its metadata: the document's own decision
    (an unknown document and one the caller may not see are the same 404). Audited as a read of its metadata.
    A system is refused first (403 forbidden_role, audited): policies.versions.history_gate."""
    gate = history_gate(caller.principal.roles)
    if not gate:
        await refuse(rt, caller, gate, Action.DOCUMENT_READ_METADATA, document_id=document_id)
    judge = document_decision(rt, caller, document_id, Permission.DOCUMENT_READ_METADATA, purpose)
    async with access(rt, caller, Action.DOCUMENT_READ_METADATA, judge, document_id=document_id,
                      purpose=purpose) as act:
        kept = await documents_store.versions(act.conn, document_id)
    return {"document_id": document_id,
            "items": [*(_version_json(rt, version) for version in kept), _latest_json(rt, act.row)]}


async def version_content(rt: Runtime, caller: Caller, document_id: UUID, number: int, *,
                          purpose: str = DEFAULT_PURPOSE) -> tuple[str, bytes]:
    """A superseded version's content (content type, bytes), under the document's decision to read content: 404
    for a document the caller may not read and for a number it does not have, 410 once shredded. Audited as a read
    of the document's content. Whole in memory: an old version is read rarely, and within the upload limit."""
    judge = document_decision(rt, caller, document_id, Permission.DOCUMENT_READ_CONTENT, purpose)
    async with access(rt, caller, Action.DOCUMENT_READ_CONTENT, judge, document_id=document_id,
                      purpose=purpose) as act:
        row = act.row
        # The event names the version read (HSLF-FS 2016:40 4:9: the log says what was done), a refusal here too.
        version_read = f"version:{number}"
        act.decision = dataclasses.replace(act.decision, record=version_read)
        if number == row["version_count"]:
            version: Any = {**dict(row), "content_id": content_id_of(row)}
        else:
            version = next((v for v in await documents_store.versions(act.conn, document_id) if v["number"] == number),
                           None)
        if version is None or version["dek_wrapped"] is None:
            act.deny(Reason.UNKNOWN_DOCUMENT if version is None else Reason.SHREDDED)
            act.decision = dataclasses.replace(act.decision, record=version_read)
            return "", b""
        content_id, count = version["content_id"], version["segment_count"]
        binding = KeyBinding(document_id=content_id, client_id=row["client_id"], organisation=row["organisation"],
                             domain=row["domain"])
        key = unwrap(rt.keyring, WrappedKey(version["kek_version"], version["dek_wrapped"], version["epoch"]),
                     binding=binding)
        decryptor = StreamDecryptor(key, document_id=content_id, header=version["stream_header"])
        parts, index = [], 0
        async with aclosing(rt.blobs.read(act.conn, content_id, start=0, count=count)) as read:
            async for ciphertext in read:
                parts.append(decryptor.decrypt_segment(index, ciphertext, last=index == count - 1))
                index += 1
    return version["content_type"], b"".join(parts)

