"""The one road to client data: load the facts, decide, act, record the audit event, answer a refusal.

Every API handler, web page and command that touches client data goes through `access()`:

    async with client_access(rt, caller, Permission.RELATION_OPEN, Action.RELATION_OPEN, client_id) as act:
        row = await relations_store.open_or_get(act.conn, ...)

`access()` takes any `Judge` (a document's, a consent's, the audit log's decision); `client_access()`
is the client-level one, `decided()` one made before the access on nothing stored (a role gate). A
Judge that loads the record it decides on (a document, a consent, a grant) hands it on in `Judged.row`,
for the body and the caller (`act.row`), and names its client in `Judged.client_id`, so the event names
that client whether the access is allowed or denied.

It opens a transaction, has the decision made from facts loaded in it (a `Judge`), and runs the body only
when the decision allows, in that transaction. The audit event is recorded in the same transaction,
allowed or denied, after the body (which may still turn the access into a refusal, `act.deny`, or name
what it made, `act.consent_id`), followed by the events of further accesses the body made
(`act.also_record`); then the transaction commits, and a refusal raises the error the contract
prescribes (`raise_if_denied`). The body never runs for a refusal, and nothing is committed without its
event. `access_on()` is the same on a connection the caller holds (an upload's, the command line's);
`refuse()` / `record_refusal()` record a refusal made before any read. The download path keeps its own two
round trips (documents.open_content).
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn
from uuid import UUID

import asyncpg

from policies.decide import Facts, Request, decide
from policies.decision import Decision, Reason, deny
from policies.roles import Permission

from .. import audit
from ..audit import Action, Caller
from ..errors import Forbidden, Gone, NoOrganisation, NotFound, NotOwningUnit, OwnEmergency
from ..runtime import Runtime
from ..store import facts as facts_store

Answers = Mapping[Reason, Callable[[], Exception]]


@dataclass(slots=True)
class Judged:
    """A decision and the facts it was made from (None where the decision needs none); the record it was made
    on (`row`: None when there is none or the decision needs none) and the client that record belongs to."""

    decision: Decision
    facts: Facts | None = None
    row: Any = None
    client_id: UUID | None = None


# Loads the facts in the access's transaction and decides.
Judge = Callable[[asyncpg.Connection], Awaitable[Judged]]


def decided(decision: Decision) -> Judge:
    """A decision made before the access, on nothing stored (a role gate checked before the body is parsed,
    the audit log's rules on the caller's token)."""
    async def judge(conn: asyncpg.Connection) -> Judged:
        return Judged(decision)
    return judge


def client_decision(rt: Runtime, caller: Caller, permission: Permission, client_id: UUID,
                    purpose: str | None = None) -> Judge:
    """The client-level decision (policies.decide) on the facts about the client, loaded in the access."""
    async def judge(conn: asyncpg.Connection) -> Judged:
        facts = await facts_store.for_client(conn, client_id, principal=caller.principal)
        request = Request(caller.principal, permission) if purpose is None else \
            Request(caller.principal, permission, purpose)
        return Judged(decide(request, facts, rt.policy), facts)
    return judge


@dataclass(slots=True)
class Access:
    """An allowed access in progress: its transaction, its decision, facts and record, what its audit event names."""

    conn: asyncpg.Connection
    action: Action  # what the event records; the body may find the access was another (an upload's replay: a read)
    decision: Decision
    facts: Facts | None
    row: Any = None  # the record the Judge loaded (Judged.row); the body may replace it with what it wrote
    client_id: UUID | None = None
    document_id: UUID | None = None
    consent_id: UUID | None = None
    purpose: str | None = None
    # Events of further accesses the body made, recorded after the access's own (also_record).
    followers: list[tuple[Action, Decision, UUID | None, UUID | None, str | None]] = field(default_factory=list)

    @property
    def now_facts(self) -> Facts:
        """The facts, for a body that needs them (a client-level decision always has them)."""
        if self.facts is None:
            raise RuntimeError("this access was decided without facts")
        return self.facts

    def deny(self, reason: Reason) -> None:
        """Turn the access into a refusal found while acting (the row was gone, a verdict came first): its
        event says so, and the error is raised once the transaction (with anything the body wrote) is over."""
        self.decision = deny(reason)

    def became(self, action: Action, judged: Judged, *, document_id: UUID | None) -> None:
        """The access turned out to be another, decided anew (an upload under a used Idempotency-Key is a read of
        the first document's metadata): its event records that action, decision and record instead."""
        self.action, self.decision, self.facts, self.row = action, judged.decision, judged.facts, judged.row
        self.client_id = judged.client_id if judged.client_id is not None else self.client_id
        self.document_id = document_id

    def also_record(self, action: Action, decision: Decision, *, client_id: UUID | None = None,
                    document_id: UUID | None = None, purpose: str | None = None) -> None:
        """Record the event of a further access the body made (a list's read of a document across the zone
        boundary) after the access's own event, in its transaction."""
        self.followers.append((action, decision, client_id, document_id, purpose))


@asynccontextmanager
async def access(rt: Runtime, caller: Caller, action: Action, judge: Judge, *, client_id: UUID | None = None,
                 document_id: UUID | None = None, consent_id: UUID | None = None, purpose: str | None = None,
                 answers: Answers | None = None) -> AsyncIterator[Access]:
    """Decide, run the body when allowed, record the event, commit, answer a refusal (module docstring), on a
    connection of the pool. The ids name what the event is about (the body may set them); `client_id` defaults
    to the Judge's. An exception in the body rolls everything back, the event with it: a failed action is no
    access.
    """
    async with rt.pool.acquire() as conn, access_on(conn, caller, action, judge, client_id=client_id,
                                                    document_id=document_id, consent_id=consent_id,
                                                    purpose=purpose, answers=answers) as act:
        yield act


@asynccontextmanager
async def access_on(conn: asyncpg.Connection, caller: Caller, action: Action, judge: Judge, *,
                    client_id: UUID | None = None, document_id: UUID | None = None, consent_id: UUID | None = None,
                    purpose: str | None = None, answers: Answers | None = None) -> AsyncIterator[Access]:
    """access() on a connection the caller holds: an upload's (from the uploads' share of the pool), the command
    line's (no pool). The transaction is this access's own."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        judged = await judge(conn)
        act = Access(conn, action, judged.decision, judged.facts, judged.row,
                     client_id if client_id is not None else judged.client_id, document_id, consent_id, purpose)
        if act.decision:
            yield act
        await audit.record(conn, act.action, caller=caller, decision=act.decision, client_id=act.client_id,
                           document_id=act.document_id, consent_id=act.consent_id, purpose=act.purpose)
        # One round trip for them all: a list of 50 reads across zones must not cost 50 (bench/sip.py).
        await audit.record_all(conn, [
            audit.event_values(follower, caller, decision, client_id=follower_client, document_id=follower_document,
                               purpose=follower_purpose)
            for follower, decision, follower_client, follower_document, follower_purpose in act.followers])
    except BaseException:
        await transaction.rollback()
        raise
    await transaction.commit()
    raise_if_denied(act.decision, answers)


def raise_if_denied(decision: Decision, answers: Answers | None = None) -> None:
    """403 for a role (organisation, owning-unit) refusal, 410 for shredded content, else 404: existence is not revealed.

    `answers`: the errors of reasons that only the caller's own rules give (a 403, 409 or 422 of one
    endpoint), checked first. Reasons that other decisions give too (a consent revoked, emergency not
    permitted) stay 404 everywhere else, where they would reveal what the caller may not see.
    """
    if decision:
        return
    for reason in decision.reason_codes:
        if answers and reason in answers:
            raise answers[reason]()
    if Reason.FORBIDDEN_ROLE in decision.reason_codes:
        raise Forbidden("your roles do not allow this")
    if Reason.NO_ORGANISATION in decision.reason_codes:
        raise NoOrganisation("an auditor's token must name the organisations audited (claim organisations)")
    if Reason.OWN_EMERGENCY in decision.reason_codes:
        raise OwnEmergency("no one reviews their own emergency access")
    if Reason.NOT_OWNING_UNIT in decision.reason_codes:
        raise NotOwningUnit("only the owning unit may do this")
    if Reason.SHREDDED in decision.reason_codes:
        raise Gone("the document was shredded; its content no longer exists")
    raise NotFound()


async def refuse(rt: Runtime, caller: Caller, decision: Decision, action: Action | None, *,
                 client_id: UUID | None = None, document_id: UUID | None = None,
                 consent_id: UUID | None = None, answers: Answers | None = None) -> NoReturn:
    """Record a refusal made before anything was read (the role gate) under `action`, then raise its error.

    The event names the ids of the request's path as they were sent, nothing looked up: the caller reached
    no record, and the event must not tell its zone's auditors what a record is (an emergency grant's client
    would tell them that the other zone opened emergency access on that client).
    No action: the call has no audited action (units), and the refusal is only answered.
    """
    if decision:
        raise AssertionError("refuse() takes a denial")  # an allowed decision is a caller's bug
    if action is not None:
        await record_refusal(rt, caller, decision, action, client_id=client_id, document_id=document_id,
                             consent_id=consent_id)
    raise_if_denied(decision, answers)
    raise AssertionError("unreachable: raise_if_denied raises for a denial")


async def record_refusal(rt: Runtime, caller: Caller, decision: Decision, action: Action, *,
                         client_id: UUID | None = None, document_id: UUID | None = None,
                         consent_id: UUID | None = None) -> None:
    """Record a refusal that its caller answers itself (a download cut mid-stream by an integrity failure)."""
    try:
        async with access(rt, caller, action, decided(decision), client_id=client_id, document_id=document_id,
                          consent_id=consent_id, answers={reason: _Recorded for reason in decision.reason_codes}):
            pass
    except _Recorded:
        pass


class _Recorded(Exception):
    """record_refusal's own answer to the refusal it recorded: nothing for its caller to see."""


def client_access(rt: Runtime, caller: Caller, permission: Permission, action: Action, client_id: UUID, *,
                  purpose: str | None = None, answers: Answers | None = None) -> AbstractAsyncContextManager[Access]:
    """access() under the client-level decision for `permission` on the client: the common road."""
    return access(rt, caller, action, client_decision(rt, caller, permission, client_id, purpose), client_id=client_id,
                  purpose=purpose, answers=answers)


@dataclass(slots=True)
class Batch:
    """Accesses a job decides one by one in one transaction (`batch_on`): each is recorded with its decision."""

    conn: asyncpg.Connection
    action: Action
    events: list[tuple[Decision, UUID | None, UUID | None]] = field(default_factory=list)

    def record(self, decision: Decision, *, client_id: UUID | None = None, document_id: UUID | None = None) -> None:
        """The event of one access the job decided (policies/) and made, written before the transaction commits."""
        self.events.append((decision, client_id, document_id))


@asynccontextmanager
async def batch_on(conn: asyncpg.Connection, caller: Caller, action: Action) -> AsyncIterator[Batch]:
    """A transaction of a job's accesses (retention culling): the body decides each one through policies/ from
    what it locked, acts, and records it (`Batch.record`); the events are written in the transaction, after the
    body, in one round trip, and commit with what the body did or vanish with it."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        batch = Batch(conn, action)
        yield batch
        if batch.events:
            await audit.record_all(conn, [
                audit.event_values(action, caller, decision, client_id=client_id, document_id=document_id)
                for decision, client_id, document_id in batch.events])
    except BaseException:
        await transaction.rollback()
        raise
    await transaction.commit()
