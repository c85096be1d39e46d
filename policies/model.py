"""The facts decisions are made from, as frozen dataclasses (DESIGN.md "Domain model")."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal, get_args


class Role(StrEnum):
    """Roles a token may carry (API.md "Tokens")."""

    ADMIN = "admin"
    ANALYST = "analyst"  # indicators without names (a later issue); today only what every role has
    AUDITOR = "auditor"
    STAFF = "staff"
    SYSTEM = "system"
    UNIT_MANAGER = "unit_manager"


# Roles that act for the whole installation and carry no unit.
INSTALLATION_ROLES = frozenset({Role.ADMIN, Role.ANALYST, Role.AUDITOR})
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


ALL_CATEGORIES = "*"
# Document categories (the documents table's CHECK says the same) and purposes of use (API.md).
Category = Literal["journal_note", "assessment", "screening", "treatment_plan", "sip", "decision", "referral",
                   "consent_form", "other"]
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


@dataclass(frozen=True, slots=True)
class EmergencyGrant:
    """Time-boxed, reasoned emergency access of one person in one unit to one client's records of one domain."""

    id: str
    sub: str
    unit: str
    opened_at: datetime
    expires_at: datetime
    domain: str  # the domain whose records it opens, and no other
