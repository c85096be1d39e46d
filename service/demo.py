"""`python -m service demo`: a realistic two-zone scenario to try the API and the web interface.

Malmö: the city's social services (IFO, OSL ch. 26) and the region's addiction clinic
(Beroendecentrum, OSL ch. 25) under one roof; Alingsås: the municipality's IFO and the
Mini-Maria youth clinic (VGR). Everything goes through the same domain functions as the
API, so every step is decided and audited like a request. Running it again adds nothing
(units and clients are found, uploads carry idempotency keys, consents are recorded once).
Names and numbers are made up (test personal numbers).
"""
from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator, Callable
from datetime import timedelta

from policies.model import Principal, Role, Zone

from .audit import Caller
from .domain import clients, consents, documents, relations, units
from .http.cursor import START
from .http.schemas import ConsentIn
from .runtime import Runtime

UNITS = (
    ("malmo-iof", "IFO Vuxen, Malmö stad", "malmo-stad", "social"),
    ("malmo-beroendecentrum", "Beroendecentrum Malmö", "region-skane", "health"),
    ("alingsas-ifo", "IFO Alingsås", "alingsas-kommun", "social"),
    ("alingsas-mini-maria", "Mini-Maria Alingsås", "vgr", "health"),
)
CLIENTS = (  # (personal number, name, units with a relation)
    ("19121212-1212", "Tolvan Tolvansson", ("malmo-iof", "malmo-beroendecentrum")),
    ("19900101-0017", "Alva Exempelsson", ("malmo-iof", "malmo-beroendecentrum")),
    ("20080807-2383", "Elis Ungdomsson", ("alingsas-ifo", "alingsas-mini-maria")),
)
DOCUMENTS = (  # (client index, unit, category, title, text)
    (0, "malmo-iof", "assessment", "Utredning enligt SoL 4 kap. 1 §", "Utredning av behov av stöd vid missbruk."),
    (0, "malmo-iof", "journal_note", "Samtal om boende", "Samtal om boendesituationen och ekonomi."),
    (0, "malmo-beroendecentrum", "screening", "AUDIT och DUDIT", "AUDIT 22 poäng, DUDIT 14 poäng."),
    (1, "malmo-beroendecentrum", "treatment_plan", "Behandlingsplan", "Läkemedelsassisterad behandling planeras."),
    (2, "alingsas-mini-maria", "journal_note", "Första besök Mini-Maria", "Första besök tillsammans med förälder."),
)


def _caller(unit_id: str, zone: Zone) -> Caller:
    principal = Principal(sub=f"demo-{unit_id}", name=f"Demo ({unit_id})", roles=frozenset({Role.STAFF}),
                          unit=unit_id, zone=zone)
    return Caller(principal=principal, request_id=f"demo-{uuid.uuid4().hex[:12]}", remote_addr=None)


async def load(rt: Runtime, say: Callable[[str], object] = print) -> dict[str, int]:
    """Create the scenario (or find it); returns what was created this time."""
    admin = Principal(sub="demo-admin", name="Demo admin", roles=frozenset({Role.ADMIN}))
    created = {"units": 0, "clients": 0, "documents": 0, "consents": 0}
    zones: dict[str, Zone] = {}
    for unit_id, name, organisation, domain in UNITS:
        _, new = await units.create(rt, admin, unit_id=unit_id, name=name, organisation=organisation, domain=domain)
        created["units"] += new
        zones[unit_id] = Zone(organisation, domain)
    client_ids = []
    for personal_number, name, unit_ids in CLIENTS:
        client, new = await clients.register(rt, _caller(unit_ids[0], zones[unit_ids[0]]),
                                             personal_number=personal_number, name=name)
        created["clients"] += new
        client_ids.append(uuid.UUID(str(client["id"])))
        for unit_id in unit_ids:
            await relations.open_relation(rt, _caller(unit_id, zones[unit_id]), client_ids[-1])
    for n, (index, unit_id, category, title, text) in enumerate(DOCUMENTS):
        async def chunks(data: bytes = f"{title}\n\n{text}\n".encode()) -> AsyncGenerator[bytes, None]:
            yield data
        upload = documents.Upload(category=category, title=title, declared_type="text/plain", chunks=chunks(),
                                  idempotency_key=f"demo-document-{n}")
        _, new = await documents.create(rt, _caller(unit_id, zones[unit_id]), client_ids[index], upload)
        created["documents"] += new
    # Tolvan lets the addiction clinic read social services' assessments, for care, for 90 days.
    iof = _caller("malmo-iof", zones["malmo-iof"])
    history = (await consents.page(rt, iof, client_ids[0], after=START, limit=10)).items
    if not history:
        body = ConsentIn.model_validate_json(json.dumps({
            "from": {"organisation": "malmo-stad", "domain": "social"},
            "to": {"organisation": "region-skane", "domain": "health", "unit": "malmo-beroendecentrum"},
            "categories": ["assessment"], "purposes": ["care"],
            "valid_until": (rt.clock() + timedelta(days=90)).isoformat(),
            "given_by": "client", "form": "verbal", "maturity_assessed": False,
            "note": "Muntligt samtycke vid gemensamt möte",
        }))
        await consents.grant(rt, iof, client_ids[0], body.command())
        created["consents"] += 1
    say(f"demo: {created['units']} units, {created['clients']} clients, {created['documents']} documents, "
        f"{created['consents']} consents created ({', '.join(u[0] for u in UNITS)})")
    return created

