"""The client's own view (API-1.1 "The client's own view"; OSL 12:1, PDL 8:2, 8:5): the person's record,
consents, access log and released documents, for the person alone.

The client is found by the blind index of the personal number their token carries (service/http/context.py
keeps no more of it), never by an id they send; every record named by id is checked to be theirs
(policies/me.py), another person's answering as one that does not exist. Each call goes through the one road
(domain/access.py) and is audited with the actor `client:<blind id>`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from policies.audit import WHOLE
from policies.consents import SWEDEN
from policies.decide import Facts
from policies.decision import Reason
from policies.me import consent_as_the_person_sees_it, decide_me, decide_own_consent, decide_own_record, may_delay
from policies.model import Principal
from policies.personal_number import is_minor
from policies.roles import Permission

from ..audit import Action, Caller
from ..errors import DelayNotAllowed, Minor, ValidationFailed
from ..runtime import Runtime
from ..store import audit_events as events_store
from ..store import consents as consents_store
from ..store import me as me_store
from . import consents as consents_domain
from . import documents as documents_domain
from .access import Judge, Judged, access, raise_if_denied
from .commands import NewConsent
from .paging import Paged, paged
from .words import describe

_MINOR = {Reason.MINOR: lambda: Minor("under 18 you give consent with your guardian or at the unit, not here")}


def _index(principal: Principal) -> bytes:
    """The caller's blind index; decide_me refused a call without one before any body runs."""
    assert principal.personal_number_index is not None
    return principal.personal_number_index


def _own(caller: Caller, permission: Permission) -> Judge:
    """The caller themself: their client row (id None when never registered) and the decision for `permission`."""
    async def judge(conn: asyncpg.Connection) -> Judged:
        decision = decide_me(caller.principal, permission)
        if not decision:
            return Judged(decision)
        row = await me_store.own(conn, _index(caller.principal))
        return Judged(decision, row=row, client_id=row["id"])
    return judge


async def record(rt: Runtime, caller: Caller) -> dict[str, Any]:
    """The person's own record: empty (`registered` false) when no unit has registered them."""
    async with access(rt, caller, Action.ME_READ, _own(caller, Permission.ME_READ)) as act:
        row = act.row
    if row["id"] is None:
        return {"registered": False, "id": None, "name": None, "birth_date": None, "is_minor": None}
    name = rt.field_sealer.open_text(row["name_sealed"], record="client", record_id=str(row["id"]), field="name")
    return {"registered": True, "id": row["id"], "name": name, "birth_date": row["birth_date"],
            "is_minor": is_minor(row["birth_date"], today=rt.today())}


async def consents(rt: Runtime, caller: Caller, *, after: tuple[datetime, UUID], limit: int) -> Paged[dict[str, Any]]:
    """Every consent of the person, from and to every zone, oldest first (none when never registered)."""
    async with access(rt, caller, Action.CONSENT_READ, _own(caller, Permission.ME_READ)) as act:
        client_id, now = act.row["id"], act.row["now"]
        rows = [] if client_id is None else await consents_store.page_for_client(act.conn, client_id, after=after,
                                                                                limit=limit + 1)
        released_now = await _released_evidence(act.conn, rows, client_id)
    return paged([consent_as_the_person_sees_it(consents_domain.consent_json(rt, row, now=now),
                                                person=caller.principal.sub, released_now=released_now)
                  for row in rows], limit)


async def _released_evidence(conn: asyncpg.Connection, consents: list[Any], client_id: UUID | None) -> set[UUID]:
    """Of the consents' evidence documents (rows or consent objects), those released to the person and showing now
    (only they are named)."""
    evidence = sorted({c["evidence_document_id"] for c in consents if c["evidence_document_id"] is not None})
    if not evidence or client_id is None:
        return set()
    return set(await me_store.released_titles(conn, evidence, client_id))


async def give_consent(rt: Runtime, caller: Caller, body: NewConsent) -> dict[str, Any]:
    """Record the electronic consent the person gives themself: adults only (403 minor), confirmed as given
    (policies.consents.confirmed_on_recording), under the same recording rules as staff's (422 …)."""
    async def judge(conn: asyncpg.Connection) -> Judged:
        principal = caller.principal
        gate = decide_me(principal, Permission.ME_CONSENT_GRANT)
        if not gate:
            return Judged(gate)
        row = await me_store.own(conn, _index(principal))
        today = row["now"].astimezone(SWEDEN).date()
        decision = decide_own_consent(principal, registered=row["id"] is not None, birth_date=row["birth_date"],
                                      today=today)
        return Judged(decision, row=row, client_id=row["id"])

    refused: list[ValidationFailed] = []
    answers = {**_MINOR, Reason.CONSENT_RULES: lambda: refused[0]}
    async with access(rt, caller, Action.CONSENT_GRANT, judge, answers=answers) as act:
        own = act.row
        facts = Facts(client_exists=True, caller_relation_active=False, now=own["now"],
                      client_birth_date=own["birth_date"])
        try:
            row = await consents_domain.record_consent(rt, act.conn, caller, own["id"], body, facts, None,
                                                       by_client=True)
        except ValidationFailed as exc:  # nothing was written: the rules are checked before the INSERT
            refused.append(exc)
            act.deny(Reason.CONSENT_RULES)
        else:
            act.consent_id = row["id"]
    return consent_as_the_person_sees_it(consents_domain.consent_json(rt, row, now=row["recorded_at"]),
                                         person=caller.principal.sub, released_now=())


def _own_consent(caller: Caller, consent_id: UUID) -> Judge:
    """A consent of the person's, or none (another person's is unknown_consent: 404)."""
    async def judge(conn: asyncpg.Connection) -> Judged:
        principal = caller.principal
        gate = decide_me(principal, Permission.ME_CONSENT_REVOKE)
        if not gate:
            return Judged(gate)
        own = await me_store.own(conn, _index(principal))
        row = await consents_store.get(conn, consent_id)  # as staff's revoke: the UPDATE takes the lock
        record_client = row["client_id"] if row is not None else None
        decision = decide_own_record(principal, Permission.ME_CONSENT_REVOKE, own_client=own["id"],
                                     record_client=record_client, unknown=Reason.UNKNOWN_CONSENT)
        # The event names the client only when it is the caller: another person's consent names no one.
        return Judged(decision, row=row if decision else None, client_id=own["id"])
    return judge


async def revoke_consent(rt: Runtime, caller: Caller, consent_id: UUID, *, reason: str | None) -> dict[str, Any]:
    """Revoke one of the person's consents at once: staff's next request anywhere is decided without it. Answered
    as the person sees the consent (policies.me.consent_as_the_person_sees_it)."""
    revoked = await consents_domain.revoke(rt, caller, consent_id, reason=reason or "revoked by the client",
                                           judge=_own_consent(caller, consent_id))
    released_now: set[UUID] = set()
    if revoked["evidence_document_id"] is not None:
        async with rt.pool.acquire() as conn:
            released_now = await _released_evidence(conn, [revoked], revoked["client_id"])
    return consent_as_the_person_sees_it(revoked, person=caller.principal.sub, released_now=released_now)


async def access_log(rt: Runtime, caller: Caller, *, after: int, limit: int) -> Paged[dict[str, Any]]:
    """Every access to the person's records, allowed or denied, oldest first, but the person's own: when, who
    (per BRYGGA_EXTRACT_NAMES), unit by name, organisation, action and basis, in words.

    The whole log's extract of the client (store.audit_events.extract, every access): secrecy does not hold
    toward the person themself (OSL 12:1), and the patient is to learn who read the record (PDL 8:5). What the
    contract does not list stays out: the staff member's id, addresses, request ids, reason codes. A document
    the owning unit has not released is named by no id or title: the access shows, the document does not.
    """
    async with access(rt, caller, Action.ME_ACCESS_LOG, _own(caller, Permission.ME_ACCESS_LOG)) as act:
        client_id = act.row["id"]
        if client_id is None:
            return paged([], limit)
        # A release made with a delay enters the log when the document shows: the delay is there to keep back from
        # the person, until then, that something is coming (OSL 25:6; insider attack 14, L2).
        rows = await events_store.extract(act.conn, client_id, scope=WHOLE, after=after, limit=limit + 1,
                                          every_access=True, but_actor=caller.principal.sub,
                                          as_the_client_sees_it=True)
        units = await me_store.unit_names(act.conn, sorted({row["actor_unit"] for row in rows if row["actor_unit"]}))
        titles = await me_store.released_titles(act.conn, sorted({row["document_id"] for row in rows
                                                                  if row["document_id"]}), client_id)
    entries = []
    for row in rows:
        document_id = row["document_id"] if row["document_id"] in titles else None
        title = None if document_id is None else rt.field_sealer.open_text(
            titles[document_id], record="document", record_id=str(document_id), field="title")
        unit_name = units.get(row["actor_unit"]) if row["actor_unit"] else None
        actor_name = row["actor_name"] if rt.settings.extract_names else None
        entries.append({
            "seq": row["seq"], "at": row["at"], "action": row["action"], "decision": row["decision"],
            "basis": _basis_kind(row["basis"]), "flagged": row["flagged"],
            "unit": None if row["actor_unit"] is None else {"id": row["actor_unit"], "name": unit_name},
            "organisation": row["actor_organisation"], "domain": row["actor_domain"], "actor_name": actor_name,
            "document_id": document_id, "document_title": title,
            "description": describe(action=row["action"], allowed=row["decision"] == "allow", basis=row["basis"],
                                    unit_name=unit_name, organisation=row["actor_organisation"],
                                    roles=list(row["actor_roles"]), document_title=title,
                                    document_named=row["document_id"] is not None),
        })
    return paged(entries, limit)


async def zones(rt: Runtime, caller: Caller) -> list[dict[str, str]]:
    """The zones a consent the person gives may name, with their units' names (the consent form's choices).

    It names no client and reads nothing of anyone's, like the list of units: no event; the role gate holds."""
    raise_if_denied(decide_me(caller.principal, Permission.ME_CONSENT_GRANT))
    async with rt.pool.acquire() as conn:
        rows = await me_store.zones(conn)
    return [{"organisation": row["organisation"], "domain": row["domain"], "names": row["names"]} for row in rows]


def _basis_kind(basis: str) -> str:
    """The basis without the record's id (consent:<id> → consent): the words say which; ids of other records
    (an emergency grant, a disclosure) are not the person's to look up."""
    return basis.split(":", 1)[0]


def _released_json(rt: Runtime, row: Any) -> dict[str, Any]:
    """A released document as the person sees it: no staff ids, the unit by name."""
    return {
        "id": row["id"], "title": rt.field_sealer.open_text(row["title_sealed"], record="document",
                                                             record_id=str(row["id"]), field="title"),
        "category": row["category"], "content_type": row["content_type"], "size": row["size"],
        "created_at": row["created_at"], "status": row["status"],
        "unit": {"id": row["unit_id"], "name": row["unit_name"]},
        "zone": {"organisation": row["organisation"], "domain": row["domain"]},
        "released_at": row["released_at"], "visible_from": row["visible_from"],
    }


async def documents(rt: Runtime, caller: Caller, *, after: tuple[datetime, UUID], limit: int) -> Paged[dict[str, Any]]:
    """The person's documents that their owning units released and that show now, in the order they came to
    show; nothing else is read (store.me.released_page), so unreleased ones leave no trace."""
    async with access(rt, caller, Action.DOCUMENT_LIST, _own(caller, Permission.ME_DOCUMENTS)) as act:
        client_id = act.row["id"]
        rows = [] if client_id is None else await me_store.released_page(act.conn, client_id, after=after,
                                                                          limit=limit + 1)
    return paged([_released_json(rt, row) for row in rows], limit)


async def release(rt: Runtime, caller: Caller, document_id: UUID, *, visible_from: datetime | None) -> dict[str, Any]:
    """Release a document to its client's own view: staff of the owning unit (403 not_owning_unit), a health
    document possibly from a later date (a social one at once: 422 naming visible_from). A second release
    changes nothing: the first stands."""
    judge = documents_domain.document_decision(rt, caller, document_id, Permission.DOCUMENT_RELEASE)
    # Refused when the document's domain does not allow a delay: recorded like every refusal, answered 422.
    answers = {Reason.DELAY_NOT_ALLOWED: lambda: DelayNotAllowed(
        [{"field": "visible_from", "message": "only a health document is released from a later date"}])}
    async with access(rt, caller, Action.DOCUMENT_RELEASE, judge, document_id=document_id, answers=answers) as act:
        row = act.row
        if visible_from is not None and not may_delay(row["domain"]):
            act.deny(Reason.DELAY_NOT_ALLOWED)
        else:
            assert caller.principal.unit is not None  # decide() allows only a caller with a unit
            released = await me_store.release(act.conn, document_id, row["client_id"], by=caller.principal.sub,
                                              unit=caller.principal.unit, visible_from=visible_from)
    return {"document_id": document_id, "released_at": released["released_at"],
            "visible_from": released["visible_from"], "released_by_unit": released["released_by_unit"]}
