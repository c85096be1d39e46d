"""Units: created and (de)activated by admins; readable by every signed-in role."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from policies.decision import Reason, allow
from policies.model import Principal, Zone
from policies.roles import Permission, role_gate
from policies.units import decide_activation, decide_succession, unit_gate

from ..audit import Action, Caller
from ..errors import BlockedDocuments, Conflict, DifferentZone, NotFound, UnknownUnit, ValidationFailed
from ..runtime import Runtime
from ..store import units as units_store
from .access import Judged, access, raise_if_denied, refuse
from .paging import Paged, paged

_CLOCK_SKEW = timedelta(minutes=1)  # an effective_at this far ahead of the server's clock is "now"
# A succession takes effect as it is recorded: an effective_at at most this far in the past (a form filled in, a
# request retried), never before either unit existed. Relations are history (who took part when, PDL 4:1): a
# succession backdated further would rewrite it (insider attack 9, finding 6).
_BACKDATE = timedelta(minutes=5)


def unit_json(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "organisation": row["organisation"],
        "domain": row["domain"],
        "active": row["active"],
        "created_at": row["created_at"],
    }


async def create(rt: Runtime, principal: Principal, *, unit_id: str, name: str, organisation: str,
                 domain: str) -> tuple[dict[str, Any], bool]:
    """Create a unit; (unit, created). The same id with the same fields again is not an error.

    Raises Forbidden, ValidationFailed (unknown domain), Conflict (id taken with other fields).
    """
    raise_if_denied(role_gate(principal.roles, Permission.UNIT_WRITE))
    if domain not in rt.settings.domains:
        raise ValidationFailed([{"field": "domain", "message": f"must be one of {', '.join(rt.settings.domains)}"}])
    async with rt.pool.acquire() as conn:
        row = await units_store.insert(conn, unit_id=unit_id, name=name, organisation=organisation, domain=domain)
        if row is not None:
            return unit_json(row), True
        existing = await units_store.get(conn, unit_id)
    if existing is None or (existing["name"], existing["organisation"], existing["domain"]) != (name, organisation, domain):
        raise Conflict(f"unit {unit_id} exists with other fields")
    return unit_json(existing), False


async def page(rt: Runtime, principal: Principal, *, after: str, limit: int) -> Paged[dict[str, Any]]:
    """Units after `after` in id order; raises Forbidden."""
    raise_if_denied(role_gate(principal.roles, Permission.UNIT_LIST))
    async with rt.pool.acquire() as conn:
        return paged([unit_json(row) for row in await units_store.page(conn, after=after, limit=limit + 1)], limit)


async def development_sign_in_units(rt: Runtime) -> list[str]:
    """The first 500 unit ids, for the development sign-in form (BRYGGA_DEV only: its caller checks)."""
    async with rt.pool.acquire() as conn:
        return [row["id"] for row in await units_store.page(conn, after="", limit=500)]


async def set_active(rt: Runtime, principal: Principal, unit_id: str, *, active: bool) -> dict[str, Any]:
    """Activate or deactivate a unit (its tokens are refused at once); raises Forbidden, NotFound, Conflict (a
    succeeded unit is never activated again: policies.units.decide_activation; a trigger on units is the last line).

    Like the other unit endpoints (no client named) this is not an audited access; the refusal is an error answer.
    """
    raise_if_denied(role_gate(principal.roles, Permission.UNIT_WRITE))
    async with rt.pool.acquire() as conn, conn.transaction():
        unit = await units_store.lock(conn, unit_id)
        if unit is None:
            raise NotFound(f"no unit {unit_id}")
        if not decide_activation(active=active, succeeded=unit["succeeded"]):
            raise Conflict("the unit was succeeded: its records and the consents naming it belong to its successor")
        row = await units_store.set_active(conn, unit_id, active=active)
    assert row is not None  # locked above
    return unit_json(row)


async def unit_zone(rt: Runtime, caller: Caller, action: Action) -> Zone:
    """The zone of the caller's unit, which must exist and be active (policies.units), remembered; raises UnknownUnit.

    The caller's token has verified, so a refusal is an access decision and is audited (access.refuse)
    before UnknownUnit is raised: the actor, the unit (with its zone when it exists), the roles, `action` (the
    one the request was for) and unknown_unit or unit_inactive.
    """
    unit_id = caller.principal.unit
    assert unit_id is not None  # both callers (http.context.caller_of, documents.open_content) check it first
    async with rt.pool.acquire() as conn:
        unit = await units_store.get(conn, unit_id)
    decision = unit_gate(None if unit is None else unit["active"])
    if not decision:
        zone = None if unit is None else Zone(unit["organisation"], unit["domain"])
        await refuse(rt, replace(caller, principal=replace(caller.principal, zone=zone)), decision, action,
                     answers={reason: _unknown_unit for reason in decision.reason_codes})
    assert unit is not None  # allowed: unit_gate denies a unit that does not exist
    zone = rt.unit_zones[unit_id] = Zone(unit["organisation"], unit["domain"])
    return zone


def _unknown_unit() -> UnknownUnit:
    return UnknownUnit("the token's unit does not exist or is inactive")


async def succession(rt: Runtime, caller: Caller, unit_id: str, *, successor: str, effective_at: datetime,
                     move_blocked: bool = False) -> dict[str, Any]:
    """A reorganisation (API-1.1 "Corrections and reorganisations"): from `effective_at` the successor owns the
    unit's documents and active relations, consents and disclosures naming the unit are honoured for the successor,
    and the unit is deactivated; one transaction, never half moved (keys and rows only: no content is read).

    The decision is policies.units.decide_succession (same zone, OSL 25:1, 26:1), audited as `unit.succession`
    with a basis naming both units. Raises Forbidden, ValidationFailed (effective_at in the future, more than five
    minutes past, or before either unit was created), NotFound, DifferentZone
    (422), Conflict (409: succeeded before, an inactive or succeeded successor, or itself), BlockedDocuments (409:
    blocked documents of clients the successor knows would move, and `move_blocked` was not said).
    """
    gate = role_gate(caller.principal.roles, Permission.UNIT_WRITE)
    if not gate:
        await refuse(rt, caller, gate, Action.UNIT_SUCCESSION)
    now = rt.clock()
    if effective_at.tzinfo is None or not now - _BACKDATE <= effective_at <= now + _CLOCK_SKEW:
        raise ValidationFailed([{"field": "effective_at", "message": "an instant with its offset, not in the future "
                                 "nor more than five minutes past: a succession takes effect as it is recorded"}])
    async with rt.pool.acquire() as conn:
        existed = [row["created_at"] for row in (await units_store.get(conn, unit_id), await units_store.get(
            conn, successor)) if row is not None]
    if any(effective_at < created for created in existed):
        raise ValidationFailed([{"field": "effective_at", "message": "not before the units were created"}])

    async def judge(conn: Any) -> Judged:
        units = await units_store.lock_pair(conn, unit_id, successor)
        before, after = units.get(unit_id), units.get(successor)
        decision = decide_succession(
            predecessor=None if before is None else (before["organisation"], before["domain"], before["active"],
                                                     before["succeeded"]),
            successor=None if after is None else (after["organisation"], after["domain"], after["active"],
                                                  after["succeeded"]),
            same_unit=unit_id == successor,
            blocked_documents=await units_store.blocked_against(conn, unit_id, successor) if after else 0,
            move_blocked=move_blocked)
        if decision:
            moved = ":blocked_documents_moved" if decision.basis == "blocked_documents_moved" else ""
            decision = allow(f"succession:{unit_id}:{successor}{moved}", legal_basis=decision.legal_basis)
        return Judged(decision)

    answers = {
        Reason.UNKNOWN_UNIT: lambda: NotFound(f"no unit {unit_id} or {successor}"),
        Reason.DIFFERENT_ZONE: lambda: DifferentZone(
            [{"field": "successor", "message": "must be of the unit's organisation and domain"}],
            "crossing zones is never a reorganisation (OSL 25:1, 26:1)"),
        Reason.SUCCESSION_CONFLICT: lambda: Conflict(
            "the unit was succeeded before, or the successor is inactive, was succeeded itself or is the unit"),
        Reason.BLOCKED_DOCUMENTS: lambda: BlockedDocuments(
            "the successor has an active relation with clients who have blocked documents at the unit: after the move "
            "it owns them and the block no longer keeps it out (PDL 4:4); say \"blocked_documents\": \"move\" to "
            "move them anyway"),
    }
    async with access(rt, caller, Action.UNIT_SUCCESSION, judge, answers=answers) as act:
        moved = await units_store.succeed(act.conn, unit_id, successor, effective_at, by=caller.principal.sub)
    return {"predecessor": unit_id, "successor": successor, "effective_at": effective_at, **moved}


async def succession_preview(rt: Runtime, principal: Principal, unit_id: str,
                             successor: str | None = None) -> dict[str, Any]:
    """What a succession of the unit would move (counts only: no client named, so not an audited access), and with
    a `successor` how many blocked documents of clients it already knows would move to it (None without one)."""
    raise_if_denied(role_gate(principal.roles, Permission.UNIT_WRITE))
    async with rt.pool.acquire() as conn:
        if await units_store.get(conn, unit_id) is None or (
                successor is not None and await units_store.get(conn, successor) is None):
            raise NotFound(f"no unit {unit_id} or {successor}")
        blocked = None if successor is None else await units_store.blocked_against(conn, unit_id, successor)
        return {"unit": unit_id, **await units_store.preview(conn, unit_id), "blocked_documents": blocked}


def require_admin(principal: Principal) -> None:
    """The admin's gate of the reorganisation page (the same as the API's: units:write); raises Forbidden."""
    raise_if_denied(role_gate(principal.roles, Permission.UNIT_WRITE))
