"""Rules for recording a consent, and a consent's status at an instant (pure; LEGAL.md).

A consent must be scoped (recipient zone or unit, categories, purposes, period) and
not overly general; written consent needs the signed form as evidence; a minor's own
consent counts only with a recorded maturity assessment (OSL 12:2, 12:3; FB 6:11).

A guardian consents for a child, and names themself (FB 6:11: the custodian decides for
the child). Custody ends when the child turns 18 (FB 6:2), and with it the guardian's
say: a guardian's consent ends at the client's 18th birthday, `expired` with the
ended reason `came_of_age`, whatever its period says. The law has no rule that ends
the consent then; Brygga is stricter and says so: the adult decides anew. The instant
is the start of the 18th birthday in Swedish time (Europe/Stockholm, where ages are
reckoned: personal_number.age_on; born on 29 February, 1 March in the year the client
turns 18, which is never a leap year). It is computed here from the birth date at
every decision and status (no batch job), and service/store/consents.py says the same
in SQL for the list's status filter.

Secrecy is the holding zone's (OSL 25:1, 26:1), so the holding (from) zone stands
behind every consent that opens its records: one its own unit records is confirmed
at once; one the receiving (to) zone records waits, `awaiting_confirmation`, opening
nothing, until a unit of the holding zone confirms it. A consent the client gives
themself (the client's own view, OSL 12:1; policies/me.py) needs no one's confirmation.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from .model import Consent, Zone
from .personal_number import is_minor

Status = Literal["awaiting_confirmation", "pending", "active", "expired", "revoked"]
# Why a consent no longer opens anything: revoked, its period over, or a guardian's consent of a client now 18.
EndedReason = Literal["revoked", "period_ended", "came_of_age"]
GUARDIAN = "guardian"
SWEDEN = ZoneInfo("Europe/Stockholm")
_ADULT_AGE = 18


@dataclass(frozen=True, slots=True)
class ConsentDraft:
    """A consent as staff ask to record it, before it is checked."""

    from_zone: Zone
    to_zone: Zone
    valid_from: datetime
    valid_until: datetime
    given_by: str
    form: str
    maturity_assessed: bool
    has_evidence: bool  # an active consent_form document of the same client was named
    recorder_zone: Zone | None  # the recording unit's zone; None only when the client records it
    # The client gives it themself, in their own view (API-1.1 "The client's own view"; service/domain/me.py):
    # no staff member records it, and no zone needs to confirm it.
    recorded_by_client: bool = False
    guardian_named: bool = False  # the guardian who gives it named themself (name and personal number)
    maturity_assessed_on: date | None = None  # the day a recorded maturity assessment was made, if one was


@dataclass(frozen=True, slots=True)
class RuleViolation:
    code: str
    field: str
    message: str


def check_draft(draft: ConsentDraft, *, client_birth_date: date, today: date, max_days: int) -> list[RuleViolation]:
    """Every rule the draft breaks, in a stable order (empty when it may be recorded); `today` is the Swedish date."""
    problems = []
    client_is_minor = is_minor(client_birth_date, today=today)
    if draft.from_zone == draft.to_zone:
        problems.append(RuleViolation("same_zone", "to", "from and to are the same zone; inside a zone no consent is needed"))
    if not draft.recorded_by_client and draft.recorder_zone not in (draft.from_zone, draft.to_zone):
        problems.append(RuleViolation("validation_failed", "from", "the recording unit's zone must be the from or the to zone"))
    if draft.valid_until <= draft.valid_from:
        problems.append(RuleViolation("invalid_period", "valid_until", "must be after valid_from"))
    elif draft.valid_until - draft.valid_from > timedelta(days=max_days):
        # Not overly general: a consent is limited in time (Socialstyrelsen's guidance on samtycke).
        problems.append(RuleViolation("invalid_period", "valid_until", f"a consent may last at most {max_days} days"))
    if draft.form == "written" and not draft.has_evidence:
        problems.append(RuleViolation("evidence_required", "evidence_document_id",
                                      "written consent needs the signed form: a consent_form document of this client"))
    # OSL 12:3, FB 6:11: a child's own consent only with an assessment of maturity, otherwise the guardian's.
    if client_is_minor and draft.given_by == "client" and not draft.maturity_assessed:
        problems.append(RuleViolation("minor_requires_guardian_or_maturity", "given_by",
                                      "the client is under 18: the guardian consents, or record a maturity assessment"))
    # FB 6:11, OSL 12:3: a guardian's consent says which guardian gave it.
    if draft.given_by == GUARDIAN and not draft.guardian_named:
        problems.append(RuleViolation("guardian_required", "guardian",
                                      "a guardian's consent names the guardian: name and personal number"))
    if draft.given_by != GUARDIAN and draft.guardian_named:
        problems.append(RuleViolation("validation_failed", "guardian", "only a guardian's consent names a guardian"))
    # FB 6:2: custody ends at 18. A guardian's consent from the client's 18th birthday on would open nothing.
    if draft.given_by == GUARDIAN and draft.valid_from >= coming_of_age(client_birth_date):
        problems.append(RuleViolation("client_came_of_age", "given_by",
                                      "the client is 18 by valid_from: a guardian's consent ends at 18, the client "
                                      "consents themself"))
    if draft.maturity_assessed_on is not None and draft.maturity_assessed_on > today:
        problems.append(RuleViolation("validation_failed", "maturity.assessed_at", "must not be in the future"))
    return problems


def coming_of_age(birth_date: date) -> datetime:
    """The instant someone born on `birth_date` turns 18: the start of that day in Swedish time (FB 6:2, 9:1).

    The same day personal_number.is_minor turns false on (born 29 February: 1 March). Midnight always exists
    in Europe/Stockholm (summer time starts at 02:00), so the instant is never ambiguous.
    """
    year = birth_date.year + _ADULT_AGE
    try:
        day = birth_date.replace(year=year)
    except ValueError:  # 29 February, in a year without one
        day = date(year, 3, 1)
    return datetime(day.year, day.month, day.day, tzinfo=SWEDEN)


def came_of_age(consent: Consent, *, now: datetime, birth_date: date | None) -> bool:
    """Whether `consent` is a guardian's and the client turned 18 at or before `now`, while it was still in its
    period: from that instant it opens nothing (FB 6:2; OSL 12:3). legal_basis: FB 6:2, OSL 12:3.

    Without the birth date a guardian's consent cannot be shown to be in force: it counts as ended (storage
    always loads the birth date; clients.birth_date is NOT NULL).
    """
    if consent.given_by != GUARDIAN:
        return False
    if birth_date is None:
        return True
    adult = coming_of_age(birth_date)
    return adult <= now and adult <= consent.valid_until


def confirmed_on_recording(draft: ConsentDraft) -> bool:
    """Whether the consent is confirmed as it is recorded: by a unit of the holding (from) zone, or by the client.

    One recorded by the receiving (to) zone is not: the zone that holds the records has not stood behind it.
    """
    return draft.recorded_by_client or draft.recorder_zone == draft.from_zone


def is_confirmed(consent: Consent, *, now: datetime) -> bool:
    """Whether the holding zone (or the client) stood behind the consent by `now`."""
    return consent.confirmed_at is not None and consent.confirmed_at <= now


def in_force(consent: Consent, *, now: datetime) -> bool:
    """Whether the consent can open anything at `now`: not revoked, and `now` within its period.

    The others can only tell a denial why (revoked, pending, expired: decide's reason codes), so a decision's
    facts carry only the consents in force (service/store/facts.py says the same in SQL), and the whole history
    is loaded when a decision denies (#13: a request must not cost by the client's consent history). A
    consent not in force never opens (covers returns a reason first), so decide() allows the same with these
    alone (tests/unit/test_decide_properties.py).

    It may admit more than can open, never less: a guardian's consent of a client who has turned 18 since is
    still in force by this rule (its time test knows no birth date); covers() denies it (came_of_age) whether
    it is loaded or not.
    """
    return (consent.revoked_at is None or consent.revoked_at > now) and consent.valid_from <= now < consent.valid_until


def status(consent: Consent, *, now: datetime, birth_date: date | None) -> Status:
    """revoked once revoked; expired from valid_until, and a guardian's consent from the client's 18th birthday
    (`came_of_age`); awaiting_confirmation until the holding zone confirms it; pending before valid_from; else
    active. `birth_date`: the client's.

    An unconfirmed consent that was revoked or expired says so (it can no longer be confirmed); one that
    waits for confirmation says so before valid_from too, so the holding zone finds it.
    """
    if consent.revoked_at is not None and consent.revoked_at <= now:
        return "revoked"
    if now >= consent.valid_until or came_of_age(consent, now=now, birth_date=birth_date):
        return "expired"
    if not is_confirmed(consent, now=now):
        return "awaiting_confirmation"
    if now < consent.valid_from:
        return "pending"
    return "active"


def ended_reason(consent: Consent, *, now: datetime, birth_date: date | None) -> EndedReason | None:
    """Why the consent has ended at `now` (None while it has not): revoked, period_ended, or came_of_age
    when a guardian's consent reached the client's 18th birthday before (or as) its period ended."""
    if consent.revoked_at is not None and consent.revoked_at <= now:
        return "revoked"
    if came_of_age(consent, now=now, birth_date=birth_date):
        return "came_of_age"
    if now >= consent.valid_until:
        return "period_ended"
    return None
