"""The facts decisions are made from, as frozen dataclasses (DESIGN.md "Domain model")."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal, get_args


class Role(StrEnum):
    """Roles a token may carry (API.md "Tokens")."""

    ADMIN = "admin"
    ANALYST = "analyst"  # indicators without names for the organisations of its token (API-1.1)
    AUDITOR = "auditor"
    CLIENT = "client"  # the person themself, by their personal number (API-1.1 "The client's own view")
    STAFF = "staff"
    SYSTEM = "system"
    UNIT_MANAGER = "unit_manager"


# Roles that act for the whole installation and carry no unit.
INSTALLATION_ROLES = frozenset({Role.ADMIN, Role.ANALYST, Role.AUDITOR})
# The person's own role: no unit, acting only on themself (OSL 12:1), never beside another role.
CLIENT_ROLES = frozenset({Role.CLIENT})
# Roles that read the log and so must say whose log (the token's `organisations` claim).
ORGANISATION_ROLES = frozenset({Role.ANALYST, Role.AUDITOR})
# `organisations: ["*"]`: every organisation, only ever given explicitly (the installation's own security officer).
ALL_ORGANISATIONS = "*"


@dataclass(frozen=True, slots=True)
class Zone:
    """The secrecy holder: one organisation's one domain (OSL 8:2; JO 6547-2017)."""

    organisation: str
    domain: str


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, from a verified token and the unit it names."""

    sub: str
    name: str | None
    roles: frozenset[Role]
    unit: str | None = None
    zone: Zone | None = None
    # An auditor's or analyst's organisations (claim `organisations`), {"*"} for all; None when not claimed.
    organisations: frozenset[str] | None = None
    # A client's blind index of their personal number (the clients table's lookup key); None for everyone else.
    # Never the number: the principal's `sub` is then `client:<blind id>`, what the audit log names.
    personal_number_index: bytes | None = None


ALL_CATEGORIES = "*"
# Document categories (the documents table's CHECK says the same) and purposes of use (API.md).
Category = Literal["journal_note", "assessment", "screening", "treatment_plan", "sip", "decision", "referral",
                   "consent_form", "other", "statement",  # statement: written for a disclosure (API-1.1; JO 2014)
                   "placement", "adoption", "paternity",  # never culled in social services (API-1.1 "Retention")
                   "followup"]  # follow-up records and their reads (API-1.1 "Follow-up records and indicators")
CATEGORIES: tuple[str, ...] = get_args(Category)
Purpose = Literal["care", "case_handling", "coordination", "followup"]
PURPOSES: tuple[str, ...] = get_args(Purpose)


@dataclass(frozen=True, slots=True)
class Consent:
    """The client's permission that categories may go from one zone to another zone (or one unit of it),
    for purposes, between two instants (OSL 12:2). Never edited; confirmation and revocation are timestamps.

    `confirmed_at`: when the holding (from) zone stood behind it: at recording when one of its units
    recorded it (or the client gave it themself), later when a unit of it confirmed one the receiving
    zone recorded. Until then (None, the default) it opens nothing.

    `given_by`: "client" or "guardian". A guardian's consent ends when the client turns 18 (policies/consents.py
    `came_of_age`, from the client's birth date in the decision's facts). Storage always says which.
    """

    id: str
    from_zone: Zone
    to_zone: Zone
    to_unit: str | None
    categories: frozenset[str]  # or {"*"}
    purposes: frozenset[str]
    valid_from: datetime
    valid_until: datetime
    revoked_at: datetime | None = None
    confirmed_at: datetime | None = None
    given_by: str = "client"


# The grounds of a disclosure without consent (OSL 25:12, 26:9): the person is under 18, in ongoing misuse of
# alcohol, narcotics or volatile solvents, or cared for under LPT/LRV.
Ground = Literal["under_18", "ongoing_misuse", "lpt_lrv"]
GROUNDS: tuple[str, ...] = get_args(Ground)


@dataclass(frozen=True, slots=True)
class Disclosure:
    """A decision of the unit holding documents to hand exactly these to one unit of the other domain, without
    consent (OSL 25:12, 26:9): recorded, never revoked (a handing-over cannot be taken back)."""

    id: str
    from_unit: str
    from_zone: Zone
    to_unit: str
    to_zone: Zone
    document_ids: frozenset[str]
    ground: str


@dataclass(frozen=True, slots=True)
class BlockLifting:
    """A temporary lifting of the client's blocks (spärr) for one person or a whole unit (PDL 4:4; the national
    block service's practice): by the client's consent, or in health care by emergency; at most 7 days."""

    id: str
    unit: str
    sub: str  # who asked for it
    scope: str  # "self": `sub` alone, in `unit`; "unit": everyone of `unit`
    basis: str  # "consent" or "emergency"
    opened_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None  # ended early by the unit


@dataclass(frozen=True, slots=True)
class EmergencyGrant:
    """Time-boxed, reasoned emergency access of one person in one unit to one client's records of one domain."""

    id: str
    sub: str
    unit: str
    opened_at: datetime
    expires_at: datetime
    domain: str  # the domain whose records it opens, and no other
