"""Coordinated individual plans (SIP; SoL 2:7, HSL 16:4) and the client's care network (API-1.1 "Joint plans").

Every call goes through access(): the plan's decision (policies/sip.py) on facts loaded in the access's
transaction, the audit event in the same transaction, allowed or refused, naming the plan in its reasons
(`sip_plan:<id>`) and the purpose `coordination`. Texts (a version's whole content, a follow-up's summary, the
plan's title) are sealed at rest (crypto/fields.py), bound to the plan, the version and the field.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from policies.decide import Facts, Request, decide, needs_consent_history
from policies.decision import Decision, Reason, deny
from policies.model import Zone
from policies.roles import Permission, role_gate
from policies.sip import (
    PURPOSE,
    Effort,
    PlanContent,
    PlanFacts,
    check_content,
    closed_to,
    consent_for,
    decide_create,
    decide_plan,
    keeps_holding_zone,
    may_close,
    network_zones,
)

from ..audit import Action, Caller
from ..errors import (
    ConsentRequired,
    NotHoldingZone,
    PlanClosed,
    PreconditionRequired,
    ValidationFailed,
    VersionConflict,
)
from ..runtime import Runtime
from ..store import facts as facts_store
from ..store import sip as sip_store
from .access import Judged, access, decided
from .commands import NewFollowUp
from .paging import Paged, paged

_RECORD = "sip_plan"
_FOLLOW_UP = "sip_follow_up"
_NO_CLIENT = UUID(int=0)  # no client has it: the facts of nobody, loaded for an unknown plan id


def _violations(caller: Caller, content: PlanContent) -> None:
    """422 validation_failed naming each part the plan lacks (policies.sip.check_content), and the caller's unit
    when the plan leaves it out: a unit saves only plans it takes part in (it would lose the plan it saves)."""
    problems = [{"field": p.field, "message": p.message} for p in check_content(content)]
    if caller.principal.unit not in content.units:
        problems.append({"field": "participants", "message": "your unit takes part in the plans it saves"})
    if problems:
        raise ValidationFailed(problems)


def _content_json(content: PlanContent) -> dict[str, Any]:
    return {
        "title": content.title, "start_date": content.start_date.isoformat(),
        "participants": [{"unit": unit} for unit in content.units] + [{"external": name} for name in content.externals],
        "responsible_unit": content.responsible_unit,
        "efforts": [{"text": e.text, "provided_by_unit": e.provided_by_unit, "provided_by_external": e.provided_by_external,
                     "due": e.due.isoformat() if e.due else None} for e in content.efforts],
        "next_follow_up": content.next_follow_up.isoformat() if content.next_follow_up else None,
        "no_measures_by_others": content.no_measures_by_others,
    }


def as_now(content: dict[str, Any], heirs: Mapping[str, str]) -> dict[str, Any]:
    """A version's content with each unit that was succeeded since named by its successor (API-1.1 "Corrections
    and reorganisations": the successor takes the plans its predecessor took part in, service/store/units.py), once
    where both were named: the plan as it stands, which is what a participant saves over. The versions themselves
    keep the units as they were saved."""
    def now(unit: str | None) -> str | None:
        return heirs.get(unit, unit) if unit is not None else None

    participants: list[dict[str, Any]] = []
    for participant in content["participants"]:
        if "unit" in participant:
            participant = {"unit": now(participant["unit"])}
            if participant in participants:
                continue
        participants.append(participant)
    return {**content, "participants": participants, "responsible_unit": now(content.get("responsible_unit")),
            "efforts": [{**effort, "provided_by_unit": now(effort.get("provided_by_unit"))}
                        for effort in content["efforts"]]}


def _seal_content(rt: Runtime, plan_id: UUID, version: int, content: PlanContent) -> bytes:
    return rt.field_sealer.seal(json.dumps(_content_json(content), ensure_ascii=False), record=_RECORD,
                                record_id=str(plan_id), field=f"content/{version}")


def _open_content(rt: Runtime, plan_id: UUID, version: int, sealed: bytes) -> dict[str, Any]:
    content: dict[str, Any] = json.loads(rt.field_sealer.open_text(sealed, record=_RECORD, record_id=str(plan_id),
                                                                   field=f"content/{version}"))
    return content


def _title(rt: Runtime, row: Any) -> str:
    return rt.field_sealer.open_text(row["title_sealed"], record=_RECORD, record_id=str(row["id"]), field="title")


def plan_facts(row: Any) -> PlanFacts:
    """The policy's view of a plan row (with its participants' zones)."""
    return PlanFacts(id=str(row["id"]), zone=Zone(row["organisation"], row["domain"]), unit=row["unit_id"],
                     participants=sip_store.participant_zones(row), closed=row["status"] == "closed")


@dataclasses.dataclass(slots=True)
class _Loaded:
    """What a plan's Judge loaded: its row, facts, and the holding zone's consents when the caller is of it."""

    row: Any
    plan: PlanFacts | None
    facts: Facts | None


def _plan_judge(rt: Runtime, caller: Caller, permission: Permission, plan_id: UUID):  # type: ignore[no-untyped-def]
    """The plan's decision (policies.sip.decide_plan) on the plan and the client's facts, loaded in the access.
    The event names the client only where the caller may know the plan is the client's (allowed, or its unit has a
    relation with the client): a stranger's attempt on a plan id tells its auditors nothing of whose it is."""
    principal = caller.principal

    async def judge(conn: asyncpg.Connection) -> Judged:
        row = await sip_store.get(conn, plan_id)
        if row is None:
            # The same facts query as for a plan that exists (insider attack 7, F2): a missing id and another's
            # plan take the same time, not one query less.
            await facts_store.for_client(conn, _NO_CLIENT, principal=principal)
            return Judged(decide_plan(Request(principal, permission, PURPOSE), Facts(False, False), None, rt.policy),
                          row=_Loaded(None, None, None))
        plan = plan_facts(row)
        facts = await facts_store.for_client(conn, row["client_id"], principal=principal)
        request = Request(principal, permission, PURPOSE)
        decision = decide_plan(request, facts, plan, rt.policy)
        if needs_consent_history(decision):  # why a consent no longer opens it: revoked, expired
            facts = await facts_store.with_consent_history(conn, row["client_id"], facts, principal=principal)
            decision = decide_plan(request, facts, plan, rt.policy)
        named = row["client_id"] if decision or facts.caller_relation_active else None
        return Judged(decision, facts, _Loaded(row, plan, facts), named)
    return judge


async def _plan_json(rt: Runtime, conn: asyncpg.Connection, caller: Caller, loaded: _Loaded) -> dict[str, Any]:
    """The plan as its latest version states it, with its follow-ups; `closed_to` for the holding zone's callers."""
    row, plan, facts = loaded.row, loaded.plan, loaded.facts
    assert plan is not None and facts is not None
    version = await sip_store.latest(conn, row["id"], row["version"])
    content = _open_content(rt, row["id"], row["version"], version["content_sealed"])
    named = [p["unit"] for p in content["participants"] if "unit" in p]
    if set(named) != set(row["participant_units"]):  # a succession moved the plan since this version was saved
        content = as_now(content, await sip_store.heirs(conn, named))
    follow_ups = [{
        "id": f["id"], "held_on": f["held_on"],
        "summary": rt.field_sealer.open_text(f["summary_sealed"], record=_FOLLOW_UP, record_id=str(f["id"]), field="summary"),
        "next_follow_up": f["next_follow_up"], "recorded_at": f["recorded_at"], "recorded_by": f["recorded_by"],
        "recorded_by_name": f["recorded_by_name"], "recorded_by_unit": f["recorded_by_unit"],
    } for f in await sip_store.follow_ups(conn, row["id"])]
    closed: list[dict[str, str]] | None = None
    if caller.principal.zone == plan.zone:  # the holding zone's own consents: its participants see what they say
        spans = any(zone != plan.zone for zone in plan.participants.values())
        held = await sip_store.consents_from(conn, row["client_id"], plan.zone) if spans else ()
        assert facts.now is not None
        closed = [{"unit": unit, "reason": str(reason)} for unit, reason in
                  closed_to(plan, held, now=facts.now, birth_date=facts.client_birth_date).items()]
    return {
        **content, "id": row["id"], "client_id": row["client_id"], "version": row["version"], "status": row["status"],
        "holding_unit": row["unit_id"], "next_follow_up": row["next_follow_up"],
        "follow_ups": follow_ups, "closed_to": closed,
        "created_at": row["created_at"], "created_by": row["created_by"],
        "saved_at": version["saved_at"], "saved_by": version["saved_by"], "saved_by_name": version["saved_by_name"],
        "saved_by_unit": version["saved_by_unit"], "closed_at": row["closed_at"],
    }


async def _unit_zones(conn: asyncpg.Connection, content: PlanContent) -> dict[str, Any]:
    """The participating units' zones; 422 naming each unit that does not exist or is inactive (unit ids are
    public: GET /v1/units lists them to every role)."""
    zones = await sip_store.unit_zones(conn, content.units)
    missing = [{"field": f"participants.{i}.unit", "message": "no such active unit"}
               for i, unit in enumerate(content.units) if unit not in zones]
    if missing:
        raise ValidationFailed(missing)
    return zones


_CREATE_ANSWERS = {
    Reason.CONSENT_REQUIRED: lambda: ConsentRequired(
        [{"field": "participants", "message": "the participants span zones: the client's consent naming sip for "
          "coordination from the plan's holding zone to each of theirs is needed (SoL 2:7; HSL 16:4; OSL 12:2)"}]),
    Reason.NOT_PARTICIPANT: lambda: ValidationFailed(
        [{"field": "participants", "message": "your unit takes part in the plans it starts"}]),
}


async def create(rt: Runtime, caller: Caller, client_id: UUID, content: PlanContent) -> dict[str, Any]:
    """Start a plan (version 1) of the client, held by the caller's zone; raises Forbidden, ValidationFailed (the
    four parts, participants), NotFound (client), ConsentRequired."""
    principal, plan_id = caller.principal, uuid4()
    request = Request(principal, Permission.SIP_CREATE, PURPOSE)
    if role_gate(principal.roles, Permission.SIP_CREATE):
        _violations(caller, content)

    async def judge(conn: asyncpg.Connection) -> Judged:
        facts = await facts_store.for_client(conn, client_id, principal=principal)
        decision = decide(request, facts, rt.policy)
        if not decision or principal.zone is None or principal.unit is None:
            return Judged(decision, facts)
        zones = await _unit_zones(conn, content)
        plan = PlanFacts(id=str(plan_id), zone=principal.zone, unit=principal.unit, participants=zones)
        consents = await sip_store.consents_from(conn, client_id, principal.zone)
        return Judged(decide_create(request, facts, plan, consents, rt.policy), facts, plan, client_id)

    async with access(rt, caller, Action.SIP_CREATE, judge, client_id=client_id, purpose=PURPOSE,
                      answers=_CREATE_ANSWERS) as act:
        assert principal.unit is not None and principal.zone is not None and content.responsible_unit is not None
        await sip_store.insert(
            act.conn, plan_id=plan_id, client_id=client_id, unit=principal.unit, zone=principal.zone,
            participant_units=content.units, responsible_unit=content.responsible_unit,
            title_sealed=rt.field_sealer.seal(content.title, record=_RECORD, record_id=str(plan_id), field="title"),
            start_date=content.start_date, next_follow_up=content.next_follow_up, created_by=principal.sub)
        await sip_store.insert_version(act.conn, plan_id=plan_id, version=1,
                                       content_sealed=_seal_content(rt, plan_id, 1, content), by=principal.sub,
                                       by_name=principal.name, unit=principal.unit)
        row = await sip_store.get(act.conn, plan_id)
        plan_json = await _plan_json(rt, act.conn, caller, _Loaded(row, act.row, act.facts))
    return plan_json


async def read(rt: Runtime, caller: Caller, plan_id: UUID) -> dict[str, Any]:
    """The plan's latest version with its follow-ups; raises Forbidden, NotFound (no plan, not a participant, no
    relation, no consent in force for another zone: alike)."""
    judge = _plan_judge(rt, caller, Permission.SIP_READ, plan_id)
    async with access(rt, caller, Action.SIP_READ, judge, purpose=PURPOSE) as act:
        plan_json = await _plan_json(rt, act.conn, caller, act.row)
    return plan_json


async def versions(rt: Runtime, caller: Caller, plan_id: UUID, *, after: int, limit: int) -> Paged[dict[str, Any]]:
    """The plan's versions oldest first, each with its whole content (the history participants read)."""
    judge = _plan_judge(rt, caller, Permission.SIP_READ, plan_id)
    async with access(rt, caller, Action.SIP_VERSIONS, judge, purpose=PURPOSE) as act:
        rows = await sip_store.versions(act.conn, plan_id, after=after, limit=limit + 1)
    items = [{"version": r["version"], "saved_at": r["saved_at"], "saved_by": r["saved_by"],
              "saved_by_name": r["saved_by_name"], "saved_by_unit": r["saved_by_unit"],
              "content": _open_content(rt, plan_id, r["version"], r["content_sealed"])} for r in rows]
    return paged(items, limit)


def parse_if_match(value: str | None) -> int | None:
    """The version an If-Match header names (`"3"`, `3`, `W/"3"`); -1 for anything else (it matches no version);
    None when there is none."""
    if value is None:
        return None
    text = value.strip().removeprefix("W/").strip('"')
    return int(text) if text.isdigit() and len(text) < 10 else -1


async def update(rt: Runtime, caller: Caller, plan_id: UUID, content: PlanContent, *, if_match: int | None) -> dict[str, Any]:
    """Save a new version over version `if_match`; raises Forbidden, ValidationFailed, NotFound, PreconditionRequired
    (no If-Match), VersionConflict (another unit saved first), PlanClosed, ConsentRequired (a participant of a zone
    the client's SIP consent does not reach)."""
    principal = caller.principal
    if role_gate(principal.roles, Permission.SIP_WRITE):
        _violations(caller, content)
    judge = _plan_judge(rt, caller, Permission.SIP_WRITE, plan_id)
    answers = {Reason.CONSENT_REQUIRED: _CREATE_ANSWERS[Reason.CONSENT_REQUIRED],
               Reason.PLAN_CLOSED: lambda: PlanClosed("the plan is closed"),
               Reason.HOLDING_ZONE_HOLD: lambda: ValidationFailed(
                   [{"field": "participants", "message": "the unit that started the plan stays a participant, and "
                     "only the holding zone changes its own participants and the overall responsibility"}]),
               Reason.PRECONDITION_REQUIRED: lambda: PreconditionRequired(
                   "send If-Match with the version you read (its ETag)"),
               Reason.VERSION_CONFLICT: lambda: VersionConflict(
                   "another unit saved a newer version: read it, and save over that")}
    async with access(rt, caller, Action.SIP_UPDATE, judge, purpose=PURPOSE, answers=answers) as act:
        loaded: _Loaded = act.row
        assert loaded.plan is not None and loaded.facts is not None and principal.unit is not None
        refusal = _precondition(loaded.row["version"], if_match)
        if refusal is None:
            zones = await _unit_zones(act.conn, content)
            if not keeps_holding_zone(principal.zone, loaded.plan, zones,
                                      responsible_before=loaded.row["responsible_unit"],
                                      responsible_after=content.responsible_unit or ""):
                refusal = Reason.HOLDING_ZONE_HOLD
        if refusal is None:
            plan = dataclasses.replace(loaded.plan, participants=zones)
            consents = await sip_store.consents_from(act.conn, loaded.row["client_id"], plan.zone)
            refusal = _refusal(decide_create(Request(principal, Permission.SIP_CREATE, PURPOSE), loaded.facts, plan,
                                             consents, rt.policy))
        if refusal is None:
            assert content.responsible_unit is not None and if_match is not None
            version = await sip_store.advance(
                act.conn, plan_id, over=if_match, participant_units=content.units,
                responsible_unit=content.responsible_unit,
                title_sealed=rt.field_sealer.seal(content.title, record=_RECORD, record_id=str(plan_id), field="title"),
                start_date=content.start_date, next_follow_up=content.next_follow_up)
            if version is None:  # saved by another between the read and this write
                refusal = Reason.VERSION_CONFLICT
            else:
                await sip_store.insert_version(act.conn, plan_id=plan_id, version=version,
                                               content_sealed=_seal_content(rt, plan_id, version, content),
                                               by=principal.sub, by_name=principal.name, unit=principal.unit)
                row = await sip_store.get(act.conn, plan_id)
                plan_json = await _plan_json(rt, act.conn, caller, _Loaded(row, plan_facts(row), loaded.facts))
        if refusal is not None:
            act.deny(refusal)
            act.decision = dataclasses.replace(act.decision, record=f"sip_plan:{plan_id}")
    return plan_json


def _precondition(current: int, if_match: int | None) -> Reason | None:
    if if_match is None:
        return Reason.PRECONDITION_REQUIRED
    return None if if_match == current else Reason.VERSION_CONFLICT


def _refusal(decision: Decision) -> Reason | None:
    return None if decision else decision.reason_codes[0]


async def follow_up(rt: Runtime, caller: Caller, plan_id: UUID, command: NewFollowUp) -> dict[str, Any]:
    """Record a follow-up of the plan (its summary sealed) and the next follow-up date; raises Forbidden,
    ValidationFailed, NotFound, PlanClosed."""
    principal, follow_up_id = caller.principal, uuid4()
    if role_gate(principal.roles, Permission.SIP_WRITE) and command.held_on > rt.today():
        raise ValidationFailed([{"field": "held_on", "message": "must not be in the future"}])
    judge = _plan_judge(rt, caller, Permission.SIP_WRITE, plan_id)
    async with access(rt, caller, Action.SIP_FOLLOW_UP, judge, purpose=PURPOSE,
                      answers={Reason.PLAN_CLOSED: lambda: PlanClosed("the plan is closed")}) as act:
        assert principal.unit is not None
        await sip_store.insert_follow_up(
            act.conn, follow_up_id=follow_up_id, plan_id=plan_id, held_on=command.held_on,
            summary_sealed=rt.field_sealer.seal(command.summary, record=_FOLLOW_UP, record_id=str(follow_up_id),
                                                field="summary"),
            next_follow_up=command.next_follow_up, by=principal.sub, by_name=principal.name, unit=principal.unit)
        row = await sip_store.get(act.conn, plan_id)
        plan_json = await _plan_json(rt, act.conn, caller, _Loaded(row, plan_facts(row), act.row.facts))
    return plan_json


async def close(rt: Runtime, caller: Caller, plan_id: UUID) -> dict[str, Any]:
    """Close the plan (a closed one is returned as it is); raises Forbidden, NotFound."""
    judge = _plan_judge(rt, caller, Permission.SIP_READ, plan_id)  # closing a closed plan changes nothing
    if not role_gate(caller.principal.roles, Permission.SIP_WRITE):
        judge = decided(role_gate(caller.principal.roles, Permission.SIP_WRITE))
    answers = {Reason.NOT_HOLDING_ZONE: lambda: NotHoldingZone(
        "only a unit of the zone holding the plan, or the unit with the overall responsibility, closes it")}
    async with access(rt, caller, Action.SIP_CLOSE, judge, purpose=PURPOSE, answers=answers) as act:
        loaded: _Loaded = act.row
        assert loaded.plan is not None
        if not may_close(caller.principal.zone, caller.principal.unit, loaded.plan, loaded.row["responsible_unit"]):
            act.deny(Reason.NOT_HOLDING_ZONE)
            return {}
        await sip_store.close(act.conn, plan_id, by=caller.principal.sub)
        row = await sip_store.get(act.conn, plan_id)
        plan_json = await _plan_json(rt, act.conn, caller, _Loaded(row, plan_facts(row), act.row.facts))
    return plan_json


def _summary(rt: Runtime, row: Any) -> dict[str, Any]:
    return {"id": row["id"], "client_id": row["client_id"], "title": _title(rt, row), "version": row["version"],
            "status": row["status"], "holding_unit": row["unit_id"], "responsible_unit": row["responsible_unit"],
            "start_date": row["start_date"], "next_follow_up": row["next_follow_up"], "created_at": row["created_at"],
            "updated_at": row["updated_at"]}


async def page_of_client(rt: Runtime, caller: Caller, client_id: UUID, *, before: tuple[datetime, UUID] | None,
                         limit: int) -> Paged[dict[str, Any]]:
    """The client's plans the caller's unit takes part in and may read now, newest first; raises Forbidden,
    NotFound. Each plan of another zone listed is a read under the consent that opens it: its event follows."""
    principal = caller.principal

    async def judge(conn: asyncpg.Connection) -> Judged:
        facts = await facts_store.for_client(conn, client_id, principal=principal)
        return Judged(decide(Request(principal, Permission.SIP_READ, PURPOSE), facts, rt.policy), facts)

    async with access(rt, caller, Action.SIP_LIST, judge, client_id=client_id, purpose=PURPOSE) as act:
        assert principal.unit is not None and principal.zone is not None
        facts = act.now_facts
        items: list[dict[str, Any]] = []
        more = False
        cursor = before
        while len(items) <= limit:  # a plan closed to the caller (consent revoked) is skipped, never shown
            rows = await sip_store.of_client(act.conn, client_id, principal.unit, before=cursor, limit=limit + 1)
            for row in rows:
                decision = _listed(principal, row, facts)
                if decision:
                    items.append(_summary(rt, row))
                    if decision.basis != "own_zone" and len(items) <= limit:
                        act.also_record(Action.SIP_READ, decision, client_id=client_id, purpose=PURPOSE)
                if len(items) > limit:
                    more = True
                    break
            if len(rows) <= limit:
                break
            cursor = (rows[-1]["created_at"], rows[-1]["id"])
    page = paged(items, limit)
    return Paged(page.items, page.more or more)


def _listed(principal: Any, row: Any, facts: Facts) -> Decision:
    """A listed plan's decision (the caller takes part: the list selects by unit)."""
    zone = Zone(row["organisation"], row["domain"])
    record = f"sip_plan:{row['id']}"
    if not facts.caller_relation_active:  # PDL 4:1, as for reading the plan (insider attack 7, F5)
        return dataclasses.replace(deny(Reason.NO_RELATION), record=record)
    if zone == principal.zone:
        return Decision(True, "own_zone", (), "PDL 4:1; SoL 2:7; HSL 16:4", record=record)
    plan = PlanFacts(id=str(row["id"]), zone=zone, unit=row["unit_id"], participants={principal.unit: principal.zone})
    assert facts.now is not None
    found = consent_for(principal, plan, facts.consents, now=facts.now, birth_date=facts.client_birth_date)
    if isinstance(found, Reason):
        return dataclasses.replace(deny(found), record=record)
    return Decision(True, f"consent:{found.id}", (), "OSL 12:2; SoL 2:7; HSL 16:4", record=record)


async def overdue(rt: Runtime, caller: Caller, *, limit: int = 200) -> list[dict[str, Any]]:
    """The unit manager's reminders: active plans the unit takes part in whose follow-up date has passed, with no
    content (no title): the date, the responsible unit, the plan and client ids. A plan of another zone shows only
    while the client's SIP consent opens it to the unit. Raises Forbidden."""
    principal = caller.principal
    gate = role_gate(principal.roles, Permission.SIP_OVERDUE)
    async with access(rt, caller, Action.SIP_OVERDUE, decided(gate)) as act:
        assert principal.unit is not None and principal.zone is not None
        shown = []
        for row in await sip_store.overdue(act.conn, principal.unit, today=rt.today(), limit=limit):
            facts = await facts_store.for_client(act.conn, row["client_id"], principal=principal)
            decision = _listed(principal, row, facts)
            if decision:
                act.also_record(Action.SIP_OVERDUE, decision, client_id=row["client_id"], purpose=PURPOSE)
                shown.append({"id": row["id"], "client_id": row["client_id"], "next_follow_up": row["next_follow_up"],
                              "responsible_unit": row["responsible_unit"], "holding_unit": row["unit_id"]})
    return shown


async def network(rt: Runtime, caller: Caller, client_id: UUID) -> list[dict[str, Any]]:
    """The units with an active relation with the client in the caller's zone and the zones whose coordination
    consent covers it (policies.sip.network_zones); raises Forbidden, NotFound (refused like a client read)."""
    principal = caller.principal
    zones: frozenset[Any] = frozenset()

    async def judge(conn: asyncpg.Connection) -> Judged:
        nonlocal zones
        facts = await facts_store.for_client(conn, client_id, principal=principal)
        decision, zones = network_zones(Request(principal, Permission.CLIENT_NETWORK, PURPOSE), facts, rt.policy)
        return Judged(decision, facts)

    async with access(rt, caller, Action.CLIENT_NETWORK, judge, client_id=client_id, purpose=PURPOSE) as act:
        rows = await sip_store.network(act.conn, client_id, sorted(zones, key=lambda z: (z.organisation, z.domain)))
    return [dict(row) for row in rows]


def content_of(*, title: str, start_date: date, participants: list[dict[str, str]], responsible_unit: str | None,
               efforts: list[dict[str, Any]], next_follow_up: date | None, no_measures_by_others: bool) -> PlanContent:
    """A PlanContent from the contract's body shape (the API's and the web form's)."""
    return PlanContent(
        title=title, start_date=start_date,
        units=tuple(p["unit"] for p in participants if "unit" in p),
        externals=tuple(p["external"] for p in participants if "external" in p),
        responsible_unit=responsible_unit,
        efforts=tuple(Effort(text=e["text"], provided_by_unit=e.get("provided_by_unit"),
                             provided_by_external=e.get("provided_by_external"), due=e.get("due")) for e in efforts),
        next_follow_up=next_follow_up, no_measures_by_others=no_measures_by_others)
