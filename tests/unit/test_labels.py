"""Every code the service defines has words in the web interface's catalogue (service/ui/labels.py, issue #20).

The codes are found, not listed by hand: every enumeration (StrEnum, Literal alias) in policies/, every Literal
field of the API's models (service/http/schemas.py), the audited actions (service/audit.py), the bases that
policies/ build as `kind:<id>`, the follow-up and retention vocabularies and the configured domains. Each must
be mapped to a catalogue kind below (or named as never shown, with why), and each of its values must have words
in Swedish and in English: a new code without words fails here before it reaches a page as a code.
"""
from __future__ import annotations

import enum
import importlib
import inspect
import pkgutil
import re
import typing
from pathlib import Path

from pydantic import BaseModel

import policies
import policies.followup
import policies.retention
from service.audit import Action
from service.domain import audit_review
from service.http import schemas
from service.settings import BUILTIN_DOMAINS
from service.ui import labels

# policies/ enumerations → catalogue kind.
ENUMERATIONS = {
    "policies.consents.Status": "consent_status",
    "policies.consents.EndedReason": "consent_ended",
    "policies.decision.Basis": "basis",
    "policies.decision.Reason": "reason",
    "policies.model.Role": "role",
    "policies.model.Category": "category",
    "policies.model.Purpose": "purpose",
    "policies.model.Ground": "ground",
    "policies.relations.RelationKind": "relation_kind",
}
NEVER_SHOWN = {
    "policies.roles.Permission": "permissions are the policies' own; pages show roles and actions",
}
# The API models' Literal fields → catalogue kind.
FIELDS = {
    ("RelationIn", "kind"): "relation_kind", ("Relation", "kind"): "relation_kind",
    ("NetworkUnit", "kind"): "relation_kind",
    ("DocumentMetadataIn", "category"): "category", ("ConsentIn", "categories"): "category",
    ("MeConsentIn", "categories"): "category",
    ("ConsentIn", "purposes"): "purpose", ("MeConsentIn", "purposes"): "purpose",
    ("EmergencyReviewIn", "verdict"): "verdict",
    ("Document", "status"): "document_status", ("MeDocument", "status"): "document_status",
    ("DocumentVersion", "status"): "document_status",
    ("Document", "shred_reason"): "shred_reason",
    ("ConsentIn", "given_by"): "given_by", ("ConsentIn", "form"): "consent_form",
    ("BlockLiftingIn", "form"): "consent_form",
    ("ConsentOut", "status"): "consent_status", ("ConsentOut", "ended_reason"): "consent_ended",
    ("AuditEvent", "decision"): "decision", ("MeAccessLogEntry", "decision"): "decision",
    ("VerifyOut", "problem"): "verify_problem",
    ("DisclosureIn", "ground"): "ground", ("DisclosureOut", "ground"): "ground",
    ("BlockLiftingIn", "basis"): "lifting_basis", ("BlockLiftingOut", "basis"): "lifting_basis",
    ("BlockLiftingIn", "scope"): "lifting_scope", ("BlockLiftingOut", "scope"): "lifting_scope",
    ("RetentionRuleIn", "domain"): "domain",
    ("RetentionRuleIn", "action"): "retention_action", ("RetentionRule", "action"): "retention_action",
    ("RetentionZone", "kept"): "kept",
    ("SipPlanOut", "status"): "plan_status", ("SipPlanSummary", "status"): "plan_status",
    ("EpisodeCloseIn", "reason"): "close_reason", ("EpisodeOut", "reason"): "close_reason",
    ("EpisodeOut", "status"): "episode_status",
    ("ContactIn", "kind"): "contact_kind", ("ContactOut", "kind"): "contact_kind",
    ("InterventionIn", "kind"): "intervention_kind", ("InterventionOut", "kind"): "intervention_kind",
    ("AssessmentIn", "instrument"): "instrument", ("AssessmentOut", "instrument"): "instrument",
    ("IndicatorScope", "kind"): "indicator_scope", ("IndicatorCell", "sex"): "sex",
    ("IndicatorCell", "age_band"): "age_band", ("IndicatorTable", "group_by"): "group_by",
}
FIELDS_NEVER_SHOWN = {
    ("Health", "status"), ("Ready", "status"),  # the probes' answers, for machines
    ("FhirConsent", "resourceType"), ("PublicJwk", "kty"), ("PublicJwk", "crv"),  # wire formats
    ("PublicKeyOut", "algorithm"),
    ("SuccessionIn", "blocked_documents"),  # an admin's explicit "move": the page words it as a checkbox of its own
}


def _literal_values(annotation: object) -> list[str]:
    if typing.get_origin(annotation) is typing.Literal:
        return [str(v) for v in typing.get_args(annotation)]
    return [value for arg in typing.get_args(annotation) or () for value in _literal_values(arg)]


def _policy_enumerations() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for info in pkgutil.iter_modules(policies.__path__):
        module = importlib.import_module(f"policies.{info.name}")
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, enum.Enum) and value.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = [str(member.value) for member in value]
            elif typing.get_origin(value) is typing.Literal:
                found[f"{module.__name__}.{name}"] = [str(v) for v in typing.get_args(value)]
    return found


def _schema_fields() -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = {}
    for name, model in vars(schemas).items():
        if inspect.isclass(model) and issubclass(model, BaseModel) and model.__module__ == schemas.__name__:
            for field, info in model.model_fields.items():
                if values := _literal_values(info.annotation):
                    found[(name, field)] = values
    return found


def _prefixed_bases() -> set[str]:
    """The `kind:` of every basis policies/ build as `allow(f"kind:{...}")`, and IVO's."""
    source = "\n".join(path.read_text() for path in Path(policies.__file__).parent.glob("*.py"))
    kinds = set(re.findall(r'allow\(f"([a-z_]+):\{', source))
    kinds.add(policies.retention.IVO_BASIS.rstrip(":"))
    return kinds


def _everything() -> list[tuple[str, str]]:
    """(kind, code) for every code the service defines."""
    wanted: list[tuple[str, str]] = []
    for name, values in _policy_enumerations().items():
        if name in NEVER_SHOWN:
            continue
        assert name in ENUMERATIONS, f"{name} is a new enumeration: map it to a catalogue kind in this test"
        wanted += [(ENUMERATIONS[name], value) for value in values]
    for key, values in _schema_fields().items():
        if key in FIELDS_NEVER_SHOWN:
            continue
        assert key in FIELDS, f"{key} is a new coded field of the API: map it to a catalogue kind in this test"
        wanted += [(FIELDS[key], value) for value in values if value != "*" or FIELDS[key] == "category"]
    wanted += [("action", action.value) for action in Action]
    wanted += [("basis", kind) for kind in _prefixed_bases()]
    wanted += [("domain", domain) for domain in (*BUILTIN_DOMAINS, *policies.retention.DOMAINS)]
    wanted += [("contact_kind", k) for k in policies.followup.CONTACT_KINDS]
    wanted += [("intervention_kind", k) for k in policies.followup.INTERVENTION_KINDS]
    wanted += [("close_reason", k) for k in policies.followup.CLOSE_REASONS]
    wanted += [("record_kind", k) for k in policies.followup.KINDS]
    wanted += [("kept", k) for k in policies.retention.KEPT_REASONS]
    wanted += [("category", "*")]
    review = (Path(audit_review.__file__)).read_text()  # the anomaly report's kinds
    wanted += [("anomaly", kind) for kind in re.findall(r'_finding\("([a-z_]+)"', review)]
    wanted += [("anomaly", kind[0]) for kind in audit_review._DAY_KINDS]
    return wanted


def test_every_code_has_words_in_swedish_and_english():
    missing = [(kind, code) for kind, code in _everything() if code not in labels.LABELS.get(kind, {})]
    assert not missing, f"codes without words in service/ui/labels.py: {sorted(set(missing))}"
    for kind, entries in labels.LABELS.items():
        for code, (swedish, english) in entries.items():
            assert swedish.strip() and english.strip(), (kind, code)


def test_the_search_finds_what_it_should():
    """The discovery itself is not empty: it finds the well-known codes (else the test above proves nothing)."""
    everything = set(_everything())
    assert {("category", "journal_note"), ("purpose", "case_handling"), ("action", "client.lookup"),
            ("reason", "no_relation"), ("basis", "consent"), ("basis", "emergency"), ("basis", "ivo_decision"),
            ("relation_kind", "referral"), ("consent_form", "written"), ("domain", "health")} <= everything
    assert len(everything) > 200


def test_words_in_each_language():
    assert labels.text("category", "journal_note") == "Journalanteckning"
    assert labels.text("category", "journal_note", "en") == "Record note"
    assert labels.text("purpose", "case_handling") == "Handläggning"
    assert labels.text("domain", "health", "en") == "Health care"
    assert labels.text("reason", "sip_plan:7d0c") == "SIP-plan 7d0c"  # a record named after the reason codes


def test_a_consent_basis_names_the_zones_and_the_last_day():
    from datetime import UTC, datetime

    units = {"ifo-innerstaden": {"name": "IFO Innerstaden", "organisation": "malmo-stad", "domain": "social"},
             "bc": {"name": "Beroendecentrum", "organisation": "region-skane", "domain": "health"},
             "bc2": {"name": "Beroendecentrum Nord", "organisation": "region-skane", "domain": "health"}}
    consent = {"from": {"organisation": "malmo-stad", "domain": "social"},
               "to": {"organisation": "region-skane", "domain": "health", "unit": "bc"},
               "valid_until": datetime(2027, 5, 31, 21, 59, tzinfo=UTC)}  # 23:59 in Stockholm
    basis = "consent:7d0c"
    assert labels.basis_text(basis, consents={"7d0c": consent}, units=units) == \
        "Samtycke: IFO Innerstaden → Beroendecentrum, t.o.m. 2027-05-31"
    assert labels.basis_text(basis, "en", consents={"7d0c": consent}, units=units) == \
        "Consent: IFO Innerstaden → Beroendecentrum, until 2027-05-31"
    to_zone = {**consent, "to": {"organisation": "region-skane", "domain": "health", "unit": None}}
    assert labels.basis_text(basis, consents={"7d0c": to_zone}, units=units) == \
        "Samtycke: IFO Innerstaden → Region Skåne, hälso- och sjukvård, t.o.m. 2027-05-31"
    assert labels.basis_text(basis) == "Samtycke"  # a consent the page does not know: its kind only
    assert labels.basis_text("emergency:1") == "Nödåtkomst"
    assert labels.basis_text("ivo_decision:IVO 3.1-123/2026") == "IVO-beslut IVO 3.1-123/2026"
    assert labels.unit_text(units, "bc") == "Beroendecentrum (Region Skåne)"
    assert labels.day(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == "2027-01-01"  # Swedish day
