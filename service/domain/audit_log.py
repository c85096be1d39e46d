"""Reading the audit log: events, the NDJSON export, verification, checkpoints, the client's extract.

Every read of the log is itself an event (`audit.read`, `audit.extract` for a
client's extract), recorded before anything is returned; denials too.

Events, the export and extracts show the reader's part of the log only (policies/audit.py
`LogScope`: an auditor's organisations, a unit manager's zone). Verification walks the whole
chain and checkpoints are all listed, but only the whole log's (`*`) auditor gets chain hashes,
signatures and held-checkpoint verification: for a scoped auditor the hashes are an oracle over
the fields withheld from them (OSL 8:2, 25:1, 26:1; policies/audit.py says how), a deviation
from API-1.1's "chain status, checkpoints and public keys are whole". Public keys are whole.
The web interface calls these same functions.
"""
from __future__ import annotations

import base64
import gc
import json
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping
from contextlib import aclosing, contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from crypto.chain import ALL_SEQS, ChainVerifier, Verdict
from policies.audit import (
    EventFilter,
    LogScope,
    auditor_scope,
    decide_access_log,
    decide_audit,
    decide_verify,
    extract_scope,
)
from policies.decision import Decision, Reason
from policies.roles import Permission

from ..audit import Action, Caller
from ..errors import WholeLogOnly
from ..runtime import Runtime
from ..store import audit_chain as chain_store
from ..store import audit_events as events_store
from ..store import facts as facts_store
from . import audit_stretches
from .access import Judged, access, decided
from .audit_windows import Windows
from .paging import Paged, paged


def _hex(value: bytes | None) -> str | None:
    return bytes(value).hex() if value is not None else None


def event_json(row: Mapping[str, Any], *, whole: bool = True) -> dict[str, Any]:
    """An event as the contract shows it (plus `prev_seq`); `hash` is null until sealed.

    For a reader of part of the log (`whole` false) the hashes are null, a row marked
    `withheld` shows no client id and no reason codes, one marked `reasons_withheld` no reason codes
    (policies/audit.py says why).
    """
    withheld = bool(row["withheld"])
    reasons_withheld = withheld or bool(row["reasons_withheld"])
    zone = None
    if row["actor_organisation"] is not None:
        zone = {"organisation": row["actor_organisation"], "domain": row["actor_domain"]}
    return {
        "seq": row["seq"], "at": row["at"],
        "actor": {"sub": row["actor_sub"], "name": row["actor_name"], "unit": row["actor_unit"], "zone": zone,
                  "roles": list(row["actor_roles"])},
        "action": row["action"], "client_id": None if withheld else row["client_id"],
        "document_id": row["document_id"], "consent_id": row["consent_id"], "decision": row["decision"],
        "basis": row["basis"], "reason_codes": [] if reasons_withheld else list(row["reason_codes"]), "purpose": row["purpose"],
        "request_id": row["request_id"], "remote_addr": row["remote_addr"], "flagged": row["flagged"],
        "prev_seq": row["prev_seq"], "prev_hash": _hex(row["prev_hash"]) if whole else None,
        "hash": _hex(row["hash"]) if whole else None,
    }


def checkpoint_json(row: Mapping[str, Any], *, whole: bool = True) -> dict[str, Any]:
    """A checkpoint as the contract shows it; for a scoped reader (`whole` false) without hash, signature and prev
    (the digest of the checkpoint before it, which a format 2 checkpoint signs; null for format 1)."""
    prev = row["prev"]
    return {"seq": row["seq"], "hash": bytes(row["hash"]).hex() if whole else None, "at": row["at"],
            "signature": base64.b64encode(bytes(row["signature"])).decode() if whole else None, "key_id": row["key_id"],
            "prev": bytes(prev).hex() if whole and prev is not None else None}


def verdict_json(verdict: Verdict, *, whole: bool = True) -> dict[str, Any]:
    """A verification's result as the contract shows it; for a scoped reader (`whole` false) the head without
    its hash."""
    return {"ok": verdict.ok, "checked": verdict.checked,
            "head": {"seq": verdict.head_seq, "hash": verdict.head_hash.hex() if whole else None},
            "first_bad_seq": verdict.first_bad_seq, "problem": verdict.problem,
            "from_anchor_seq": verdict.start_seq or None}


def public_key_json(key_id: str, key: Ed25519PublicKey) -> dict[str, str | dict[str, str]]:
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"key_id": key_id, "algorithm": "Ed25519", "public_key": base64.b64encode(raw).decode(),
            "jwk": {"kty": "OKP", "crv": "Ed25519", "kid": key_id,
                    "x": base64.urlsafe_b64encode(raw).decode().rstrip("=")}}


_WHOLE_LOG_ONLY = {Reason.WHOLE_LOG_ONLY: lambda: WholeLogOnly(
    "verifying a held checkpoint is for the auditor of the whole log (organisations [\"*\"])")}


async def _read(rt: Runtime, caller: Caller, permission: Permission = Permission.AUDIT_READ, *,
                decision: Decision | None = None) -> LogScope:
    """Decide (unless `decision` is given) and record a read of the log; the reader's scope, or raises Forbidden."""
    if decision is None:  # (a denial is falsy: no `or`)
        decision = decide_audit(caller.principal, permission)
    async with access(rt, caller, Action.AUDIT_READ, decided(decision), answers=_WHOLE_LOG_ONLY):
        pass  # the read itself follows on a connection of its own (page, stream, verify, checkpoints)
    return auditor_scope(caller.principal)


async def page(rt: Runtime, caller: Caller, filters: EventFilter, *, after: int,
               limit: int) -> Paged[dict[str, Any]]:
    """The caller's events after seq `after`, oldest first; raises Forbidden."""
    scope = await _read(rt, caller)
    async with rt.pool.acquire() as conn:
        rows = await events_store.page(conn, filters, scope=scope, after=after, limit=limit + 1)
    return paged([event_json(row, whole=scope.whole) for row in rows], limit)


async def stream(rt: Runtime, caller: Caller, filters: EventFilter) -> AsyncGenerator[bytes, None]:
    """NDJSON lines of every matching event the caller sees, oldest first, from one snapshot; raises Forbidden
    before the first.

    The generator holds a pool connection and a transaction until it ends: consume it inside
    `contextlib.aclosing`, so a consumer that stops early (a client gone mid-stream) hands them back.
    """
    scope = await _read(rt, caller)
    return _lines(rt, filters, scope)


async def _lines(rt: Runtime, filters: EventFilter, scope: LogScope) -> AsyncGenerator[bytes, None]:
    async with rt.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        batch: list[bytes] = []
        async for row in events_store.stream(conn, filters, scope=scope):
            batch.append(ndjson(event_json(row, whole=scope.whole)))
            if len(batch) >= 500:
                yield b"".join(batch)
                batch.clear()
        if batch:
            yield b"".join(batch)


def ndjson(item: dict[str, Any]) -> bytes:
    return (json.dumps(item, default=str, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


async def verify(rt: Runtime, caller: Caller, *, held: tuple[int, bytes] | None = None) -> dict[str, Any]:
    """Walk the whole chain and every checkpoint, and against `held` (seq, hash), a checkpoint the caller kept;
    the result as the contract shows it. Raises Forbidden: `held` is the whole log's auditor's only, and only
    they get the head's hash (policies/audit.py `decide_verify`). A `held` seq need not be a signed checkpoint's:
    it is the caller's own value (a head they noted)."""
    scope = await _read(rt, caller, decision=decide_verify(caller.principal, held_checkpoint=held is not None))
    async with rt.pool.acquire() as conn:
        verdict = await verify_chain(conn, rt.keyring.audit_public_keys, held=held)
    return verdict_json(verdict, whole=scope.whole)


async def verify_chain(conn: asyncpg.Connection, public_keys: Mapping[str, Ed25519PublicKey], *,
                       held: tuple[int, bytes] | None = None, dsn: str | None = None,
                       progress: Callable[[int], None] | None = None) -> Verdict:
    """The chain in the database against `public_keys`, in one snapshot (no audit event: callers record theirs).
    With `dsn` (where `conn` logs in), a large log's later half is checked at once in a worker process
    (audit_stretches.py); the verdict is the same. `audit verify` passes it (1.0-1.36x of one process on this
    2-vCPU machine, as much as the host lets two processes run at once: bench/audit.py prints the worker's gain);
    GET /v1/audit/verify does not (no process started by a request). `progress` is told how many events this
    process has verified, each 50,000 or so (`audit verify` prints it: a large log takes minutes); the worker's
    count joins at its end."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await chain_store.plan_walks(conn)
        # After an archive (service/audit_archive.py) the chain here begins at its signed anchor.
        anchor = await chain_store.anchor(conn)
        start = anchor["seq"] if anchor is not None else 0
        # The checkpoints a window at a time as the walk gets there (audit_windows.py), their signatures checked
        # ahead in threads (the worker reads and checks its own).
        verifier = ChainVerifier(public_keys, {}, held, covered=start + 1)
        if anchor is not None and not verifier.start_at(chain_store.checkpoint(anchor)):
            return verifier.finish()
        windows = Windows(conn, verifier)
        try:
            with _collecting_less_often():
                await _walk(conn, verifier, windows, start=start, dsn=dsn, progress=progress)
            return await windows.finish()
        finally:
            windows.close()


async def _walk(conn: asyncpg.Connection, verifier: ChainVerifier, windows: Windows, *, start: int, dsn: str | None,
                progress: Callable[[int], None] | None) -> None:
    """verify_chain's walk, until the verdict is known or the log ends."""
    add = verifier.add_versioned
    later = None
    try:
        # The common case as lines of canonical bytes (ChainVerifier.add_lines), a stretch at a time. An event
        # they do not prove goes alone to the walk of values, which encodes it itself; while the chain holds
        # after it, the lines go on. From the first problem or unsealed event (or a link whose event is gone)
        # on, the walk of values takes the rest, event by event, and classifies what it finds.
        # Below the last event: a bigint bound, so an event at 2^63 - 1 (a partition the owner made up to MAXVALUE)
        # is left to the walk of values instead of making the bound overflow (found in review).
        end = min(await chain_store.last_seq(conn) + 1, _LARGEST_SEQ)
        if dsn is not None:  # the worker starts while this process looks for links whose event is gone
            later = await audit_stretches.begin(conn, dsn, verifier, after=start, end=end)
        orphans = await chain_store.orphan_links(conn, after=start)
        if orphans:
            end = orphans[0][0]
            if later is not None:  # its stretch walks events, not links: never joined here, so ended now
                await later.close()
                later = None
        stop = later.low + 1 if later is not None else end
        after, known = await audit_stretches.walk_lines(conn, verifier, add, windows, after=start, end=stop,
                                                        progress=progress)
        if later is not None and not known:
            if after + 1 >= stop and verifier.intact:  # the walk here reached the worker's first link
                stretch = await later.stretch()
                # Every checkpoint of this stretch loaded first: the walk may have stepped over numbers no event has
                # (a month's roll) without loading their window, and those after it are the worker's.
                await windows.reach(stop)
                if stretch is not None and verifier.join(stretch, low=later.low):
                    after = verifier.head_seq
            else:  # it stopped short (an event it could not prove): the worker's stretch is not wanted
                await later.close()
            after, known = await audit_stretches.walk_lines(conn, verifier, add, windows, after=after, end=end,
                                                            progress=progress)
        if known:
            return
        if verifier.intact:  # the walk of values may meet any checkpoint after here (one each 10 s of sealing)
            await windows.reach(None)
        async with aclosing(chain_store.walk(conn, after=max(after, verifier.head_seq), orphans=orphans)) as batches:
            async for rows in batches:
                for row in rows:
                    if not add(row[0], row[audit_stretches.VERSIONED] if row[1] is not None else None, row[-3], row[-2], row[-1]):
                        return
                if progress is not None:
                    progress(verifier.checked)
    finally:
        if later is not None:
            await later.close()


_LARGEST_SEQ = ALL_SEQS - 1  # PostgreSQL's largest bigint


class _Walks:
    """How many chain walks this process runs now, and the collector's threshold from before the first."""

    running = 0
    threshold: tuple[int, int, int] = (0, 0, 0)


@contextmanager
def _collecting_less_often() -> Iterator[None]:
    """The collector's first threshold at 50,000 while any walk runs (a walk allocates millions of short-lived
    rows, none in a cycle), the threshold from before back when the last one ends. Walks overlap (two auditors'
    GET /v1/audit/verify at once): each putting back what it found would, in the wrong order, leave 50,000 for good."""
    if _Walks.running == 0:
        _Walks.threshold = gc.get_threshold()
        gc.set_threshold(50_000, *_Walks.threshold[1:])
    _Walks.running += 1
    try:
        yield
    finally:
        _Walks.running -= 1
        if _Walks.running == 0:
            gc.set_threshold(*_Walks.threshold)


async def checkpoints(rt: Runtime, caller: Caller, *, after: int, limit: int,
                      latest: bool = False) -> Paged[dict[str, Any]]:
    """Signed checkpoints after seq `after`, oldest first (or only the newest); hash and signature for the whole
    log's auditor only (policies/audit.py); raises Forbidden."""
    scope = await _read(rt, caller)
    async with rt.pool.acquire() as conn:
        rows = await chain_store.checkpoint_page(conn, after=after, limit=limit + 1, latest=latest)
    return paged([checkpoint_json(row, whole=scope.whole) for row in rows], limit)


async def read_keys(rt: Runtime, caller: Caller) -> None:
    """Decide and record the read of the verification keys; raises Forbidden."""
    await _read(rt, caller)


def public_keys(rt: Runtime) -> list[dict[str, str | dict[str, str]]]:
    return [public_key_json(key_id, key) for key_id, key in rt.keyring.audit_public_keys.items()]


async def access_log(rt: Runtime, caller: Caller, client_id: UUID, *, after: int,
                     limit: int) -> Paged[dict[str, Any]]:
    """Who read the client's data, as far as the caller may know it, after seq `after` (entries archived by
    `audit archive` are not here: archived_before says since when).

    An auditor's extract covers their organisations; a unit manager's the reads of records their zone
    holds and the reads made by their zone (policies/audit.py `extract_scope`). Raises Forbidden, NotFound.
    """
    async def judge(conn: asyncpg.Connection) -> Judged:
        facts = await facts_store.for_client(conn, client_id, principal=caller.principal)
        return Judged(decide_access_log(caller.principal, client_exists=facts.client_exists,
                                        relation_active=facts.caller_relation_active), facts)

    # The extract lists reads (READ_ACTIONS), never an extract: read in the access, before its own event, it is
    # what it was read after it.
    async with access(rt, caller, Action.AUDIT_EXTRACT, judge, client_id=client_id) as act:
        rows = await events_store.extract(act.conn, client_id, scope=extract_scope(caller.principal), after=after,
                                          limit=limit + 1)
    entries = [{"seq": row["seq"], "at": row["at"], "action": row["action"], "document_id": row["document_id"],
                "basis": row["basis"], "purpose": row["purpose"], "flagged": row["flagged"],
                "actor": {"name": row["actor_name"], "unit": row["actor_unit"], "organisation": row["actor_organisation"]}}
               for row in rows]
    return paged(entries, limit)


async def archived_before(rt: Runtime) -> datetime | None:
    """The time before which the log has been archived (`audit archive`: older entries are in the archive's file,
    not in the database), None when nothing has been; the same for every reader (not a fact about any client)."""
    async with rt.pool.acquire() as conn:
        return await chain_store.archived_before(conn)
