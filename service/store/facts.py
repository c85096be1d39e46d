"""The facts of an access decision, each set in one round trip (DESIGN.md "The decision").

`now` is the database's clock, read in the same statement, so a revocation
committed by any replica is in force for the very next decision on every replica:
no cache and no clock skew between machines stand in between.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from policies.decide import DocumentFacts, Facts
from policies.model import BlockLifting, Consent, Disclosure, EmergencyGrant, Principal, Zone

from .audit_recording import json_id

# The statement's clock, read once: `now` for the decision and for what the facts select.
_CLOCK = "(SELECT clock_timestamp() AS now) clock"
_consents_json = """
(SELECT coalesce(json_agg(json_build_object(
     'id', c.id, 'from_organisation', c.from_organisation, 'from_domain', c.from_domain,
     'to_organisation', c.to_organisation, 'to_domain', c.to_domain, 'to_unit', unit_heir(c.to_unit),
     'categories', c.categories, 'purposes', c.purposes, 'valid_from', c.valid_from,
     'valid_until', c.valid_until, 'revoked_at', c.revoked_at, 'confirmed_at', c.confirmed_at,
     'given_by', c.given_by)), '[]')
 FROM consents c WHERE c.client_id = {client} AND c.to_organisation = {organisation} AND c.to_domain = {domain}{in_force})
 AS consents
"""
# policies.consents.in_force in SQL, over the partial index consents_in_force (migration 0010). A revocation
# sets revoked_at to the database's clock as it commits (store/consents.py), so a revoked consent was revoked
# by any later `now`: `revoked_at IS NULL` is in_force's "not revoked at now". A guardian's consent of a client
# who has turned 18 since stays selected (in_force knows no birth date): decide() denies it (came_of_age) from
# the birth date loaded beside it.
_IN_FORCE = " AND c.revoked_at IS NULL AND c.valid_until > clock.now AND c.valid_from <= clock.now"
_grants_json = """
(SELECT coalesce(json_agg(json_build_object(
     'id', g.id, 'sub', g.sub, 'unit', g.unit_id, 'domain', g.domain, 'opened_at', g.opened_at,
     'expires_at', g.expires_at)), '[]')
 FROM emergency_grants g
 WHERE g.client_id = {client} AND g.unit_id = $2 AND g.sub = $5 AND g.expires_at > clock.now) AS grants
"""
# Disclosures made to the caller's unit ($2) for the client, each with every document it lists; for one
# document's decision only those that list it ({listing}). A consent's or disclosure's unit is read through
# unit_heir: one naming a unit that was succeeded is honoured for its successor (migration unit_successions).
_disclosures_json = """
(SELECT coalesce(json_agg(json_build_object(
     'id', x.id, 'from_unit', x.from_unit, 'from_organisation', x.from_organisation, 'from_domain', x.from_domain,
     'to_unit', unit_heir(x.to_unit), 'to_organisation', x.to_organisation, 'to_domain', x.to_domain,
     'ground', x.ground,
     'document_ids', (SELECT array_agg(dd.document_id) FROM disclosure_documents dd WHERE dd.disclosure_id = x.id))),
     '[]')
 FROM disclosures x WHERE x.client_id = {client} AND unit_heir(x.to_unit) = $2{listing}) AS disclosures
"""
# The caller's unit's ($2) liftings of the client's blocks not expired at the statement's clock.
_liftings_json = """
(SELECT coalesce(json_agg(json_build_object(
     'id', b.id, 'unit', b.unit_id, 'sub', b.sub, 'scope', b.scope, 'basis', b.basis, 'opened_at', b.opened_at,
     'expires_at', b.expires_at, 'ended_at', b.ended_at)), '[]')
 FROM block_liftings b WHERE b.client_id = {client} AND b.unit_id = $2 AND b.expires_at > clock.now)
"""
_relation = """
EXISTS (SELECT 1 FROM relations r WHERE r.client_id = {client} AND r.unit_id = $2 AND r.ended_at IS NULL)
    AS caller_relation_active
"""
_LISTING = " AND EXISTS (SELECT 1 FROM disclosure_documents dd WHERE dd.disclosure_id = x.id AND dd.document_id = d.id)"
# The client's birth date: when a guardian's consents stop opening (policies.consents.came_of_age).
_birth_date = "(SELECT cl.birth_date FROM clients cl WHERE cl.id = {client}) AS birth_date"
_client_facts_sql = f"""
SELECT EXISTS (SELECT 1 FROM clients WHERE id = $1) AS client_exists, {_birth_date.format(client="$1")},
       {_relation.format(client="$1")}, clock.now,
       {_consents_json.format(client="$1", organisation="$3", domain="$4", in_force=_IN_FORCE)}, {_grants_json.format(client="$1")},
       {_disclosures_json.format(client="$1", listing="")}, {_liftings_json.format(client="$1")} AS liftings
FROM {_CLOCK}
"""
DOCUMENT_COLUMNS = """
d.id, d.client_id, d.unit_id, d.organisation, d.domain, d.category, d.title_sealed, d.content_type, d.size,
d.content_mac, d.status, d.blocked, d.kek_version, d.dek_wrapped, d.stream_header, d.segment_count,
d.created_at, d.created_by, d.shredded_by, d.epoch, d.ivo_decision_sealed, d.content_id, d.version_count,
d.version_at, d.version_by
"""
# What a content read (domain.documents.open_content, the decision and the key) takes of the row: the batch below
# decodes only these (no sealed title, MAC, version stamps or timestamps made into objects for nothing).
CONTENT_READ_COLUMNS = """
d.id, d.client_id, d.unit_id, d.organisation, d.domain, d.category, d.content_type, d.size, d.status, d.blocked,
d.kek_version, d.dek_wrapped, d.stream_header, d.segment_count, d.created_by, d.epoch, d.content_id
"""
_DOCUMENT_FACTS = f"""
SELECT {{columns}},
       coalesce((SELECT u.active FROM units u WHERE u.id = $2), false) AS caller_unit_active,
       {_birth_date.format(client="d.client_id")},
       {_relation.format(client="d.client_id")}, clock.now,
       {_consents_json.format(client="d.client_id", organisation="$3", domain="$4", in_force=_IN_FORCE)},
       {_grants_json.format(client="d.client_id")},
       {_disclosures_json.format(client="d.client_id", listing=_LISTING)},
       CASE WHEN d.blocked AND d.unit_id IS DISTINCT FROM $2 THEN {_liftings_json.format(client="d.client_id")}
            ELSE '[]'::json END AS liftings
FROM documents d, {_CLOCK} WHERE d.id = $1
"""
_document_facts_sql = _DOCUMENT_FACTS.replace("{columns}", DOCUMENT_COLUMNS)
# The same for many reads at once (store/read_batches.py): each read's parameters an element of one JSON array
# (not arrays a parameter: asyncpg checks each of their elements against collections.abc, issue #21), its facts
# beside it (LEFT JOIN LATERAL: a row of nulls for an unknown document), in the reads' order.
_per_read = re.sub(r"[$]([1-5])(?![0-9])", r"w.p\1",  # $1 .. $5 as the read's own columns
                   _DOCUMENT_FACTS.replace("{columns}", CONTENT_READ_COLUMNS))
_documents_facts_sql = f"""
SELECT j.n AS read_n, f.*
FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS j(e, n)
CROSS JOIN LATERAL (SELECT (j.e->>0)::uuid AS p1, j.e->>1 AS p2, j.e->>2 AS p3, j.e->>3 AS p4, j.e->>4 AS p5) w
LEFT JOIN LATERAL ({_per_read}) f ON true
ORDER BY j.n
"""
# The whole history toward the caller's zone, for a denial's reasons.
_consent_history_sql = f"""
SELECT {_consents_json.format(client="$1", organisation="$2", domain="$3", in_force="")}
"""


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _at(text: str) -> datetime:
    """A NOT NULL timestamp column (migrations/0003), as json_build_object spells it."""
    return datetime.fromisoformat(text)


def _consent(c: dict[str, Any]) -> Consent:
    return Consent(
        id=c["id"], from_zone=Zone(c["from_organisation"], c["from_domain"]),
        to_zone=Zone(c["to_organisation"], c["to_domain"]), to_unit=c["to_unit"],
        categories=frozenset(c["categories"]), purposes=frozenset(c["purposes"]),
        valid_from=_at(c["valid_from"]), valid_until=_at(c["valid_until"]), revoked_at=_time(c["revoked_at"]),
        confirmed_at=_time(c["confirmed_at"]), given_by=c["given_by"],
    )


def consents_from_json(text: str) -> tuple[Consent, ...]:
    """Consents as the statements here aggregate them (json_agg of _consents_json's object)."""
    return () if text == "[]" else tuple(map(_consent, json.loads(text)))


def _grant(g: dict[str, Any]) -> EmergencyGrant:
    return EmergencyGrant(id=g["id"], sub=g["sub"], unit=g["unit"], opened_at=_at(g["opened_at"]),
                          expires_at=_at(g["expires_at"]), domain=g["domain"])


def _disclosure(x: dict[str, Any]) -> Disclosure:
    return Disclosure(id=x["id"], from_unit=x["from_unit"], from_zone=Zone(x["from_organisation"], x["from_domain"]),
                      to_unit=x["to_unit"], to_zone=Zone(x["to_organisation"], x["to_domain"]),
                      document_ids=frozenset(x["document_ids"] or ()), ground=x["ground"])


def _lifting(b: dict[str, Any]) -> BlockLifting:
    return BlockLifting(id=b["id"], unit=b["unit"], sub=b["sub"], scope=b["scope"], basis=b["basis"],
                        opened_at=_at(b["opened_at"]), expires_at=_at(b["expires_at"]), ended_at=_time(b["ended_at"]))


def _facts(row: asyncpg.Record, *, client_exists: bool, document: DocumentFacts | None = None) -> Facts:
    # Most decisions have no consents, grants, disclosures or liftings: "[]" is neither parsed nor iterated.
    consents, grants, disclosures, liftings = row["consents"], row["grants"], row["disclosures"], row["liftings"]
    return Facts(client_exists=client_exists, caller_relation_active=row["caller_relation_active"], document=document,
                 now=row["now"], consents=() if consents == "[]" else tuple(map(_consent, json.loads(consents))),
                 emergency_grants=() if grants == "[]" else tuple(map(_grant, json.loads(grants))),
                 disclosures=() if disclosures == "[]" else tuple(map(_disclosure, json.loads(disclosures))),
                 block_liftings=() if liftings == "[]" else tuple(map(_lifting, json.loads(liftings))),
                 client_birth_date=row["birth_date"])


def _args(principal: Principal) -> tuple[str | None, str | None, str | None, str]:
    zone = principal.zone
    return (principal.unit, zone.organisation if zone else None, zone.domain if zone else None, principal.sub)


def document_facts(row: asyncpg.Record | Mapping[str, Any]) -> DocumentFacts:
    """The policy's view of a document row."""
    return DocumentFacts(
        unit=row["unit_id"], zone=Zone(row["organisation"], row["domain"]), category=row["category"],
        blocked=row["blocked"], created_by=row["created_by"], shredded=row["status"] == "shredded", id=str(row["id"]),
    )


async def for_documents(conn: asyncpg.Connection, wanted: Sequence[tuple[UUID, Principal]]
                        ) -> list[tuple[asyncpg.Record | None, Facts]]:
    """for_document() for many (document, principal) pairs in one statement, in their order; each row with only
    the CONTENT_READ_COLUMNS of the document (store/read_batches.py: content reads)."""
    reads = json.dumps([(json_id(document_id), *_args(principal)) for document_id, principal in wanted])
    rows = await conn.fetch(_documents_facts_sql, reads)
    return [(None, Facts(client_exists=False, caller_relation_active=False)) if row["id"] is None
            else (row, _facts(row, client_exists=True, document=document_facts(row))) for row in rows]


async def for_client(conn: asyncpg.Connection, client_id: UUID, *, principal: Principal) -> Facts:
    """Facts about the client for a decision by `principal` (consents toward its zone, its own grants)."""
    row = await conn.fetchrow(_client_facts_sql, client_id, *_args(principal))
    return _facts(row, client_exists=row["client_exists"])


async def with_consent_history(conn: asyncpg.Connection, client_id: UUID, facts: Facts, *,
                                principal: Principal) -> Facts:
    """`facts` with every consent of the client toward the caller's zone, revoked, expired and pending ones too:
    what a denial's reasons are read from (policies.consents.in_force). Its `now` stays the decision's."""
    zone = principal.zone
    if zone is None:
        return facts
    consents = await conn.fetchval(_consent_history_sql, client_id, zone.organisation, zone.domain)
    return replace(facts, consents=() if consents == "[]" else tuple(map(_consent, json.loads(consents))))


async def for_document(conn: asyncpg.Connection, document_id: UUID, *, principal: Principal) -> tuple[asyncpg.Record | None, Facts]:
    """The document row and the facts for a decision on it by `principal`."""
    row = await conn.fetchrow(_document_facts_sql, document_id, *_args(principal))
    if row is None:
        return None, Facts(client_exists=False, caller_relation_active=False)
    return row, _facts(row, client_exists=True, document=document_facts(row))
