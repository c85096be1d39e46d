"""What the API, the web interface and the command line ask the core to do, typed: the core never takes a
request model, so the three build the same command and meet the same rules."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from policies.model import Zone


@dataclass(frozen=True, slots=True)
class Guardian:
    """The guardian who gives a guardian's consent (API-1.1 "Minors and guardians"): the number as sent, checked
    and sealed by the core."""

    name: str
    personal_number: str


@dataclass(frozen=True, slots=True)
class Maturity:
    """A recorded assessment of a minor's maturity (OSL 12:3): who assessed, on which day, on what."""

    assessed_by: str
    assessed_at: date
    basis: str


@dataclass(frozen=True, slots=True)
class NewConsent:
    """A consent to record (API.md `ConsentIn`): from the holding zone to a zone or one unit of it."""

    from_zone: Zone
    to_zone: Zone
    to_unit: str | None
    categories: tuple[str, ...]
    purposes: tuple[str, ...]
    valid_from: datetime | None  # None: now
    valid_until: datetime
    given_by: str
    form: str
    maturity_assessed: bool = False
    evidence_document_id: UUID | None = None
    note: str | None = None
    guardian: Guardian | None = None
    maturity: Maturity | None = None  # None with maturity_assessed: assessed by the recorder, today, basis not stated


@dataclass(frozen=True, slots=True)
class NewDisclosure:
    """A disclosure without consent to decide (API-1.1 `POST /v1/clients/{id}/disclosures`; OSL 25:12, 26:9)."""

    to_unit: str
    ground: str
    need: str
    document_ids: tuple[UUID, ...]


@dataclass(frozen=True, slots=True)
class NewLifting:
    """A lifting of the client's blocks to open (API-1.1 `POST /v1/clients/{id}/block-liftings`; PDL 4:4)."""

    basis: str  # consent | emergency
    scope: str  # self | unit
    hours: int
    reason: str
    form: str | None = None
    evidence_document_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class NewFollowUp:
    """A follow-up of a SIP plan (API-1.1 `POST /v1/sip-plans/{id}/follow-ups`): when it was held, what it found,
    and when the next is (None: none planned)."""

    held_on: date
    summary: str
    next_follow_up: date | None = None
