"""A Brygga consent as an HL7 FHIR R4 Consent resource (https://hl7.org/fhir/R4/consent.html).

Mapping: scope patient-privacy; category LOINC 59284-0 (patient consent); policyRule
OPTIN; provision permit with the period, the recipient (zone or unit) and source
zone as actors, purposes as v3 ActReason where one fits (else Brygga's own system),
categories as provision.class. Status: pending and awaiting_confirmation (recorded by
the receiving zone, not yet confirmed by the holding zone) → proposed, active → active,
expired and revoked → inactive. The provision period ends at the earliest of valid_until,
the revocation and, for a guardian's consent, the client's 18th birthday (`guardian_until`:
custody ends, FB 6:2), so a consumer sees the end in advance; once ended, the extension
urn:brygga:ended-reason says why (came_of_age, period_ended, revoked). A guardian's consent
has the guardian as performer: a contained RelatedPerson (v3-RoleCode GUARD) with the name,
never the personal number.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

_STATUS = {"awaiting_confirmation": "proposed", "pending": "proposed", "active": "active", "expired": "inactive",
           "revoked": "inactive"}
_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
_PURPOSE = {"care": (_ACT_REASON, "TREAT", "treatment"), "coordination": (_ACT_REASON, "COC", "coordination of care")}
_BRYGGA = "urn:brygga"


def _instant(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else value.isoformat()
    return text.replace("+00:00", "Z")


def _zone_reference(organisation: str, domain: str, unit: str | None = None) -> dict[str, Any]:
    if unit:
        return {"identifier": {"system": f"{_BRYGGA}:unit", "value": unit}, "display": f"{organisation}/{domain}/{unit}"}
    return {"identifier": {"system": f"{_BRYGGA}:zone", "value": f"{organisation}/{domain}"}, "display": f"{organisation}/{domain}"}


def _verification(consent: dict[str, Any]) -> dict[str, Any]:
    """Verified once the holding zone stands behind the consent (its confirmation), by whom and when.

    A consent the receiving zone recorded and the holding zone has not confirmed is not verified: a
    FHIR consumer must not take the receiver's own recording for the custodian's (OSL 12:2).
    """
    if consent.get("confirmed_at") is None:
        return {"verified": False}
    return {"verified": True,
            "verifiedWith": {"identifier": {"system": f"{_BRYGGA}:staff", "value": consent["confirmed_by"]}},
            "verificationDate": _instant(consent["confirmed_at"])}


def consent_resource(consent: dict[str, Any]) -> dict[str, Any]:
    """The FHIR R4 Consent for a consent object as the API returns it."""
    end = min(instant for instant in (consent["valid_until"], consent["revoked_at"], consent.get("guardian_until"))
              if instant is not None)
    purposes = []
    for purpose in consent["purposes"]:
        system, code, display = _PURPOSE.get(purpose, (f"{_BRYGGA}:purpose", purpose, purpose.replace("_", " ")))
        purposes.append({"system": system, "code": code, "display": display})
    to = consent["to"]
    performer = ({"reference": f"Patient/{consent['client_id']}"} if consent["given_by"] == "client"
                 else {"display": "guardian (vårdnadshavare)"})
    guardian = consent.get("guardian")
    contained = []
    if consent["given_by"] == "guardian" and guardian is not None:
        contained.append({
            "resourceType": "RelatedPerson", "id": "guardian", "patient": {"reference": f"Patient/{consent['client_id']}"},
            "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "GUARD",
                                          "display": "guardian"}]}],
            "name": [{"text": guardian["name"]}],
        })
        performer = {"reference": "#guardian", "display": f"{guardian['name']} (vårdnadshavare)"}
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "id": str(consent["id"]),
        "status": _STATUS[consent["status"]],
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy",
                              "display": "Privacy Consent"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]}],
        "patient": {"reference": f"Patient/{consent['client_id']}"},
        "dateTime": _instant(consent["recorded_at"]),
        "performer": [performer],
        "organization": [_zone_reference(consent["from"]["organisation"], consent["from"]["domain"])],
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
        "verification": [_verification(consent)],
        "provision": {
            "type": "permit",
            "period": {"start": _instant(consent["valid_from"]), "end": _instant(end)},
            "actor": [
                {"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP",
                                      "display": "information recipient"}]},
                 "reference": _zone_reference(to["organisation"], to["domain"], to["unit"])},
                {"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "CST",
                                      "display": "custodian"}]},
                 "reference": _zone_reference(consent["from"]["organisation"], consent["from"]["domain"])},
            ],
            "purpose": purposes,
            "class": [{"system": f"{_BRYGGA}:category", "code": category} for category in consent["categories"]],
        },
    }
    if contained:
        resource["contained"] = contained
    if consent["evidence_document_id"] is not None:
        resource["sourceReference"] = {"reference": f"DocumentReference/{consent['evidence_document_id']}"}
    resource["extension"] = [{"url": f"{_BRYGGA}:consent-form", "valueCode": consent["form"]}]
    if consent.get("ended_reason") is not None:
        resource["extension"].append({"url": f"{_BRYGGA}:ended-reason", "valueCode": consent["ended_reason"]})
    return resource
