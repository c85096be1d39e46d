"""What a query read, counted from its executed plan: for tests that a reader's query never reads rows it may
not see (their number would show in its time), without timing anything."""
from __future__ import annotations

import json
import os


class Explained:
    """A connection whose fetch runs the query under EXPLAIN ANALYZE first and keeps the plan, then answers
    as the connection would. SHOW_PLANS=1 prints each plan as text."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.plans: list[dict] = []

    async def fetch(self, sql: str, *args):
        row = await self.conn.fetchrow("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *args)
        self.plans.append(json.loads(row[0])[0]["Plan"])
        if os.environ.get("SHOW_PLANS"):
            print("\n".join(r[0] for r in await self.conn.fetch("EXPLAIN (ANALYZE) " + sql, *args)))
        return await self.conn.fetch(sql, *args)


def rows_read(plan: dict, table: str) -> int:
    """Rows of `table` that the plan's scans produced or read and dropped."""
    own = 0
    if plan.get("Relation Name") == table:
        own = round(plan["Actual Rows"] * plan["Actual Loops"])
        own += sum(plan.get(key, 0) for key in ("Rows Removed by Filter", "Rows Removed by Index Recheck"))
    return own + sum(rows_read(child, table) for child in plan.get("Plans", []))
