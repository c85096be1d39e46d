"""An audit log of any size in seconds, by bulk SQL: for tests that count what queries read at 10⁶ events
(tests/integration/test_audit_query_cost.py) and the benchmark that times them (bench/audit_growth.py).

Around a world made through the API (its client, a document in a social services unit and one in an
addiction clinic, a consent): INSERT ... SELECT generate_series with the indexes built after it, as a
restore would (several times faster than inserting into them), and a chain row for each event with hashes
that are not checked (the chain's own tests check hashes).
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping

SPACING_MS = 300  # between two events: 10⁶ events are 3.5 days of an installation in use

# Other clients' events as the service writes them, varied like bench/audit.py's (8 zones, ~1,000 staff, six
# actions, one in twenty denied, a flag in five hundred); every hundredth is the world's client's, by its
# social unit or its clinic, on its documents and its consent (`k` picks which), reads, writes and denials.
BULK_SQL = """
INSERT INTO audit_events (at, actor_sub, actor_name, actor_unit, actor_organisation, actor_domain, actor_roles,
                          action, client_id, document_id, consent_id, decision, basis, reason_codes, purpose,
                          request_id, remote_addr, flagged)
SELECT now() - ($1 - i) * interval '1 ms' * $6,
       CASE WHEN NOT s THEN 'hsa-' || i % 997 WHEN social THEN 'hsa-iof' ELSE 'hsa-clinician' END,
       CASE WHEN NOT s THEN 'Staff ' || i % 997 WHEN social THEN 'Name of hsa-iof' ELSE 'Name of hsa-clinician' END,
       CASE WHEN NOT s THEN 'unit-' || org || '-' || dom WHEN social THEN 'malmo-iof' ELSE 'malmo-beroendecentrum' END,
       CASE WHEN NOT s THEN org WHEN social THEN 'malmo-stad' ELSE 'region-skane' END,
       CASE WHEN NOT s THEN dom WHEN social THEN 'social' ELSE 'health' END,
       ARRAY['staff'],
       CASE WHEN NOT s THEN (ARRAY['client.read', 'document.list', 'document.read_metadata', 'document.read_content',
                                   'consent.read', 'document.create'])[1 + i % 6]
            ELSE (ARRAY['document.read_content', 'document.read_content', 'relation.open', 'document.read_metadata',
                        'document.read_content', 'document.list', 'consent.read', 'document.create'])[1 + k] END,
       CASE WHEN s THEN $2::uuid ELSE md5('client' || i % 50000)::uuid END,
       CASE WHEN s THEN (CASE WHEN k IN (0, 4) THEN $3::uuid WHEN k IN (1, 3, 7) THEN $4::uuid END)
            WHEN i % 6 IN (2, 3, 5) THEN md5('document' || i % 200000)::uuid END,
       CASE WHEN s AND k = 6 THEN $5::uuid WHEN NOT s AND i % 6 = 4 THEN md5('consent' || i % 30000)::uuid END,
       CASE WHEN (s AND k = 3) OR (NOT s AND i % 20 = 0) THEN 'deny' ELSE 'allow' END,
       CASE WHEN (s AND k = 3) OR (NOT s AND i % 20 = 0) THEN 'none' WHEN s AND k = 4 THEN 'consent:' || $5
            ELSE 'own_zone' END,
       CASE WHEN (s AND k = 3) OR (NOT s AND i % 20 = 0) THEN ARRAY['not_found'] ELSE ARRAY[]::text[] END,
       (ARRAY['care', 'case_handling', NULL, 'coordination'])[1 + i % 4],
       md5(i::text), '10.' || i % 256 || '.' || i / 256 % 256 || '.' || i % 7, i % 500 = 0
FROM (SELECT i, i % 100 = 0 AS s, i / 100 % 8 AS k, i / 100 % 8 IN (0, 2, 3, 6) AS social,
             (ARRAY['malmo-stad', 'region-skane', 'alingsas-kommun', 'vgr'])[1 + i / 7 % 4] AS org,
             (ARRAY['social', 'health'])[1 + i / 28 % 2] AS dom
      FROM generate_series(1, $1) AS i) AS g
"""


async def next_month(conn) -> str:
    """A month's partition after the newest, the numbering moved to it, as audit_events_roll makes one when a month
    begins (the month named after the newest, whatever today's: a test's log of several months); its name."""
    newest = await conn.fetchrow(
        "SELECT c.relname, (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''?(-?[0-9]+)''?\\)'))[1]::bigint"
        " AS upper FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'audit_events'::regclass ORDER BY c.relname DESC LIMIT 1")
    year, month = int(newest["relname"][13:17]), int(newest["relname"][18:20])
    name = f"audit_events_{year + month // 12}_{month % 12 + 1:02d}"
    await conn.execute(f"CREATE TABLE {name} PARTITION OF audit_events FOR VALUES FROM ({newest['upper']}) "
                       f"TO ({newest['upper'] + (1 << 36)})")
    await conn.execute(f"ALTER TABLE {name} OWNER TO brygga_owner")
    await conn.execute("SELECT audit_events_partition_made($1)", name)
    await conn.execute("SELECT setval('audit_events_seq_seq', $1, false)", newest["upper"])
    return name


async def bulk_load(conn, count: int, world: Mapping[str, str | None], *, months: int = 1) -> None:
    """`count` events after those there are (`world`: the ids of its client, its `social` and `health`
    documents and its `consent`, which may be None), a chain row for each, the indexes rebuilt and the
    statistics taken; on a connection that may drop and create indexes (the database's owner). `months` > 1:
    spread over that many months' partitions (next_month), alike."""
    def ids(key: str) -> uuid.UUID | None:
        value = world.get(key)
        return uuid.UUID(value) if value else None

    where = "tablename = 'audit_events' AND indexname <> 'audit_events_pkey'"
    indexes = await conn.fetch(f"SELECT indexname, indexdef FROM pg_indexes WHERE {where}")
    for row in indexes:
        await conn.execute(f"DROP INDEX {row['indexname']}")
    for month in range(months):
        if month:
            await next_month(conn)
        await conn.execute(BULK_SQL, count // months, ids("client"), ids("social"), ids("health"), ids("consent"),
                           SPACING_MS)
    await conn.execute("SET maintenance_work_mem = '256MB'")
    for row in indexes:  # a partitioned table's index is defined ON ONLY it: made again, it is made on every partition
        await conn.execute(row["indexdef"].replace(" ON ONLY ", " ON ", 1))
    await conn.execute("INSERT INTO audit_chain (seq, prev_seq, prev_hash, hash) "
                       "SELECT seq, coalesce(lag(seq) OVER (ORDER BY seq), 0), decode(repeat('00', 32), 'hex'), "
                       "decode(repeat('00', 32), 'hex') "
                       "FROM audit_events WHERE seq > (SELECT coalesce(max(seq), 0) FROM audit_chain) ORDER BY seq")
    await conn.execute("VACUUM ANALYZE audit_events")
    await conn.execute("VACUUM ANALYZE audit_chain")
