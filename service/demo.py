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
from datetime import date, timedelta

from policies.model import Principal, Role, Zone

from .audit import Caller
from .domain import clients, consents, documents, followup, relations, units
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


FOLLOWUP_PERSONS = 40  # enough that the indicator page shows numbers, not only suppressed cells


def _demo_number(i: int) -> str:
    """A valid made-up personal number of demo person `i` (born 1950-2005; odd serials men, even women)."""
    digits = f"{50 + i % 56:02d}{1 + i % 12:02d}{1 + i % 28:02d}{(i * 37) % 100:02d}{i % 10}"
    total = sum((d * 2 - 9 if d * 2 > 9 else d * 2) if k % 2 == 0 else d for k, d in enumerate(map(int, digits)))
    century = "19" if 50 + i % 56 < 100 else "20"
    return f"{century}{digits[:6]}-{digits[6:]}{(10 - total % 10) % 10}"


async def _followup(rt: Runtime, zones: dict[str, Zone], say: Callable[[str], object]) -> int:
    """A year of follow-up (last calendar year) for the demo clinics: episodes, visits (joint ones between IFO and
    Beroendecentrum), AUDIT and DUDIT at intake and later, interventions. Through the domain functions, audited.
    Returns the records made (none when the year is there already)."""
    year = rt.today().year - 1
    made = 0
    for i in range(FOLLOWUP_PERSONS):
        home = "malmo-iof" if i < 30 else "alingsas-ifo"
        seats = [home] + (["malmo-beroendecentrum"] if i % 5 < 2 and i < 30 else [])
        client, _ = await clients.register(rt, _caller(home, zones[home]), personal_number=_demo_number(i),
                                           name=f"Demoperson {i + 1}")
        client_id = uuid.UUID(str(client["id"]))
        for unit_id in seats:
            who = _caller(unit_id, zones[unit_id])
            await relations.open_relation(rt, who, client_id)
            if (await followup.page(rt, who, client_id, "episode", purpose="care", before=None, limit=1)).items:
                continue  # loaded before
            opened = date(year, 1, 1) + timedelta(days=(i * 11) % 200)
            episode = await followup.create(rt, who, client_id, followup.NewRecord("episode", opened))
            records = [followup.NewRecord("assessment", opened, detail="AUDIT", score=(i * 7) % 30 + 4),
                       followup.NewRecord("assessment", opened + timedelta(days=120), detail="AUDIT",
                                          score=max(0, (i * 7) % 30 - 6)),
                       followup.NewRecord("intervention", opened + timedelta(days=7),
                                          detail=("medication_assisted", "group", "individual", "other")[i % 4])]
            if i % 3 == 0:
                records.append(followup.NewRecord("assessment", opened, detail="DUDIT", score=(i * 5) % 40))
            for visit in range(4 + i % 6):
                kind = ("individual", "group", "phone", "individual", "home_visit")[visit % 5]
                records.append(followup.NewRecord("contact", opened + timedelta(days=14 * visit + 1), detail=kind))
            if len(seats) > 1:
                other = seats[1] if unit_id == seats[0] else seats[0]
                records.append(followup.NewRecord("contact", opened + timedelta(days=30), detail="joint",
                                                  with_unit=other))
            for record in records:
                await followup.create(rt, who, client_id, record)
            made += 1 + len(records)
            if i % 3 == 1:
                await followup.close(rt, who, uuid.UUID(str(episode["id"])), closed_on=opened + timedelta(days=150),
                                     reason=("completed", "moved", "dropped_out")[i % 3])
    say(f"demo: {made} follow-up records of {year} ({FOLLOWUP_PERSONS} persons; GET /v1/indicators?period={year})")
    return made


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
    await _followup(rt, zones, say)
    say(f"demo: {created['units']} units, {created['clients']} clients, {created['documents']} documents, "
        f"{created['consents']} consents created ({', '.join(u[0] for u in UNITS)})")
    return created

