"""Property-based tests of decide(): a reference written from the rules, and invariants.

The reference below (`reference`) is written from the specification of the access
rules (role gate → unit → opening emergency access only from a unit of a permitted
domain → client → relations:open → uploader → not uploader → relation → no document
→ block → zone / consent (in force, confirmed by the holding zone, covering) /
emergency (the grant's own domain) → owning unit → shredded), independently of
policies/decide.py; the first property checks that the two agree on every generated
world. The invariants after it are phrased directly on the world, without the reference.
Opening emergency access and the decisions on one consent (read, revoke, confirm)
have small references of their own at the end.

A guardian's consent ends when the client turns 18 (#14, FB 6:2): at the start of the
18th birthday in Swedish time, Europe/Stockholm (the boundary chosen: where ages are
reckoned, personal_number.age_on). The reference computes that instant its own way
(`_adult_from`) and the worlds put it exactly on now, a microsecond either side, and on
days when the clocks change (coming_of_age_worlds).
"""
from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from policies.candidates import candidates
from policies.consents import in_force
from policies.decide import (
    DocumentFacts,
    Facts,
    PolicyConfig,
    Request,
    decide,
    decide_consent,
    decide_emergency_open,
    needs_consent_history,
)
from policies.decision import Reason
from policies.model import BlockLifting, Consent, Disclosure, EmergencyGrant, Principal, Role, Zone
from policies.roles import ROLE_PERMISSIONS, Permission

# ---------------------------------------------------------------------------------------------
# The vocabulary of the rules
# ---------------------------------------------------------------------------------------------

CATEGORIES = ("journal_note", "assessment", "screening", "treatment_plan", "sip",
              "decision", "referral", "consent_form", "other")
PURPOSES = ("care", "case_handling", "coordination", "followup")
DOMAINS = ("social", "health")
ORGANISATIONS = ("malmo", "lund", "region-skane")
SUBS = ("anna", "bertil", "clinic-system")
WILDCARD = "*"

BASE = datetime(2025, 3, 30, 1, 30, tzinfo=UTC)  # around the switch to summer time, for fun
# The same instants written in other offsets: comparisons must be on instants, not wall clocks.
TIMEZONES = (UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=2)), timezone(timedelta(hours=-5)))
# Birth dates: an adult, a child, and one who turns 18 within the worlds' hours around BASE (at 2025-03-30 00:00
# in Stockholm, 2025-03-29T23:00Z) or the day after; on 29 February; on days the clocks change (for
# coming_of_age_worlds, which move now to the 18th birthday).
BIRTHS = (date(1990, 1, 1), date(2015, 6, 1), date(2007, 3, 30), date(2007, 3, 31))
BIRTHDAYS = (date(2007, 3, 30), date(2007, 10, 26), date(2008, 2, 29), date(2006, 12, 31), date(2008, 3, 1))
# Offsets from `now`, dense around the boundaries (valid_from <= now < valid_until, revoked_at <= now).
OFFSETS = tuple(timedelta(seconds=s) for s in (-30 * 86400, -3600, -1, 0, 1, 3600, 30 * 86400)) + (
    timedelta(microseconds=-1), timedelta(microseconds=1))

# Around 3000 worlds for the reference, fewer for each invariant: the whole file runs in about 20 s.
EXAMPLES = {"reference": 3000, "cross_zone_reference": 400, "emergency_open": 400, "on_consent": 400,
            "across_zones": 800, "dead_consents": 500, "blocked": 500, "roles": 300, "revocation": 600, "pure": 300,
            "coming_of_age": 500}


# Derandomized, so a failure in CI is the same failure on a developer's machine; BRYGGA_HYPOTHESIS_RANDOM=1
# explores new worlds (and prints the seed to replay a failure with).
DERANDOMIZE = os.environ.get("BRYGGA_HYPOTHESIS_RANDOM") != "1"


def _settings(n: int):
    # database=None: write no .hypothesis directory into the work tree.
    return settings(max_examples=n, deadline=None, database=None, derandomize=DERANDOMIZE,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@dataclass(frozen=True)
class World:
    request: Request
    facts: Facts
    config: PolicyConfig
    units: tuple[tuple[str, Zone], ...]  # every unit of the world and its zone

    def decide(self):
        return decide(self.request, self.facts, self.config)

    @property
    def who(self) -> Principal:
        return self.request.principal

    @property
    def document(self) -> DocumentFacts | None:
        return self.facts.document

    def with_consents(self, consents) -> World:
        return replace(self, facts=replace(self.facts, consents=tuple(consents)))


# ---------------------------------------------------------------------------------------------
# The reference: the rules as written, one after the other
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    allowed: bool
    basis: str
    reasons: tuple[str, ...] | None  # None: the specification does not say which
    flagged: bool = False


def _granted(basis: str, flagged: bool = False) -> Outcome:
    return Outcome(True, basis, (), flagged)


def _refused(*reasons: str) -> Outcome:
    return Outcome(False, "none", tuple(reasons))


STOCKHOLM = ZoneInfo("Europe/Stockholm")


def _adult_from(born: date) -> datetime:
    """The first instant of the day the client is 18: the same day of the month 18 years on, counted from the 1st
    of that month (so 29 February falls on 1 March in a year without one), at midnight in Stockholm."""
    day = date(born.year + 18, born.month, 1) + timedelta(days=born.day - 1)
    return datetime(day.year, day.month, day.day, tzinfo=STOCKHOLM)


def _came_of_age(consent: Consent, now: datetime, born: date | None) -> bool:
    """A guardian's consent opens nothing from the client's 18th birthday on (nor when the birth date is unknown),
    unless its period had ended before that (then it simply expired)."""
    if consent.given_by != "guardian":
        return False
    return born is None or (_adult_from(born) <= now and not consent.valid_until < _adult_from(born))


def _in_force(consent: Consent, now: datetime, born: date | None = None) -> str | None:
    """Why `consent` is not in force at `now` (time only), in the order of the rules."""
    if consent.revoked_at is not None and not consent.revoked_at > now:
        return "consent_revoked"
    if _came_of_age(consent, now, born):
        return "came_of_age"
    if not consent.valid_from <= now:
        return "consent_pending"
    if not now < consent.valid_until:
        return "consent_expired"
    return None


def _content_failure(consent: Consent, category: str, purpose: str) -> str | None:
    """Why `consent` does not cover `category` for `purpose` (content only)."""
    if category == "sip":  # SIP: named explicitly, for coordination only; "*" does not reach it
        if "sip" not in consent.categories:
            return "category_not_covered"
        if not (purpose == "coordination" and "coordination" in consent.purposes):
            return "purpose_not_covered"
        return None
    if not (category in consent.categories or WILDCARD in consent.categories):
        return "category_not_covered"
    if purpose not in consent.purposes:
        return "purpose_not_covered"
    return None


def _unconfirmed(consent: Consent, now: datetime) -> str | None:
    """A consent the receiving zone recorded counts only from the holding zone's confirmation on."""
    return None if consent.confirmed_at is not None and not consent.confirmed_at > now else "consent_unconfirmed"


def _first_failure(consent: Consent, who: Principal, category: str, purpose: str, now: datetime,
                   born: date | None) -> str | None:
    if not (consent.to_unit is None or consent.to_unit == who.unit):
        return "unit_not_covered"
    return _in_force(consent, now, born) or _unconfirmed(consent, now) or _content_failure(consent, category, purpose)


def _grant_active(grant: EmergencyGrant, who: Principal, now: datetime) -> bool:
    return grant.sub == who.sub and grant.unit == who.unit and grant.opened_at <= now < grant.expires_at


def _visibility(request: Request, facts: Facts, config: PolicyConfig) -> Outcome:
    """Rule 10: whether the document is visible to the caller at all, and on what basis."""
    who, doc, now = request.principal, facts.document, facts.now
    if doc.zone == who.zone:
        return _granted("own_zone")
    if now is None:
        return Outcome(False, "none", None)
    between = [c for c in facts.consents if c.from_zone == doc.zone and c.to_zone == who.zone]
    failures = {c.id: _first_failure(c, who, doc.category, request.purpose, now, facts.client_birth_date)
                for c in between}
    opening = sorted(cid for cid, failure in failures.items() if failure is None)
    if opening:
        return _granted(f"consent:{opening[0]}")
    # A grant opens the domain it was opened for, and only while both that domain and the holder's own
    # domain are ones the configuration lets emergency access reach and open.
    active = [g for g in facts.emergency_grants if _grant_active(g, who, now)]
    for_this_domain = sorted(g.id for g in active if g.domain == doc.zone.domain)
    permitted = {doc.zone.domain, who.zone.domain} <= config.emergency_domains
    if for_this_domain and permitted:
        return _granted(f"emergency:{for_this_domain[0]}", flagged=True)
    why = {failure for failure in failures.values() if failure is not None}
    if len(for_this_domain) < len(active):
        why.add("emergency_domain_not_covered")
    if for_this_domain and not permitted:
        why.add("emergency_not_permitted")
    return _refused(*sorted(why)) if why else _refused("no_consent")


def reference(request: Request, facts: Facts, config: PolicyConfig) -> Outcome:
    who, doc, permission = request.principal, facts.document, request.permission
    if not any(role in ROLE_PERMISSIONS[permission] for role in who.roles):
        return _refused("forbidden_role")
    if who.unit is None or who.zone is None:
        return _refused("no_unit")
    if permission == Permission.EMERGENCY_OPEN and who.zone.domain not in config.emergency_domains:
        return _refused("emergency_not_permitted")  # health care's road: other units never open it
    if not facts.client_exists:
        return _refused("unknown_client")
    if permission == Permission.RELATION_OPEN:
        return _granted("role")
    if (doc is not None and permission == Permission.DOCUMENT_READ_METADATA and Role.SYSTEM in who.roles
            and doc.created_by == who.sub and doc.unit == who.unit):
        return _granted("uploader")
    if doc is not None and Role.STAFF not in who.roles and Role.UNIT_MANAGER not in who.roles:
        return _refused("not_uploader")
    if not facts.caller_relation_active:
        return _refused("no_relation")
    if doc is None:
        return _granted("own_zone")
    if doc.blocked and doc.unit != who.unit:
        return _refused("blocked")
    visible = _visibility(request, facts, config)
    if not visible.allowed:
        return visible
    # The owning unit alone shreds, blocks, corrects, and releases to the client (API-1.1).
    if permission in (Permission.DOCUMENT_SHRED, Permission.DOCUMENT_BLOCK, Permission.DOCUMENT_RELEASE,
                      Permission.DOCUMENT_CORRECT) and doc.unit != who.unit:
        return _refused("not_owning_unit")
    if permission in (Permission.DOCUMENT_READ_CONTENT, Permission.DOCUMENT_CORRECT) and doc.shredded:
        return _refused("shredded")
    return visible


def reference_emergency_open(request: Request, facts: Facts, config: PolicyConfig, domain: str, grant_id: str) -> Outcome:
    """Opening a grant: everything the reference asks of the request, then the domain asked for must be permitted."""
    general = reference(request, facts, config)
    if not general.allowed:
        return general
    if domain not in config.emergency_domains:
        return _refused("emergency_domain_not_permitted")
    return _granted(f"emergency:{grant_id}", flagged=True)


# ---------------------------------------------------------------------------------------------
# Random worlds
# ---------------------------------------------------------------------------------------------

# Strategies are built once: building them per draw costs more than drawing.
_PERCENT = st.integers(0, 99)
_INDEX = st.integers(0, 2**16 - 1)
_MASK = st.integers(0, 2**10 - 1)
# An instant relative to now, written in one of the offsets (one draw for both).
_INSTANT = st.sampled_from([(offset, tz) for offset in OFFSETS for tz in TIMEZONES])
_NOW = st.tuples(st.integers(-600, 600), st.sampled_from(TIMEZONES))


def _chance(draw, percent: int) -> bool:
    return draw(_PERCENT) < percent


def _pick(draw, items):
    """One of `items` (shrinks toward the first)."""
    items = tuple(items)
    return items[draw(_INDEX) % len(items)]


def _subset(draw, items) -> frozenset:
    """A subset of `items`, as a bit mask (shrinks toward the empty set)."""
    mask = draw(_MASK)
    return frozenset(item for i, item in enumerate(items) if mask >> i & 1)


def _instant(draw, now: datetime) -> datetime:
    offset, tz = draw(_INSTANT)
    return (now + offset).astimezone(tz)


_IDS = {n: st.lists(st.integers(1, 30), min_size=n, max_size=n, unique=True) for n in range(6)}


def _ids(draw, prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in draw(_IDS[n])]


@st.composite
def worlds(draw) -> World:
    organisations = ORGANISATIONS[:2] if _chance(draw, 70) else ORGANISATIONS
    zones = [Zone(o, d) for o in organisations for d in DOMAINS]
    units = tuple((f"{z.organisation}-{z.domain}-{i}", z) for z in zones for i in range(1 + draw(_INDEX) % 4))
    units_of = {z: [u for u, uz in units if uz == z] for z in zones}
    all_units = [u for u, _ in units]

    # The caller.
    roles = _subset(draw, list(Role))
    if _chance(draw, 50):
        roles |= {_pick(draw, [Role.STAFF, Role.UNIT_MANAGER])}
    sub = _pick(draw, SUBS)
    unit, zone = None, None
    if not _chance(draw, 8):
        unit, zone = _pick(draw, units)
    shape = draw(_PERCENT)
    if shape == 1:  # a unit, but no zone
        zone = None
    elif shape == 2:  # a zone, but no unit
        unit, zone = None, _pick(draw, zones)
    who = Principal(sub, None, roles, unit, zone)

    minutes, tz = draw(_NOW)
    now = (BASE + timedelta(minutes=minutes)).astimezone(tz)

    # The document.
    document = None
    if not _chance(draw, 15):
        dzone = zone if zone is not None and _chance(draw, 40) else _pick(draw, zones)
        dunit = unit if dzone == zone and unit is not None and _chance(draw, 50) else _pick(draw, units_of[dzone])
        document = DocumentFacts(
            unit=dunit, zone=dzone, category=_pick(draw, CATEGORIES),
            blocked=_chance(draw, 25), created_by=_pick(draw, SUBS), shredded=_chance(draw, 20))

    purpose = _pick(draw, PURPOSES)

    # The client's consents, most of them from the document's zone to the caller's zone.
    consents = []
    for cid in _ids(draw, "c", draw(_INDEX) % 5):
        from_zone = document.zone if document is not None and _chance(draw, 75) else _pick(draw, zones)
        to_zone = zone if zone is not None and _chance(draw, 75) else _pick(draw, zones)
        to_unit = _pick(draw, [None, None, unit, *units_of[to_zone], *all_units])
        kind = draw(_INDEX) % 4
        if kind == 0:
            categories = frozenset({WILDCARD})
        else:
            categories = _subset(draw, (WILDCARD,) + CATEGORIES)
            if kind == 2 and document is not None:
                categories |= {document.category}
            if _chance(draw, 25):
                categories |= {"sip"}
        purposes = _subset(draw, PURPOSES)
        if _chance(draw, 50):
            purposes |= {purpose}
        valid_from = _instant(draw, now)
        valid_until = _instant(draw, now) if _chance(draw, 40) else valid_from + timedelta(days=365)
        revoked_at = None if _chance(draw, 60) else _instant(draw, now)
        # Mostly confirmed (at recording, or later by the holding zone: perhaps after now); sometimes still waiting.
        confirmed_at = None if _chance(draw, 20) else _instant(draw, now)
        given_by = "guardian" if _chance(draw, 30) else "client"
        consents.append(Consent(cid, from_zone, to_zone, to_unit, categories, purposes, valid_from, valid_until, revoked_at,
                                confirmed_at, given_by))

    # Emergency grants: the caller's (in its unit or another), or someone else's; active or not.
    grants = []
    for gid in _ids(draw, "e", draw(_INDEX) % 4):
        gsub = sub if _chance(draw, 75) else _pick(draw, SUBS)
        gunit = unit if unit is not None and _chance(draw, 75) else _pick(draw, all_units)
        gdomain = document.zone.domain if document is not None and _chance(draw, 60) else _pick(draw, DOMAINS)
        grants.append(EmergencyGrant(gid, gsub, gunit, _instant(draw, now), _instant(draw, now), gdomain))

    facts = Facts(
        client_exists=not _chance(draw, 8),
        caller_relation_active=not _chance(draw, 12),
        document=document,
        now=None if _chance(draw, 4) else now,
        consents=tuple(consents),
        emergency_grants=tuple(grants),
        client_birth_date=None if _chance(draw, 5) else _pick(draw, BIRTHS),
    )
    permission = _pick(draw, Permission)
    if document is not None and _chance(draw, 50):  # most permissions are not about one document
        permission = _pick(draw, [Permission.DOCUMENT_READ_CONTENT, Permission.DOCUMENT_READ_METADATA,
                                  Permission.DOCUMENT_BLOCK, Permission.DOCUMENT_SHRED,
                                  Permission.DOCUMENT_CORRECT])
    config = PolicyConfig(_subset(draw, DOMAINS))
    return World(Request(who, permission, purpose), facts, config, units)


@st.composite
def cross_zone_reads(draw) -> World:
    """A staff member who may read, with a relation, asking for an unblocked document of another zone,
    and (besides the random ones) a consent written to cover it at now."""
    world = draw(worlds())
    if world.who.unit is None or world.who.zone is None:
        unit, zone = _pick(draw, world.units)
    else:
        unit, zone = world.who.unit, world.who.zone
    who = replace(world.who, unit=unit, zone=zone, roles=world.who.roles | {Role.STAFF})
    other_unit, other_zone = _pick(draw, [(u, z) for u, z in world.units if z != zone])
    category = _pick(draw, CATEGORIES)
    document = DocumentFacts(unit=other_unit, zone=other_zone, category=category, blocked=False,
                             created_by=_pick(draw, SUBS), shredded=False)
    now = world.facts.now or BASE
    purpose = "coordination" if category == "sip" else world.request.purpose
    taken = {c.id for c in world.facts.consents}
    cid = _pick(draw, [i for i in ("c0", "c5", "c99", "c100", "c2") if i not in taken])
    covering = Consent(
        cid, other_zone, zone, _pick(draw, [None, unit]),
        frozenset({category} if category == "sip" or _chance(draw, 50) else {WILDCARD}),
        frozenset({purpose}) | _subset(draw, PURPOSES),
        now - _pick(draw, [timedelta(0), timedelta(days=1)]),
        now + _pick(draw, [timedelta(microseconds=1), timedelta(days=1)]),
        _pick(draw, [None, now + timedelta(microseconds=1), now + timedelta(days=2)]),
        now - _pick(draw, [timedelta(0), timedelta(days=2)]))
    consents = list(world.facts.consents)
    consents.insert(draw(_INDEX) % (len(consents) + 1), covering)
    permission = _pick(draw, [Permission.DOCUMENT_READ_CONTENT, Permission.DOCUMENT_READ_METADATA])
    facts = replace(world.facts, client_exists=True, caller_relation_active=True, document=document, now=now,
                    consents=tuple(consents))
    return replace(world, request=Request(who, permission, purpose), facts=facts)


# ---------------------------------------------------------------------------------------------
# Property 1: decide() agrees with the reference
# ---------------------------------------------------------------------------------------------

def _agree(world: World) -> None:
    got = world.decide()
    want = reference(world.request, world.facts, world.config)
    event(f"{'allow' if want.allowed else 'deny'}: {want.basis.split(':')[0] if want.allowed else ','.join(want.reasons or ('?',))}")
    assert got.allowed is want.allowed, (got, want)
    assert str(got.basis) == want.basis, (got, want)
    assert got.flagged is want.flagged, (got, want)
    if want.reasons is None:  # no clock: denied, the reason is not specified
        assert got.reason_codes
    else:
        assert tuple(str(r) for r in got.reason_codes) == want.reasons, (got, want)


@_settings(EXAMPLES["reference"])
@given(worlds())
def test_decide_agrees_with_the_reference(world):
    _agree(world)


@_settings(EXAMPLES["cross_zone_reference"])
@given(cross_zone_reads())
def test_decide_agrees_with_the_reference_on_cross_zone_reads(world):
    _agree(world)


@_settings(EXAMPLES["emergency_open"])
@given(worlds(), st.sampled_from(DOMAINS + ("elderly_care",)))
def test_opening_emergency_access_agrees_with_the_reference(world, domain):
    request = replace(world.request, permission=Permission.EMERGENCY_OPEN)
    facts = replace(world.facts, document=None)  # a grant is opened on the client, not on one document
    got = decide_emergency_open(request, facts, domain=domain, grant_id="g1", config=world.config)
    want = reference_emergency_open(request, facts, world.config, domain, "g1")
    event(f"{'allow' if want.allowed else 'deny'}: {','.join(want.reasons or ())}")
    assert (got.allowed, str(got.basis), got.flagged, tuple(map(str, got.reason_codes))) == (
        want.allowed, want.basis, want.flagged, want.reasons), (got, want)


# ---------------------------------------------------------------------------------------------
# Invariants, phrased on the world directly
# ---------------------------------------------------------------------------------------------

def _opens_now(consent: Consent, world: World) -> bool:
    """The consent goes from the document's zone to the caller (zone, unit), is in force at now,
    and names the category (SIP: by name, for coordination) and the purpose."""
    who, doc, now, purpose = world.who, world.document, world.facts.now, world.request.purpose
    if now is None or consent.from_zone != doc.zone or consent.to_zone != who.zone:
        return False
    if consent.to_unit not in (None, who.unit):
        return False
    if consent.revoked_at is not None and consent.revoked_at <= now:
        return False
    if not consent.valid_from <= now < consent.valid_until:
        return False
    if consent.confirmed_at is None or consent.confirmed_at > now:  # the holding zone has not stood behind it
        return False
    if doc.category == "sip":
        return "sip" in consent.categories and purpose == "coordination" and "coordination" in consent.purposes
    return bool({doc.category, WILDCARD} & consent.categories) and purpose in consent.purposes


def _by_id(items, ident):
    found = [item for item in items if item.id == ident]
    assert len(found) == 1, (ident, items)
    return found[0]


@_settings(EXAMPLES["across_zones"])
@given(st.one_of(worlds(), cross_zone_reads()))
def test_never_across_zones_without_a_covering_consent_or_a_permitted_emergency(world):
    decision, who, doc = world.decide(), world.who, world.document
    assert decision.flagged == str(decision.basis).startswith("emergency:")
    if not decision or doc is None or doc.zone == who.zone:
        return
    if world.request.permission is Permission.RELATION_OPEN:
        # Opening a relation is decided on the role alone, before any document is looked at.
        assert decision.basis == "role"
        return
    kind, _, ident = str(decision.basis).partition(":")
    if kind == "consent":
        assert _opens_now(_by_id(world.facts.consents, ident), world)
        assert not decision.flagged
    elif kind == "emergency":
        grant = _by_id(world.facts.emergency_grants, ident)
        now = world.facts.now
        assert grant.sub == who.sub and grant.unit == who.unit
        assert now is not None and grant.opened_at <= now < grant.expires_at
        assert grant.domain == doc.zone.domain  # a grant opens its own domain, no other
        assert doc.zone.domain in world.config.emergency_domains
        assert who.zone.domain in world.config.emergency_domains  # held by a unit that may open one
        assert decision.flagged
    else:
        pytest.fail(f"allowed across zones on basis {decision.basis!r}")


@_settings(EXAMPLES["dead_consents"])
@given(st.one_of(worlds(), cross_zone_reads()))
def test_revoked_or_expired_consents_never_open(world):
    now = world.facts.now
    assume(now is not None)
    dead = [c for c in world.facts.consents
            if (c.revoked_at is not None and c.revoked_at <= now) or now >= c.valid_until]
    decision = world.with_consents(dead).decide()
    assert not str(decision.basis).startswith("consent:"), decision


@_settings(EXAMPLES["dead_consents"])
@given(st.one_of(worlds(), cross_zone_reads()))
def test_consents_the_holding_zone_has_not_confirmed_never_open(world):
    now = world.facts.now
    assume(now is not None)
    waiting = [c for c in world.facts.consents if c.confirmed_at is None or c.confirmed_at > now]
    decision = world.with_consents(waiting).decide()
    assert not str(decision.basis).startswith("consent:"), decision
    # Confirming them later changes nothing before the confirmation's instant.
    later = [replace(c, confirmed_at=now + timedelta(microseconds=1)) for c in world.facts.consents]
    assert not str(world.with_consents(later).decide().basis).startswith("consent:")


@st.composite
def worlds_with_a_blocked_document(draw) -> World:
    world = draw(st.one_of(worlds(), cross_zone_reads()))
    assume(world.document is not None)
    return replace(world, facts=replace(world.facts, document=replace(world.document, blocked=True)))


@_settings(EXAMPLES["blocked"])
@given(worlds_with_a_blocked_document())
def test_a_blocked_document_is_never_allowed_outside_its_owning_unit(world):
    assume(world.document.unit != world.who.unit)
    decision = world.decide()
    if world.request.permission is Permission.RELATION_OPEN:
        assert not decision or decision.basis == "role"  # no document is looked at
    else:
        assert not decision, decision


@_settings(EXAMPLES["roles"])
@given(worlds(), st.frozensets(st.sampled_from([Role.ADMIN, Role.AUDITOR, Role.SYSTEM])))
def test_installation_and_system_roles_never_read_content(world, roles):
    world = replace(world, request=Request(replace(world.who, roles=roles), Permission.DOCUMENT_READ_CONTENT,
                                           world.request.purpose))
    assert not world.decide()


@_settings(EXAMPLES["revocation"])
@given(st.one_of(cross_zone_reads(), worlds()), st.sampled_from(OFFSETS[:4] + (timedelta(microseconds=-1),)),
       st.sampled_from(TIMEZONES))
def test_revoking_the_consent_in_use_closes_it(world, earlier, tz):
    decision = world.decide()
    if not str(decision.basis).startswith("consent:"):
        return
    event("a consent was in use")
    ident = str(decision.basis).partition(":")[2]
    revoked_at = (world.facts.now + earlier).astimezone(tz)  # at now, or before
    consents = [replace(c, revoked_at=revoked_at) if c.id == ident else c for c in world.facts.consents]
    after = world.with_consents(consents).decide()
    assert after.basis != decision.basis, after


@_settings(EXAMPLES["pure"])
@given(st.one_of(worlds(), cross_zone_reads()))
def test_decide_is_deterministic_and_leaves_its_inputs_alone(world):
    before = copy.deepcopy((world.request, world.facts, world.config))
    first = world.decide()
    second = world.decide()
    assert first == second
    assert (world.request, world.facts, world.config) == before
    assert dataclasses.fields(first)  # a dataclass, compared field by field above


# ---------------------------------------------------------------------------------------------
# Hand-written examples
# ---------------------------------------------------------------------------------------------

SOCIAL = Zone("malmo", "social")
HEALTH = Zone("malmo", "health")
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _staff(unit: str = "vc-centrum", zone: Zone = HEALTH) -> Principal:
    return Principal("anna", "Anna", frozenset({Role.STAFF}), unit, zone)


def _document(category: str = "assessment", zone: Zone = SOCIAL, unit: str = "iof-norr") -> DocumentFacts:
    return DocumentFacts(unit=unit, zone=zone, category=category, blocked=False, created_by="bertil")


def _consent(cid: str = "c1", *, categories=("*",), purposes=("care",), to_unit=None, from_zone=SOCIAL,
             to_zone=HEALTH, valid_from=NOW - DAY, valid_until=NOW + DAY, revoked_at=None,
             confirmed_at=NOW - DAY) -> Consent:
    return Consent(cid, from_zone, to_zone, to_unit, frozenset(categories), frozenset(purposes),
                   valid_from, valid_until, revoked_at, confirmed_at)


def _read(document: DocumentFacts, *consents: Consent, purpose: str = "care", who: Principal | None = None,
          grants: tuple[EmergencyGrant, ...] = (), config: PolicyConfig | None = None):
    request = Request(who or _staff(), Permission.DOCUMENT_READ_CONTENT, purpose)
    facts = Facts(True, True, document, NOW, tuple(consents), grants)
    return decide(request, facts) if config is None else decide(request, facts, config)


def _codes(decision) -> tuple[str, ...]:
    return tuple(str(r) for r in decision.reason_codes)


def test_sip_crosses_only_when_named_and_for_coordination():
    sip = _document("sip")
    # The wildcard does not reach SIP, whatever the purpose.
    assert _codes(_read(sip, _consent(categories=("*",), purposes=PURPOSES), purpose="coordination")) == (
        "category_not_covered",)
    # Named, but asked for care: not for this purpose.
    assert _codes(_read(sip, _consent(categories=("sip",), purposes=PURPOSES), purpose="care")) == (
        "purpose_not_covered",)
    # Named, asked for coordination, but the consent does not list coordination.
    assert _codes(_read(sip, _consent(categories=("sip",), purposes=("care",)), purpose="coordination")) == (
        "purpose_not_covered",)
    decision = _read(sip, _consent("c7", categories=("sip",), purposes=("coordination",)), purpose="coordination")
    assert decision and decision.basis == "consent:c7" and not decision.flagged
    # The wildcard still opens the other categories.
    assert _read(_document("journal_note"), _consent(categories=("*",))).basis == "consent:c1"


def test_a_consent_to_one_unit_opens_only_that_unit():
    consent = _consent(to_unit="vc-centrum")
    assert _read(_document(), consent).basis == "consent:c1"
    assert _codes(_read(_document(), consent, who=_staff("vc-oster"))) == ("unit_not_covered",)
    assert _read(_document(), _consent(to_unit=None), who=_staff("vc-oster")).basis == "consent:c1"


def test_a_pending_consent_opens_at_valid_from_and_closes_at_valid_until():
    assert _codes(_read(_document(), _consent(valid_from=NOW + timedelta(microseconds=1)))) == ("consent_pending",)
    assert _read(_document(), _consent(valid_from=NOW)).basis == "consent:c1"
    assert _codes(_read(_document(), _consent(valid_until=NOW))) == ("consent_expired",)
    assert _codes(_read(_document(), _consent(revoked_at=NOW))) == ("consent_revoked",)
    # The smallest id among covering consents is named; the reasons of the others are sorted and unique.
    decision = _read(_document(), _consent("c2"), _consent("c1", valid_from=NOW + DAY), _consent("c3"))
    assert decision.basis == "consent:c2"
    denied = _read(_document(), _consent("c2", valid_from=NOW + DAY), _consent("c1", valid_until=NOW),
                   _consent("c3", valid_from=NOW + 2 * DAY))
    assert _codes(denied) == ("consent_expired", "consent_pending")


def test_emergency_opens_only_health_by_default():
    region = Zone("region-skane", "health")
    grant = EmergencyGrant("e1", "anna", "vc-centrum", NOW - timedelta(hours=1), NOW + timedelta(hours=1), "health")
    other_region_record = _document("journal_note", zone=region, unit="psykiatri")
    decision = _read(other_region_record, grants=(grant,))
    assert decision and decision.basis == "emergency:e1" and decision.flagged
    # A health professional's emergency grant does not open social services' documents by default.
    social_grant = replace(grant, domain="social")
    denied = _read(_document(), _consent(valid_until=NOW), grants=(social_grant,))
    assert not denied and _codes(denied) == ("consent_expired", "emergency_not_permitted")
    both = PolicyConfig(frozenset({"social", "health"}))
    opened = _read(_document(), grants=(social_grant,), config=both)
    assert opened.basis == "emergency:e1" and opened.flagged
    # A grant opens the domain it was opened for, and no other, whatever the configuration permits.
    assert _codes(_read(_document(), grants=(grant,), config=both)) == ("emergency_domain_not_covered",)
    # Someone else's grant, an expired one, or one from another unit of the caller: nothing to open.
    for other in (replace(grant, sub="bertil"), replace(grant, expires_at=NOW), replace(grant, unit="vc-oster")):
        assert _codes(_read(other_region_record, grants=(other,))) == ("no_consent",)
    # The block holds against the emergency too.
    blocked = replace(other_region_record, blocked=True)
    assert _codes(_read(blocked, grants=(grant,))) == ("blocked",)


def test_social_staff_neither_open_nor_use_emergency_access_by_default():
    social_worker = _staff("iof-norr", SOCIAL)
    facts = Facts(True, True, None, NOW)
    opening = decide_emergency_open(Request(social_worker, Permission.EMERGENCY_OPEN), facts, domain="health", grant_id="g")
    assert not opening and _codes(opening) == ("emergency_not_permitted",)
    # Decided on the unit alone, before the client: an unknown client gets the same answer.
    unknown = decide(Request(social_worker, Permission.EMERGENCY_OPEN), Facts(False, False))
    assert _codes(unknown) == ("emergency_not_permitted",)
    # A grant a social unit holds (opened before the rule, or before the configuration changed) opens nothing.
    grant = EmergencyGrant("e1", "anna", "iof-norr", NOW - timedelta(hours=1), NOW + timedelta(hours=1), "health")
    health_record = _document("journal_note", zone=HEALTH, unit="vc-centrum")
    assert _codes(_read(health_record, who=social_worker, grants=(grant,))) == ("emergency_not_permitted",)
    # Where the installation permits social services too, both work.
    both = PolicyConfig(frozenset({"social", "health"}))
    assert decide_emergency_open(Request(social_worker, Permission.EMERGENCY_OPEN), facts, domain="health",
                                 grant_id="g", config=both).basis == "emergency:g"
    assert _read(health_record, who=social_worker, grants=(grant,), config=both).basis == "emergency:e1"
    # A health unit may not open a domain the configuration does not name.
    nurse = _staff()
    refused = decide_emergency_open(Request(nurse, Permission.EMERGENCY_OPEN), facts, domain="social", grant_id="g")
    assert _codes(refused) == ("emergency_domain_not_permitted",)


def test_a_consent_opens_only_once_the_holding_zone_confirmed_it():
    assert _codes(_read(_document(), _consent(confirmed_at=None))) == ("consent_unconfirmed",)
    assert _codes(_read(_document(), _consent(confirmed_at=NOW + timedelta(microseconds=1)))) == ("consent_unconfirmed",)
    assert _read(_document(), _consent(confirmed_at=NOW)).basis == "consent:c1"
    # A revoked, pending or expired one says so first: confirming it would not help.
    assert _codes(_read(_document(), _consent(confirmed_at=None, revoked_at=NOW))) == ("consent_revoked",)
    assert _codes(_read(_document(), _consent(confirmed_at=None, valid_until=NOW))) == ("consent_expired",)
    # A confirmed consent beside a waiting one opens on its own.
    decision = _read(_document(), _consent("c1", confirmed_at=None), _consent("c2"))
    assert decision.basis == "consent:c2"


# ---------------------------------------------------------------------------------------------
# Decisions on one consent (read, revoke, confirm), against a reference of their own
# ---------------------------------------------------------------------------------------------

def reference_on_consent(request: Request, facts: Facts, consent: Consent, config: PolicyConfig) -> Outcome:
    """The client rules, then: only the zones a consent names act on it; only the holding zone confirms,
    and never a revoked or expired consent (a guardian's, of a client now 18, is expired)."""
    general = reference(request, facts, config)
    if not general.allowed:
        return general
    zone, now = request.principal.zone, facts.now
    if zone != consent.from_zone and zone != consent.to_zone:
        return _refused("not_party")
    if request.permission == Permission.CONSENT_CONFIRM:
        if zone != consent.from_zone:
            return _refused("not_holding_zone")
        if now is None:
            return Outcome(False, "none", None)
        if consent.revoked_at is not None and not consent.revoked_at > now:
            return _refused("consent_revoked")
        if not now < consent.valid_until or _came_of_age(consent, now, facts.client_birth_date):
            return _refused("consent_expired")
    return general


@_settings(EXAMPLES["on_consent"])
@given(worlds(), st.sampled_from([Permission.CONSENT_CONFIRM, Permission.CONSENT_READ, Permission.CONSENT_REVOKE]),
       st.integers(0, 99))
def test_decisions_on_one_consent_agree_with_the_reference(world, permission, which):
    assume(world.facts.consents)
    consent = world.facts.consents[which % len(world.facts.consents)]
    if world.who.zone is not None and which % 3 == 0:  # often the caller's zone is the holding one
        consent = replace(consent, from_zone=world.who.zone)
    request = replace(world.request, permission=permission)
    facts = replace(world.facts, document=None)
    got = decide_consent(request, facts, consent, world.config)
    want = reference_on_consent(request, facts, consent, world.config)
    event(f"{permission}: {'allow' if want.allowed else ','.join(want.reasons or ('?',))}")
    assert (got.allowed, str(got.basis)) == (want.allowed, want.basis), (got, want)
    if want.reasons is None:
        assert got.reason_codes
    else:
        assert tuple(map(str, got.reason_codes)) == want.reasons, (got, want)



def test_the_worlds_put_each_consent_boundary_exactly_on_now():
    """The rules turn on `<` versus `<=` at now: the strategy must reach each instant exactly, not only near it."""
    boundaries = ("valid_from", "valid_until", "revoked_at", "confirmed_at")
    reached: set[str] = set()

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(worlds())
    def look(world: World) -> None:
        now = world.facts.now
        reached.update(b for b in boundaries for c in world.facts.consents if now is not None and getattr(c, b) == now)

    look()
    assert reached == set(boundaries)


# ---------------------------------------------------------------------------------------------
# Facts with the consents in force only (#13): the same decisions, the same reasons after the history
# ---------------------------------------------------------------------------------------------

def _in_force_only(world: World) -> World:
    now = world.facts.now
    if now is None:
        return world
    return world.with_consents(c for c in world.facts.consents if in_force(c, now=now))


@_settings(EXAMPLES["cross_zone_reference"])
@given(st.one_of(worlds(), cross_zone_reads()))
def test_the_consents_in_force_decide_as_the_whole_history(world):
    """What the service does (documents._decided): decide on the consents in force, and when that is a denial of
    the consent test (needs_consent_history), again on the whole history. The result is the decision on the
    whole history, reasons and all; and the first decision already allows exactly when that one does."""
    whole = world.decide()
    first = _in_force_only(world).decide()
    assert first.allowed is whole.allowed, (first, whole)
    final = world.decide() if needs_consent_history(first) else first
    assert final == whole, (first, whole)
    if whole:
        assert first == whole


@_settings(EXAMPLES["cross_zone_reference"])
@given(st.one_of(worlds(), cross_zone_reads()))
def test_list_candidates_need_only_the_consents_in_force(world):
    """A list's candidates come from the facts of the client (no document) with the consents in force only."""
    client = replace(world.facts, document=None)
    whole = candidates(world.request, client, world.config)
    assert candidates(world.request, replace(_in_force_only(world).facts, document=None), world.config) == whole


# ---------------------------------------------------------------------------------------------
# Disclosures without consent (OSL 25:12, 26:9)
# ---------------------------------------------------------------------------------------------

@st.composite
def worlds_with_disclosures(draw) -> World:
    """A world whose document has an id, and disclosures: some listing it, to the caller's unit or others, from
    its zone or others, across the domains or within one."""
    world = draw(st.one_of(worlds(), cross_zone_reads()))
    assume(world.document is not None)
    document = replace(world.document, id="doc-1")
    zones = sorted({z for _, z in world.units}, key=lambda z: (z.organisation, z.domain))
    disclosures = []
    for i in range(draw(_INDEX) % 4):
        to_unit, to_zone = (world.who.unit, world.who.zone) if world.who.unit and _chance(draw, 70) else _pick(
            draw, world.units)
        if to_zone is None:
            to_zone = _pick(draw, zones)
        from_zone = document.zone if _chance(draw, 75) else _pick(draw, zones)
        listed = frozenset({"doc-1"} if _chance(draw, 70) else set()) | frozenset({"doc-2"} if _chance(draw, 40) else set())
        disclosures.append(Disclosure(f"x{i}", document.unit, from_zone, to_unit, to_zone, listed,
                                      _pick(draw, ("under_18", "ongoing_misuse", "lpt_lrv"))))
    return replace(world, facts=replace(world.facts, document=document, disclosures=tuple(disclosures)))


@_settings(EXAMPLES["across_zones"])
@given(worlds_with_disclosures())
def test_a_disclosure_opens_only_what_it_lists_for_the_unit_it_names_across_the_domains(world):
    decision = world.decide()
    without = replace(world, facts=replace(world.facts, disclosures=())).decide()
    if decision == without:
        return
    # It changed the outcome: only for a read the roads refuse, under a disclosure that lists the document, names
    # the caller's unit in its zone, comes from the document's zone and crosses the domains: allowed, or (its
    # content shredded) refused as shredded.
    assert not without.allowed
    assert world.request.permission in (Permission.DOCUMENT_READ_METADATA, Permission.DOCUMENT_READ_CONTENT)
    assert not world.who.roles.isdisjoint({Role.STAFF, Role.UNIT_MANAGER})
    matching = [d for d in world.facts.disclosures
                if world.document.id in d.document_ids and d.to_unit == world.who.unit and d.to_zone == world.who.zone
                and d.from_zone == world.document.zone and d.from_zone.domain != d.to_zone.domain]
    assert matching
    if not decision.allowed:
        event("disclosed, but shredded")
        assert world.request.permission is Permission.DOCUMENT_READ_CONTENT and world.document.shredded
        assert decision.reason_codes == (Reason.SHREDDED,)
        return
    event("opened by a disclosure")
    assert str(decision.basis) == f"disclosure:{min(d.id for d in matching)}"


@_settings(EXAMPLES["across_zones"])
@given(worlds_with_disclosures())
def test_candidates_follow_disclosures_exactly(world):
    """A list shows what a disclosure opens, and nothing a disclosure does not (candidates stay exact)."""
    world = replace(world, request=replace(world.request, permission=Permission.DOCUMENT_READ_METADATA))
    client = replace(world.facts, document=None)
    if not decide(replace(world.request, permission=Permission.DOCUMENT_LIST), client, world.config):
        return  # no list at all (no relation, no such client, ...): its candidates are never read
    listed = candidates(world.request, client, world.config)
    assert listed.admits(world.document) is bool(world.decide())


# ---------------------------------------------------------------------------------------------
# Lifting a block (PDL 4:4)
# ---------------------------------------------------------------------------------------------

@st.composite
def worlds_with_liftings(draw) -> World:
    """A blocked document of another unit, and liftings: the caller's unit's or another's, for the caller or a
    colleague, for one or the whole unit, running, not yet open, expired or ended (at the boundaries too)."""
    world = draw(worlds_with_a_blocked_document())
    now = world.facts.now or BASE
    units = [u for u, _ in world.units]
    liftings = []
    for i in range(1 + draw(_INDEX) % 3):
        unit = world.who.unit if world.who.unit and _chance(draw, 75) else _pick(draw, units)
        sub = world.who.sub if _chance(draw, 70) else _pick(draw, SUBS)
        opened = _instant(draw, now) if _chance(draw, 40) else now - timedelta(hours=1)
        expires = _instant(draw, now) if _chance(draw, 40) else now + timedelta(hours=1)
        ended = None if _chance(draw, 70) else _instant(draw, now)
        liftings.append(BlockLifting(f"l{i}", unit, sub, _pick(draw, ("self", "unit")),
                                     _pick(draw, ("consent", "emergency")), opened, expires, ended))
    return replace(world, facts=replace(world.facts, block_liftings=tuple(liftings)))


def _runs_for(lifting: BlockLifting, world: World) -> bool:
    now = world.facts.now
    return (now is not None and lifting.unit == world.who.unit and (lifting.scope == "unit" or lifting.sub == world.who.sub)
            and lifting.opened_at <= now < lifting.expires_at and (lifting.ended_at is None or now < lifting.ended_at))


@_settings(EXAMPLES["blocked"])
@given(worlds_with_liftings())
def test_a_lifting_that_does_not_run_for_the_caller_never_opens(world):
    if any(_runs_for(lifting, world) for lifting in world.facts.block_liftings):
        return
    event("no lifting runs for the caller")
    assert world.decide() == replace(world, facts=replace(world.facts, block_liftings=())).decide()


@_settings(EXAMPLES["blocked"])
@given(worlds_with_liftings())
def test_a_running_lifting_opens_only_what_the_caller_could_read_were_it_not_blocked(world):
    if not any(_runs_for(lifting, world) for lifting in world.facts.block_liftings):
        return
    decision = world.decide()
    unblocked = replace(world, facts=replace(world.facts, document=replace(world.document, blocked=False),
                                             block_liftings=())).decide()
    assert decision.allowed is unblocked.allowed, (decision, unblocked)
    if decision.allowed:
        event("lifted")
        assert decision.basis == unblocked.basis
        if world.request.permission is Permission.RELATION_OPEN:
            assert decision.basis == "role" and Reason.BLOCK_LIFTED not in decision.reason_codes  # no document is looked at
        elif world.document.unit != world.who.unit:
            assert Reason.BLOCK_LIFTED in decision.reason_codes


# ---------------------------------------------------------------------------------------------
# A guardian's consent ends at the client's 18th birthday (#14; FB 6:2)
# ---------------------------------------------------------------------------------------------

def _moved(world: World, delta: timedelta) -> World:
    """The same world `delta` later: now and every instant of its consents and grants moved alike."""
    def move(instant: datetime | None) -> datetime | None:
        return None if instant is None else instant + delta
    consents = tuple(replace(c, valid_from=move(c.valid_from), valid_until=move(c.valid_until),
                             revoked_at=move(c.revoked_at), confirmed_at=move(c.confirmed_at))
                     for c in world.facts.consents)
    grants = tuple(replace(g, opened_at=move(g.opened_at), expires_at=move(g.expires_at))
                   for g in world.facts.emergency_grants)
    return replace(world, facts=replace(world.facts, now=move(world.facts.now), consents=consents,
                                        emergency_grants=grants))


@st.composite
def coming_of_age_worlds(draw) -> World:
    """A world moved so that now is the client's 18th birthday (as the reference reckons it) give or take one of
    OFFSETS (0 and a microsecond either side among them), most of its consents a guardian's."""
    world = draw(st.one_of(worlds(), cross_zone_reads()))
    born = _pick(draw, BIRTHDAYS)
    offset, tz = draw(_INSTANT)
    if world.facts.now is not None:
        world = _moved(world, (_adult_from(born) + offset).astimezone(tz) - world.facts.now)
    consents = tuple(replace(c, given_by="guardian") if _chance(draw, 70) else c for c in world.facts.consents)
    return replace(world, facts=replace(world.facts, consents=consents, client_birth_date=born))


@_settings(EXAMPLES["coming_of_age"])
@given(coming_of_age_worlds())
def test_decide_agrees_with_the_reference_around_the_18th_birthday(world):
    _agree(world)


@_settings(EXAMPLES["coming_of_age"])
@given(st.one_of(coming_of_age_worlds(), worlds(), cross_zone_reads()))
def test_a_guardians_consent_never_opens_on_or_after_the_18th_birthday(world):
    now, born = world.facts.now, world.facts.client_birth_date
    assume(now is not None)
    ended = {c.id for c in world.facts.consents
             if c.given_by == "guardian" and (born is None or now >= _adult_from(born))}
    decision = world.decide()
    kind, _, ident = str(decision.basis).partition(":")
    assert not (kind == "consent" and ident in ended), decision
    # The consents in force alone (what a decision loads: policies.consents.in_force) open no more.
    kind, _, ident = str(_in_force_only(world).decide().basis).partition(":")
    assert not (kind == "consent" and ident in ended), world


def test_coming_of_age_worlds_put_the_birthday_exactly_on_now():
    reached: set[timedelta] = set()

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(coming_of_age_worlds())
    def look(world: World) -> None:
        if world.facts.now is not None:
            reached.add(world.facts.now - _adult_from(world.facts.client_birth_date))

    look()
    assert {timedelta(0), timedelta(microseconds=-1), timedelta(microseconds=1)} <= reached


def _guardians(**overrides) -> Consent:
    return replace(_consent(**overrides), given_by="guardian")


def _read_born(born: date | None, *consents: Consent, now: datetime):
    request = Request(_staff(), Permission.DOCUMENT_READ_CONTENT, "care")
    return decide(request, Facts(True, True, _document(), now, tuple(consents), (), born))


@pytest.mark.parametrize("born,birthday", [
    (date(2007, 6, 1), datetime(2025, 5, 31, 22, 0, tzinfo=UTC)),  # summer: Stockholm is UTC+2
    (date(2007, 1, 15), datetime(2025, 1, 14, 23, 0, tzinfo=UTC)),  # winter: UTC+1
    (date(2007, 3, 30), datetime(2025, 3, 29, 23, 0, tzinfo=UTC)),  # the night the clocks go forward: still UTC+1
    (date(2007, 10, 26), datetime(2025, 10, 25, 22, 0, tzinfo=UTC)),  # the night they go back: still UTC+2
    (date(2008, 2, 29), datetime(2026, 2, 28, 23, 0, tzinfo=UTC)),  # 1 March 00:00: 2026 has no 29 February
])
def test_the_boundary_is_the_start_of_the_18th_birthday_in_stockholm(born, birthday):
    """A guardian's consent opens up to the last microsecond before the 18th birthday in Swedish time, never at it."""
    from policies.consents import coming_of_age, status

    assert coming_of_age(born) == birthday
    consent = _guardians(valid_from=birthday - 30 * DAY, valid_until=birthday + 30 * DAY,
                         confirmed_at=birthday - 30 * DAY)
    before = birthday - timedelta(microseconds=1)
    assert _read_born(born, consent, now=before).basis == "consent:c1"
    assert status(consent, now=before, birth_date=born) == "active"
    for at in (birthday, birthday + timedelta(microseconds=1), birthday + 400 * DAY):
        assert _codes(_read_born(born, consent, now=at)) == ("came_of_age",)
        assert status(consent, now=at, birth_date=born) == "expired"
    # The client's own consent is not touched, nor is a guardian's whose period ended before the birthday.
    own = replace(consent, given_by="client")
    assert _read_born(born, own, now=birthday).basis == "consent:c1"
    short = replace(consent, valid_until=birthday - DAY)
    assert _codes(_read_born(born, short, now=birthday)) == ("consent_expired",)
    # Without the birth date a guardian's consent cannot be shown to be in force.
    assert _codes(_read_born(None, consent, now=before)) == ("came_of_age",)


def test_why_a_consent_ended():
    from policies.consents import ended_reason

    born, birthday = date(2007, 6, 1), datetime(2025, 5, 31, 22, 0, tzinfo=UTC)
    consent = _guardians(valid_from=birthday - 30 * DAY, valid_until=birthday + 30 * DAY)
    assert ended_reason(consent, now=birthday - DAY, birth_date=born) is None
    assert ended_reason(consent, now=birthday, birth_date=born) == "came_of_age"
    assert ended_reason(replace(consent, revoked_at=birthday + DAY), now=birthday + 2 * DAY, birth_date=born) == "revoked"
    assert ended_reason(replace(consent, given_by="client"), now=birthday + 31 * DAY, birth_date=born) == "period_ended"
    # Ended by its period on the birthday itself: the birthday ended it as much (it was a guardian's).
    assert ended_reason(replace(consent, valid_until=birthday), now=birthday, birth_date=born) == "came_of_age"
