"""The client's own view (API-1.1 "The client's own view"): the person acts on themself and no one else.

Secrecy does not hold toward the person the information is about (OSL 12:1), the patient has a right to
their record (PDL 8:2) and to learn who read it (PDL 8:5). So a client reaches exactly their own records,
found by the blind index of the personal number in their token, never by an id they send: another person's
consent or document answers as one that does not exist (404). What the client sees of their documents is what
the owning unit released to them (a social document only by a decision to release it; a health document
possibly from a later date), and an unreleased document is as if it did not exist.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .decision import Basis, Decision, Reason, allow, deny
from .model import Principal, Role
from .personal_number import is_minor
from .roles import Permission, role_gate

OWN_RECORDS = "OSL 12:1; PDL 8:2, 8:5"
_CONSENT_LAW = "OSL 12:1, 12:2"
_MINOR_LAW = "OSL 12:3; FB 6:11"  # a child's own consent needs a maturity assessment staff record
_SELF = allow(Basis.SELF, legal_basis=OWN_RECORDS)


def decide_me(principal: Principal, permission: Permission) -> Decision:
    """A call on the caller's own records: the role gate and a personal number to find them by."""
    gate = role_gate(principal.roles, permission)
    if not gate:
        return gate
    if principal.personal_number_index is None:
        return deny(Reason.UNKNOWN_CLIENT, legal_basis=OWN_RECORDS)
    return _SELF


def decide_own_record(principal: Principal, permission: Permission, *, own_client: object | None,
                      record_client: object | None, unknown: Reason) -> Decision:
    """A record named by id (a consent, a document): allowed only when it is the caller's own; another person's
    (or none) is `unknown`, answered 404 like a record that does not exist."""
    decision = decide_me(principal, permission)
    if not decision:
        return decision
    if own_client is None or record_client is None or record_client != own_client:
        return deny(unknown, legal_basis=OWN_RECORDS)
    return decision


def decide_own_consent(principal: Principal, *, registered: bool, birth_date: date | None, today: date) -> Decision:
    """An electronic consent the client gives themself: adults only (a minor's consent needs a guardian or a
    maturity assessment by staff, OSL 12:3; FB 6:11), and only once a unit has registered them."""
    decision = decide_me(principal, Permission.ME_CONSENT_GRANT)
    if not decision:
        return decision
    if not registered or birth_date is None:
        return deny(Reason.UNKNOWN_CLIENT, legal_basis=OWN_RECORDS)
    if is_minor(birth_date, today=today):
        return deny(Reason.MINOR, legal_basis=_MINOR_LAW)
    return allow(Basis.SELF, legal_basis=_CONSENT_LAW)


@dataclass(frozen=True, slots=True)
class Release:
    """The owning unit's release of a document to the client: when, and from when it shows."""

    released_at: datetime
    visible_from: datetime


def released(release: Release | None, *, now: datetime) -> bool:  # legal_basis: OSL 12:1, 25:6
    """Whether a released document shows to the client now (a health document's delay has passed)."""
    return release is not None and release.visible_from <= now


def decide_own_document(principal: Principal, permission: Permission, *, own_client: object | None,
                        record_client: object | None, release: Release | None, shredded: bool,
                        now: datetime) -> Decision:
    """A document the client reads: their own, released and visible now; an unreleased one leaves no trace
    (404 like one that does not exist), a shredded one's content is gone (410)."""
    decision = decide_own_record(principal, permission, own_client=own_client, record_client=record_client,
                                 unknown=Reason.UNKNOWN_DOCUMENT)
    if not decision:
        return decision
    if not released(release, now=now):
        return deny(Reason.UNRELEASED, legal_basis=OWN_RECORDS)
    if shredded:
        return deny(Reason.SHREDDED, legal_basis=OWN_RECORDS)
    return decision


def consent_as_the_person_sees_it(consent: dict[str, Any], *, person: str,
                                  released_now: Collection[object]) -> dict[str, Any]:
    """One of the person's consents as they see it: every term of it (zones, categories, purposes, period, who
    recorded, confirmed or revoked it, status), but not what is staff's own and not the person's.

    - The note is the recording staff's free text, not a term of the consent: it may name others or hold what the
      staff may keep back from the person (OSL 25:6, 26:5, e.g. who reported a concern; insider attack 14, L1).
      Only a note the person wrote themself (`recorded_by` is their own actor) is theirs to see.
    - The maturity assessment shows who assessed it and when, not its basis: staff's free text on what they judged
      the child's maturity by, which may name others as a note may (review of insider attack 14's fixes).
    - The evidence document is named only when it is released to the person and shows now: an unreleased
      document leaves no trace (API-1.1), its id included.
    """
    seen = dict(consent)
    if consent["recorded_by"] != person:
        seen["note"] = None
    if consent.get("maturity") is not None:
        seen["maturity"] = {**consent["maturity"], "basis": None}
    if consent["evidence_document_id"] not in released_now:
        seen["evidence_document_id"] = None
    return seen


def may_delay(domain: str) -> bool:
    """Whether a release may take effect at a later date: health documents only (API-1.1; e.g. a result the
    physician first tells the patient in person; OSL 25:6 lets care keep back what must be for now). A social
    document is released by a decision, at once."""
    return domain == "health"


def is_client(principal: Principal) -> bool:
    return Role.CLIENT in principal.roles
