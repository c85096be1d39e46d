"""Follow-up records (API-1.1 "Follow-up records and indicators"): who reads and changes them, and their rules.

Pure. A record (an episode, a contact, an assessment, an intervention) is its unit's, in its unit's zone, and is
read under exactly the decision for a document of category `followup` of that unit (policies/decide.py): a relation
(PDL 4:1), the own zone, or across zones a consent naming `followup` confirmed by the holding zone (OSL 12:2;
25:1, 26:1), or emergency access in health care. Records are written only by the caller's own unit for its own
client work, and voided (or an episode closed) only by the unit that wrote them (PDL 3:1, 3:14: the one who made
an entry answers for it; a correction leaves the entry readable, here as voided).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from .decide import DocumentFacts, Facts, PolicyConfig, Request, decide
from .decision import Decision, Reason, deny
from .model import Zone

CATEGORY = "followup"
# The instruments and their score ranges: AUDIT 0-40 and AUDIT-C 0-12 (WHO, Babor et al. 2001, "AUDIT: guidelines
# for use in primary care", 2nd ed.; Bush et al. 1998, Arch Intern Med 158:1789), DUDIT 0-44 (Berman et al. 2005,
# Eur Addict Res 11:22).
SCORE_RANGES: dict[str, tuple[int, int]] = {"AUDIT": (0, 40), "AUDIT-C": (0, 12), "DUDIT": (0, 44)}
CONTACT_KINDS = ("individual", "group", "joint", "phone", "home_visit")
INTERVENTION_KINDS = ("medication_assisted", "group", "individual", "other")
CLOSE_REASONS = ("completed", "moved", "dropped_out", "other")
KINDS = ("episode", "contact", "assessment", "intervention")
REOPEN_WITHIN_MONTHS = 12


@dataclass(frozen=True, slots=True)
class Violation:
    """One field a record breaks a rule with (422 validation_failed naming it)."""

    field: str
    message: str


def record_facts(*, unit: str, zone: Zone, created_by: str, record_id: str) -> DocumentFacts:
    """A record as the document decision sees it: a `followup` document of its unit, never blocked (a block is a
    document's; a client who wants records kept from the other zone withholds the consent)."""
    return DocumentFacts(unit=unit, zone=zone, category=CATEGORY, blocked=False, created_by=created_by, id=record_id)


def unit_facts(*, unit: str, zone: Zone) -> DocumentFacts:
    """The records a unit holds in a zone, as a list decides them: a `followup` document of the unit, never blocked,
    naming no one record (no disclosure lists a follow-up record, and a system reads no record back as its uploader),
    so every record of the unit and zone gets the same decision."""
    return DocumentFacts(unit=unit, zone=zone, category=CATEGORY, blocked=False, created_by="")


def decide_read(request: Request, facts: Facts, record: DocumentFacts, config: PolicyConfig) -> Decision:
    """Reading a record: the decision for a `followup` document of the record's unit (policies/decide.py)."""
    return decide(request, replace(facts, document=record), config)


def decide_change(request: Request, facts: Facts, record: DocumentFacts, config: PolicyConfig) -> Decision:
    """Voiding a record or closing an episode: the caller must read it (else not_found, existence not revealed),
    and only its own unit changes it (not_owning_unit; PDL 3:14)."""
    decision = decide_read(request, facts, record, config)
    if decision and record.unit != request.principal.unit:
        return deny(Reason.NOT_OWNING_UNIT, legal_basis="PDL 3:14")
    return decision


def check_date(field: str, value: date, *, today: date, episode_opened: date | None = None) -> list[Violation]:
    """A record's date: from 1900 on (as an indicator period; the driver stores 0001-01-01 as -infinity), not in the
    future, and not before the unit's open episode it belongs to."""
    if value.year < 1900:
        return [Violation(field, "must be 1900-01-01 or later")]
    if value > today:
        return [Violation(field, "must not be in the future")]
    if episode_opened is not None and value < episode_opened:
        return [Violation(field, f"must not be before the episode's opened_on ({episode_opened.isoformat()})")]
    return []


def check_score(instrument: str, score: int) -> list[Violation]:
    """An assessment's score within its instrument's range."""
    low, high = SCORE_RANGES[instrument]
    if not low <= score <= high:
        return [Violation("score", f"{instrument} scores {low}-{high}")]
    return []


def check_joint(kind: str, with_unit: str | None, *, own_domain: str | None, with_domain: str | None) -> list[Violation]:
    """A joint visit names an active unit of the other domain (the other principal); other contacts name none."""
    if kind != "joint":
        return [] if with_unit is None else [Violation("with_unit", "only a joint visit names the unit it was held with")]
    if with_unit is None:
        return [Violation("with_unit", "a joint visit names the unit of the other domain it was held with")]
    if with_domain is None:
        return [Violation("with_unit", "no such active unit")]
    if with_domain == own_domain:
        return [Violation("with_unit", "a joint visit is held with a unit of the other domain")]
    return []


def is_reopened(opened_on: date, last_closed_on: date | None) -> bool:
    """Whether an episode opened on `opened_on` reopens the unit's last closed one for the client: closed within
    the 12 months before (API-1.1; the Alingsås/Lerum follow-up's "återaktualisering")."""
    if last_closed_on is None:
        return False
    return last_closed_on <= opened_on < _add_months(last_closed_on, REOPEN_WITHIN_MONTHS)


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")
