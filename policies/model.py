"""The facts decisions are made from, as frozen dataclasses (DESIGN.md "Domain model")."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """Roles a token may carry (API.md "Tokens")."""

    ADMIN = "admin"
    AUDITOR = "auditor"
    STAFF = "staff"
    SYSTEM = "system"
    UNIT_MANAGER = "unit_manager"


# Roles that act for the whole installation and carry no unit.
INSTALLATION_ROLES = frozenset({Role.ADMIN, Role.AUDITOR})


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
