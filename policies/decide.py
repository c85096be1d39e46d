"""decide(request, facts) -> Decision: the access rules on one screen (DESIGN.md "The decision").

Pure: facts in, decision out; no I/O and no clock (`facts.now` is the database's
clock, read in the same round trip as the facts). Order: role gate → (opening
emergency access: the caller's unit of a permitted domain) → the client exists →
uploader (system metadata) → an active relation of the caller's unit → block →
same zone → a consent confirmed by the holding zone covering (from zone, to
zone/unit, category, purpose, now; a guardian's only before the client's 18th
birthday) →
an emergency grant for the document's domain, of a unit and into a domain both
permitted → deny. Where these deny a read of a document, a disclosure that lists it for the caller's unit
still opens it (OSL 25:12, 26:9): no relation needed, a block does not undo it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from .consents import came_of_age, is_confirmed, status
from .decision import Basis, Decision, Reason, allow, deny
from .model import ALL_CATEGORIES, BlockLifting, Consent, Disclosure, EmergencyGrant, Principal, Role, Zone
from .roles import Permission, role_gate

DEFAULT_PURPOSE = "care"


@dataclass(frozen=True, slots=True)
class Request:
    """Who asks for what, and why (the Brygga-Purpose header)."""

    principal: Principal
    permission: Permission
    purpose: str = DEFAULT_PURPOSE


@dataclass(frozen=True, slots=True)
class DocumentFacts:
    """What a decision needs to know about one document."""

    unit: str
    zone: Zone
    category: str
    blocked: bool
    created_by: str
    shredded: bool = False
    id: str | None = None  # what a disclosure names (None: a document not yet stored, a candidate probe)


@dataclass(frozen=True, slots=True)
class Facts:
    """What storage loaded about the client (and document), in one round trip."""

    client_exists: bool
    caller_relation_active: bool
    document: DocumentFacts | None = None
    now: datetime | None = None
    consents: tuple[Consent, ...] = ()  # the client's consents toward the caller's zone
    emergency_grants: tuple[EmergencyGrant, ...] = ()  # the caller's grants for this client
    # When a guardian's consents stop opening (the 18th birthday, policies.consents.came_of_age); None: not loaded,
    # and then no guardian's consent opens anything.
    client_birth_date: date | None = None
    disclosures: tuple[Disclosure, ...] = ()  # those made to the caller's unit for this client
    block_liftings: tuple[BlockLifting, ...] = ()  # the caller's unit's liftings of the client's blocks


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """Configuration of the rules: where emergency access may open (default: health only)."""

    emergency_domains: frozenset[str] = field(default_factory=lambda: frozenset({"health"}))


DEFAULT_CONFIG = PolicyConfig()
# Opening a relation is how a unit comes to take part; it cannot need one first.
_NEEDS_NO_RELATION = frozenset({Permission.RELATION_OPEN})
_CLIENT_WORK = frozenset({Role.STAFF, Role.UNIT_MANAGER})
# Acts on a document that only its owning unit may perform.
# A correction is the owning unit's too: the record is its record (PDL 3:14).
_OWNING_UNIT_ONLY = frozenset({Permission.DOCUMENT_BLOCK, Permission.DOCUMENT_CORRECT, Permission.DOCUMENT_RELEASE,
                               Permission.DOCUMENT_SHRED})
# What needs the content: gone once shredded (a correction takes the content as it is when only the title changes).
_NEEDS_CONTENT = frozenset({Permission.DOCUMENT_CORRECT, Permission.DOCUMENT_READ_CONTENT})
# SIP (coordinated individual plan) crosses only under a consent naming it, for coordination (SoL 2:7; HSL 16:4).
_SIP = "sip"
_SIP_PURPOSE = "coordination"
_OWN_ZONE = allow(Basis.OWN_ZONE, legal_basis="PDL 4:1; OSL 25:1, 26:1")  # immutable, so shared
# Emergency access is health care's road: the emergency rule of coherent records (Lag (2022:913); PDL) and
# necessity (BrB 24:4). Social services have no such rule, so by default their units open none.
_EMERGENCY_LAW = "BrB 24:4; Lag (2022:913)"
_EMERGENCY_NOT_PERMITTED = deny(Reason.EMERGENCY_NOT_PERMITTED, legal_basis=_EMERGENCY_LAW)
# A disclosure without consent opens reading what it lists, nothing else (OSL 25:12, 26:9).
_DISCLOSURE_LAW = "OSL 25:12, 26:9"
_DISCLOSED_READS = frozenset({Permission.DOCUMENT_READ_METADATA, Permission.DOCUMENT_READ_CONTENT})


# The reasons the consent test across zones (_across_zones) denies with: the only decisions whose reasons
# consents not in force can add to (policies.consents.in_force).
_ACROSS_ZONES_REASONS = frozenset({
    Reason.NO_CONSENT, Reason.UNIT_NOT_COVERED, Reason.CONSENT_REVOKED, Reason.CAME_OF_AGE, Reason.CONSENT_PENDING,
    Reason.CONSENT_EXPIRED, Reason.CONSENT_UNCONFIRMED, Reason.CATEGORY_NOT_COVERED, Reason.PURPOSE_NOT_COVERED,
    Reason.EMERGENCY_DOMAIN_NOT_COVERED, Reason.EMERGENCY_NOT_PERMITTED,
})


def needs_consent_history(decision: Decision) -> bool:
    """Whether a decision made on the consents in force only (policies.consents.in_force) is a denial of the
    consent test, whose reasons the revoked, pending and expired consents add to: decided again on the whole
    history, it gets the same reasons as ever (and the same refusal). An allowed decision never changes: a
    consent not in force opens nothing."""
    return not decision and not _ACROSS_ZONES_REASONS.isdisjoint(decision.reason_codes)


def decide_unknown_document(request: Request) -> Decision:
    """For a document id that does not exist: the role gate still comes first."""
    gate = role_gate(request.principal.roles, request.permission)
    return gate if not gate else deny(Reason.UNKNOWN_DOCUMENT)


def decide_unknown_consent(request: Request) -> Decision:
    """For a consent id that does not exist: the role gate still comes first, then a 404 like not_party's.

    Existence is not revealed: which consents a client has, and between which zones, is itself secret
    between the zones (OSL 25:1, 26:1).
    """
    gate = role_gate(request.principal.roles, request.permission)
    return gate if not gate else deny(Reason.UNKNOWN_CONSENT, legal_basis="OSL 25:1, 26:1")


def may_open_emergency(principal: Principal, config: PolicyConfig = DEFAULT_CONFIG) -> bool:
    """Whether the principal's unit is of a domain whose units may open emergency access at all."""
    return principal.zone is not None and principal.zone.domain in config.emergency_domains


def decide(request: Request, facts: Facts, config: PolicyConfig = DEFAULT_CONFIG) -> Decision:
    """The decision for `request` given `facts`; falsy when denied, with reason codes."""
    who, document = request.principal, facts.document
    gate = role_gate(who.roles, request.permission)
    if not gate:
        return gate
    if who.unit is None or who.zone is None:
        return deny(Reason.NO_UNIT, legal_basis="PDL 4:1")
    # Like a role: a unit of a domain not permitted may never open emergency access, whoever the client is.
    if request.permission is Permission.EMERGENCY_OPEN and not may_open_emergency(who, config):
        return _EMERGENCY_NOT_PERMITTED
    # Existence is not revealed: an unknown client and one without relation both read as 404.
    if not facts.client_exists:
        return deny(Reason.UNKNOWN_CLIENT, legal_basis="PDL 4:1")
    decision = _by_the_roads(request, facts, config)
    if decision or document is None or request.permission not in _DISCLOSED_READS or who.roles.isdisjoint(_CLIENT_WORK):
        return decision
    # What the holding unit disclosed to the caller's unit it reads, whatever else denies (OSL 25:12, 26:9).
    disclosure = disclosed(who, document, facts.disclosures)
    if disclosure is None:
        return decision
    if request.permission in _NEEDS_CONTENT and document.shredded:
        return deny(Reason.SHREDDED)
    return allow(f"disclosure:{disclosure.id}", legal_basis=_DISCLOSURE_LAW)


def disclosed(who: Principal, document: DocumentFacts, disclosures: tuple[Disclosure, ...]) -> Disclosure | None:
    """The disclosure (the first by id) that hands `document` to the caller's unit, or None.

    Only one that lists the document, names the caller's unit (in the zone it was made to), comes from the zone
    that holds the document, and crosses between the domains: within a domain this is not the road.
    """
    found = [d for d in disclosures
             if document.id is not None and document.id in d.document_ids and d.to_unit == who.unit
             and d.to_zone == who.zone and d.from_zone == document.zone and d.from_zone.domain != d.to_zone.domain]
    return min(found, key=lambda d: d.id) if found else None


def _by_the_roads(request: Request, facts: Facts, config: PolicyConfig) -> Decision:
    """decide() once the caller, its unit and the client are known: relation, block, zone, consent, emergency."""
    who, document = request.principal, facts.document
    if request.permission in _NEEDS_NO_RELATION:
        return allow(Basis.ROLE, legal_basis="PDL 4:1")
    # A clinic system reads back the metadata of what it uploaded itself (API.md "Roles").
    if (document is not None and request.permission is Permission.DOCUMENT_READ_METADATA
            and Role.SYSTEM in who.roles and document.created_by == who.sub and document.unit == who.unit):
        return allow(Basis.UPLOADER, legal_basis="PDL 4:1")
    if document is not None and who.roles.isdisjoint(_CLIENT_WORK):
        return deny(Reason.NOT_UPLOADER, legal_basis="PDL 4:1")  # a system sees only its own uploads
    # Only those who take part in the client's care or case may read (PDL 4:1), in the own zone too.
    if not facts.caller_relation_active:
        return deny(Reason.NO_RELATION, legal_basis="PDL 4:1")
    if document is None:
        return _OWN_ZONE
    # The client's block (spärr) holds everywhere outside the owning unit, consent and emergency notwithstanding,
    # unless a lifting the client agreed to (or, in health care, an emergency) runs for the caller; then every
    # other rule still applies, and the read says the lifting let it past.
    lifting = None
    if document.blocked and document.unit != who.unit:
        lifting = running_lifting(who, facts)
        if lifting is None:
            return deny(Reason.BLOCKED, legal_basis="PDL 4:4")
    decision = _past_the_block(request, facts, document, config)
    if lifting is None or not decision:
        return decision
    return Decision(True, decision.basis, (*decision.reason_codes, Reason.BLOCK_LIFTED),
                    f"{decision.legal_basis}; PDL 4:4", decision.flagged or lifting.basis == "emergency")


def running_lifting(who: Principal, facts: Facts) -> BlockLifting | None:
    """The lifting of the client's blocks that runs for the caller now (the first by id), or None: one of the
    caller's unit, for the caller alone or the whole unit, opened and neither expired nor ended."""
    now = facts.now
    if now is None:
        return None
    running = [lifting for lifting in facts.block_liftings
               if lifting.unit == who.unit and (lifting.scope == "unit" or lifting.sub == who.sub)
               and lifting.opened_at <= now < lifting.expires_at
               and (lifting.ended_at is None or lifting.ended_at > now)]
    return min(running, key=lambda lifting: lifting.id) if running else None


def _past_the_block(request: Request, facts: Facts, document: DocumentFacts, config: PolicyConfig) -> Decision:
    """decide() for a document the block does not hide from the caller: zone, consent, emergency, owning unit."""
    who = request.principal
    if document.zone == who.zone:
        decision = _OWN_ZONE
    else:
        # Secrecy holds between zones, even under one roof (OSL 8:2, 25:1, 26:1): only the client opens it.
        decision = _across_zones(request, facts, document, config)
        if not decision:
            return decision
    if request.permission in _OWNING_UNIT_ONLY and document.unit != who.unit:
        return deny(Reason.NOT_OWNING_UNIT, legal_basis="PDL 4:1")
    if request.permission in _NEEDS_CONTENT and document.shredded:
        return deny(Reason.SHREDDED)
    return decision


def decide_emergency_open(request: Request, facts: Facts, *, domain: str, grant_id: str,
                          config: PolicyConfig = DEFAULT_CONFIG) -> Decision:
    """Whether `request` may open emergency grant `grant_id` to the client's records of `domain`.

    The rules of decide() first (role, the caller's unit of a permitted domain, the client, a relation);
    then `domain` must be one emergency access may open. Allowed, the decision names the grant and is
    flagged, so review starts from the audit log. Raises ValueError for another permission.
    """
    if request.permission is not Permission.EMERGENCY_OPEN:
        raise ValueError(f"decide_emergency_open decides {Permission.EMERGENCY_OPEN}, not {request.permission}")
    decision = decide(request, facts, config)
    if not decision:
        return decision
    if domain not in config.emergency_domains:
        return deny(Reason.EMERGENCY_DOMAIN_NOT_PERMITTED, legal_basis=_EMERGENCY_LAW)
    return allow(f"emergency:{grant_id}", legal_basis=_EMERGENCY_LAW, flagged=True)


def decide_consent(request: Request, facts: Facts, consent: Consent, config: PolicyConfig = DEFAULT_CONFIG) -> Decision:
    """A decision on one consent (read, revoke, confirm) of the client `facts` describe.

    The rules of decide() first (role, client, relation); then the caller's zone must be one the consent
    names (the zones holding and receiving a client's records are themselves sensitive: others get
    not_party, a 404). Confirming is the holding (from) zone's alone (not_holding_zone): secrecy is its
    to lift, with the client (OSL 12:2; 25:1, 26:1); a revoked or expired consent cannot be confirmed.
    Confirming a confirmed one changes nothing and is allowed.
    """
    decision = decide(request, facts, config)
    if not decision:
        return decision
    who = request.principal
    if who.zone not in (consent.from_zone, consent.to_zone):
        return deny(Reason.NOT_PARTY, legal_basis="OSL 25:1, 26:1")
    if request.permission is Permission.CONSENT_CONFIRM:
        if who.zone != consent.from_zone:
            return deny(Reason.NOT_HOLDING_ZONE, legal_basis="OSL 12:2; 25:1, 26:1")
        if facts.now is None:
            return deny(Reason.NO_CONSENT)  # without a clock nothing can be shown to be in force
        now_status = status(consent, now=facts.now, birth_date=facts.client_birth_date)
        if now_status == "revoked":
            return deny(Reason.CONSENT_REVOKED, legal_basis="OSL 12:2")
        if now_status == "expired":
            return deny(Reason.CONSENT_EXPIRED, legal_basis="OSL 12:2")
    return decision


def covers(consent: Consent, *, document: DocumentFacts, principal: Principal, purpose: str, now: datetime,
           birth_date: date | None) -> Reason | None:
    """None when `consent` opens `document` to `principal` for `purpose` at `now`, else why not.

    `birth_date`: the client's. A guardian's consent opens nothing from the client's 18th birthday on
    (came_of_age: FB 6:2, OSL 12:3), said before pending or expired: it will never open again.
    """
    if consent.to_unit is not None and consent.to_unit != principal.unit:
        return Reason.UNIT_NOT_COVERED
    if consent.revoked_at is not None and consent.revoked_at <= now:
        return Reason.CONSENT_REVOKED
    if came_of_age(consent, now=now, birth_date=birth_date):
        return Reason.CAME_OF_AGE
    if now < consent.valid_from:
        return Reason.CONSENT_PENDING
    if now >= consent.valid_until:
        return Reason.CONSENT_EXPIRED
    # Recorded by the receiving zone: it opens nothing until the zone holding the records confirms it.
    if not is_confirmed(consent, now=now):
        return Reason.CONSENT_UNCONFIRMED
    if document.category == _SIP:
        if _SIP not in consent.categories:
            return Reason.CATEGORY_NOT_COVERED
        if purpose != _SIP_PURPOSE or _SIP_PURPOSE not in consent.purposes:
            return Reason.PURPOSE_NOT_COVERED
    elif document.category not in consent.categories and ALL_CATEGORIES not in consent.categories:
        return Reason.CATEGORY_NOT_COVERED
    if purpose not in consent.purposes:
        return Reason.PURPOSE_NOT_COVERED
    return None


def _across_zones(request: Request, facts: Facts, document: DocumentFacts, config: PolicyConfig) -> Decision:
    who, now = request.principal, facts.now
    if now is None:
        return deny(Reason.NO_CONSENT)  # without a clock nothing can be shown to be in force
    reasons: set[Reason] = set()
    covering: list[Consent] = []
    for consent in facts.consents:
        if consent.from_zone != document.zone or consent.to_zone != who.zone:
            continue
        why_not = covers(consent, document=document, principal=who, purpose=request.purpose, now=now,
                         birth_date=facts.client_birth_date)
        if why_not is None:
            covering.append(consent)
        else:
            reasons.add(why_not)
    if covering:
        chosen = min(covering, key=lambda consent: consent.id)
        return allow(f"consent:{chosen.id}", legal_basis="OSL 12:2")
    # Emergency (necessity): reasoned, time-boxed, flagged for review. A grant opens the domain it was opened
    # for and no other, and only while the policy permits both that domain and the holder's unit's domain.
    for grant in sorted(facts.emergency_grants, key=lambda grant: grant.id):
        if grant.sub == who.sub and grant.unit == who.unit and grant.opened_at <= now < grant.expires_at:
            if grant.domain != document.zone.domain:
                reasons.add(Reason.EMERGENCY_DOMAIN_NOT_COVERED)
            elif document.zone.domain in config.emergency_domains and may_open_emergency(who, config):
                return allow(f"emergency:{grant.id}", legal_basis=_EMERGENCY_LAW, flagged=True)
            else:
                reasons.add(Reason.EMERGENCY_NOT_PERMITTED)
    return deny(*sorted(reasons or {Reason.NO_CONSENT}), legal_basis="OSL 25:1, 26:1, 8:2")
