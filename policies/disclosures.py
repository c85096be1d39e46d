"""Disclosure without consent between social services and health care (OSL 25:12, 26:9): may it be made?

A member of the unit holding the documents decides to hand them to one unit of the other domain, when the
receiver needs them for the person's necessary care, treatment or other support and the person is under 18,
in ongoing misuse of alcohol, narcotics or volatile solvents, or cared for under LPT/LRV. Only what is needed
goes: the documents are named one by one (a short statement, category `statement`, rather than a whole
journal: JO 2014). What a disclosure opens once made is decide()'s (policies/decide.py `disclosed`).

The order of the checks is API-1.1's: the caller (role, unit, client, relation: decide) → what exists and
is visible (404: the receiving unit, each document) → the owning unit (403) → the rules (422: the other
domain, the ground).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date

from .decide import DocumentFacts, Facts, PolicyConfig, Request, decide
from .decision import Decision, Reason, allow, deny
from .model import Zone
from .personal_number import is_minor
from .roles import Permission

LAW = "OSL 25:12, 26:9"
_GROUND_REASONS = {"under_18": Reason.GROUND_UNDER_18, "ongoing_misuse": Reason.GROUND_ONGOING_MISUSE,
                   "lpt_lrv": Reason.GROUND_LPT_LRV}


@dataclass(frozen=True, slots=True)
class DisclosureDraft:
    """A disclosure as the caller asks to make it, with what storage found of what it names."""

    id: str
    to_zone: Zone | None  # the receiving unit's zone; None when there is no such active unit
    ground: str
    documents: tuple[DocumentFacts | None, ...]  # each named document (id set), None where there is none
    today: date  # the decision's date in Sweden (the database's clock)
    client_birth_date: date


def decide_disclosure(request: Request, facts: Facts, draft: DisclosureDraft,
                      config: PolicyConfig | None = None) -> Decision:
    """Whether `draft` may be made; allowed under `disclosure:<id>` with its ground in the reasons.

    Denials: decide()'s for the caller (role, unit, client, relation); unknown_unit, unknown_document (a
    document that does not exist, is shredded, or the caller may not see: 404 alike); not_owning_unit;
    same_domain; ground_not_met (`under_18` for a client who is 18 or older on the decision's date).
    """
    if request.permission is not Permission.DISCLOSURE_CREATE:
        raise ValueError(f"decide_disclosure decides {Permission.DISCLOSURE_CREATE}, not {request.permission}")
    config = config or PolicyConfig()
    decision = decide(request, facts, config)
    if not decision:
        return decision
    who = request.principal
    if draft.to_zone is None:
        return deny(Reason.UNKNOWN_UNIT, legal_basis=LAW)
    read = Request(who, Permission.DOCUMENT_READ_METADATA)
    for document in draft.documents:
        if document is None or document.shredded or not decide(read, dataclasses.replace(facts, document=document), config):
            return deny(Reason.UNKNOWN_DOCUMENT, legal_basis=LAW)
    if any(document is not None and document.unit != who.unit for document in draft.documents):
        return deny(Reason.NOT_OWNING_UNIT, legal_basis=LAW)
    if who.zone is None or draft.to_zone.domain == who.zone.domain:
        return deny(Reason.SAME_DOMAIN, legal_basis=LAW)
    if draft.ground == "under_18" and not is_minor(draft.client_birth_date, today=draft.today):
        return deny(Reason.GROUND_NOT_MET, legal_basis=LAW)
    return allow(f"disclosure:{draft.id}", legal_basis=LAW, reasons=(_GROUND_REASONS[draft.ground],))


def decide_disclosure_list(request: Request, facts: Facts, config: PolicyConfig | None = None) -> Decision:
    """Listing the disclosures the caller's unit made or received for the client: the caller's decide() (a
    relation), or, without one, being the unit some disclosure was made to (what was handed to it, it may know
    of). Anyone else gets decide()'s refusal (404: the client's existence is not revealed)."""
    decision = decide(request, facts, config or PolicyConfig())
    if decision or Reason.NO_RELATION not in decision.reason_codes:
        return decision
    who = request.principal
    if any(d.to_unit == who.unit and d.to_zone == who.zone for d in facts.disclosures):
        return allow(f"disclosure:{min(d.id for d in facts.disclosures if d.to_unit == who.unit)}", legal_basis=LAW)
    return decision
