"""Retention rules, the files the plan reads, and culling a batch of due files (policies/retention.py decides)."""
from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from uuid import UUID

import asyncpg

from policies.retention import FileSummary, Rule

# The advisory lock class of a client's files: uploads take it shared (store.documents), a culling exclusive.
FILE_LOCK = 7_264_003
# One retention run at a time, across replicas and the command line (a session lock, held for the whole run).
RUN_LOCK = 7_264_006

# One row per file (a client's active documents in one zone) with its categories' newest entries and counts (a
# correction is an entry: a document's latest version's time counts, version_at):
# the plan's cost grows with the files and categories, never with the documents' sizes (documents_retention).
def _files_sql(source: str, where: str) -> str:
    """One row per file of `source` (documents, or documents joined to the wanted files) with its categories'
    newest entries, counts and culling epochs; the plan and the run's re-judging read files alike."""
    return f"""
WITH per_category AS (
    SELECT d.client_id, d.organisation, d.domain, d.category, max(coalesce(d.version_at, d.created_at)) AS last,
           count(*) AS n,
           min(d.epoch) AS emin, max(d.epoch) AS emax, count(d.epoch) AS ecount
    FROM {source}
    WHERE d.status = 'active' {where}
    GROUP BY d.organisation, d.domain, d.client_id, d.category
)
SELECT p.client_id, p.organisation, p.domain, c.birth_date,
       array_agg(p.category ORDER BY p.category) AS categories, array_agg(p.last ORDER BY p.category) AS lasts,
       array_agg(p.n ORDER BY p.category) AS counts, min(p.emin) AS emin, max(p.emax) AS emax,
       sum(p.ecount)::bigint AS ecount
FROM per_category p JOIN clients c ON c.id = p.client_id
GROUP BY p.organisation, p.domain, p.client_id, c.birth_date
"""


_ALL_FILES_SQL = _files_sql("documents d", "AND ($1::text[] IS NULL OR d.organisation = ANY($1::text[]))")
# The files given as three arrays (client ids, organisations, domains).
_WANTED = "unnest($1::uuid[], $2::text[], $3::text[]) AS w(client_id, organisation, domain)"
_WANTED_FILES_SQL = _files_sql(f"{_WANTED} JOIN documents d USING (client_id, organisation, domain)", "")


def _columns(keys: Sequence[tuple[UUID, str, str]]) -> tuple[list[UUID], list[str], list[str]]:
    """Files (client, organisation, domain) as the three arrays _WANTED unnests."""
    return [key[0] for key in keys], [key[1] for key in keys], [key[2] for key in keys]


def _summary(row: asyncpg.Record) -> FileSummary:
    return FileSummary(row["client_id"], row["organisation"], row["domain"], row["birth_date"],
                       tuple(zip(row["categories"], row["lasts"], row["counts"], strict=True)),
                       (row["emin"], row["emax"], row["ecount"]))


async def files(conn: asyncpg.Connection, organisations: Sequence[str] | None) -> AsyncIterator[FileSummary]:
    """Every file with active documents (of `organisations`, None for all), streamed: memory stays flat.

    Must run inside a transaction (a cursor's); the plan reads one snapshot.
    """
    async for row in conn.cursor(_ALL_FILES_SQL, None if organisations is None else list(organisations), prefetch=2000):
        yield _summary(row)


async def file_summaries(conn: asyncpg.Connection, keys: Sequence[tuple[UUID, str, str]]) -> list[FileSummary]:
    """The given files as they are now, after taking their clients' file locks (FILE_LOCK) exclusively.

    An upload takes the same lock shared: one into these files either committed before (and is read here, so the
    file is judged with it) or waits until the culling commits. Nothing is culled while a new entry in its file is
    on its way. Locks are taken in one order, so two runs cannot deadlock.
    """
    clients = sorted({str(client) for client, _, _ in keys})
    await conn.execute(f"SELECT pg_advisory_xact_lock({FILE_LOCK}, h) FROM (SELECT DISTINCT hashtext(c) AS h "
                       "FROM unnest($1::text[]) AS c ORDER BY 1) locks", clients)
    rows = await conn.fetch(_WANTED_FILES_SQL, *_columns(keys))
    return [_summary(row) for row in rows]


async def active_documents(conn: asyncpg.Connection, keys: Sequence[tuple[UUID, str, str]]) -> list[asyncpg.Record]:
    """The active documents (id, client_id, domain, content_id: where its latest version's segments are) of the
    given files, locked for the culling."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
        SELECT d.id, d.client_id, d.domain, coalesce(d.content_id, d.id) AS content_id
        FROM {_WANTED} JOIN documents d USING (client_id, organisation, domain)
        WHERE d.status = 'active'
        ORDER BY d.id
        FOR UPDATE OF d
        """,
        *_columns(keys))
    return rows


CULLED_BY = "system:retention"  # the tombstone's shredded_by (domain.documents reads it as "culled")


async def cull(conn: asyncpg.Connection, ids: Sequence[UUID]) -> None:
    """Crypto-shred these documents as culled: wrapped keys, headers and MACs gone, tombstones kept, saying who
    (shredded_by system:retention is the reason: `culled`; nothing to seal)."""
    await conn.execute(
        """
        UPDATE documents SET status = 'shredded', dek_wrapped = NULL, stream_header = NULL, content_mac = NULL,
                             shredded_at = now(), shredded_by = $2, shred_reason_sealed = NULL
        WHERE id = ANY($1::uuid[]) AND status = 'active'
        """,
        list(ids), CULLED_BY)


# --- rules -----------------------------------------------------------------------------------------------------

async def known_organisations(conn: asyncpg.Connection) -> list[str]:
    """The organisations some unit belongs to (rules can be set for these only)."""
    return [row["organisation"] for row in await conn.fetch("SELECT DISTINCT organisation FROM units ORDER BY 1")]


async def configured(conn: asyncpg.Connection) -> tuple[dict[str, list[Rule]], dict[str, bool]]:
    """The organisations that set their own rules: (their rules, their research flag), by organisation."""
    research = {row["organisation"]: row["research_municipality"]
                for row in await conn.fetch("SELECT organisation, research_municipality FROM retention_organisations")}
    rules: dict[str, list[Rule]] = {organisation: [] for organisation in research}
    for row in await conn.fetch(
            "SELECT organisation, domain, category, action, years_after_last_entry, research_birthdays "
            "FROM retention_rules ORDER BY organisation, domain, category"):
        rules[row["organisation"]].append(Rule(row["organisation"], row["domain"], row["category"], row["action"],
                                               row["years_after_last_entry"], row["research_birthdays"]))
    return rules, research


async def replace(conn: asyncpg.Connection, research: dict[str, bool], rules: Sequence[Rule], *, by: str) -> None:
    """Replace the rules of the organisations in `research` (with their research flag) by `rules`, in the caller's
    transaction; other organisations keep theirs."""
    organisations = sorted(research)
    await conn.execute("DELETE FROM retention_rules WHERE organisation = ANY($1::text[])", organisations)
    await conn.executemany(
        """
        INSERT INTO retention_organisations (organisation, research_municipality, updated_by) VALUES ($1, $2, $3)
        ON CONFLICT (organisation) DO UPDATE SET research_municipality = excluded.research_municipality,
                                                 updated_at = now(), updated_by = excluded.updated_by
        """,
        [(organisation, research[organisation], by) for organisation in organisations])
    await conn.executemany(
        "INSERT INTO retention_rules (organisation, domain, category, action, years_after_last_entry, research_birthdays) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        [(r.organisation, r.domain, r.category, r.action, r.years_after_last_entry, r.research_birthdays) for r in rules])


# --- culling epochs ----------------------------------------------------------------------------------------------

async def wrapped_keys(conn: asyncpg.Connection, keys: Sequence[tuple[UUID, str, str]]) -> list[asyncpg.Record]:
    """The wrapped keys of the given files' active documents and of their superseded versions (`version` true),
    locked (keys only: content is never read); `content_id` is what each key is bound to."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
        SELECT d.id, coalesce(d.content_id, d.id) AS content_id, d.client_id, d.organisation, d.domain,
               d.kek_version, d.dek_wrapped, d.epoch, false AS version
        FROM {_WANTED} JOIN documents d USING (client_id, organisation, domain)
        WHERE d.dek_wrapped IS NOT NULL
        ORDER BY d.id
        FOR UPDATE OF d
        """,
        *_columns(keys))
    versions: list[asyncpg.Record] = await conn.fetch(
        f"""
        SELECT v.id, v.content_id, d.client_id, d.organisation, d.domain, v.kek_version, v.dek_wrapped, v.epoch,
               true AS version
        FROM {_WANTED} JOIN documents d USING (client_id, organisation, domain)
        JOIN document_versions v ON v.document_id = d.id
        WHERE v.dek_wrapped IS NOT NULL
        ORDER BY v.id
        FOR UPDATE OF v
        """,
        *_columns(keys))
    return rows + versions


async def set_wrapped(conn: asyncpg.Connection,
                      updates: Sequence[tuple[UUID, int, bytes, str | None] | tuple[UUID, int, bytes, str | None, bool]],
                      ) -> None:
    """Store re-wrapped keys: (id, kek_version, wrapped key, epoch[, a superseded version's]), of documents and of
    versions (store.documents.set_version_keys)."""
    documents = [u[:4] for u in updates if not (len(u) > 4 and u[4])]
    versions = [u[:4] for u in updates if len(u) > 4 and u[4]]
    await conn.execute(
        """
        UPDATE documents d SET kek_version = u.kek_version, dek_wrapped = u.wrapped, epoch = u.epoch
        FROM unnest($1::uuid[], $2::integer[], $3::bytea[], $4::text[]) AS u(id, kek_version, wrapped, epoch)
        WHERE d.id = u.id AND d.dek_wrapped IS NOT NULL
        """,
        [u[0] for u in documents], [u[1] for u in documents], [u[2] for u in documents], [u[3] for u in documents])
    if versions:
        await conn.execute(
            """
            UPDATE document_versions v SET kek_version = u.kek_version, dek_wrapped = u.wrapped, epoch = u.epoch
            FROM unnest($1::uuid[], $2::integer[], $3::bytea[], $4::text[]) AS u(id, kek_version, wrapped, epoch)
            WHERE v.id = u.id AND v.dek_wrapped IS NOT NULL
            """,
            [u[0] for u in versions], [u[1] for u in versions], [u[2] for u in versions], [u[3] for u in versions])


async def epochs_in_use(conn: asyncpg.Connection) -> dict[str, int]:
    """Culling epochs by how many live keys (documents' and their superseded versions') they wrap (an epoch not here
    needs no key)."""
    rows = await conn.fetch("SELECT epoch, count(*) AS n FROM (SELECT epoch FROM documents "
                            "WHERE dek_wrapped IS NOT NULL AND epoch IS NOT NULL UNION ALL SELECT epoch "
                            "FROM document_versions WHERE dek_wrapped IS NOT NULL AND epoch IS NOT NULL) live "
                            "GROUP BY epoch ORDER BY epoch")
    return {row["epoch"]: row["n"] for row in rows}
