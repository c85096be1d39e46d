"""Follow-up records (API-1.1 "Follow-up records and indicators"): episodes, contacts, assessments, interventions.

Written by the caller's unit on its own client work (policies/decide.py for `followup:write`: a relation, the own
zone), read under the decision for documents of category `followup` of the record's unit (policies/followup.py), so
a consent naming `followup` lets the other zone read them. Every call goes through access(): the event in the same
transaction, allowed or refused; a list's reads of another zone's records follow as `followup.read` events, one a
unit. Never edited: voided with a reason (sealed), an episode closed once. A refusal by the records' rules (a date
before the episode, closing a closed episode, a joint visit with a unit of the own domain) is a 422 naming the field,
audited, nothing stored.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from policies import followup as rules
from policies.decide import Facts, Request, decide
from policies.decision import Decision, Reason, deny
from policies.model import Zone
from policies.roles import Permission, role_gate

from ..audit import Action, Caller
from ..errors import ValidationFailed
from ..runtime import Runtime
from ..store import facts as facts_store
from ..store import followup as store
from .access import Judged, access
from .paging import Paged, paged

_RECORD = "followup_record"
_CLIENT = "client"
# The date field each kind is dated by in the contract's bodies.
DATE_FIELD = {"episode": "opened_on", "contact": "on", "assessment": "on", "intervention": "started_on"}


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record as the API's (and the web form's) body states it."""

    kind: str  # episode, contact, assessment, intervention
    on_date: date
    detail: str | None = None  # the contact's or intervention's kind, the assessment's instrument
    score: int | None = None
    with_unit: str | None = None
    end_date: date | None = None  # an intervention's ended_on


def _fail(violations: list[rules.Violation]) -> None:
    if violations:
        raise ValidationFailed([{"field": v.field, "message": v.message} for v in violations])


def check_body(rt: Runtime, record: NewRecord) -> None:
    """The body's rules that need nothing stored (422 before any read): dates not in the future, a score in its
    instrument's range, a joint visit naming its unit, an intervention not ending before it starts."""
    today = rt.today()
    problems = rules.check_date(DATE_FIELD[record.kind], record.on_date, today=today)
    if record.kind == "assessment":
        assert record.detail is not None and record.score is not None
        problems += rules.check_score(record.detail, record.score)
    if record.kind == "contact" and record.detail == "joint" and record.with_unit is None:
        problems.append(rules.Violation("with_unit", "a joint visit names the unit of the other domain it was held with"))
    if record.kind == "contact" and record.detail != "joint" and record.with_unit is not None:
        problems.append(rules.Violation("with_unit", "only a joint visit names the unit it was held with"))
    if record.end_date is not None:
        problems += rules.check_date("ended_on", record.end_date, today=today, episode_opened=record.on_date)
    _fail(problems)


def _sex(rt: Runtime, client_id: UUID, sealed: bytes) -> str:
    """The legal sex the personal number states (its second last digit: odd male, even female; SKV 704)."""
    canonical = rt.field_sealer.open_text(sealed, record=_CLIENT, record_id=str(client_id), field="personal_number")
    return "male" if int(canonical[-2]) % 2 else "female"


def record_json(rt: Runtime, row: Any) -> dict[str, Any]:
    """The contract's record of its kind; the void's reason opened here, for this response only."""
    reason = None
    if row["void_reason_sealed"] is not None:
        reason = rt.field_sealer.open_text(row["void_reason_sealed"], record=_RECORD, record_id=str(row["id"]),
                                           field="void_reason")
    common = {"id": row["id"], "client_id": row["client_id"], "unit": row["unit_id"], "recorded_at": row["created_at"],
              "recorded_by": row["created_by"], "voided": row["voided_at"] is not None, "voided_at": row["voided_at"],
              "void_reason": reason}
    kind = row["kind"]
    if kind == "episode":
        return {**common, "opened_on": row["on_date"], "closed_on": row["end_date"], "reason": row["close_reason"],
                "reopened": bool(row["reopened"]), "status": "open" if row["closed_at"] is None else "closed"}
    if kind == "contact":
        return {**common, "on": row["on_date"], "kind": row["detail"], "with_unit": row["with_unit"],
                "episode_id": row["episode_id"]}
    if kind == "assessment":
        return {**common, "on": row["on_date"], "instrument": row["detail"], "score": row["score"],
                "episode_id": row["episode_id"]}
    return {**common, "started_on": row["on_date"], "ended_on": row["end_date"], "kind": row["detail"],
            "episode_id": row["episode_id"]}


async def create(rt: Runtime, caller: Caller, client_id: UUID, record: NewRecord) -> dict[str, Any]:
    """Record a follow-up record of the caller's unit for the client; raises Forbidden, ValidationFailed (the body's
    rules first, then those that need the unit's episodes or the joint visit's unit: audited), NotFound (client, no
    relation)."""
    principal, record_id = caller.principal, uuid4()
    if role_gate(principal.roles, Permission.FOLLOWUP_WRITE):
        check_body(rt, record)
    problems: list[rules.Violation] = []

    async def judge(conn: asyncpg.Connection) -> Judged:
        facts = await facts_store.for_client(conn, client_id, principal=principal)
        return Judged(decide(Request(principal, Permission.FOLLOWUP_WRITE), facts, rt.policy), facts)

    answers = {Reason.RECORD_RULES: lambda: ValidationFailed([{"field": v.field, "message": v.message}
                                                              for v in problems])}
    async with access(rt, caller, Action.FOLLOWUP_CREATE, judge, client_id=client_id, answers=answers) as act:
        assert principal.unit is not None and principal.zone is not None  # allowed: decide() needs both
        opened, last_closed, sealed = await store.episodes(act.conn, client_id, principal.unit)
        field = DATE_FIELD[record.kind]
        if record.kind == "episode":
            if opened is not None:
                problems.append(rules.Violation(field, "the unit has an open episode for the client: close it first"))
        else:
            problems += rules.check_date(field, record.on_date, today=rt.today(),
                                         episode_opened=opened["opened_on"] if opened else None)
        if record.kind == "contact" and record.with_unit is not None:
            problems += rules.check_joint(record.detail or "", record.with_unit, own_domain=principal.zone.domain,
                                          with_domain=await store.unit_domain(act.conn, record.with_unit))
        if problems:
            act.deny(Reason.RECORD_RULES)
            return {}
        assert sealed is not None  # the client exists: decide() allowed
        row = await store.insert(
            act.conn, record_id=record_id, client_id=client_id, unit=principal.unit,
            organisation=principal.zone.organisation, domain=principal.zone.domain, kind=record.kind,
            sex=_sex(rt, client_id, sealed), on_date=record.on_date, end_date=record.end_date, detail=record.detail,
            score=record.score, with_unit=record.with_unit,
            reopened=rules.is_reopened(record.on_date, last_closed) if record.kind == "episode" else None,
            episode_id=opened["id"] if opened is not None and record.kind != "episode" else None,
            created_by=principal.sub)
    return record_json(rt, row)


def _record_judge(rt: Runtime, caller: Caller, record_id: UUID, permission: Permission, *, kind: str | None = None):  # type: ignore[no-untyped-def]
    """The record's decision (policies.followup.decide_change), the record locked in the access. An unknown id (or
    one of another kind than the path names) reads as one the caller may not see: 404."""
    principal = caller.principal

    async def judge(conn: asyncpg.Connection) -> Judged:
        row = await store.get(conn, record_id, for_update=True)
        gate = role_gate(principal.roles, permission)
        if not gate:
            return Judged(gate)
        if row is None or (kind is not None and row["kind"] != kind):
            await facts_store.for_client(conn, UUID(int=0), principal=principal)  # the same work as for one that exists
            return Judged(dataclasses.replace(_unknown(), record=f"followup_record:{record_id}"))
        facts = await facts_store.for_client(conn, row["client_id"], principal=principal)
        document = rules.record_facts(unit=row["unit_id"], zone=Zone(row["organisation"], row["domain"]),
                                      created_by=row["created_by"], record_id=str(record_id))
        decision = rules.decide_change(Request(principal, permission), facts, document, rt.policy)
        named = row["client_id"] if decision or facts.caller_relation_active else None
        return Judged(dataclasses.replace(decision, record=f"followup_record:{record_id}"), facts, row, named)
    return judge


def _unknown() -> Decision:
    return deny(Reason.UNKNOWN_RECORD)


async def void(rt: Runtime, caller: Caller, record_id: UUID, reason: str, *, kind: str) -> dict[str, Any]:
    """Void a record of the caller's unit (it counts nowhere after); a voided one is returned as it is. Raises
    Forbidden (not_owning_unit: another unit's record the caller reads), NotFound."""
    async with access(rt, caller, Action.FOLLOWUP_VOID, _record_judge(rt, caller, record_id,
                                                                      Permission.FOLLOWUP_WRITE, kind=kind)) as act:
        if act.row["voided_at"] is None:
            await store.void(act.conn, record_id, by=caller.principal.sub, reason_sealed=rt.field_sealer.seal(
                reason, record=_RECORD, record_id=str(record_id), field="void_reason"))
        row = await store.get(act.conn, record_id)
    return record_json(rt, row)


async def close(rt: Runtime, caller: Caller, episode_id: UUID, *, closed_on: date, reason: str) -> dict[str, Any]:
    """Close an open episode of the caller's unit; raises Forbidden, NotFound, ValidationFailed (closed_on in the
    future or before opened_on; the episode closed or voided already: audited)."""
    if role_gate(caller.principal.roles, Permission.FOLLOWUP_WRITE):
        _fail(rules.check_date("closed_on", closed_on, today=rt.today()))
    problems: list[rules.Violation] = []
    answers = {Reason.RECORD_RULES: lambda: ValidationFailed([{"field": v.field, "message": v.message}
                                                              for v in problems])}
    judge = _record_judge(rt, caller, episode_id, Permission.FOLLOWUP_WRITE, kind="episode")
    async with access(rt, caller, Action.FOLLOWUP_CLOSE, judge, answers=answers) as act:
        row = act.row
        if row["closed_at"] is not None:
            problems.append(rules.Violation("closed_on", "the episode is closed already"))
        elif row["voided_at"] is not None:
            problems.append(rules.Violation("closed_on", "the episode is voided"))
        else:
            problems += rules.check_date("closed_on", closed_on, today=rt.today(), episode_opened=row["on_date"])
        if problems:
            act.deny(Reason.RECORD_RULES)
            return {}
        await store.close(act.conn, episode_id, closed_on=closed_on, reason=reason, by=caller.principal.sub)
        row = await store.get(act.conn, episode_id)
    return record_json(rt, row)


async def page(rt: Runtime, caller: Caller, client_id: UUID, kind: str, *, purpose: str,
               before: tuple[datetime, UUID] | None, limit: int) -> Paged[dict[str, Any]]:
    """The client's records of `kind` the caller may read, newest first; raises Forbidden, NotFound. The records of
    each unit are decided as that unit's `followup` documents; those of another zone, read under a consent (or an
    emergency), each add a `followup.read` event for their unit."""
    principal = caller.principal

    async def judge(conn: asyncpg.Connection) -> Judged:
        facts = await facts_store.for_client(conn, client_id, principal=principal)
        return Judged(decide(Request(principal, Permission.FOLLOWUP_READ, purpose), facts, rt.policy), facts)

    async with access(rt, caller, Action.FOLLOWUP_LIST, judge, client_id=client_id, purpose=purpose) as act:
        facts = act.now_facts
        # Decided per unit and zone first (the decision depends on nothing else), then one page read of only the
        # readable units' records: the work does not grow with records the caller may not see (insider attack
        # 10, finding 3: the time told how many records the other zone held).
        decided = {holder: _listed(rt, principal, facts, holder, purpose)
                   for holder in await store.holders(act.conn, client_id, kind)}
        readable = sorted(holder for holder, decision in decided.items() if decision)
        rows = await store.of_client(act.conn, client_id, kind, holders=readable, before=before, limit=limit + 1)
        page_ = paged([record_json(rt, row) for row in rows], limit)
        shown = {(row["unit_id"], row["organisation"], row["domain"]) for row in rows[:limit]}
        for holder in sorted(shown):
            decision = decided[holder]
            if decision.basis != "own_zone":
                act.also_record(Action.FOLLOWUP_READ,
                                dataclasses.replace(decision, record=f"followup_unit:{holder[0]}"),
                                client_id=client_id, purpose=purpose)
    return page_


def _listed(rt: Runtime, principal: Any, facts: Facts, holder: tuple[str, str, str], purpose: str) -> Decision:
    """Whether the caller reads the records a unit holds in a zone: the decision for a `followup` document of that
    unit (it depends on the unit and zone only, never on one record)."""
    unit, organisation, domain = holder
    return rules.decide_read(Request(principal, Permission.FOLLOWUP_READ, purpose), facts,
                             rules.unit_facts(unit=unit, zone=Zone(organisation, domain)), rt.policy)
