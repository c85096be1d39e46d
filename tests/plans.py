"""What a query read, counted from its executed plan: for tests that a reader's query never reads rows it may
not see (their number would show in its time), or more rows than its page holds, without timing anything."""
from __future__ import annotations

import json
import os
import re
from datetime import datetime


class Explained:
    """A connection whose fetch runs the query under EXPLAIN ANALYZE first and keeps the plan, then answers
    as the connection would. SHOW_PLANS=1 prints each plan as text."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.plans: list[dict] = []

    def __getattr__(self, name: str):
        """Everything but fetch as the connection does it (a transaction, a SET LOCAL around the fetch)."""
        return getattr(self.conn, name)

    async def fetch(self, sql: str, *args):
        row = await self.conn.fetchrow("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *args)
        self.plans.append(json.loads(row[0])[0]["Plan"])
        if os.environ.get("SHOW_PLANS"):
            print("\n".join(r[0] for r in await self.conn.fetch("EXPLAIN (ANALYZE) " + sql, *args)))
        return await self.conn.fetch(sql, *args)


class Prepared(Explained):
    """Explained, with the plan PostgreSQL's plan cache gives a prepared statement (as asyncpg prepares every
    query): `generic` False, the custom plan of its first five executions (those of a new connection, after
    a restart), made for the values at hand; True, the generic plan it may keep from then on, made for any.

    The query is PREPAREd, then run by EXPLAIN ANALYZE EXECUTE under plan_cache_mode, its parameters
    written as literals of the types the statement inferred."""

    def __init__(self, conn, *, generic: bool) -> None:
        super().__init__(conn)
        self.generic = generic

    async def fetch(self, sql: str, *args):
        name = f"prepared_{id(self)}_{len(self.plans)}"
        mode = "force_generic_plan" if self.generic else "force_custom_plan"
        await self.conn.execute(f"SET plan_cache_mode = {mode}")
        try:
            await self.conn.execute(f"PREPARE {name} AS {sql}")
            types = await self.conn.fetchval(
                "SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = $1", name)
            values = ", ".join(f"{_literal(value)}::{kind}" for value, kind in zip(args, types, strict=True))
            execute = f"EXECUTE {name}" + (f"({values})" if values else "")
            row = await self.conn.fetchrow(f"EXPLAIN (ANALYZE, FORMAT JSON) {execute}")
            if os.environ.get("SHOW_PLANS"):
                print("\n".join(r[0] for r in await self.conn.fetch(f"EXPLAIN (ANALYZE) {execute}")))
            await self.conn.execute(f"DEALLOCATE {name}")
        finally:
            await self.conn.execute("RESET plan_cache_mode")
        self.plans.append(json.loads(row[0])[0]["Plan"])
        return await self.conn.fetch(sql, *args)


def _literal(value: object) -> str:
    """A SQL literal of a query parameter (to be cast to the parameter's type)."""
    if value is None:
        return "NULL"
    if isinstance(value, list | tuple):
        return "ARRAY[" + ", ".join(_literal(item) for item in value) + "]"
    if isinstance(value, datetime):
        value = value.isoformat()
    return "'" + str(value).replace("'", "''") + "'"


def _of(plan: dict, table: str) -> bool:
    """Whether the plan node scans `table` or one of its monthly partitions (migrations: audit_events by month)."""
    return re.fullmatch(rf"{re.escape(table)}(_[0-9]{{4}}_[0-9]{{2}}|_default)?", plan.get("Relation Name") or "") is not None


def rows_read(plan: dict, table: str) -> int:
    """Rows of `table` (its partitions included) that the plan's scans produced or read and dropped."""
    own = 0
    if _of(plan, table):
        own = round(plan["Actual Rows"] * plan["Actual Loops"])
        own += sum(plan.get(key, 0) for key in ("Rows Removed by Filter", "Rows Removed by Index Recheck"))
    return own + sum(rows_read(child, table) for child in plan.get("Plans", []))


def rows_dropped(plan: dict, table: str) -> int:
    """Rows of `table` (its partitions included) that the plan's scans read and dropped (by a filter or an index
    recheck)."""
    own = 0
    if _of(plan, table):
        own = sum(plan.get(key, 0) for key in ("Rows Removed by Filter", "Rows Removed by Index Recheck"))
    return own + sum(rows_dropped(child, table) for child in plan.get("Plans", []))
