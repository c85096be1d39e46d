"""Indicators (API-1.1 "Follow-up records and indicators"): a period's table for a unit, a zone, an organisation or
both principals, grouped by sex and age band, with the disclosure control of policies/indicators.py.

The tables of every ended period of the asked period's year (its months, quarters and the year: they nest) are
computed, for every unit, zone, organisation and two organisations, and suppressed together, then the asked one is
cut out: the answer hides the same cells whoever asks and whichever period is asked, and no table of the year can be
set against another. A month or quarter is given only once its year has ended, and the year's tables are made from
its records as they stood at the year's freeze instant (migration indicator_years): publication never changes
(insider attack 10, finding 2). The year is frozen and its tables made ahead of the first read (`build`: the
background making of service/indicator_schedule.py once the year has ended plus BRYGGA_INDICATORS_FREEZE_DAYS, or
`python -m service indicators build`), else by the first read: in a task of its own, which the read waits for
BRYGGA_INDICATORS_WAIT seconds before answering 503 `indicators_being_made` (a large year takes minutes; the
making goes on, and a later read gets the table). They are stored in the database (migration
indicator_tables: the published values and the suppressed cells' names, no person) for every replica and restart,
and kept per replica in memory, named by what they were made from (`_key`). The read is
audited (`indicators.read`) in the transaction that loads the numbers; it names no client (none is shown).
"""
from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from crypto import DecryptionFailed
from crypto.chain import micros
from policies import indicators as rules
from policies.decision import Reason, deny
from policies.indicators import AGE_BANDS, ALL, MEASURES, SEXES, Contribution, Month, Period
from policies.model import Zone

from ..audit import Action, Caller
from ..errors import IndicatorsBeingMade, NotFound, ValidationFailed
from ..runtime import Runtime
from ..store import followup as store
from ..store import indicator_tables as kept
from .access import Judged, access

log = logging.getLogger("brygga.indicators")


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
    policies.indicators; age at each period's end. Columns are read by position (found once by name): a year's rows
    are many, and a name lookup a column a row was most of this function's time."""
    found: list[Contribution] = []
    if not rows:
        return found
    at = {name: index for index, name in enumerate(rows[0].keys())}
    client, unit, month, sex, birth = (at[name] for name in ("client_id", "unit_id", "month", "sex", "birth_date"))
    events = [(at[m], (m, 3)) for m in _EVENTS] + [(at[f"{m}_{r}"], (m, r)) for m in _INTERVENTIONS for r in (1, 2, 3)]
    scores = [(i, at[f"{i}_first"], at[f"{i}_latest"]) for i in ("audit", "dudit")]
    pieces = rules.pieces
    for (person, at_unit), group in itertools.groupby(rows, key=lambda row: (row[client], row[unit])):
        months = list(group)
        found += pieces(str(person), at_unit, months[0][sex], months[0][birth], year, [
            Month(row[month], {key: number for index, key in events if (number := row[index])},
                  {name: (row[first], row[latest]) for name, first, latest in scores if row[first] is not None})
            for row in months])
    return found


def published(year: int, today: date) -> list[int]:
    """The periods of the year's nest that have ended (the only ones the API gives)."""
    return [index for index, period in enumerate(rules.nest(year)) if period.end < today]


def _suppress(rows: list[Any], year: int, zones: dict[str, tuple[str, str]], shown: tuple[int, ...],
              min_cell: int) -> rules.Tables:
    return rules.suppress(contributions(rows, year), {u: Zone(*z) for u, z in zones.items()}, min_cell=min_cell,
                          published=shown)


def _freeze_id(year: int, at: datetime, min_cell: int, zones_text: str) -> str:
    return f"{year}|{micros(at)}|{min_cell}|{zones_text}"


def _tables_id(year: int, published: Any, min_cell: int, at: datetime, digest: bytes) -> str:
    return f"{year}|{','.join(map(str, published))}|{min_cell}|{micros(at)}|{digest.hex()}"


async def _frozen(rt: Runtime, conn: asyncpg.Connection, number: int,
                  zones: dict[str, tuple[str, str]]) -> store.Frozen:
    """The year's freeze (store.frozen), its seal checked: a freeze the database role wrote by itself (a threshold
    of 1, an instant in the future) raises DecryptionFailed (500 integrity_error) instead of being published by
    (insider attack 13, finding 3)."""
    def seal(at: datetime, min_cell: int, text: str) -> bytes:
        return rt.field_sealer.seal(b"", record="indicator_years", record_id=_freeze_id(number, at, min_cell, text),
                                    field="freeze")
    return _checked(rt, number, await store.frozen(conn, number, min_cell=rt.settings.min_cell, zones=zones,
                                                   seal=seal))


def _opened(rt: Runtime, sealed: bytes, *, record: str, record_id: str, field: str, what: str) -> bytes:
    """What `sealed` holds, when it is the service's seal over exactly `record_id`; else raises DecryptionFailed
    (500 integrity_error), logged with `what`."""
    try:
        return rt.field_sealer.open(sealed, record=record, record_id=record_id, field=field)
    except DecryptionFailed:
        log.error("indicator tables: %s does not bear the service's seal", what)
        raise


def _checked(rt: Runtime, number: int, frozen: store.Frozen) -> store.Frozen:
    """`frozen`, once its seal is the service's over exactly its year, instant, threshold and zones."""
    _opened(rt, frozen.seal, record="indicator_years", field="freeze", what=f"the freeze of {number}",
            record_id=_freeze_id(number, frozen.at, frozen.min_cell, store.zones_text(frozen.zones)))
    return frozen


def _key_tables_id(key: tuple[Any, ...]) -> str:
    """_tables_id of the tables of `key` (_key)."""
    return _tables_id(key[0], key[1], key[2], key[3], kept.zones_digest(dict(key[4])))


def _seal_tables(rt: Runtime, key: tuple[Any, ...], blob: bytes) -> bytes:
    return rt.field_sealer.seal(blob, record="indicator_tables", field="cells", record_id=_key_tables_id(key))


def open_stored(rt: Runtime, row: Any) -> bytes:
    """A stored row's tables (kept.encode's bytes), its seal checked against the key it is stored under (its
    columns); raises DecryptionFailed for a row the service did not make under that key."""
    return _opened(rt, bytes(row["cells"]), record="indicator_tables", field="cells", what=f"a row of {row['year']}",
                   record_id=_tables_id(row["year"], row["published"], row["min_cell"], row["frozen_at"],
                                        bytes(row["zones_digest"])))


def _key(rt: Runtime, number: int, frozen: store.Frozen) -> tuple[Any, ...]:
    """What a year's tables are made from: the year, its ended periods, and the threshold, instant and units' zones
    of its freeze (the key in memory and, zones by digest, in the database). Once the year has ended (the only
    tables given) every part is fixed: one publication a year."""
    return number, tuple(published(number, rt.today())), frozen.min_cell, frozen.at, tuple(sorted(frozen.zones.items()))


async def _tables(rt: Runtime, key: tuple[Any, ...], zones: dict[str, tuple[str, str]], stored: bytes) -> rules.Tables:
    """The tables of `key` from what was stored, kept in memory. One year's tables decoded at a time on a replica (a
    waiter may find them decoded); making them (build) takes no lock: one task a year on a replica (`making`)."""
    async with _decoding(rt):
        tables = _remembered(rt, key)
        if tables is None:
            blob = _opened(rt, stored, record="indicator_tables", field="cells", record_id=_key_tables_id(key),
                           what=f"the stored tables of {key[0]}")
            tables = await asyncio.to_thread(kept.decode, blob, zones, key[1])
            _remember(rt, key, tables)
    return tables


BUILD_TIMEOUT = 3600.0  # seconds the making ahead may take to read a year's records (100,000 persons: about a minute)


async def build(rt: Runtime, number: int) -> bool:
    """Freeze the year (if no read has) and make and store its tables ahead of the first read (the background
    making, service/indicator_schedule.py, and `python -m service indicators build`); False when the tables of the
    current key are stored already. Reads no client and gives nothing to anyone: no audit event (the reads of the
    tables are audited as ever). Only a year that has ended (ValueError): its months and quarters are given only
    then, and the freeze is for good.

    The freeze is its own short transaction, committed before the year is read: it holds a SHARE lock on the
    follow-up records (store.frozen), and every clinician recording a contact would wait behind it for the whole
    read (a minute at 100,000 persons). The read needs no lock: every record, void and closing stamped before the
    freeze's instant had committed when the freeze took it, and every later one is stamped after it (their
    clock_timestamp()), so `as_of` alone gives the year as it stood then."""
    if date(number, 12, 31) >= rt.today():
        raise ValueError(f"{number} has not ended")
    async with rt.pool.acquire() as conn:
        async with conn.transaction():
            year_frozen = await _frozen(rt, conn, number, await store.unit_zones(conn))
        zones, as_of = year_frozen.zones, year_frozen.at
        key = _key(rt, number, year_frozen)
        if await kept.exists(conn, key[0], key[1], key[2], key[3], zones):
            return False
        year = rules.nest(number)
        rows = await store.of_year(conn, year[rules.YEAR].start, year[rules.YEAR].end, as_of=as_of,
                                   timeout=BUILD_TIMEOUT)
    tables = _remembered(rt, key)  # made in memory here before, but not stored (a store that failed)
    if tables is None:
        tables = await asyncio.to_thread(_suppress, rows, key[0], zones, key[1], key[2])
        _remember(rt, key, tables)
    blob = _seal_tables(rt, key, await asyncio.to_thread(kept.encode, tables))
    async with rt.pool.acquire() as conn:
        await kept.save(conn, key[0], key[1], key[2], key[3], zones, blob)
    return True


async def _made(rt: Runtime, named: tuple[Any, ...], zones: dict[str, tuple[str, str]]) -> rules.Tables:
    """The tables of `named` when none are stored: made by build() in a task of this replica's (one a year, joined
    by every read that finds none meanwhile), waited for BRYGGA_INDICATORS_WAIT seconds; raises IndicatorsBeingMade
    when they take longer (a large year: minutes), while the making goes on for the next read."""
    task = making(rt, named[0])
    try:
        await asyncio.wait_for(asyncio.shield(task), rt.settings.indicators_wait)
    except TimeoutError:
        raise IndicatorsBeingMade() from None
    tables = _remembered(rt, named)
    if tables is None:  # stored by another replica meanwhile, or made under a key changed since the read's
        async with rt.pool.acquire() as conn:
            stored = await kept.load(conn, named[0], named[1], named[2], named[3], zones)
        if stored is None:
            raise IndicatorsBeingMade()
        tables = await _tables(rt, named, zones, stored)
    return tables


def making(rt: Runtime, number: int) -> asyncio.Task[bool]:
    """The task making the year's tables on this replica (build), started if none is: the reads that find none and
    the background making (service/indicator_schedule.py) share it, so a year is made once at a time here."""
    task = rt.indicator_builds.get(number)
    if task is None:
        task = asyncio.create_task(_build_in_turn(rt, number), name=f"indicator-tables-{number}")
        rt.indicator_builds[number] = task
        task.add_done_callback(lambda done: _built(rt, number, done))
    return task


async def _build_in_turn(rt: Runtime, number: int) -> bool:
    """build(), one year at a time on a replica: a making is CPU and memory for minutes, and readers asking for
    many years at once (1900-2024) must not start a hundred (insider attack 13b, finding 5)."""
    if rt.indicator_making is None:
        rt.indicator_making = asyncio.Lock()
    async with rt.indicator_making:
        return await build(rt, number)


def _built(rt: Runtime, number: int, task: asyncio.Task[bool]) -> None:
    if rt.indicator_builds.get(number) is task:
        del rt.indicator_builds[number]
    if not task.cancelled() and task.exception() is not None:  # the reads waiting got it too; one log line
        log.error("indicator tables of %s: making failed", number, exc_info=task.exception())


# A year's suppressed tables (every scope) by what they were made from (_key): the year, its ended periods, the
# threshold, its freeze instant and the units' zones. Only ever read after the caller's access is decided, and only the table
# the caller may read is cut out of them. A few years are kept, the latest used last.
_KEEP = 8


def _decoding(rt: Runtime) -> asyncio.Lock:
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

    number = ask.period.start.year
    due = date(number + 1, 1, 1) + timedelta(days=rt.settings.indicators_freeze_days)

    async def judge(conn: asyncpg.Connection) -> Judged:
        # A frozen year is judged and cut by the units' zones of its freeze (a unit moved since still answers to
        # the organisation it counted under then: insider attack 13b), a year not frozen yet by today's.
        kept_freeze = await store.read_freeze(conn, number)
        frozen = _checked(rt, number, kept_freeze) if isinstance(kept_freeze, store.Frozen) else None
        zones = frozen.zones if frozen is not None else await store.unit_zones(conn)
        if kind == "unit":
            organisations = frozenset({zones[key[0]][0]}) if key[0] in zones else None
        else:
            present = {organisation for organisation, _ in zones.values()}
            wanted = frozenset(ask.organisations)
            known = wanted <= present and (ask.domain is None or (ask.organisations[0], ask.domain) in zones.values())
            organisations = wanted if known else None
        if organisations is None:
            return Judged(dataclasses.replace(deny(Reason.UNKNOWN_UNIT), record=record), row=(zones, frozen))
        decision = rules.decide_indicators(caller.principal, organisations, ask.unit)
        if decision and kept_freeze is None and rt.today() < due:
            # Not due and not made early by hand: no read freezes the year before its December's late entries are
            # in (insider attack 13, finding 4). After the access decision, so a denial is a denial first.
            decision = deny(Reason.PERIOD_NOT_DUE)
        return Judged(dataclasses.replace(decision, record=record), row=(zones, frozen))

    answers = {Reason.PERIOD_NOT_DUE: lambda: ValidationFailed(
        [{"field": "period", "message": f"the year's tables are made from {due.isoformat()}"}],
        code="period_not_closed")}
    async with access(rt, caller, Action.INDICATORS_READ, judge, answers=answers) as act:
        zones, frozen = act.row
        # The year's tables are made from its records as they stood at its freeze instant (set by the background
        # making or the first read), so no later record, void or closing changes a published cell (insider attack
        # 10, finding 2). Kept in this replica's memory, else in the database (made ahead: build), else made here.
        year_frozen = frozen if frozen is not None else await _frozen(rt, act.conn, number, zones)
        zones = year_frozen.zones  # the units as they were at the freeze
        named = _key(rt, number, year_frozen)
        tables = _remembered(rt, named)
        stored = None
        if tables is None:
            stored = await kept.load(act.conn, named[0], named[1], named[2], named[3], zones)
    if tables is None:
        tables = await (_tables(rt, named, zones, stored) if stored is not None else _made(rt, named, zones))
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
             "group_by": list(ask.group_by), "min_cell": named[2], "cells": cells}
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
