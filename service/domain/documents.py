"""Documents: streamed encrypted upload, listing, metadata, streamed download, shredding, blocking.

Every operation loads its facts in one round trip, asks policies.decide, and
writes its audit event in the transaction of the access. An upload is one
transaction: segments are written as they are encrypted and the document row
comes last, so a failed, refused or interrupted upload leaves nothing behind.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from crypto import DecryptionFailed, KeyRingError
from crypto.envelope import DataKey, KeyBinding, WrappedKey, unwrap, wrap
from crypto.stream import Segmenter, StreamDecryptor, StreamEncryptor
from policies.candidates import candidates
from policies.decide import DEFAULT_PURPOSE, Facts, Request, decide, decide_unknown_document, needs_consent_history
from policies.decision import Decision, Reason, deny
from policies.me import Release, decide_me, decide_own_document, is_client
from policies.model import Zone
from policies.retention import HEALTH_MINIMUM_YEARS, decide_shred
from policies.roles import Permission, role_gate

from .. import audit
from ..audit import Action, Caller
from ..errors import (
    ContentTypeMismatch,
    EmptyFile,
    IdempotencyConflict,
    PoolExhausted,
    RequestTimeout,
    RetentionMinimum,
    TooLarge,
    UnsupportedMediaType,
)
from ..runtime import Runtime
from ..sniff import ALLOWED_TYPES, SNIFF_BYTES, base_type, sniff
from ..store import documents as documents_store
from ..store import facts as facts_store
from ..store import me as me_store
from ..store import retention as retention_store
from .access import (
    Access,
    Judge,
    Judged,
    access,
    access_on,
    client_access,
    client_decision,
    raise_if_denied,
    record_refusal,
    refuse,
)
from .paging import Paged, paged
from .retention import upload_epoch
from .units import unit_zone

log = logging.getLogger("brygga.documents")
_RECORD = "document"
_WRITE_BATCH = 4  # segments per round trip while uploading


@dataclass(frozen=True, slots=True)
class Upload:
    """A parsed upload: metadata, then the file's bytes as they arrive."""

    category: str
    title: str
    declared_type: str | None
    chunks: AsyncIterator[bytes]
    idempotency_key: str | None = None


def _binding(row: Any) -> KeyBinding:
    """What the latest content's key is bound to: its content id, the client and the zone."""
    return KeyBinding(document_id=content_id_of(row), client_id=row["client_id"], organisation=row["organisation"],
                      domain=row["domain"])


def document_json(rt: Runtime, row: Any, decision: Decision) -> dict[str, Any]:
    """The contract's document object; the title is opened here, for this response only."""
    return {
        "id": row["id"],
        "client_id": row["client_id"],
        "unit": row["unit_id"],
        "zone": {"organisation": row["organisation"], "domain": row["domain"]},
        "category": row["category"],
        "title": rt.field_sealer.open_text(row["title_sealed"], record=_RECORD, record_id=str(row["id"]), field="title"),
        "content_type": row["content_type"],
        "size": row["size"],
        "created_at": row["created_at"],
        "created_by": row["created_by"],
        "status": row["status"],
        # A block is the holding zone's and the client's: a unit that reads a document only because it was disclosed
        # to it is not told the client blocked it (attack report 6, finding 2).
        "blocked": row["blocked"] and not str(decision.basis).startswith("disclosure:"),
        "access_basis": str(decision.basis),
        # A tombstone says why the content is gone: culled by its retention rule, or shredded on request.
        "shred_reason": None if row["status"] != "shredded" else
        ("culled" if row["shredded_by"] == retention_store.CULLED_BY else "requested"),
        "ivo_decision": _opened(rt, row, "ivo_decision"),
        # Corrections (API-1.1): how many versions the document has; this object shows the latest.
        "versions": (row.get("version_count") if hasattr(row, "get") else None) or 1,
    }


def _opened(rt: Runtime, row: Any, field: str) -> str | None:
    """A sealed field of the document that may be absent (null, or a row read without it), opened."""
    sealed = row.get(f"{field}_sealed") if hasattr(row, "get") else None
    return None if sealed is None else rt.field_sealer.open_text(sealed, record=_RECORD, record_id=str(row["id"]), field=field)


async def _head(chunks: AsyncIterator[bytes], limit: int) -> tuple[bytes, bool]:
    """Read until `limit` bytes (for sniffing) or the end; (bytes, ended)."""
    parts, size = [], 0
    async for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size >= limit:
            return b"".join(parts), False
    return b"".join(parts), True


def _check_type(head: bytes, declared: str | None) -> str:
    """The sniffed type, if allowed and as declared; raises EmptyFile, UnsupportedMediaType, ContentTypeMismatch."""
    if not head:
        raise EmptyFile("the file is empty")
    sniffed = sniff(head)
    if sniffed not in ALLOWED_TYPES:
        raise UnsupportedMediaType(f"content of type {sniffed} is not accepted")
    if base_type(declared) != sniffed:
        raise ContentTypeMismatch(f"declared {base_type(declared) or 'nothing'}, but the content is {sniffed}")
    return sniffed


async def _bounded(chunks: AsyncIterator[bytes], seconds: float) -> AsyncGenerator[bytes, None]:
    """`chunks`, each awaited at most `seconds` after the one before; RequestTimeout (408) when the client stalls.

    A stalled upload holds its database connection and transaction (after the head) until this fires, and the
    transaction's rollback then leaves nothing behind.
    """
    iterator = aiter(chunks)
    try:
        while True:
            try:
                async with asyncio.timeout(seconds):
                    chunk = await anext(iterator)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise RequestTimeout(f"the upload stopped: nothing of its body came for {seconds:g} s") from None
            yield chunk
    finally:
        if hasattr(iterator, "aclose"):  # closed with this one, not left to the loop's finalizer
            await iterator.aclose()


@asynccontextmanager
async def _upload_connection(rt: Runtime) -> AsyncIterator[asyncpg.Connection]:
    """A pool connection for an upload, within the uploads' share of the pool (Runtime.upload_slots).

    Waiting for the share is bounded like waiting for the pool (PoolExhausted, 503 with Retry-After).
    """
    slots, seconds = rt.upload_slots, rt.settings.db_acquire_timeout
    try:
        async with asyncio.timeout(seconds):
            await slots.acquire()
    except TimeoutError:
        raise PoolExhausted(f"no upload slot became free within {seconds:g} s; retry shortly") from None
    try:
        async with rt.pool.acquire() as conn:
            yield conn
    finally:
        slots.release()


async def gate_upload(rt: Runtime, caller: Caller, client_id: UUID | None) -> None:
    """The role gate before anything of an upload's body is read (API-1.1 "Order of checks"); audited when it refuses.

    A caller whose role may never upload learns nothing about the body's validity. Raises Forbidden.
    """
    decision = role_gate(caller.principal.roles, Permission.DOCUMENT_CREATE)
    if not decision:
        await refuse(rt, caller, decision, Action.DOCUMENT_CREATE, client_id=client_id)


async def create(rt: Runtime, caller: Caller, client_id: UUID, upload: Upload) -> tuple[dict[str, Any], bool]:
    """Encrypt and store an upload as it streams in; (document, created). A replayed key returns (first, False).

    The file's first bytes are read and checked before a database connection is taken, so a client that
    stalls before them holds none; after them the upload holds one of the uploads' share of the pool until it
    ends, fails, or stops sending for BRYGGA_BODY_CHUNK_TIMEOUT.

    Raises Forbidden, NotFound, EmptyFile, UnsupportedMediaType, ContentTypeMismatch, TooLarge, IdempotencyConflict,
    RequestTimeout, PoolExhausted.
    """
    principal = caller.principal
    async with aclosing(_bounded(upload.chunks, rt.settings.body_chunk_timeout)) as chunks:
        head, ended = await _head(chunks, SNIFF_BYTES)
        content_type = _check_type(head, upload.declared_type)
        async with _upload_connection(rt) as conn:
            judge = client_decision(rt, caller, Permission.DOCUMENT_CREATE, client_id)
            try:
                async with access_on(conn, caller, Action.DOCUMENT_CREATE, judge, client_id=client_id) as act:
                    assert principal.unit is not None  # allowed: decide() denies a caller without a unit (no_unit)
                    first = None if not upload.idempotency_key else await documents_store.id_by_idempotency_key(
                        conn, unit=principal.unit, key=upload.idempotency_key)
                    if first is not None:
                        await _replay(rt, act, caller, client_id, first, upload, chunks, head, ended)
                    else:
                        act.row = await _store(rt, conn, caller, client_id, upload, chunks, content_type, head, ended)
                        act.document_id = act.row["id"]
            except documents_store.IdempotencyKeyTaken:
                raise IdempotencyConflict("a concurrent upload used the same key; retry to get its document") from None
    if act.action is Action.DOCUMENT_READ_METADATA:  # a replay: the first document, as its read showed it
        return document_json(rt, act.row, act.decision), False
    shown = decide(Request(principal, Permission.DOCUMENT_READ_METADATA),
                   dataclasses.replace(act.now_facts, document=facts_store.document_facts(act.row)), rt.policy)
    return document_json(rt, act.row, shown), True


async def _replay(rt: Runtime, act: Access, caller: Caller, client_id: UUID, document_id: UUID,
                  upload: Upload, chunks: AsyncIterator[bytes], head: bytes, ended: bool) -> None:
    """A retry under a used Idempotency-Key: the upload becomes a read of the first document's metadata, decided
    and audited as one (act.became).

    The answer carries the first document's title, so the caller must be one who may read it (another
    caller of the unit may not: a system reads only its own uploads): else the read's 404/403. Only then
    are the metadata and the bytes compared: the same, or 409 idempotency_conflict (a comparison
    against what the caller may not read would be an oracle); a conflict records nothing.
    """
    judged = await _document_decision(rt, caller, document_id, Permission.DOCUMENT_READ_METADATA)(act.conn)
    act.became(Action.DOCUMENT_READ_METADATA, judged, document_id=document_id)
    if not judged.decision:
        return  # the read's refusal: recorded and answered by the access
    row = judged.row
    if row["client_id"] != client_id:
        raise IdempotencyConflict("the key was used before for another client's document")
    title = rt.field_sealer.open_text(row["title_sealed"], record=_RECORD, record_id=str(document_id), field="title")
    if row["category"] != upload.category or not hmac.compare_digest(title.encode(), upload.title.encode()):
        raise IdempotencyConflict("the key was used before with other metadata (category or title)")
    mac, size = rt.field_sealer.content_mac(), len(head)
    mac.update(head)
    if not ended:
        async for chunk in chunks:
            size += len(chunk)
            if size > rt.settings.max_document_bytes:
                break
            mac.update(chunk)
    stored = row["content_mac"]
    if size != row["size"] or stored is None or not hmac.compare_digest(mac.digest(), stored):
        raise IdempotencyConflict("the key was used before for other content")


async def _store(rt: Runtime, conn: asyncpg.Connection, caller: Caller, client_id: UUID, upload: Upload,
                 chunks: AsyncIterator[bytes], content_type: str, head: bytes, ended: bool) -> dict[str, Any]:
    """Encrypt segment by segment and write as it comes; the document row last. Raises TooLarge."""
    principal = caller.principal
    # create() calls this once decide() allowed, which it does only for a caller with a unit and zone (no_unit).
    assert principal.unit is not None and principal.zone is not None
    document_id = uuid4()
    content = await encrypt_content(rt, conn, document_id, client_id=client_id, zone=principal.zone,
                                    category=upload.category, chunks=chunks, head=head, ended=ended)
    document = documents_store.NewDocument(
        id=document_id, client_id=client_id, unit=principal.unit, zone=principal.zone, category=upload.category,
        title_sealed=rt.field_sealer.seal(upload.title, record=_RECORD, record_id=str(document_id), field="title"),
        content_type=content_type, size=content.size, content_mac=content.mac,
        kek_version=content.wrapped.kek_version, dek_wrapped=content.wrapped.ciphertext, stream_header=content.header,
        segment_count=content.segments, idempotency_key=upload.idempotency_key, created_by=principal.sub,
        epoch=content.wrapped.epoch,
    )
    created_at = await documents_store.insert(conn, document)
    return {"id": document_id, "client_id": client_id, "unit_id": principal.unit,
            "organisation": principal.zone.organisation, "domain": principal.zone.domain,
            "category": upload.category, "title_sealed": document.title_sealed, "content_type": content_type,
            "size": document.size, "created_at": created_at, "created_by": principal.sub, "status": "active",
            "blocked": False, "version_count": 1}


@dataclass(frozen=True, slots=True)
class Encrypted:
    """Content written as encrypted segments under its content id: its wrapped data key, stream header, plaintext
    size, keyed MAC and segment count."""

    wrapped: WrappedKey
    header: bytes
    size: int
    mac: bytes
    segments: int


async def encrypt_content(rt: Runtime, conn: asyncpg.Connection, content_id: UUID, *, client_id: UUID, zone: Zone,
                          category: str, chunks: AsyncIterator[bytes], head: bytes, ended: bool) -> Encrypted:
    """Encrypt `head` and then `chunks` under a fresh data key bound to `content_id`, writing the segments as they
    come in `conn`'s transaction: an upload's content, or a correction's new version (the one road every content
    takes: no caller handles keys or nonces). The key is wrapped under the culling epoch a new entry of the file
    gets. Raises TooLarge."""
    limit = rt.settings.max_document_bytes
    binding = KeyBinding(document_id=content_id, client_id=client_id, organisation=zone.organisation, domain=zone.domain)
    key = DataKey.generate()
    epoch = await upload_epoch(rt, conn, zone, category)
    try:
        ring = await rt.keys.with_epoch(epoch)
    except (KeyRingError, OSError):  # a ring mounted read-only without this month's epoch made ahead
        log.warning("culling epoch %s is not in the key ring and cannot be added; the next `retention run` "
                    "moves this document's key to it", epoch)
        ring, epoch = rt.keyring, None
    wrapped = wrap(ring, key, binding=binding, epoch=epoch)
    encryptor = StreamEncryptor(key, document_id=content_id)
    segmenter = Segmenter(encryptor)
    mac = rt.field_sealer.content_mac()
    pending: list[bytes] = []
    written = 0

    async def write(segments: list[bytes], *, flush: bool = False) -> None:
        nonlocal written
        pending.extend(segments)
        if pending and (flush or len(pending) >= _WRITE_BATCH):
            await rt.blobs.put(conn, content_id, written, pending)
            written += len(pending)
            pending.clear()

    async def feed(chunk: bytes) -> None:
        if segmenter.plaintext_bytes + len(chunk) > limit:
            raise TooLarge(f"the document is over the limit of {limit} bytes")
        mac.update(chunk)
        await write(segmenter.feed(chunk))

    await feed(head)
    if not ended:
        async for chunk in chunks:
            await feed(chunk)
    await write(segmenter.finish(), flush=True)
    return Encrypted(wrapped, encryptor.header, segmenter.plaintext_bytes, mac.digest(), written)


def content_id_of(row: Any) -> UUID:
    """Where a document's latest content lives and what its key and stream are bound to (migration
    document_versions: the document's own id until a correction)."""
    content_id = row.get("content_id") if hasattr(row, "get") else None
    found: UUID = content_id if content_id is not None else row["id"]
    return found


async def _decided(rt: Runtime, conn: asyncpg.Connection, caller: Caller, document_id: UUID,
                   permission: Permission, purpose: str = DEFAULT_PURPOSE) -> tuple[Any, Decision]:
    """The document row and the decision for `permission` on it (one round trip; two for a client)."""
    if is_client(caller.principal):  # the person themself: their own released documents (policies/me.py)
        return await _decided_for_client(conn, caller, document_id, permission)
    row, facts = await facts_store.for_document(conn, document_id, principal=caller.principal)
    return row, await _judged(rt, caller, row, facts, permission, purpose, lambda: _borrowed(conn))


async def _judged(rt: Runtime, caller: Caller, row: Any, facts: Facts, permission: Permission, purpose: str,
                  connection: Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]) -> Decision:
    """The decision on a document's facts; `connection` gives one for the rare second read (a refusal's reasons
    come from the whole consent history)."""
    request = Request(caller.principal, permission, purpose)
    if row is None:
        return decide_unknown_document(request)
    decision = decide(request, facts, rt.policy)  # on the consents in force (facts_store)
    if needs_consent_history(decision):
        async with connection() as conn:
            facts = await facts_store.with_consent_history(conn, row["client_id"], facts, principal=caller.principal)
        decision = decide(request, facts, rt.policy)
    return decision


@asynccontextmanager
async def _borrowed(conn: asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    """A connection the caller holds, lent as _judged() asks for one."""
    yield conn


async def _decided_gathered(rt: Runtime, caller: Caller, document_id: UUID, permission: Permission,
                            purpose: str) -> tuple[Any, Decision]:
    """_decided() for a content read, its facts loaded together with concurrent reads' (store/read_batches.py);
    holds no connection while it waits."""
    if is_client(caller.principal):
        async with rt.pool.acquire() as conn:
            return await _decided(rt, conn, caller, document_id, permission, purpose)
    row, facts = await rt.reads.document_facts(document_id, caller.principal)
    return row, await _judged(rt, caller, row, facts, permission, purpose, rt.pool.acquire)


async def _decided_for_client(conn: asyncpg.Connection, caller: Caller, document_id: UUID,
                              permission: Permission) -> tuple[Any, Decision]:
    """A client's decision on a document: theirs, released and showing now; the row only when allowed."""
    principal = caller.principal
    gate = decide_me(principal, permission)
    if not gate:
        return None, gate
    assert principal.personal_number_index is not None  # decide_me refuses a client without one
    own = await me_store.own(conn, principal.personal_number_index)
    row = await me_store.document(conn, document_id)
    release = None
    if row is not None and row["released_at"] is not None:
        release = Release(row["released_at"], row["visible_from"])
    decision = decide_own_document(principal, permission, own_client=own["id"],
                                   record_client=row["client_id"] if row is not None else None, release=release,
                                   shredded=row is not None and row["status"] == "shredded",
                                   now=own["now"])
    # Another person's document, or an unreleased one, is not there for the client: no row, no client named.
    return (row if decision else None), decision


def document_decision(rt: Runtime, caller: Caller, document_id: UUID, permission: Permission,
                      purpose: str = DEFAULT_PURPOSE) -> Judge:
    """The decision for `permission` on the document, with its row and client (None: no such document)."""
    return _document_decision(rt, caller, document_id, permission, purpose)


def _document_decision(rt: Runtime, caller: Caller, document_id: UUID, permission: Permission,
                       purpose: str = DEFAULT_PURPOSE, *, of_client: UUID | None = None) -> Judge:
    """The decision for `permission` on the document, with its row and client (None: no such document).
    With `of_client` (a web page's path names the client), a document of another client is an unknown one,
    refused before anything is read or done (insider attack 12, finding 4)."""
    async def judge(conn: asyncpg.Connection) -> Judged:
        row, decision = await _decided(rt, conn, caller, document_id, permission, purpose)
        if row is not None and of_client is not None and row["client_id"] != of_client:
            return Judged(decide_unknown_document(Request(caller.principal, permission, purpose)))
        return Judged(decision, row=row, client_id=row["client_id"] if row else None)
    return judge


async def read_metadata(rt: Runtime, caller: Caller, document_id: UUID, *, purpose: str = DEFAULT_PURPOSE,
                        of_client: UUID | None = None) -> dict[str, Any]:
    """The document's metadata (a tombstone when shredded); raises Forbidden, NotFound (also for a document
    that is not `of_client`'s, when given)."""
    judge = _document_decision(rt, caller, document_id, Permission.DOCUMENT_READ_METADATA, purpose, of_client=of_client)
    async with access(rt, caller, Action.DOCUMENT_READ_METADATA, judge, document_id=document_id, purpose=purpose) as act:
        pass  # the read is the decision's: the row it loaded
    return document_json(rt, act.row, act.decision)


async def page(rt: Runtime, caller: Caller, client_id: UUID, *, category: str | None,
               after: tuple[datetime, UUID], limit: int, purpose: str = DEFAULT_PURPOSE) -> Paged[dict[str, Any]]:
    """The documents of the client the caller may see, and only those. Raises Forbidden, NotFound.

    The list decision and each document's decision use the same facts, loaded once. The store reads only the
    candidates (policies.candidates: the zones and categories the caller's zone, consents and grants can
    open), so a page costs by what it shows, not by what other zones hold; decide() confirms each.
    """
    # The list's own decision is purpose-blind (decide() reads the purpose only for a document): as before.
    async with client_access(rt, caller, Permission.DOCUMENT_LIST, Action.DOCUMENT_LIST, client_id,
                             purpose=purpose) as act:
        facts = act.now_facts
        visible: list[dict[str, Any]] = []
        crossed: list[tuple[int, UUID, Decision]] = []  # (position on the page from 1, id, decision)
        request = Request(caller.principal, Permission.DOCUMENT_READ_METADATA, purpose)
        selected = candidates(request, facts, rt.policy)  # what decide() could allow: rows of other zones stay unread
        batch = limit + 1  # candidates are what decide() allows but for rare cases: one round trip a page
        while len(visible) <= limit:
            rows = await documents_store.page_of_client(act.conn, client_id, selected, category=category, after=after,
                                                        limit=batch)
            for row in rows:
                document_facts = facts_store.document_facts(row)
                document_decision = decide(request, dataclasses.replace(facts, document=document_facts), rt.policy)
                if document_decision:
                    visible.append(document_json(rt, row, document_decision))
                    if document_facts.zone != caller.principal.zone:
                        crossed.append((len(visible), row["id"], document_decision))
            if len(rows) < batch:
                break
            after = (rows[-1]["created_at"], rows[-1]["id"])
        # A list shows the metadata of each document on it. Of another zone's, that is a read across the boundary
        # (under a consent or an emergency grant) that the holding zone's log and the client's extract must show
        # (PDL 4:3, 8:5; OSL 12:2): one document.read_metadata event each, under the basis that allowed it, after
        # the list's own.
        for position, document_id, document_decision in crossed:
            if position <= limit:  # on the page: the one read ahead to know of a next page is not shown
                act.also_record(Action.DOCUMENT_READ_METADATA, document_decision, client_id=client_id,
                                document_id=document_id, purpose=purpose)
    return paged(visible, limit)


@dataclass(slots=True)
class Content:
    """An opened document: metadata for the headers, its first segment's plaintext, and the rest to stream.

    `rest` is None for a one-segment document; otherwise it yields the following segments'
    plaintext, taking a connection only while it reads a batch, and must be exhausted or closed
    (aclose). It raises DecryptionFailed on a tampered
    or missing segment.
    """

    content_type: str
    size: int
    first: bytes
    rest: AsyncGenerator[bytes, None] | None


async def open_content(rt: Runtime, caller: Caller, document_id: UUID, *, purpose: str | None) -> Content:
    """Decide, commit the audit event, then decrypt the first segment and open the rest for streaming.

    Raises Forbidden, NotFound, Gone, and DecryptionFailed (audited) when the key or the first
    segment fails authentication. The facts (with the caller's unit still active:
    authenticate(unit_checked_later=True) left that check here), then the event with the first
    batch of segments: each a statement shared with concurrent reads' (store/read_batches.py),
    on a connection that is back in the pool before the first byte is sent; each later batch of
    segments takes one of its own (_plaintext).
    """
    # A client reads their own under no purpose of use (None in the event); the decision needs none.
    permission = Permission.ME_DOCUMENTS if is_client(caller.principal) else Permission.DOCUMENT_READ_CONTENT
    row, decision = await _decided_gathered(rt, caller, document_id, permission, purpose or DEFAULT_PURPOSE)
    if caller.principal.unit is not None and (row is None or not row["caller_unit_active"]):
        await unit_zone(rt, caller, Action.DOCUMENT_READ_CONTENT)  # the check the handler left here: audits, raises
    client_id = row["client_id"] if row else None
    if not decision:
        async with rt.pool.acquire() as conn:
            await audit.record_before_read(conn, Action.DOCUMENT_READ_CONTENT, caller=caller, decision=decision,
                                           purpose=purpose, client_id=client_id, document_id=document_id)
        raise_if_denied(decision)
    count = row["segment_count"]
    # The event, committed, then the first batch (one statement where the blobs are the database's).
    event = audit.event_values(Action.DOCUMENT_READ_CONTENT, caller, decision, client_id=client_id,
                               document_id=document_id, purpose=purpose)
    try:
        content_id = content_id_of(row)  # the latest version's (the document's own until a correction)
        batch = await rt.reads.first_after_event(content_id, count=count, event=event)
        ring = rt.keys.holding(row["kek_version"], row["epoch"])  # another replica's new epoch or KEK, if any
        key = unwrap(ring, WrappedKey(row["kek_version"], row["dek_wrapped"], row["epoch"]), binding=_binding(row))
        decryptor = StreamDecryptor(key, document_id=content_id, header=row["stream_header"])
        if not batch:
            raise DecryptionFailed()  # no segment at all: the row's count was tampered with
        first = decryptor.decrypt_segment(0, batch[0], last=count == 1)
    except DecryptionFailed:
        await record_integrity_failure(rt, caller, document_id)
        raise
    rest = None
    if count > 1:  # the batch's other segments are decrypted as they are sent: the client reads meanwhile
        rest = _plaintext(rt, decryptor, content_id, batch, count=count)
    return Content(row["content_type"], row["size"], first, rest)


async def _plaintext(rt: Runtime, decryptor: StreamDecryptor, content_id: UUID, batch: list[bytes], *,
                     count: int) -> AsyncGenerator[bytes, None]:
    """Segments 1..count-1 decrypted in order: the rest of `batch`, then the later batches from the store.

    Each later batch is read on a connection taken for that read alone and given back before its
    segments are sent: a client that stops reading (its socket full) then holds no database
    connection, so however many downloads stall, the pool serves everyone else (a batch is
    `len(batch)` segments, 1 MiB by default: one short acquire per MiB sent).
    """
    for index in range(1, len(batch)):
        yield decryptor.decrypt_segment(index, batch[index], last=index == count - 1)
    step = len(batch)
    for start in range(len(batch), count, step):
        stop = min(start + step, count)
        async with rt.pool.acquire() as conn:
            async with aclosing(rt.blobs.read(conn, content_id, start=start, count=stop)) as read:
                ciphertexts = [ciphertext async for ciphertext in read]
        for offset, ciphertext in enumerate(ciphertexts):
            index = start + offset
            yield decryptor.decrypt_segment(index, ciphertext, last=index == count - 1)


async def record_integrity_failure(rt: Runtime, caller: Caller, document_id: UUID) -> None:
    """Audit that stored ciphertext of a document failed authentication while being read."""
    await record_refusal(rt, caller, deny(Reason.INTEGRITY_ERROR), Action.DOCUMENT_READ_CONTENT,
                         document_id=document_id)


async def shred(rt: Runtime, caller: Caller, document_id: UUID, *, reason: str, ivo_decision: str | None = None,
                of_client: UUID | None = None) -> None:
    """Crypto-shred: destroy the wrapped data key and every segment, keep the tombstone.

    A patient record younger than ten years only on an IVO decision (policies/retention.py decide_shred): its
    reference is sealed into the tombstone like the reason, and the audit event's basis names it.
    Raises Forbidden (role, or not the owning unit), NotFound, RetentionMinimum (409, audited as a refusal).
    """
    document_judge = _document_decision(rt, caller, document_id, Permission.DOCUMENT_SHRED, of_client=of_client)

    async def judge(conn: asyncpg.Connection) -> Judged:
        judged = await document_judge(conn)
        if judged.row is not None:
            now = judged.facts.now if judged.facts is not None and judged.facts.now is not None else rt.clock()
            judged.decision = decide_shred(judged.decision, domain=judged.row["domain"],
                                           created_at=judged.row["created_at"], now=now, ivo_decision=ivo_decision)
        return judged

    answers = {Reason.RETENTION_MINIMUM: lambda: RetentionMinimum(
        f"a patient record is kept at least {HEALTH_MINIMUM_YEARS} years; shredding it sooner needs IVO's decision "
        "(ivo_decision: its reference)")}
    async with access(rt, caller, Action.DOCUMENT_SHRED, judge, document_id=document_id, answers=answers) as act:
        bound = {"record": _RECORD, "record_id": str(document_id)}
        sealed_reason = rt.field_sealer.seal(reason, **bound, field="shred_reason")
        sealed_ivo = rt.field_sealer.seal(ivo_decision, **bound, field="ivo_decision") if ivo_decision else None
        content_ids = await documents_store.shred(act.conn, document_id, by=caller.principal.sub,
                                                  reason_sealed=sealed_reason, ivo_decision_sealed=sealed_ivo)
        if content_ids:  # the latest version's segments and every superseded version's (PDL 3:14 keeps the rows)
            await rt.blobs.delete_many(act.conn, content_ids)


async def set_blocked(rt: Runtime, caller: Caller, document_id: UUID, *, blocked: bool, reason: str | None,
                      of_client: UUID | None = None) -> dict[str, Any]:
    """Block (spärr) or unblock on the client's request, by the owning unit; raises Forbidden, NotFound (also for
    a document that is not `of_client`'s, when given)."""
    action = Action.DOCUMENT_BLOCK if blocked else Action.DOCUMENT_UNBLOCK
    judge = _document_decision(rt, caller, document_id, Permission.DOCUMENT_BLOCK, of_client=of_client)
    async with access(rt, caller, action, judge, document_id=document_id) as act:
        sealed = rt.field_sealer.seal(reason, record=_RECORD, record_id=str(document_id), field="block_reason") if reason else None
        await documents_store.set_blocked(act.conn, document_id, blocked=blocked, by=caller.principal.sub, reason_sealed=sealed)
    return document_json(rt, {**act.row, "blocked": blocked}, act.decision)
