"""Indicators (API-1.1 "Follow-up records and indicators"): a period's table for a unit, a zone, an organisation or
both principals, grouped by sex and age band, with the disclosure control of policies/indicators.py.

The whole period's tables are computed (every unit's, zone's, organisation's and two organisations') and suppressed
together, then the asked one is cut out: the answer hides the same cells whoever asks, and no table of the period
can be set against another. The read is audited (`indicators.read`) in the transaction that loads the numbers; it
names no client (none is shown).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import asyncpg

from policies import indicators as rules
from policies.decision import Reason, deny
from policies.indicators import AGE_BANDS, ALL, MEASURES, SEXES, Contribution, Period
from policies.model import Zone

from ..audit import Action, Caller
from ..errors import NotFound
from ..runtime import Runtime
from ..store import followup as store
from .access import Judged, access


@dataclass(frozen=True, slots=True)
class Ask:
    """What the query asks for: one unit, or organisations (one, with a domain or not; or two: both principals)."""

    period: Period
    unit: str | None
    organisations: tuple[str, ...]
    domain: str | None
    group_by: tuple[str, ...]


def _scope_key(ask: Ask) -> tuple[str, tuple[str, ...]]:
    if ask.unit is not None:
        return "unit", (ask.unit,)
    if len(ask.organisations) == 2:
        return "joint", tuple(sorted(ask.organisations))
    if ask.domain is not None:
        return "zone", (ask.organisations[0], ask.domain)
    return "organisation", (ask.organisations[0],)


def contributions(rows: list[Any], period: Period) -> list[Contribution]:
    """The rows of store.of_period as policies.indicators contributions; age at the period's end."""
    found = []
    for row in rows:
        values: dict[str, int] = {"persons": 1}
        for measure in MEASURES:
            if measure.startswith(("episodes_", "contacts_", "interventions_")):
                values[measure] = row[measure]
        for instrument in ("audit", "dudit"):
            for which in ("first", "latest"):
                score = row[f"{instrument}_{which}"]
                if score is not None:
                    band = rules.audit_band(score) if instrument == "audit" else rules.dudit_band(score, row["sex"])
                    values[f"{instrument}_{which}_{band}"] = 1
        found.append(Contribution(str(row["client_id"]), row["unit_id"], row["sex"],
                                  rules.age_band(row["birth_date"], period.end), values))
    return found


async def report(rt: Runtime, caller: Caller, ask: Ask) -> dict[str, Any]:
    """The table asked for; raises Forbidden (a unit manager's other unit, an analyst's organisation outside its
    claim), NotFound (no such unit, organisation or zone)."""
    kind, key = _scope_key(ask)
    record = f"indicators:{ask.period.label}:{kind}:{'/'.join(key)}"

    async def judge(conn: asyncpg.Connection) -> Judged:
        zones = await store.unit_zones(conn)
        if kind == "unit":
            organisations = frozenset({zones[key[0]][0]}) if key[0] in zones else None
        else:
            present = {organisation for organisation, _ in zones.values()}
            wanted = frozenset(ask.organisations)
            known = wanted <= present and (ask.domain is None or (ask.organisations[0], ask.domain) in zones.values())
            organisations = wanted if known else None
        if organisations is None:
            return Judged(dataclasses.replace(deny(Reason.UNKNOWN_UNIT), record=record), row=zones)
        decision = rules.decide_indicators(caller.principal, organisations, ask.unit)
        return Judged(dataclasses.replace(decision, record=record), row=zones)

    async with access(rt, caller, Action.INDICATORS_READ, judge) as act:
        zones = act.row
        rows = await store.of_period(act.conn, ask.period.start, ask.period.end)
    tables = rules.suppress(contributions(rows, ask.period), {u: Zone(*z) for u, z in zones.items()},
                            min_cell=rt.settings.min_cell)
    index = rules.find_scope(tables.scopes, kind, key)
    if index is None:  # a known organisation or unit whose tables hold nothing: every number is 0
        raise NotFound()
    sexes = (ALL, *SEXES) if "sex" in ask.group_by else (ALL,)
    bands = (ALL, *AGE_BANDS) if "age_band" in ask.group_by else (ALL,)
    cells = [{"measure": measure, "sex": sex, "age_band": band, "value": tables.cell(index, measure, sex, band),
              "suppressed": (index, measure, sex, band) in tables.suppressed}
             for measure in MEASURES for sex in sexes for band in bands]
    scope: dict[str, Any] = {"kind": kind, "unit": ask.unit, "organisations": sorted(ask.organisations) or None,
                             "domain": ask.domain}
    return {"period": ask.period.label, "start": ask.period.start, "end": ask.period.end, "scope": scope,
            "group_by": list(ask.group_by), "min_cell": rt.settings.min_cell, "cells": cells}


def csv_text(table: dict[str, Any]) -> str:
    """The same table as CSV (RFC 4180): measure, sex, age band, value (empty when suppressed), suppressed."""
    lines = ["period,measure,sex,age_band,value,suppressed"]
    for cell in table["cells"]:
        value = "" if cell["value"] is None else str(cell["value"])
        lines.append(f"{table['period']},{cell['measure']},{cell['sex']},{cell['age_band']},{value},"
                     f"{'true' if cell['suppressed'] else 'false'}")
    return "\r\n".join(lines) + "\r\n"
