"""Which of a client's documents decide() could show a caller: what a list selects before deciding each.

A list must cost by its page, not by what the caller may not see (#11 item 11: the more documents of
other zones a client had, the longer a list took, which told an insider that they exist). So the store
selects only candidates, and decide() still confirms every one of them: this is no second set of rules,
only a description of where decide() can possibly answer yes, made from the same facts and the same
consent test (covers). It may admit too much, never too little: tests/unit/test_decide_properties.py checks
on random worlds that everything decide() allows is admitted.

A candidate is a document
- of the caller's own zone (PDL 4:1; OSL 25:1, 26:1), any category;
- of the from-zone of a consent that covers the caller now, in a category it names, or any but `sip`
  under `*` (`sip` only by name, for coordination) (OSL 12:2);
- of the domain a grant the caller holds was opened for, where emergency access may open (BrB 24:4;
  Lag 2022:913);
and, whichever of these, blocked only in the caller's own unit (PDL 4:4), or in any unit while a lifting of the
client's blocks runs for the caller; or
- one a disclosure lists for the caller's unit, blocked or not (OSL 25:12, 26:9).
A clinic system without a staff role sees only what it uploaded itself, in its unit.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from .decide import DocumentFacts, Facts, PolicyConfig, Request, covers, may_open_emergency, running_lifting
from .model import ALL_CATEGORIES, CATEGORIES, Role, Zone
from .roles import Permission, role_gate

_CLIENT_WORK = frozenset({Role.STAFF, Role.UNIT_MANAGER})
_SIP = "sip"


@dataclass(frozen=True, slots=True)
class Candidates:
    """Where decide() can allow: (zone, category) pairs, whole domains, and the blocked and uploader limits.

    In `scope` a category None is every category, "*" every category but `sip`. The store's list query
    (service/store/documents.py) says the same in SQL as `admits` says here.
    """

    unit: str | None  # None: nothing at all
    scope: tuple[tuple[Zone, str | None], ...] = ()
    emergency_domains: frozenset[str] = frozenset()  # every zone of these (the caller's grants'), every category
    uploader: str | None = None  # only the documents this sub uploaded in `unit`
    disclosed: frozenset[tuple[str, Zone]] = frozenset()  # (document id, its zone) disclosed to `unit`
    lifted: bool = False  # a lifting of the client's blocks runs for the caller: blocked documents of any unit too

    def admits(self, document: DocumentFacts) -> bool:
        if self.unit is None:
            return False
        if document.id is not None and (document.id, document.zone) in self.disclosed:
            return True
        if document.blocked and document.unit != self.unit and not self.lifted:
            return False
        if self.uploader is not None and (document.created_by != self.uploader or document.unit != self.unit):
            return False
        if document.zone.domain in self.emergency_domains:
            return True
        return any(zone == document.zone and (category is None or category == document.category
                                              or (category == ALL_CATEGORIES and document.category != _SIP))
                   for zone, category in self.scope)


    def ranges(self) -> tuple[tuple[Zone, str | None], ...]:
        """`scope` as disjoint (zone, category) ranges for the store to read, category None for every one: "*"
        spelled out as its categories, and a zone's categories dropped where the zone is whole. A category a
        caller may not open is then never read, not even to be dropped (#11: its number cannot be timed)."""
        whole = {zone for zone, category in self.scope if category is None}
        ranges: dict[tuple[Zone, str | None], None] = {(zone, None): None for zone in whole}
        for zone, category in self.scope:
            if zone in whole or category is None:
                continue
            for named in (c for c in CATEGORIES if c != _SIP) if category == ALL_CATEGORIES else (category,):
                ranges[(zone, named)] = None
        return tuple(ranges)


NOTHING = Candidates(unit=None)


def candidates(request: Request, facts: Facts, config: PolicyConfig) -> Candidates:
    """The documents of the client (`facts`, without a document) that decide(request) could allow, as Candidates."""
    who = request.principal
    if who.unit is None or who.zone is None or not facts.client_exists or not role_gate(who.roles, request.permission):
        return NOTHING
    own: tuple[tuple[Zone, str | None], ...] = ((who.zone, None),)
    uploads_only = replace(NOTHING, unit=who.unit, scope=own, uploader=who.sub)
    system_reads_own = request.permission is Permission.DOCUMENT_READ_METADATA and Role.SYSTEM in who.roles
    if who.roles.isdisjoint(_CLIENT_WORK) or not facts.caller_relation_active:
        return uploads_only if system_reads_own else NOTHING
    now = facts.now
    disclosed = frozenset((document_id, d.from_zone) for d in facts.disclosures
                          if d.to_unit == who.unit and d.to_zone == who.zone and d.from_zone.domain != d.to_zone.domain
                          for document_id in d.document_ids)  # as decide.disclosed reads them
    if now is None:  # nothing across zones without a clock but what was disclosed
        return Candidates(unit=who.unit, scope=own, disclosed=disclosed)  # no clock: no lifting runs
    scope = list(own)
    for consent in facts.consents:
        if consent.to_zone != who.zone:
            continue
        for category in sorted(consent.categories):
            probe = DocumentFacts(unit="", zone=consent.from_zone, category=category, blocked=False, created_by="")
            if covers(consent, document=probe, principal=who, purpose=request.purpose, now=now,
                      birth_date=facts.client_birth_date) is None:
                scope.append((consent.from_zone, category))
    granted = frozenset(grant.domain for grant in facts.emergency_grants
                        if grant.sub == who.sub and grant.unit == who.unit and grant.opened_at <= now < grant.expires_at
                        and may_open_emergency(who, config))
    return Candidates(unit=who.unit, scope=tuple(dict.fromkeys(scope)),
                      emergency_domains=granted & config.emergency_domains, disclosed=disclosed,
                      lifted=running_lifting(who, facts) is not None)
