"""Every code the web interface shows, in the clinic's own words: Swedish first, English beside it (issue #20).

One catalogue for the whole interface: categories, purposes, domains, audited actions, reason codes, bases,
relation kinds, roles, statuses, forms, grounds, follow-up kinds, retention verdicts. Templates never print a
code: they call `label(kind, code)`, `basis_words(basis)`, `unit_words(id)`, `zone_words(org, domain)` and
`day(value)` / `moment(value)` (ÅÅÅÅ-MM-DD and Swedish time, whatever the browser's locale). The codes stay in
URLs and form values, where the API's rules judge them.

tests/unit/test_labels.py enumerates every code policies/ and service/ define and fails on one without words
here, so a new code cannot reach a page as a code.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

SWEDEN = ZoneInfo("Europe/Stockholm")
Words = tuple[str, str]  # (Swedish, English)

LABELS: dict[str, dict[str, Words]] = {
    "category": {
        "journal_note": ("Journalanteckning", "Record note"),
        "assessment": ("Utredning", "Assessment"),
        "screening": ("Screening", "Screening"),
        "treatment_plan": ("Behandlingsplan", "Treatment plan"),
        "sip": ("Samordnad individuell plan (SIP)", "Coordinated individual plan (SIP)"),
        "decision": ("Beslut", "Decision"),
        "referral": ("Remiss", "Referral"),
        "consent_form": ("Samtyckesblankett", "Consent form"),
        "other": ("Övrigt", "Other"),
        "statement": ("Utlåtande", "Statement"),
        "placement": ("Placering", "Placement"),
        "adoption": ("Adoption", "Adoption"),
        "paternity": ("Faderskap", "Paternity"),
        "followup": ("Uppföljning", "Follow-up"),
        "*": ("Alla kategorier", "All categories"),
    },
    "purpose": {
        "care": ("Vård och behandling", "Care and treatment"),
        "case_handling": ("Handläggning", "Case handling"),
        "coordination": ("Samordning (SIP)", "Coordination (SIP)"),
        "followup": ("Uppföljning", "Follow-up"),
    },
    "domain": {
        "social": ("Socialtjänst", "Social services"),
        "health": ("Hälso- och sjukvård", "Health care"),
    },
    "role": {
        "admin": ("Administratör", "Administrator"),
        "analyst": ("Analytiker", "Analyst"),
        "auditor": ("Granskare", "Auditor"),
        "client": ("Klient", "Client"),
        "staff": ("Personal", "Staff"),
        "system": ("System", "System"),
        "unit_manager": ("Enhetschef", "Unit manager"),
    },
    "action": {
        "block.lift": ("Spärr hävd tillfälligt", "Block lifted for a while"),
        "block.lift_end": ("Tillfälligt hävande avslutat", "Block lifting ended"),
        "client.list": ("Klientlista läst", "Client list read"),
        "client.lookup": ("Klient sökt på personnummer", "Client looked up by personal number"),
        "client.read": ("Klient läst", "Client read"),
        "client.register": ("Klient registrerad", "Client registered"),
        "consent.confirm": ("Samtycke bekräftat", "Consent confirmed"),
        "consent.grant": ("Samtycke registrerat", "Consent recorded"),
        "consent.read": ("Samtycken lästa", "Consents read"),
        "consent.revoke": ("Samtycke återkallat", "Consent revoked"),
        "disclosure.create": ("Uppgifter utlämnade", "Information disclosed"),
        "disclosure.list": ("Utlämnanden lästa", "Disclosures read"),
        "document.block": ("Dokument spärrat", "Document blocked"),
        "document.create": ("Dokument uppladdat", "Document uploaded"),
        "document.cull": ("Dokument gallrat", "Document culled"),
        "document.list": ("Dokumentlista läst", "Document list read"),
        "document.read_content": ("Dokument öppnat", "Document opened"),
        "document.read_metadata": ("Dokumentuppgifter lästa", "Document details read"),
        "document.release": ("Dokument gjort tillgängligt för klienten", "Document released to the client"),
        "document.shred": ("Dokument förstört", "Document shredded"),
        "document.correct": ("Dokument rättat", "Document corrected"),
        "unit.succession": ("Enhet efterträdd (omorganisation)", "Unit succeeded (reorganisation)"),
        "document.unblock": ("Spärr borttagen", "Block removed"),
        "emergency.open": ("Nödåtkomst öppnad", "Emergency access opened"),
        "emergency.review": ("Nödåtkomst granskad", "Emergency access reviewed"),
        "audit.read": ("Logg läst", "Log read"),
        "audit.extract": ("Loggutdrag för klient", "Client log extract"),
        "audit.archive": ("Logg arkiverad", "Log archived"),
        "auth.unknown_unit": ("Okänd eller inaktiv enhet", "Unknown or inactive unit"),
        "client.network": ("Klientens nätverk läst", "Client's network read"),
        "me.access_log": ("Klienten läste sin logg", "The client read their log"),
        "me.read": ("Klienten läste sina uppgifter", "The client read their record"),
        "followup.close": ("Behandlingsperiod avslutad", "Episode closed"),
        "followup.create": ("Uppföljning antecknad", "Follow-up recorded"),
        "followup.list": ("Uppföljningar lästa", "Follow-up records read"),
        "followup.read": ("Uppföljning från annan zon läst", "Follow-up of another zone read"),
        "followup.void": ("Uppföljning makulerad", "Follow-up voided"),
        "indicators.read": ("Indikatorer lästa", "Indicators read"),
        "relation.end": ("Relation avslutad", "Relation ended"),
        "relation.list": ("Relationer lästa", "Relations read"),
        "relation.open": ("Relation öppnad", "Relation opened"),
        "retention.plan": ("Gallringsplan läst", "Retention plan read"),
        "retention.rules_read": ("Gallringsregler lästa", "Retention rules read"),
        "retention.rules_set": ("Gallringsregler ändrade", "Retention rules changed"),
        "sip.close": ("SIP avslutad", "SIP closed"),
        "sip.create": ("SIP påbörjad", "SIP started"),
        "sip.follow_up": ("SIP följd upp", "SIP followed up"),
        "sip.list": ("SIP-planer lästa", "SIP plans listed"),
        "sip.overdue": ("SIP-uppföljningar som passerat lästa", "Overdue SIP follow-ups read"),
        "sip.read": ("SIP läst", "SIP read"),
        "sip.update": ("SIP ändrad", "SIP changed"),
        "sip.versions": ("SIP-versioner lästa", "SIP versions read"),
    },
    "decision": {"allow": ("Tillåtet", "Allowed"), "deny": ("Nekat", "Denied")},
    "basis": {
        "own_zone": ("Egen zon", "Own zone"),
        "uploader": ("Uppladdare", "Uploader"),
        "role": ("Roll", "Role"),
        "relation": ("Relation med klienten", "Relation with the client"),
        "self": ("Klienten själv", "The client themself"),
        "retention": ("Gallringsregel", "Retention rule"),
        "none": ("Ingen grund", "No basis"),
        "consent": ("Samtycke", "Consent"),
        "emergency": ("Nödåtkomst", "Emergency access"),
        "disclosure": ("Utlämnande utan samtycke", "Disclosure without consent"),
        "lifting": ("Spärren hävd tillfälligt", "Block lifted for a while"),
        "ivo_decision": ("IVO-beslut", "IVO decision"),
    },
    "reason": {
        "already_reviewed": ("Redan granskad", "Already reviewed"),
        "blocked": ("Spärrad", "Blocked"),
        "block_lifted": ("Spärr hävd tillfälligt", "Block lifted for a while"),
        "came_of_age": ("Klienten har fyllt 18", "The client has turned 18"),
        "category_not_covered": ("Kategorin omfattas inte", "Category not covered"),
        "consent_expired": ("Samtycket har löpt ut", "Consent expired"),
        "consent_rules": ("Samtycket bryter mot reglerna", "Consent breaks the rules"),
        "consent_pending": ("Samtycket gäller inte ännu", "Consent not yet in force"),
        "consent_revoked": ("Samtycket är återkallat", "Consent revoked"),
        "consent_required": ("Samtycke krävs", "Consent required"),
        "consent_unconfirmed": ("Samtycket väntar på bekräftelse", "Consent awaiting confirmation"),
        "delay_not_allowed": ("Fördröjning inte tillåten", "Delay not allowed"),
        "evidence_required": ("Underskrivet formulär krävs", "Signed form required"),
        "lifting_not_allowed": ("Hävningen bryter mot reglerna", "Lifting breaks the rules"),
        "emergency_domain_not_covered": ("Nödåtkomsten gäller annan domän", "Emergency access for another domain"),
        "emergency_domain_not_permitted": ("Nödåtkomst inte tillåten för domänen",
                                           "Emergency access not permitted for the domain"),
        "emergency_not_permitted": ("Nödåtkomst inte tillåten", "Emergency access not permitted"),
        "forbidden_role": ("Rollen tillåter inte detta", "Role does not allow this"),
        "ground_not_met": ("Skälet gäller inte", "Ground not met"),
        "lpt_lrv": ("Vårdas enligt LPT eller LRV", "Cared for under LPT or LRV"),
        "ongoing_misuse": ("Pågående missbruk", "Ongoing misuse"),
        "under_18": ("Under 18 år", "Under 18"),
        "integrity_error": ("Innehållet är skadat", "Content damaged"),
        "minor": ("Minderårig", "Minor"),
        "no_consent": ("Inget samtycke", "No consent"),
        "holding_zone_hold": ("Zonen som har uppgifterna behåller planen", "The holding zone keeps the plan"),
        "not_participant": ("Inte deltagare", "Not a participant"),
        "no_organisation": ("Ingen organisation angiven", "No organisation named"),
        "no_relation": ("Ingen relation", "No relation"),
        "no_unit": ("Ingen enhet", "No unit"),
        "not_holding_zone": ("Inte zonen som har uppgifterna", "Not the holding zone"),
        "not_owning_unit": ("Inte ägande enhet", "Not the owning unit"),
        "different_zone": ("Annan zon: en efterträdare måste höra till samma organisation och verksamhet",
                           "Another zone: a successor must belong to the same organisation and domain"),
        "blocked_documents": ("Spärrade dokument skulle flyttas till en enhet som klienten spärrat dem mot",
                              "Blocked documents would move to a unit the client blocked them from"),
        "succession_conflict": ("Omorganisationen går inte: enheten är redan efterträdd, efterträdaren inaktiv eller densamma",
                                "The reorganisation cannot be made: the unit was succeeded already, or the successor is "
                                "inactive or the unit itself"),
        "not_party": ("Inte part", "Not a party"),
        "not_uploader": ("Inte uppladdare", "Not the uploader"),
        "own_emergency": ("Egen nödåtkomst", "Own emergency access"),
        "plan_closed": ("Planen är avslutad", "Plan closed"),
        "precondition_required": ("Versionen måste anges", "Version required"),
        "purpose_not_covered": ("Ändamålet omfattas inte", "Purpose not covered"),
        "same_domain": ("Samma domän", "Same domain"),
        "relation_kind:care": ("Vårdrelation", "Care relation"),
        "relation_kind:case": ("Ärende", "Case"),
        "relation_kind:referral": ("Remiss", "Referral"),
        "relation_kind:sip": ("SIP", "SIP"),
        "relation_reason:none": ("Inget skäl angivet", "No reason given"),
        "relation_reason:stated": ("Skäl angivet", "Reason given"),
        "record_rules": ("Uppföljningen bryter mot reglerna", "Record breaks the rules"),
        "period_not_due": ("Året är inte klart för indikatorer än", "Year not yet due for indicators"),
        "retention_minimum": ("Yngre än tio år, IVO-beslut saknas", "Younger than ten years, no IVO decision"),
        "shredded": ("Förstört", "Shredded"),
        "unknown_client": ("Okänd klient", "Unknown client"),
        "unknown_consent": ("Okänt samtycke", "Unknown consent"),
        "unknown_document": ("Okänt dokument", "Unknown document"),
        "unknown_grant": ("Okänd nödåtkomst", "Unknown emergency grant"),
        "unknown_plan": ("Okänd plan", "Unknown plan"),
        "unreleased": ("Inte tillgängligt för klienten", "Not released to the client"),
        "unknown_record": ("Okänd uppföljning", "Unknown record"),
        "unknown_lifting": ("Okänt hävande", "Unknown lifting"),
        "unknown_relation": ("Okänd relation", "Unknown relation"),
        "unknown_unit": ("Okänd enhet", "Unknown unit"),
        "unit_inactive": ("Enheten är inaktiv", "Unit inactive"),
        "unit_not_covered": ("Enheten omfattas inte", "Unit not covered"),
        "version_conflict": ("Någon annan sparade först", "Someone else saved first"),
        "whole_log_only": ("Bara hela loggens granskare", "Whole log's auditor only"),
    },
    "relation_kind": {
        "care": ("Vårdrelation", "Care relation"),
        "case": ("Ärende", "Case"),
        "sip": ("Samordnad individuell plan (SIP)", "Coordinated individual plan (SIP)"),
        "referral": ("Remiss", "Referral"),
    },
    "consent_status": {
        "awaiting_confirmation": ("Väntar på bekräftelse", "Awaiting confirmation"),
        "pending": ("Gäller från startdagen", "In force from its start"),
        "active": ("Gäller", "In force"),
        "expired": ("Har löpt ut", "Expired"),
        "revoked": ("Återkallat", "Revoked"),
    },
    "consent_ended": {
        "revoked": ("Återkallat", "Revoked"),
        "period_ended": ("Perioden har löpt ut", "The period ended"),
        "came_of_age": ("Klienten fyllde 18", "The client turned 18"),
    },
    "consent_form": {
        "written": ("Skriftligt", "Written"),
        "verbal": ("Muntligt", "Verbal"),
        "electronic": ("Elektroniskt", "Electronic"),
    },
    "given_by": {"client": ("Klienten", "The client"), "guardian": ("Vårdnadshavare", "Guardian")},
    "ground": {
        "under_18": ("Personen är under 18 år", "The person is under 18"),
        "ongoing_misuse": ("Personen har ett pågående missbruk av alkohol, narkotika eller flyktiga lösningsmedel",
                           "The person has an ongoing misuse of alcohol, narcotics or volatile solvents"),
        "lpt_lrv": ("Personen vårdas enligt LPT eller LRV", "The person is cared for under LPT or LRV"),
    },
    "lifting_basis": {"consent": ("Klientens samtycke", "The client's consent"),
                      "emergency": ("Nödsituation", "Emergency")},
    "lifting_scope": {"self": ("Bara för mig", "Only for me"), "unit": ("Hela enheten", "The whole unit")},
    "document_status": {"active": ("Aktivt", "Active"), "shredded": ("Förstört", "Shredded")},
    "shred_reason": {"culled": ("Gallrat", "Culled"), "requested": ("Förstört på begäran", "Shredded on request")},
    "plan_status": {"active": ("Pågående", "Active"), "closed": ("Avslutad", "Closed")},
    "verdict": {"justified": ("befogad", "justified"), "unjustified": ("obefogad", "unjustified")},
    "retention_action": {"cull": ("Gallras", "Culled"), "keep": ("Bevaras", "Kept")},
    "kept": {
        "research_municipality": ("Forskningskommun: allt bevaras", "Research municipality: everything kept"),
        "research_birthday": ("Född den 5, 15 eller 25: bevaras för forskning",
                              "Born on the 5th, 15th or 25th: kept for research"),
        "never_culled": ("Gallras aldrig", "Never culled"),
        "keep_rule": ("Regel om bevarande", "Rule to keep"),
        "not_yet": ("Inte gallringsbar ännu", "Not due yet"),
    },
    "episode_status": {"open": ("Pågående", "Open"), "closed": ("Avslutad", "Closed")},
    "verify_problem": {
        "modified": ("Ändrad händelse", "Modified event"),
        "missing": ("Saknad händelse", "Missing event"),
        "reordered": ("Händelser i fel ordning", "Events reordered"),
        "inserted": ("Insatt händelse", "Inserted event"),
        "bad_signature": ("Ogiltig signatur", "Invalid signature"),
        "truncated": ("Loggen är avkortad", "Log truncated"),
    },
    "indicator_scope": {
        "unit": ("Enhet", "Unit"), "zone": ("Zon", "Zone"), "organisation": ("Organisation", "Organisation"),
        "joint": ("Båda huvudmännen", "Both principals"),
    },
    "sex": {"all": ("Alla", "All"), "female": ("Kvinnor", "Women"), "male": ("Män", "Men")},
    "age_band": {"all": ("Alla åldrar", "All ages"), "0-17": ("0–17 år", "0–17 years"),
                 "18-24": ("18–24 år", "18–24 years"), "25-34": ("25–34 år", "25–34 years"),
                 "35-49": ("35–49 år", "35–49 years"), "50-64": ("50–64 år", "50–64 years"),
                 "65+": ("65 år och äldre", "65 years and older")},
    "group_by": {"sex": ("Kön", "Sex"), "age_band": ("Ålder", "Age")},
    "instrument": {"AUDIT": ("AUDIT", "AUDIT"), "AUDIT-C": ("AUDIT-C", "AUDIT-C"), "DUDIT": ("DUDIT", "DUDIT")},
    "anomaly": {
        "many_clients_read": ("Många klienter lästa samma dag", "Many clients read in a day"),
        "repeated_denials": ("Upprepade nekanden", "Repeated denials"),
        "many_relations_opened": ("Många relationer öppnade samma dag", "Many relations opened in a day"),
        "emergency_unreviewed": ("Nödåtkomst inte granskad", "Emergency access not reviewed"),
        "relations_without_activity": ("Relation öppnad utan arbete", "Relation opened without work"),
    },
    # A record an event's reasons name after its codes (`sip_plan:<id>`, `followup_unit:<unit>`).
    "record": {"sip_plan": ("SIP-plan", "SIP plan"), "followup_unit": ("Uppföljning från enhet", "Follow-up of unit")},
    "record_kind": {
        "episode": ("Ärende/behandlingsperiod", "Episode"),
        "contact": ("Besök", "Visit"),
        "assessment": ("Skattning", "Assessment"),
        "intervention": ("Insats", "Intervention"),
    },
    "contact_kind": {
        "individual": ("Enskilt", "Individual"),
        "group": ("Grupp", "Group"),
        "joint": ("Gemensamt besök", "Joint visit"),
        "phone": ("Telefon", "Phone"),
        "home_visit": ("Hembesök", "Home visit"),
    },
    "intervention_kind": {
        "medication_assisted": ("Läkemedelsassisterad", "Medication-assisted"),
        "group": ("Grupp", "Group"),
        "individual": ("Enskild", "Individual"),
        "other": ("Annan", "Other"),
    },
    "close_reason": {
        "completed": ("Genomförd", "Completed"),
        "moved": ("Flyttat", "Moved"),
        "dropped_out": ("Avbrutit", "Dropped out"),
        "other": ("Annat", "Other"),
    },
}

# Organisations by their id (units carry the id; the catalogue names the organisations Brygga serves).
# An organisation not named here shows as its id.
ORGANISATIONS: dict[str, str] = {
    "malmo-stad": "Malmö stad",
    "region-skane": "Region Skåne",
    "alingsas-kommun": "Alingsås kommun",
    "vgr": "Västra Götalandsregionen",
    "stockholms-stad": "Stockholms stad",
    "region-stockholm": "Region Stockholm",
}


def text(kind: str, code: str, lang: str = "sv") -> str:
    """The words for `code`; a code without words shows as itself (the catalogue's test keeps there being none)."""
    words = LABELS.get(kind, {}).get(str(code))
    if words is None:
        prefix, _, ident = str(code).partition(":")
        record = LABELS["record"].get(prefix) if kind == "reason" and ident else None
        if record is not None:  # a record named after the reasons: its kind in words, then its id
            return f"{record[1] if lang == 'en' else record[0]} {ident}"
        return str(code)
    return words[1] if lang == "en" else words[0]


def choices(kind: str, codes: Iterable[str], lang: str = "sv") -> list[tuple[str, str]]:
    """(code, words) pairs for a chooser, in the order given."""
    return [(code, text(kind, code, lang)) for code in codes]


def organisation(org_id: str | None) -> str:
    return ORGANISATIONS.get(org_id or "", org_id or "")


def day(value: Any) -> str:
    """ÅÅÅÅ-MM-DD, the Swedish day of an instant (a date as it is); empty for none."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return value.astimezone(SWEDEN).strftime("%Y-%m-%d") if value.tzinfo else value.strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]


def moment(value: Any, seconds: bool = False) -> str:
    """ÅÅÅÅ-MM-DD TT:MM (TT:MM:SS with `seconds`) in Swedish time; empty for none."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return (value.astimezone(SWEDEN) if value.tzinfo else value).strftime(
            "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return day(value)


def _lang(ctx: Mapping[str, Any]) -> str:
    return str(ctx.get("lang") or "sv")


def _units(ctx: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    units = ctx.get("unit_index")
    return units if isinstance(units, Mapping) else {}


def unit_text(units: Mapping[str, Mapping[str, Any]], unit_id: str | None, *, with_organisation: bool = True) -> str:
    """"Beroendecentrum Malmö (Region Skåne)"; an unknown unit as its id."""
    if not unit_id:
        return ""
    unit = units.get(unit_id)
    if unit is None:
        return unit_id
    name = str(unit["name"])
    return f"{name} ({organisation(unit['organisation'])})" if with_organisation else name


def zone_text(units: Mapping[str, Mapping[str, Any]], org_id: str, domain: str, lang: str = "sv") -> str:
    """A zone in words: its one unit's name when it has one, else the organisation and the domain."""
    members = [u for u in units.values() if u["organisation"] == org_id and u["domain"] == domain]
    if len(members) == 1:
        return str(members[0]["name"])
    return f"{organisation(org_id)}, {text('domain', domain, lang).lower()}"


def basis_text(basis: str | None, lang: str = "sv", *, consents: Mapping[str, Mapping[str, Any]] | None = None,
               units: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """"Samtycke: IFO Innerstaden → Beroendecentrum, t.o.m. 2027-05-31" for a consent the page knows; the kind's
    words for any other basis."""
    if not basis:
        return ""
    kind, _, ident = str(basis).partition(":")
    words = text("basis", kind, lang)
    consent = (consents or {}).get(ident) if kind == "consent" else None
    if kind == "ivo_decision" and ident:
        return f"{words} {ident}"
    if consent is None:
        return words
    known = units or {}
    source = zone_text(known, consent["from"]["organisation"], consent["from"]["domain"], lang)
    to = consent["to"]
    target = unit_text(known, to["unit"], with_organisation=False) if to.get("unit") else \
        zone_text(known, to["organisation"], to["domain"], lang)
    until = "until" if lang == "en" else "t.o.m."
    return f"{words}: {source} → {target}, {until} {day(consent['valid_until'])}"


@jinja2.pass_context
def _label(ctx: Any, kind: str, code: str) -> str:
    return text(kind, code, _lang(ctx))


@jinja2.pass_context
def _unit_words(ctx: Any, unit_id: str | None, with_organisation: bool = True) -> str:
    return unit_text(_units(ctx), unit_id, with_organisation=with_organisation)


@jinja2.pass_context
def _zone_words(ctx: Any, org_id: str, domain: str) -> str:
    return zone_text(_units(ctx), org_id, domain, _lang(ctx))


@jinja2.pass_context
def _basis_words(ctx: Any, basis: str | None) -> str:
    consents = ctx.get("consent_index")
    return basis_text(basis, _lang(ctx), consents=consents if isinstance(consents, Mapping) else None,
                      units=_units(ctx))


def install(env: jinja2.Environment) -> None:
    """The catalogue's functions for every template (service/ui/__init__.py setup)."""
    env.globals.update(label=_label, unit_words=_unit_words, zone_words=_zone_words, basis_words=_basis_words,
                       organisation_words=organisation, day=day, moment=moment)


_UNITS = web.RequestKey("ui_unit_index", dict)


async def load_units(request: web.Request) -> None:
    """Every registered unit by id, once a request, for the pages' names (units are listed to every role but the
    client's: GET /v1/units). pages.page() calls this for a signed-in member of staff."""
    from ..domain import units
    from ..http.context import runtime
    from .pages import caller

    listed = await units.page(runtime(request), caller(request).principal, after="", limit=1000)
    request[_UNITS] = {u["id"]: u for u in listed.items}


def loaded_units(request: web.Request) -> dict[str, dict[str, Any]]:
    """The units load_units() found for this request (none for a client's or an anonymous page)."""
    found: dict[str, dict[str, Any]] = request.get(_UNITS, {})
    return found
