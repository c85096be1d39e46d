"""An audit event in words a person understands, in Swedish (the client's own view, PDL 8:5; API-1.1).

"Beroendecentrum Malmö öppnade dokumentet ”Utredning” med stöd av ditt samtycke." The words name the unit,
what it did and on what ground; never a staff id or a reason code.
"""
from __future__ import annotations

# What the actor did (the past tense), by audited action; {document} is the document's words.
_DID = {
    "document.read_content": "öppnade {document}",
    "document.read_metadata": "såg uppgifter om {document}",
    "document.list": "såg listan över dina dokument",
    "document.create": "lade till {document}",
    "document.block": "spärrade {document}",
    "document.unblock": "tog bort spärren på {document}",
    "document.shred": "förstörde {document}",
    "document.cull": "tog bort {document} när tiden att bevara det hade gått ut",
    "document.release": "gjorde {document} tillgängligt för dig",
    "document.correct": "rättade {document} (den tidigare versionen finns kvar)",
    "client.read": "läste dina uppgifter",
    "client.lookup": "sökte fram dig på ditt personnummer",
    "client.list": "såg dig i enhetens lista över klienter",
    "client.register": "registrerade dig",
    "client.network": "såg vilka enheter du har kontakt med",
    "relation.open": "inledde en kontakt med dig",
    "relation.end": "avslutade sin kontakt med dig",
    "relation.list": "såg dina kontakter",
    "consent.grant": "registrerade ett samtycke",
    "consent.read": "läste dina samtycken",
    "consent.revoke": "återkallade ett samtycke",
    "consent.confirm": "bekräftade ett samtycke",
    "emergency.open": "öppnade nödåtkomst till dina uppgifter",
    "disclosure.create": "lämnade ut uppgifter om dig",
    "disclosure.list": "såg vilka uppgifter som lämnats ut om dig",
    "block.lift": "hävde tillfälligt en spärr",
    "block.lift_end": "avslutade ett tillfälligt hävande av en spärr",
    "audit.extract": "tog ut loggen över vem som har läst dina uppgifter",
    "sip.create": "påbörjade en samordnad individuell plan (SIP)",
    "sip.read": "läste din samordnade individuella plan (SIP)",
    "sip.update": "ändrade din samordnade individuella plan (SIP)",
    "sip.list": "såg dina samordnade individuella planer (SIP)",
    "sip.follow_up": "följde upp din samordnade individuella plan (SIP)",
    "sip.close": "avslutade din samordnade individuella plan (SIP)",
    "sip.versions": "såg tidigare versioner av din samordnade individuella plan (SIP)",
}
# Tried to (the infinitive), for a refused attempt.
_TRIED = {
    "document.read_content": "öppna {document}",
    "document.read_metadata": "se uppgifter om {document}",
    "document.list": "se listan över dina dokument",
    "client.read": "läsa dina uppgifter",
    "consent.read": "läsa dina samtycken",
    "sip.read": "läsa din samordnade individuella plan (SIP)",
}
_BASIS = {
    "consent": "med stöd av ditt samtycke",
    "emergency": "med nödåtkomst",
    "disclosure": "med stöd av ett beslut om att lämna ut uppgifter",
    "own_zone": "i din vård eller ditt ärende",
    "relation": "eftersom enheten har kontakt med dig",
    "retention": "enligt reglerna om gallring",
}
# Actions whose words already say on what ground.
_SAYS_ITS_GROUND = frozenset({"document.cull", "emergency.open"})
_WHO_BY_ROLE = (("system", "Ett journalsystem"), ("auditor", "En granskare"), ("admin", "En administratör"))


def _who(unit_name: str | None, organisation: str | None, roles: list[str]) -> str:
    if unit_name:
        return unit_name
    for role, words in _WHO_BY_ROLE:
        if role in roles:
            return words
    return f"Någon i {organisation}" if organisation else "Någon"


def _document(title: str | None, named: bool) -> str:
    if title is not None:
        return f"dokumentet ”{title}”"
    return "ett dokument" if named else "dina dokument"


def describe(*, action: str, allowed: bool, basis: str, unit_name: str | None, organisation: str | None,
             roles: list[str], document_title: str | None, document_named: bool) -> str:
    """One event in one Swedish sentence."""
    document = _document(document_title, document_named)
    # A culling is the retention rule's, run by the system (system:retention), not anyone's reading.
    who = "Gallringen" if action == "document.cull" else _who(unit_name, organisation, roles)
    if not allowed:
        tried = _TRIED.get(action, "komma åt dina uppgifter").format(document=document)
        return f"{who} försökte {tried} men nekades."
    did = _DID.get(action, "hanterade dina uppgifter").format(document=document)
    ground = None if action in _SAYS_ITS_GROUND else _BASIS.get(basis.split(":", 1)[0])
    return f"{who} {did}{' ' + ground if ground else ''}."
