"""Indicators (API-1.1 "Follow-up records and indicators"): a period's table for a unit, a zone, an organisation or
both principals, grouped by sex and age band, with the disclosure control of policies/indicators.py.

The tables of every ended period of the asked period's year (its months, quarters and the year: they nest) are
computed, for every unit, zone, organisation and two organisations, and suppressed together, then the asked one is
cut out: the answer hides the same cells whoever asks and whichever period is asked, and no table of the year can be
set against another. A month or quarter is given only once its year has ended, and the year's tables are made from
its records as they stood when the year was first read (migration indicator_years): publication never changes
(insider attack 10, finding 2). They are kept per replica, in memory, named by that instant. The read is
audited (`indicators.read`) in the transaction that loads the numbers; it names no client (none is shown).
"""
from __future__ import annotations

import asyncio
import dataclasses
import itertools
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from policies import indicators as rules
from policies.decision import Reason, deny
from policies.indicators import AGE_BANDS, ALL, MEASURES, SEXES, Contribution, Month, Period
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


_EVENTS = tuple(m for m in MEASURES if m.startswith(("episodes_", "contacts_")))
_INTERVENTIONS = tuple(m for m in MEASURES if m.startswith("interventions_"))


def contributions(rows: list[Any], year: int) -> list[Contribution]:
    """The rows of store.of_year (a person, unit and month each, ordered by person and unit) as the pieces of
    policies.indicators; age at each period's end."""
    found: list[Contribution] = []
    for (client, unit), group in itertools.groupby(rows, key=lambda row: (row["client_id"], row["unit_id"])):
        months = list(group)
        found += rules.pieces(str(client), unit, months[0]["sex"], months[0]["birth_date"], year, [
            Month(row["month"],
                  {**{(m, 3): row[m] for m in _EVENTS if row[m]},
                   **{(m, r): row[f"{m}_{r}"] for m in _INTERVENTIONS for r in (1, 2, 3) if row[f"{m}_{r}"]}},
                  {i: (row[f"{i}_first"], row[f"{i}_latest"]) for i in ("audit", "dudit")
                   if row[f"{i}_first"] is not None})
            for row in months])
    return found


def published(year: int, today: date) -> list[int]:
    """The periods of the year's nest that have ended (the only ones the API gives)."""
    return [index for index, period in enumerate(rules.nest(year)) if period.end < today]


def _suppress(rows: list[Any], year: int, zones: dict[str, tuple[str, str]], shown: tuple[int, ...],
              min_cell: int) -> rules.Tables:
    return rules.suppress(contributions(rows, year), {u: Zone(*z) for u, z in zones.items()}, min_cell=min_cell,
                          published=shown)


# A year's suppressed tables (every scope) by what they were made from: the year, its ended periods, the threshold,
# the change counters and the units' zones. Only ever read after the caller's access is decided, and only the table
# the caller may read is cut out of them. A few years are kept, the latest used last.
_KEEP = 8


def _making(rt: Runtime) -> asyncio.Lock:
    if rt.indicator_lock is None:
        rt.indicator_lock = asyncio.Lock()
    return rt.indicator_lock


def _remembered(rt: Runtime, key: tuple[Any, ...]) -> rules.Tables | None:
    tables: rules.Tables | None = rt.indicator_tables.pop(key, None)
    if tables is not None:
        rt.indicator_tables[key] = tables
    return tables


def _remember(rt: Runtime, key: tuple[Any, ...], tables: rules.Tables) -> None:
    rt.indicator_tables[key] = tables
    while len(rt.indicator_tables) > _KEEP:
        del rt.indicator_tables[next(iter(rt.indicator_tables))]


async def report(rt: Runtime, caller: Caller, ask: Ask, *, months: bool = False) -> dict[str, Any]:
    """The table asked for; raises Forbidden (a unit manager's other unit, an analyst's organisation outside its
    claim), NotFound (no such unit, organisation or zone). `months` (the web page's chart): also the visits of
    each ended month of the period, of the same scope, cut from the same suppressed tables (the months' own tables
    the caller may ask for): the sum of the published kinds, and whether some were suppressed."""
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

    number = ask.period.start.year
    async with access(rt, caller, Action.INDICATORS_READ, judge) as act:
        zones = act.row
        # The counters first, then the records: a change committed between the two gives newer tables under the
        # older name, never older tables under the newer one.
        # The year's tables are made from its records as they stood at its freeze instant (the first read of it),
        # so no later record, void or closing changes a published cell (insider attack 10, finding 2).
        as_of = await store.frozen_at(act.conn, number)
        cached = (number, tuple(published(number, rt.today())), rt.settings.min_cell, as_of,
                  tuple(sorted(zones.items())))
        tables = _remembered(rt, cached)
        if tables is None:
            year = rules.nest(number)
            rows = await store.of_year(act.conn, year[rules.YEAR].start, year[rules.YEAR].end, as_of=as_of)
    if tables is None:
        async with _making(rt):  # one year's tables made at a time on a replica; a waiter may find them made
            tables = _remembered(rt, cached)
            if tables is None:
                tables = await asyncio.to_thread(_suppress, rows, number, zones, cached[1], rt.settings.min_cell)
                _remember(rt, cached, tables)
    period, nest = rules.nest_index(ask.period), rules.nest(number)
    index = rules.find_scope(tables.scopes, kind, key)
    if index is None:  # a known organisation or unit whose tables hold nothing: every number is 0
        raise NotFound()
    sexes = (ALL, *SEXES) if "sex" in ask.group_by else (ALL,)
    bands = (ALL, *AGE_BANDS) if "age_band" in ask.group_by else (ALL,)
    cells = [{"measure": measure, "sex": sex, "age_band": band,
              "value": tables.cell(period, index, measure, sex, band),
              "suppressed": (period, index, measure, sex, band) in tables.suppressed}
             for measure in MEASURES for sex in sexes for band in bands]
    scope: dict[str, Any] = {"kind": kind, "unit": ask.unit, "organisations": sorted(ask.organisations) or None,
                             "domain": ask.domain}
    found = {"period": ask.period.label, "start": ask.period.start, "end": ask.period.end, "scope": scope,
             "group_by": list(ask.group_by), "min_cell": rt.settings.min_cell, "cells": cells}
    if months:
        kinds = [m for m in MEASURES if m.startswith("contacts_")]
        found["months"] = [
            {"period": nest[m].label, "value": sum(v for k in kinds if (v := tables.cell(m, index, k)) is not None)
             if any(tables.cell(m, index, k) is not None for k in kinds) else None,
             "partly": 0 < sum(tables.cell(m, index, k) is None for k in kinds) < len(kinds)}
            for m in rules.MONTHS if m in tables.published and ask.period.start <= nest[m].start <= ask.period.end]
    return found


def csv_text(table: dict[str, Any]) -> str:
    """The same table as CSV (RFC 4180): measure, sex, age band, value (empty when suppressed), suppressed."""
    lines = ["period,measure,sex,age_band,value,suppressed"]
    for cell in table["cells"]:
        value = "" if cell["value"] is None else str(cell["value"])
        lines.append(f"{table['period']},{cell['measure']},{cell['sex']},{cell['age_band']},{value},"
                     f"{'true' if cell['suppressed'] else 'false'}")
    return "\r\n".join(lines) + "\r\n"
