"""The coordinated individual plan (SIP): what a plan must state, and who reads and writes it (pure).

Law (LEGAL.md): a SIP is made when the municipality or the region judges it needed and the person consents
(SoL (2001:453) 2:7, new SoL 2025:400 (check §); HSL (2017:30) 16:4). The plan states (1) the efforts needed,
(2) which body provides what, (3) the measures taken by others than the municipality and the region, and
(4) which of the principals has the overall responsibility for it. Relatives and others (school health, the
Social Insurance Agency) may take part; they are named in words, never given access.

Who reads and writes a plan:
- only a unit that takes part in it (PDL 4:1: only those who take part in the person's care), with an
  active relation with the client like any other access (decide()'s role gate, unit, client and relation);
- the plan is held by the zone of the unit that started it (its holding zone, like a document's). A
  participating unit of another zone reads and writes it only while the client's consent naming category
  `sip` for purpose `coordination` from the holding zone to its zone (or to that unit) is in force: the
  consent test of decide() itself (policies/decide.py `covers`), so SIP crosses exactly as a SIP document
  does (OSL 12:2; secrecy between the zones otherwise, OSL 25:1, 26:1, 8:2). No emergency grant and no
  disclosure opens a plan: a joint plan rests on the person's consent.
- Revoking that consent closes the plan to that zone from the next decision (facts carry the database's
  clock); the holding zone's participants see which units it is closed to and why (`closed_to`).
- What a unit of another zone writes into the plan it writes into the holding zone's record, under the
  same consent: the client consented to the coordination in one plan.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from .consents import status as consent_status
from .decide import DocumentFacts, Facts, PolicyConfig, Request, covers, decide
from .decision import Basis, Decision, Reason, allow, deny
from .model import Consent, Principal, Zone
from .roles import Permission, role_gate

LAW = "SoL 2:7; HSL 16:4"
CONSENT_LAW = "OSL 12:2; SoL 2:7; HSL 16:4"
SECRECY_LAW = "OSL 25:1, 26:1, 8:2"
CATEGORY = "sip"
PURPOSE = "coordination"
_PLAN_PERMISSIONS = frozenset({Permission.SIP_CREATE, Permission.SIP_READ, Permission.SIP_WRITE})
# Which reasons say why a plan is closed to a participating unit, most telling first (the plan shows one).
_CLOSED_ORDER = (Reason.CONSENT_REVOKED, Reason.CAME_OF_AGE, Reason.CONSENT_EXPIRED, Reason.CONSENT_UNCONFIRMED,
                 Reason.CONSENT_PENDING, Reason.PURPOSE_NOT_COVERED, Reason.CATEGORY_NOT_COVERED,
                 Reason.UNIT_NOT_COVERED, Reason.NO_CONSENT)


@dataclass(frozen=True, slots=True)
class Effort:
    """One effort of the plan: what, who provides it (a participating unit or an external participant named in
    the plan), by when."""

    text: str
    provided_by_unit: str | None = None
    provided_by_external: str | None = None
    due: date | None = None


@dataclass(frozen=True, slots=True)
class PlanContent:
    """What a version of a plan states (API-1.1 "Joint plans (SIP)")."""

    title: str
    start_date: date
    units: tuple[str, ...]  # participating units
    externals: tuple[str, ...]  # external participants, named in words ("Mamma Eva", "Elevhälsan, skolsköterska")
    responsible_unit: str | None
    efforts: tuple[Effort, ...]
    next_follow_up: date | None
    no_measures_by_others: bool = False  # part 3 stated as "none"


@dataclass(frozen=True, slots=True)
class PlanFacts:
    """What a decision needs of a stored plan."""

    id: str
    zone: Zone  # the holding zone: the zone of the unit that started it
    unit: str  # the unit that started it
    participants: Mapping[str, Zone]  # participating unit -> its zone
    closed: bool = False


@dataclass(frozen=True, slots=True)
class Violation:
    """A part of the plan that breaks a rule: the field, and what the law asks."""

    field: str
    message: str


def check_content(content: PlanContent) -> list[Violation]:
    """Every rule the plan's content breaks (empty when it may be saved), the four parts of SoL 2:7 / HSL 16:4 first.

    (1) at least one effort; (2) each effort provided by exactly one participating unit or named external
    participant; (3) the measures of others than the municipality and region: an effort provided by an external
    participant, or `no_measures_by_others` (stated as none, never both); (4) the responsible unit, a
    participating one. Then: participants named once, the follow-up not before the start.
    """
    problems: list[Violation] = []
    units, externals = set(content.units), set(content.externals)
    if not content.efforts:
        problems.append(Violation("efforts", "the plan states the efforts needed (part 1; SoL 2:7, HSL 16:4)"))
    for i, effort in enumerate(content.efforts):
        if (effort.provided_by_unit is None) == (effort.provided_by_external is None):
            problems.append(Violation(f"efforts.{i}.provided_by_unit", "the plan states who provides each effort: a "
                                      "participating unit or an external participant, one of them (part 2)"))
        elif effort.provided_by_unit is not None and effort.provided_by_unit not in units:
            problems.append(Violation(f"efforts.{i}.provided_by_unit", "must be a participating unit (part 2)"))
        elif effort.provided_by_external is not None and effort.provided_by_external not in externals:
            problems.append(Violation(f"efforts.{i}.provided_by_external",
                                      "must be an external participant named in the plan (part 2)"))
    by_others = any(effort.provided_by_external is not None for effort in content.efforts)
    if not by_others and not content.no_measures_by_others:
        problems.append(Violation("no_measures_by_others", "the plan states the measures taken by others than the "
                                  "municipality and the region: an effort provided_by_external, or "
                                  "no_measures_by_others: true (part 3)"))
    if by_others and content.no_measures_by_others:
        problems.append(Violation("no_measures_by_others", "an effort is provided by an external participant (part 3)"))
    if content.responsible_unit is None:
        problems.append(Violation("responsible_unit", "the plan states which unit has the overall responsibility "
                                  "(part 4; SoL 2:7, HSL 16:4)"))
    elif content.responsible_unit not in units:
        problems.append(Violation("responsible_unit", "must be a participating unit (part 4)"))
    if len(units) != len(content.units):
        problems.append(Violation("participants", "names a unit more than once"))
    if len(externals) != len(content.externals):
        problems.append(Violation("participants", "names an external participant more than once"))
    if content.next_follow_up is not None and content.next_follow_up < content.start_date:
        problems.append(Violation("next_follow_up", "must not be before start_date"))
    return problems


def _as_document(plan: PlanFacts) -> DocumentFacts:
    """The plan as decide()'s consent test sees it: information of category `sip` held by the holding zone."""
    return DocumentFacts(unit=plan.unit, zone=plan.zone, category=CATEGORY, blocked=False, created_by="")


def consent_for(who: Principal, plan: PlanFacts, consents: Iterable[Consent], *, now: datetime,
                birth_date: date | None) -> Consent | Reason:
    """The consent (the first by id) that opens the plan to `who`'s unit in another zone now, else why not.

    decide()'s own test (policies/decide.py `covers`): from the holding zone to the unit's zone (or that unit),
    naming `sip`, for `coordination`, confirmed, in its period, not revoked; a guardian's only before 18.
    """
    reasons: set[Reason] = set()
    covering: list[Consent] = []
    document = _as_document(plan)
    for consent in consents:
        if consent.from_zone != plan.zone or consent.to_zone != who.zone:
            continue
        why_not = covers(consent, document=document, principal=who, purpose=PURPOSE, now=now, birth_date=birth_date)
        if why_not is None:
            covering.append(consent)
        else:
            reasons.add(why_not)
    if covering:
        return min(covering, key=lambda consent: consent.id)
    return next((reason for reason in _CLOSED_ORDER if reason in reasons), Reason.NO_CONSENT)


def decide_plan(request: Request, facts: Facts, plan: PlanFacts | None, config: PolicyConfig | None = None) -> Decision:
    """Whether `request` (sip:read or sip:write) may act on `plan` (None: no such plan of this client).

    decide() first (role, unit, client, an active relation); then the caller's unit must take part
    (not_participant, a 404 like an unknown plan); in the holding zone that is all (own_zone); in another zone
    a consent must open it (consent:<id>; else the consent test's reason, a 404 too). Writing a closed plan is
    refused (plan_closed). The decision names the plan (`record`) for the audit event.
    """
    if request.permission not in _PLAN_PERMISSIONS:
        raise ValueError(f"decide_plan decides the sip permissions, not {request.permission}")
    if plan is None:  # the role gate still comes first
        gate = role_gate(request.principal.roles, request.permission)
        return gate if not gate else deny(Reason.UNKNOWN_PLAN, legal_basis=LAW)
    decision = decide(request, facts, config or PolicyConfig())
    if not decision:
        return dataclasses.replace(decision, record=f"sip_plan:{plan.id}")
    record = f"sip_plan:{plan.id}"
    who = request.principal
    if who.unit not in plan.participants:
        return dataclasses.replace(deny(Reason.NOT_PARTICIPANT, legal_basis=f"PDL 4:1; {LAW}"), record=record)
    if who.zone == plan.zone:
        opened = allow(Basis.OWN_ZONE, legal_basis=f"PDL 4:1; {LAW}")
    else:
        if facts.now is None:
            return dataclasses.replace(deny(Reason.NO_CONSENT, legal_basis=SECRECY_LAW), record=record)
        found = consent_for(who, plan, facts.consents, now=facts.now, birth_date=facts.client_birth_date)
        if isinstance(found, Reason):
            return dataclasses.replace(deny(found, legal_basis=SECRECY_LAW), record=record)
        opened = allow(f"consent:{found.id}", legal_basis=CONSENT_LAW)
    if request.permission is Permission.SIP_WRITE and plan.closed:
        return dataclasses.replace(deny(Reason.PLAN_CLOSED, legal_basis=LAW), record=record)
    return dataclasses.replace(opened, record=record)


def closed_to(plan: PlanFacts, consents: Iterable[Consent], *, now: datetime,
              birth_date: date | None) -> dict[str, Reason]:
    """The participating units of other zones that the plan is closed to now, each with why: what the holding
    zone's participants see (the consents are the holding zone's own, from it)."""
    held = tuple(consents)
    closed: dict[str, Reason] = {}
    for unit, zone in sorted(plan.participants.items()):
        if zone == plan.zone:
            continue
        found = consent_for(Principal(sub="", name=None, roles=frozenset(), unit=unit, zone=zone), plan, held,
                            now=now, birth_date=birth_date)
        if isinstance(found, Reason):
            closed[unit] = found
    return closed


def decide_create(request: Request, facts: Facts, plan: PlanFacts, consents: Iterable[Consent],
                  config: PolicyConfig | None = None) -> Decision:
    """Whether the caller may start (sip:create) or save (sip:write, as checked by decide_plan first) `plan` with
    these participants: a plan exists only under the client's SIP consent from its holding zone to every other
    participating zone (consent_required, 422); a plan of one zone needs none.

    For starting, decide() first (role, unit, client, relation), and the caller's unit must take part
    (not_participant: asked of the body, a 422 answered by the caller).
    """
    decision = decide(request, facts, config or PolicyConfig())
    if not decision:
        return decision
    record = f"sip_plan:{plan.id}"
    if request.principal.unit not in plan.participants:
        return dataclasses.replace(deny(Reason.NOT_PARTICIPANT, legal_basis=LAW), record=record)
    if facts.now is None:
        return dataclasses.replace(deny(Reason.CONSENT_REQUIRED, legal_basis=SECRECY_LAW), record=record)
    if closed_to(plan, consents, now=facts.now, birth_date=facts.client_birth_date):
        return dataclasses.replace(deny(Reason.CONSENT_REQUIRED, legal_basis=SECRECY_LAW), record=record)
    return dataclasses.replace(allow(Basis.OWN_ZONE, legal_basis=f"PDL 4:1; {LAW}"), record=record)


def keeps_holding_zone(caller_zone: Zone | None, before: PlanFacts, after: Mapping[str, Zone], *,
                       responsible_before: str, responsible_after: str) -> bool:
    """Whether a save leaves the plan in its holding zone's hands (insider attack 7, F1): the unit that started it
    stays a participant; a unit of another zone neither adds nor removes the holding zone's units nor moves the
    overall responsibility. The plan is the holding zone's record (OSL 25:1, 26:1); the consent lets the other
    zone take part, not take it over or choose who in the holding zone reads it."""
    if before.unit not in after:
        return False
    if caller_zone == before.zone:
        return True
    holding_before = {unit for unit, zone in before.participants.items() if zone == before.zone}
    holding_after = {unit for unit, zone in after.items() if zone == before.zone}
    return holding_before == holding_after and responsible_before == responsible_after


def may_close(caller_zone: Zone | None, caller_unit: str | None, plan: PlanFacts, responsible_unit: str) -> bool:
    """Closing ends the plan for every participant, for good (insider attack 7, F3): the holding zone's units or the
    unit with the overall responsibility (SoL 2:7, HSL 16:4: it leads the plan) may; another zone's unit may not."""
    return caller_zone == plan.zone or caller_unit == responsible_unit


def network_zones(request: Request, facts: Facts, config: PolicyConfig | None = None) -> tuple[Decision, frozenset[Zone]]:
    """The client's care network (GET /v1/clients/{id}/network): the decision, and the zones whose units with an
    active relation the caller may see.

    decide() first (role, unit, client, relation: refused like every client call, 404). Then the caller's own
    zone (PDL 4:1, it takes part in the client's care) and every zone whose consent naming purpose
    `coordination` covers the caller now (to its zone, or its unit; active: confirmed, in its period, not
    revoked, a guardian's only before 18; policies/consents.py `status`), and no other: which units a client
    depends on is itself secret between the zones (OSL 25:1, 26:1).
    """
    decision = decide(request, facts, config or PolicyConfig())
    who = request.principal
    if not decision or who.zone is None or facts.now is None:
        return decision, frozenset()
    zones = {who.zone}
    for consent in facts.consents:
        if (consent.to_zone == who.zone and consent.to_unit in (None, who.unit) and PURPOSE in consent.purposes
                and consent_status(consent, now=facts.now, birth_date=facts.client_birth_date) == "active"):
            zones.add(consent.from_zone)
    return decision, frozenset(zones)
