"""A decision carries its outcome, the basis that allowed it, and why (machine-readable)."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Basis(StrEnum):
    """Why access was allowed; a consent or emergency grant is named `consent:<id>` / `emergency:<id>`."""

    OWN_ZONE = "own_zone"
    UPLOADER = "uploader"
    ROLE = "role"  # actions that need no client relation (registering, opening a relation, reading the log)
    RELATION = "relation"  # a unit manager's extract of the log of a client the unit has a relation with
    SELF = "self"  # the client acting on their own records (OSL 12:1; PDL 8:5, 8:2)
    RETENTION = "retention"  # a file culled by its retention rule (policies/retention.py)
    NONE = "none"


class Reason(StrEnum):
    """Machine-readable reason codes written to the audit log."""

    ALREADY_REVIEWED = "already_reviewed"
    BLOCKED = "blocked"
    BLOCK_LIFTED = "block_lifted"  # in an allowed read's reasons: a running lifting let it past the block (PDL 4:4)
    CAME_OF_AGE = "came_of_age"  # a guardian's consent, and the client has turned 18 since (FB 6:2)
    CATEGORY_NOT_COVERED = "category_not_covered"
    CONSENT_EXPIRED = "consent_expired"
    CONSENT_RULES = "consent_rules"  # a consent refused by its recording rules (policies/consents.py check_draft)
    CONSENT_PENDING = "consent_pending"
    CONSENT_REVOKED = "consent_revoked"
    CONSENT_REQUIRED = "consent_required"  # a SIP plan across zones without the client's SIP consent between them
    CONSENT_UNCONFIRMED = "consent_unconfirmed"  # recorded by the receiving zone, not yet confirmed by the holding zone
    DELAY_NOT_ALLOWED = "delay_not_allowed"  # a social document released from a later date (policies/me.py)
    EVIDENCE_REQUIRED = "evidence_required"  # written consent without the signed form
    LIFTING_NOT_ALLOWED = "lifting_not_allowed"  # a lifting's terms break a rule (form, reason, hours)
    EMERGENCY_DOMAIN_NOT_COVERED = "emergency_domain_not_covered"  # a grant for another domain than the document's
    EMERGENCY_DOMAIN_NOT_PERMITTED = "emergency_domain_not_permitted"  # opening a grant for a domain not configured
    EMERGENCY_NOT_PERMITTED = "emergency_not_permitted"  # the caller's unit (or the document's domain) is not permitted
    FORBIDDEN_ROLE = "forbidden_role"
    GROUND_NOT_MET = "ground_not_met"  # a disclosure's ground does not hold for the client (an adult under under_18)
    # A disclosure's ground (OSL 25:12, 26:9), in the reasons of its allowed event.
    GROUND_LPT_LRV = "lpt_lrv"
    GROUND_ONGOING_MISUSE = "ongoing_misuse"
    GROUND_UNDER_18 = "under_18"
    INTEGRITY_ERROR = "integrity_error"
    MINOR = "minor"  # an electronic consent from a client under 18 (API-1.1 "The client's own view")
    NO_CONSENT = "no_consent"
    HOLDING_ZONE_HOLD = "holding_zone_hold"  # a SIP save that would take the plan from its holding zone (attack 7)
    NOT_PARTICIPANT = "not_participant"  # a SIP plan of which the caller's unit is no participant (SoL 2:7; HSL 16:4)
    NO_ORGANISATION = "no_organisation"
    NO_RELATION = "no_relation"
    NO_UNIT = "no_unit"
    NOT_HOLDING_ZONE = "not_holding_zone"  # only the zone that holds the information confirms a consent
    NOT_OWNING_UNIT = "not_owning_unit"
    NOT_PARTY = "not_party"
    NOT_UPLOADER = "not_uploader"
    OWN_EMERGENCY = "own_emergency"
    PERIOD_NOT_DUE = "period_not_due"  # indicators of a year before its end plus the freeze days, not made early: 422
    PLAN_CLOSED = "plan_closed"  # a closed SIP plan is read, never written
    PRECONDITION_REQUIRED = "precondition_required"  # a SIP plan saved without If-Match
    PURPOSE_NOT_COVERED = "purpose_not_covered"
    SAME_DOMAIN = "same_domain"  # a disclosure to a unit of the disclosing unit's own domain: not that road
    # What an allowed relation.open records besides its basis (policies/relations.py): the relation's kind, and
    # whether a reason was stated (the reason's text is sealed in the relation, never in the log).
    RELATION_KIND_CARE = "relation_kind:care"
    RELATION_KIND_CASE = "relation_kind:case"
    RELATION_KIND_REFERRAL = "relation_kind:referral"
    RELATION_KIND_SIP = "relation_kind:sip"
    RELATION_REASON_NONE = "relation_reason:none"
    RELATION_REASON_STATED = "relation_reason:stated"
    RECORD_RULES = "record_rules"  # a follow-up record refused by its rules (policies/followup.py check_*): 422
    RETENTION_MINIMUM = "retention_minimum"  # a patient record younger than ten years, no IVO decision (PDL 3:17, 8:4)
    SHREDDED = "shredded"
    DIFFERENT_ZONE = "different_zone"  # a succession across zones: never a reorganisation (OSL 25:1, 26:1)
    # A succession into a unit a client's block keeps out, without "blocked_documents": "move" (policies/units.py)
    BLOCKED_DOCUMENTS = "blocked_documents"
    SUCCESSION_CONFLICT = "succession_conflict"  # a unit succeeded before, an inactive successor, or the unit itself
    UNKNOWN_CLIENT = "unknown_client"
    UNKNOWN_CONSENT = "unknown_consent"
    UNKNOWN_DOCUMENT = "unknown_document"
    UNKNOWN_GRANT = "unknown_grant"
    UNKNOWN_PLAN = "unknown_plan"
    UNRELEASED = "unreleased"  # a document its owning unit has not released to the client (answered 404)
    UNKNOWN_RECORD = "unknown_record"  # a follow-up record id that does not exist
    UNKNOWN_LIFTING = "unknown_lifting"
    UNKNOWN_RELATION = "unknown_relation"
    UNKNOWN_UNIT = "unknown_unit"
    UNIT_INACTIVE = "unit_inactive"
    UNIT_NOT_COVERED = "unit_not_covered"
    VERSION_CONFLICT = "version_conflict"  # a SIP plan saved over a version another unit saved first
    WHOLE_LOG_ONLY = "whole_log_only"  # verifying a held checkpoint: the whole log's auditor only (policies/audit.py)


@dataclass(frozen=True, slots=True)
class Decision:
    """Falsy when denied, so `if not decision:` reads as English."""

    allowed: bool
    basis: str  # a Basis, or consent:<id> / emergency:<id>
    # Why it was denied; an allowed decision has none, but for opening a relation: its kind (policies/relations.py).
    reason_codes: tuple[Reason, ...] = ()
    legal_basis: str = ""
    flagged: bool = False
    # The record decided on, where the audit log has no column of its own for it (`sip_plan:<id>`): the event's
    # reasons name it after the reason codes (service/audit.py event_values).
    record: str | None = None

    def __bool__(self) -> bool:
        return self.allowed


def allow(basis: str, *, legal_basis: str = "", flagged: bool = False, reasons: tuple[Reason, ...] = ()) -> Decision:
    """An allowed decision; `reasons` says more of its basis where the law asks (a disclosure's ground)."""
    return Decision(True, basis, reasons, legal_basis, flagged)


def deny(*reasons: Reason, legal_basis: str = "") -> Decision:
    return Decision(False, Basis.NONE, reasons, legal_basis)
