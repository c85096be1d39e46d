"""A decision carries its outcome, the basis that allowed it, and why (machine-readable)."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Basis(StrEnum):
    """Why access was allowed; `consent:<id>` and `emergency:<id>` come with the consent policy."""

    OWN_ZONE = "own_zone"
    UPLOADER = "uploader"
    ROLE = "role"  # actions that need no client relation (registering, opening a relation)
    NONE = "none"


class Reason(StrEnum):
    """Machine-readable reason codes written to the audit log."""

    BLOCKED = "blocked"
    FORBIDDEN_ROLE = "forbidden_role"
    INTEGRITY_ERROR = "integrity_error"
    NO_CONSENT = "no_consent"
    NO_RELATION = "no_relation"
    NO_UNIT = "no_unit"
    NOT_OWNING_UNIT = "not_owning_unit"
    NOT_UPLOADER = "not_uploader"
    SHREDDED = "shredded"
    UNKNOWN_CLIENT = "unknown_client"
    UNKNOWN_DOCUMENT = "unknown_document"
    UNKNOWN_RELATION = "unknown_relation"


@dataclass(frozen=True, slots=True)
class Decision:
    """Falsy when denied, so `if not decision:` reads as English."""

    allowed: bool
    basis: Basis
    reason_codes: tuple[Reason, ...] = ()
    legal_basis: str = ""
    flagged: bool = False

    def __bool__(self) -> bool:
        return self.allowed


def allow(basis: Basis, *, legal_basis: str = "") -> Decision:
    return Decision(True, basis, (), legal_basis)


def deny(*reasons: Reason, legal_basis: str = "") -> Decision:
    return Decision(False, Basis.NONE, reasons, legal_basis)
