"""Consents and emergency access: recorded, confirmed, read, revoked, each decided by policies and audited.

Staff see the consents whose from or to zone is their own zone: a consent names
the zones that hold the client's information, which is itself sensitive. One the
receiving zone records waits for a unit of the holding zone to confirm it
(policies/consents.py); the holding zone sees it in its list to do so.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from policies.consents import (
    GUARDIAN,
    SWEDEN,
    ConsentDraft,
    Status,
    check_draft,
    coming_of_age,
    confirmed_on_recording,
    ended_reason,
    status,
)
from policies.decide import Facts, Request, decide, decide_consent, decide_emergency_open, decide_unknown_consent
from policies.decide import may_open_emergency as unit_may_open_emergency
from policies.decision import Reason
from policies.model import Consent, Zone
from policies.personal_number import InvalidPersonalNumber, parse_personal_number
from policies.roles import Permission, role_gate

from ..audit import Action, Caller
from ..errors import (
    ConsentExpired,
    ConsentRevoked,
    EmergencyDomainNotPermitted,
    EmergencyNotPermitted,
    NotHoldingZone,
    PersonalNumberRefused,
    ValidationFailed,
)
from ..runtime import Runtime
from ..store import consents as consents_store
from ..store import facts as facts_store
from .access import Judge, Judged, access, client_access
from .commands import Maturity, NewConsent
from .paging import Paged, paged

_RECORD = "consent"
NOT_STATED = "not stated"  # the basis of a maturity assessment recorded as `maturity_assessed: true` alone


class ConsentRuleBroken(ValidationFailed):
    """The consent breaks a recording rule; `code` names the first, `errors` lists all."""


def _model(row: Any) -> Consent:
    return Consent(
        id=str(row["id"]), from_zone=Zone(row["from_organisation"], row["from_domain"]),
        to_zone=Zone(row["to_organisation"], row["to_domain"]), to_unit=row["to_unit"],
        categories=frozenset(row["categories"]), purposes=frozenset(row["purposes"]),
        valid_from=row["valid_from"], valid_until=row["valid_until"], revoked_at=row["revoked_at"],
        confirmed_at=row["confirmed_at"], given_by=row["given_by"],
    )


def _open(rt: Runtime, row: Any, field: str) -> str:
    return rt.field_sealer.open_text(row[f"{field}_sealed"], record=_RECORD, record_id=str(row["id"]), field=field)


def _guardian_json(rt: Runtime, row: Any) -> dict[str, Any] | None:
    """The guardian who gave it: the name, and of the personal number its last four digits only (API-1.1)."""
    if row["guardian_name_sealed"] is None:
        return None
    return {"name": _open(rt, row, "guardian_name"),
            "personal_number_last4": _open(rt, row, "guardian_personal_number")[-4:]}


def _maturity_json(rt: Runtime, row: Any) -> dict[str, Any] | None:
    if row["maturity_assessed_by"] is None:
        return None
    basis = _open(rt, row, "maturity_basis") if row["maturity_basis_sealed"] is not None else NOT_STATED
    return {"assessed_by": row["maturity_assessed_by"], "assessed_at": row["maturity_assessed_at"], "basis": basis}


def consent_json(rt: Runtime, row: Any, *, now: datetime) -> dict[str, Any]:
    """The contract's consent object, with its status at `now` (and why it ended, once it has)."""
    note = row["note_sealed"]
    model, birth_date = _model(row), row["client_birth_date"]
    return {
        "id": row["id"],
        "client_id": row["client_id"],
        "status": status(model, now=now, birth_date=birth_date),
        "ended_reason": ended_reason(model, now=now, birth_date=birth_date),
        "from": {"organisation": row["from_organisation"], "domain": row["from_domain"]},
        "to": {"organisation": row["to_organisation"], "domain": row["to_domain"], "unit": row["to_unit"]},
        "categories": list(row["categories"]),
        "purposes": list(row["purposes"]),
        "valid_from": row["valid_from"],
        "valid_until": row["valid_until"],
        "given_by": row["given_by"],
        "guardian": _guardian_json(rt, row),
        "guardian_until": coming_of_age(birth_date) if row["given_by"] == GUARDIAN else None,
        "form": row["form"],
        "maturity_assessed": row["maturity_assessed"],
        "maturity": _maturity_json(rt, row),
        "evidence_document_id": row["evidence_document_id"],
        "note": rt.field_sealer.open_text(note, record=_RECORD, record_id=str(row["id"]), field="note") if note else None,
        "recorded_by": row["recorded_by"],
        "recorded_by_unit": row["recorded_by_unit"],
        "recorded_at": row["recorded_at"],
        "revoked_at": row["revoked_at"],
        "revoked_by": row["revoked_by"],
        "confirmed_at": row["confirmed_at"],
        "confirmed_by": row["confirmed_by"],
        "confirmed_by_unit": row["confirmed_by_unit"],
    }


async def grant(rt: Runtime, caller: Caller, client_id: UUID, body: NewConsent) -> dict[str, Any]:
    """Record a consent: active (pending until valid_from) when the holding zone records it, else awaiting
    the holding zone's confirmation. Raises Forbidden, ValidationFailed (invalid_personal_number: the
    guardian's), NotFound, ConsentRuleBroken."""
    # The guardian's number is the body's to be valid (API-1.1 "Order of checks": after the role gate, before
    # the client is looked up), as a client's is at registration.
    gate = role_gate(caller.principal.roles, Permission.CONSENT_GRANT)
    guardian_number = _guardian_number(rt, body) if gate and body.guardian is not None else None
    # A consent its recording rules refuse is a refused access like any other: its denied event is recorded
    # (attack report 5, finding 6), and the rules' error answered.
    refused: list[ValidationFailed] = []
    answers = {Reason.CONSENT_RULES: lambda: refused[0]}
    async with client_access(rt, caller, Permission.CONSENT_GRANT, Action.CONSENT_GRANT, client_id,
                             answers=answers) as act:
        try:
            row = await record_consent(rt, act.conn, caller, client_id, body, act.now_facts, guardian_number)
        except ValidationFailed as exc:  # nothing was written: the rules are checked before the INSERT
            refused.append(exc)
            act.deny(Reason.CONSENT_RULES)
        else:
            act.consent_id = row["id"]
    return consent_json(rt, row, now=row["recorded_at"])  # its status as recorded (and confirmed), not before


def _guardian_number(rt: Runtime, body: NewConsent) -> str:
    """The guardian's personal number, checked (date and Luhn digit) and canonical; raises PersonalNumberRefused."""
    assert body.guardian is not None
    try:
        return parse_personal_number(body.guardian.personal_number, today=rt.today()).canonical
    except InvalidPersonalNumber as exc:
        # The message names the problem, never the number.
        raise PersonalNumberRefused([{"field": "guardian.personal_number", "message": str(exc)}],
                                    "the guardian's is not a valid personnummer or samordningsnummer") from None


async def record_consent(rt: Runtime, conn: asyncpg.Connection, caller: Caller, client_id: UUID, body: NewConsent,
                         facts: Facts, guardian_number: str | None, *, by_client: bool = False) -> asyncpg.Record:
    """Check the recording rules (policies.consents.check_draft) and insert; raises ConsentRuleBroken, nothing
    written. `by_client`: the client gives it themself in their own view (domain/me.py), confirmed as given."""
    principal = caller.principal
    to_unit = body.to_unit
    to_zone = body.to_zone
    if to_unit is not None:
        unit = await consents_store.unit_zone(conn, to_unit)
        if unit is None or Zone(unit["organisation"], unit["domain"]) != to_zone:
            raise ValidationFailed([{"field": "to.unit", "message": "no such unit in the to zone"}])
    evidence, maturity = body.evidence_document_id, body.maturity
    birth_date, now = facts.client_birth_date, facts.now
    # Called once decide() allowed: the client exists (birth_date is NOT NULL) and for_client read the clock.
    assert birth_date is not None and now is not None
    today = now.astimezone(SWEDEN).date()
    draft = ConsentDraft(
        from_zone=body.from_zone, to_zone=to_zone,
        valid_from=body.valid_from or now, valid_until=body.valid_until, given_by=body.given_by, form=body.form,
        maturity_assessed=body.maturity_assessed or maturity is not None,
        has_evidence=evidence is not None and await signed_form(rt, conn, caller, evidence, client_id=client_id),
        recorder_zone=principal.zone, recorded_by_client=by_client, guardian_named=body.guardian is not None,
        maturity_assessed_on=maturity.assessed_at if maturity is not None else None,
    )
    problems = check_draft(draft, client_birth_date=birth_date, today=today, max_days=rt.settings.max_consent_days)
    if problems:
        raise ConsentRuleBroken([{"field": p.field, "message": p.message} for p in problems],
                                "; ".join(p.message for p in problems), code=problems[0].code)
    consent_id = uuid4()
    note = body.note

    def seal(text: str | None, field: str) -> bytes | None:
        return None if text is None else rt.field_sealer.seal(text, record=_RECORD, record_id=str(consent_id), field=field)
    # `maturity_assessed: true` alone is recorded as assessed by the recorder, today, on a basis not stated (null).
    assessed = maturity or (Maturity(principal.sub, today, NOT_STATED) if draft.maturity_assessed else None)
    return await consents_store.insert(
        conn, id=consent_id, client_id=client_id,
        from_organisation=draft.from_zone.organisation, from_domain=draft.from_zone.domain,
        to_organisation=to_zone.organisation, to_domain=to_zone.domain, to_unit=to_unit,
        categories=sorted(set(body.categories)), purposes=sorted(set(body.purposes)),
        valid_from=draft.valid_from, valid_until=draft.valid_until, given_by=body.given_by, form=body.form,
        maturity_assessed=draft.maturity_assessed, evidence_document_id=evidence,
        note_sealed=seal(note or None, "note"),
        recorded_by=principal.sub, recorded_by_name=principal.name, recorded_by_unit=principal.unit,
        confirmed=confirmed_on_recording(draft),
        guardian_name_sealed=seal(body.guardian.name if body.guardian else None, "guardian_name"),
        guardian_personal_number_sealed=seal(guardian_number, "guardian_personal_number"),
        maturity_assessed_by=assessed.assessed_by if assessed else None,
        maturity_assessed_at=assessed.assessed_at if assessed else None,
        maturity_basis_sealed=seal(maturity.basis if maturity else None, "maturity_basis"),
    )


async def page(rt: Runtime, caller: Caller, client_id: UUID, *, after: tuple[datetime, UUID], limit: int,
               status_now: Status | None = None) -> Paged[dict[str, Any]]:
    """The client's consent history from or to the caller's zone (`status_now`: only those with that status now);
    raises Forbidden, NotFound."""
    principal = caller.principal
    async with client_access(rt, caller, Permission.CONSENT_READ, Action.CONSENT_READ, client_id) as act:
        now = act.now_facts.now
        # decide() allows only a caller with a unit and zone (else no_unit); for_client reads the clock.
        assert principal.zone is not None and now is not None
        rows = await consents_store.page_for_zone(act.conn, client_id, organisation=principal.zone.organisation,
                                                  domain=principal.zone.domain, after=after, limit=limit + 1,
                                                  now=now, status=status_now)
    return paged([consent_json(rt, row, now=now) for row in rows], limit)


def _consent_decision(rt: Runtime, caller: Caller, consent_id: UUID, permission: Permission, *,
                      lock: bool = False) -> Judge:
    """The decision on the consent (policies.decide_consent: the client rule, the caller's zone party to it,
    and what `permission` asks besides; decide_unknown_consent when there is none), with its row and client;
    `lock` holds the row until the transaction ends."""
    async def judge(conn: asyncpg.Connection) -> Judged:
        request = Request(caller.principal, permission)
        row = await consents_store.get(conn, consent_id, lock=lock)
        if row is None:
            return Judged(decide_unknown_consent(request))
        facts = await facts_store.for_client(conn, row["client_id"], principal=caller.principal)
        return Judged(decide_consent(request, facts, _model(row), rt.policy), facts, row, row["client_id"])
    return judge


async def read(rt: Runtime, caller: Caller, consent_id: UUID) -> tuple[asyncpg.Record, dict[str, Any]]:
    """(row, consent) for a caller whose zone is party to it and whose unit has a relation; raises Forbidden, NotFound."""
    async with access(rt, caller, Action.CONSENT_READ, _consent_decision(rt, caller, consent_id, Permission.CONSENT_READ),
                      consent_id=consent_id) as act:
        now = act.now_facts.now
    assert now is not None  # allowed: the consent was found and for_client read the clock
    return act.row, consent_json(rt, act.row, now=now)


async def revoke(rt: Runtime, caller: Caller, consent_id: UUID, *, reason: str, judge: Judge | None = None) -> dict[str, Any]:
    """Revoke at once (in force for the very next request everywhere); a second revoke changes nothing.

    `judge`: another decision than staff's (the client's own, domain/me.py). Raises Forbidden, NotFound.
    """
    judge = judge or _consent_decision(rt, caller, consent_id, Permission.CONSENT_REVOKE)
    async with access(rt, caller, Action.CONSENT_REVOKE, judge, consent_id=consent_id) as act:
        sealed = rt.field_sealer.seal(reason, record=_RECORD, record_id=str(consent_id), field="revoke_reason")
        act.row = await consents_store.revoke(act.conn, consent_id, by=caller.principal.sub, reason_sealed=sealed) or act.row
        now = await act.conn.fetchval("SELECT clock_timestamp()")
    return consent_json(rt, act.row, now=now)


async def confirm(rt: Runtime, caller: Caller, consent_id: UUID) -> dict[str, Any]:
    """Confirm, for the holding zone, a consent the receiving zone recorded: it opens from now on.

    Confirming a confirmed consent changes nothing (its first confirmation stands). Raises Forbidden
    (not_holding_zone: the receiving zone, which sees the consent, cannot confirm it), NotFound (other
    zones, no relation), Conflict (consent_revoked, consent_expired).
    """
    answers = {
        Reason.NOT_HOLDING_ZONE: lambda: NotHoldingZone("only a unit of the zone holding the records confirms a consent"),
        Reason.CONSENT_REVOKED: lambda: ConsentRevoked("the consent was revoked; it cannot be confirmed"),
        Reason.CONSENT_EXPIRED: lambda: ConsentExpired("the consent has expired; it cannot be confirmed"),
    }
    principal = caller.principal
    # Locked: a revocation committed meanwhile waits, so what is decided on is what is confirmed.
    judge = _consent_decision(rt, caller, consent_id, Permission.CONSENT_CONFIRM, lock=True)
    async with access(rt, caller, Action.CONSENT_CONFIRM, judge, consent_id=consent_id, answers=answers) as act:
        now = act.now_facts.now
        if act.row["confirmed_at"] is None:
            assert principal.unit is not None  # decide() allows only a caller with a unit (else no_unit)
            act.row = await consents_store.confirm(act.conn, consent_id, by=principal.sub, unit=principal.unit) or act.row
            now = act.row["confirmed_at"] or now
    assert now is not None  # allowed: the consent was found and for_client read the clock
    return consent_json(rt, act.row, now=now)


async def open_emergency(rt: Runtime, caller: Caller, client_id: UUID, *, reason: str, domain: str) -> dict[str, Any]:
    """Open time-boxed emergency access to the client's records of `domain`; flagged for review.

    The grant opens that domain only. Raises Forbidden (a forbidden role; emergency_not_permitted: the
    caller's unit is of a domain that may not open emergency access), NotFound, ValidationFailed
    (emergency_not_permitted: `domain` is not one emergency access may open).
    """
    principal = caller.principal
    permitted = ", ".join(rt.settings.emergency_domains) or "nothing"
    answers = {
        Reason.EMERGENCY_NOT_PERMITTED: lambda: EmergencyNotPermitted(
            f"units of your domain may not open emergency access (permitted: {permitted})"),
        Reason.EMERGENCY_DOMAIN_NOT_PERMITTED: lambda: EmergencyDomainNotPermitted(
            [{"field": "domain", "message": f"emergency access may open only {permitted}"}]),
    }
    grant_id = uuid4()

    async def judge(conn: asyncpg.Connection) -> Judged:
        facts = await facts_store.for_client(conn, client_id, principal=principal)
        return Judged(decide_emergency_open(Request(principal, Permission.EMERGENCY_OPEN), facts, domain=domain,
                                            grant_id=str(grant_id), config=rt.policy), facts)

    async with access(rt, caller, Action.EMERGENCY_OPEN, judge, client_id=client_id, answers=answers) as act:
        assert principal.unit is not None  # decide() allows only a caller with a unit (else no_unit)
        row = await consents_store.insert_grant(
            act.conn, grant_id=grant_id, client_id=client_id, unit=principal.unit, sub=principal.sub, domain=domain,
            reason_sealed=rt.field_sealer.seal(reason, record="emergency_grant", record_id=str(grant_id), field="reason"),
            hours=rt.settings.emergency_hours,
        )
    return {"id": row["id"], "client_id": client_id, "domain": row["domain"], "opened_at": row["opened_at"],
            "expires_at": row["expires_at"]}


def may_open_emergency(rt: Runtime, caller: Caller) -> bool:
    """Whether the caller's unit is of a domain whose units may open emergency access (the UI offers it only then)."""
    return unit_may_open_emergency(caller.principal, rt.policy)


async def active_emergency(rt: Runtime, caller: Caller, client_id: UUID) -> dict[str, Any] | None:
    """The caller's own running emergency access to the client (for the banner), or None.

    It tells the caller only what they did themselves, nothing about the client: no event.
    """
    principal = caller.principal
    if principal.unit is None:
        return None
    async with rt.pool.acquire() as conn:
        row = await consents_store.active_grant(conn, client_id, unit=principal.unit, sub=principal.sub)
    return {"id": row["id"], "expires_at": row["expires_at"]} if row else None


async def signed_form(rt: Runtime, conn: asyncpg.Connection, caller: Caller, document_id: UUID, *,
                      client_id: UUID) -> bool:
    """Whether `document_id` is an active consent_form of the client that the caller may read: evidence of a written
    consent (OSL 12:2). One the caller may not read counts as none, as a document that does not exist: whether it
    does is not for the caller to learn (attack report 5, finding 4), nor how long it took to find out (report 6,
    finding 1): every id costs the same one round trip, the document's decision facts, whatever it is."""
    row, facts = await facts_store.for_document(conn, document_id, principal=caller.principal)
    visible = bool(decide(Request(caller.principal, Permission.DOCUMENT_READ_METADATA), facts, rt.policy))
    return (row is not None and visible and row["client_id"] == client_id and row["category"] == "consent_form"
            and row["status"] == "active")
