"""The making of a year's indicator tables as it stood before issue 17's speed-up (service/domain/indicators.py
`contributions`, policies/indicators.py `pieces` and `suppress`, copied unchanged): the reference the faster making
must match cell for cell (tests/unit/test_indicator_making.py)."""
# ruff: noqa
from __future__ import annotations

import hashlib
import itertools
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from policies import indicators as rules
from policies.indicators import (AGE_BANDS, MEASURES, YEAR, Cell, Contribution, Month, Tables, _AGE_FLOORS, _Key,
                                 _persons, _selections, audit_band, dudit_band, families, period_of, reaches, scopes)
from policies.model import Zone

_EVENTS = tuple(m for m in MEASURES if m.startswith(("episodes_", "contacts_")))
_INTERVENTIONS = tuple(m for m in MEASURES if m.startswith("interventions_"))


def contributions(rows: list[Any], year: int) -> list[Contribution]:
    """The rows of store.of_year (a person, unit and month each, ordered by person and unit) as the pieces of
    policies.indicators; age at each period's end."""
    found: list[Contribution] = []
    for (client, unit), group in itertools.groupby(rows, key=lambda row: (row["client_id"], row["unit_id"])):
        months = list(group)
        found += pieces(str(client), unit, months[0]["sex"], months[0]["birth_date"], year, [
            Month(row["month"],
                  {**{(m, 3): row[m] for m in _EVENTS if row[m]},
                   **{(m, r): row[f"{m}_{r}"] for m in _INTERVENTIONS for r in (1, 2, 3) if row[f"{m}_{r}"]}},
                  {i: (row[f"{i}_first"], row[f"{i}_latest"]) for i in ("audit", "dudit")
                   if row[f"{i}_first"] is not None})
            for row in months])
    return found


def pieces(person: str, unit: str, sex: str, birth: date, year: int, months: Sequence[Month]) -> list[Contribution]:
    """One person's year at one unit as the pieces the nest's cells sum (Contribution): the person in the first
    month of the year they are counted (reach 3), of each quarter (2), and every other month (1); each instrument's
    first score likewise from the first month with one, its latest from the last; events as they come."""
    ends = nest(year)
    present = reaches([m.month for m in months])
    scored: dict[tuple[str, str], dict[int, int]] = {}
    for instrument in ("audit", "dudit"):
        with_score = [m.month for m in months if instrument in m.scores]
        scored[(instrument, "first")] = reaches(with_score)
        scored[(instrument, "latest")] = reaches(with_score, last=True)
    found = []
    for m in months:
        bands = tuple(age_band(birth, ends[period_of(level, m.month)].end) for level in range(3))
        for reach in (1, 2, 3):
            values: dict[str, int] = {"persons": 1} if present[m.month] == reach else {}
            for (instrument, which), reach_of in scored.items():
                if reach_of.get(m.month) == reach:
                    score = m.scores[instrument][0 if which == "first" else 1]
                    band = audit_band(score) if instrument == "audit" else dudit_band(score, sex)
                    values[f"{instrument}_{which}_{band}"] = 1
            for (measure, events_reach), number in m.events.items():
                if events_reach == reach and number:
                    values[measure] = values.get(measure, 0) + number
            if values:
                found.append(Contribution(person, unit, sex, bands, values, m.month, reach))  # type: ignore[arg-type]
    return found


def suppress(contributions: Sequence[Contribution], units: Mapping[str, Zone], *, min_cell: int,
             published: Iterable[int] = range(17)) -> Tables:
    """Every table of a year's nest of periods (its `published` ones: those that have ended) with its suppression
    (module docstring: within each family of measures, no atom of published cells under `min_cell` persons; every
    family's suppression holds in the others too)."""
    found = scopes(units)
    shown = frozenset(published)
    of_unit: dict[str, list[int]] = defaultdict(list)
    for index, scope in enumerate(found):
        for unit in scope.units:
            of_unit[unit].append(index)
    # Per piece class: the sum and the members, then spread over the periods and tables holding the piece.
    base_values: dict[tuple[str, int, int, str, tuple[str, str, str], str], int] = defaultdict(int)
    base_members: dict[tuple[str, int, int, str, tuple[str, str, str], str], int] = defaultdict(int)
    groups = families()
    classes: list[dict[_Key, set[str]]] = [defaultdict(set) for _ in groups]
    family_of: dict[str, list[int]] = defaultdict(list)
    for number, family in enumerate(groups):
        for measure in family:
            family_of[measure].append(number)
    for c in contributions:
        if not any(period_of(level, c.month) in shown for level in range(c.reach)):
            continue  # in no published period
        measures = frozenset(m for m, v in c.values.items() if v > 0)
        for measure in measures:
            base_values[(c.unit, c.month, c.reach, c.sex, c.bands, measure)] += c.values[measure]
            base_members[(c.unit, c.month, c.reach, c.sex, c.bands, measure)] += 1
        inside: dict[int, list[str]] = defaultdict(list)
        for measure in measures:
            for number in family_of.get(measure, ()):
                inside[number].append(measure)
        for number, named in inside.items():
            classes[number][(c.unit, c.month, c.reach, c.sex, c.bands, frozenset(named))].add(c.person)

    def cells_of(unit: str, month: int, reach: int, sex: str, bands: tuple[str, str, str],
                 named: Iterable[str]) -> list[Cell]:
        return [(period, index, m, s, b) for level in range(reach) if (period := period_of(level, month)) in shown
                for index in of_unit.get(unit, ()) for m in named for s, b in _selections(sex, bands[level])]

    values: dict[Cell, int] = defaultdict(int)
    members: dict[Cell, int] = defaultdict(int)
    for (unit, month, reach, sex, bands, measure), value in base_values.items():
        count = base_members[(unit, month, reach, sex, bands, measure)]
        for cell in cells_of(unit, month, reach, sex, bands, (measure,)):
            values[cell] += value
            members[cell] += count
    # Per family: each class's signature (its published cells not suppressed: kept as the number of them and the sum
    # of a 128-bit digest of each, so that hiding a cell updates it in constant time), the atoms (classes by
    # signature) and the classes holding each cell; kept up to date as cells are suppressed, so a suppression
    # re-forms only the atoms it touches. Every atom is checked after its last change: at the end none is small.
    # Dicts and the queue keep the order of the rows (the database's): every replica suppresses the same cells.
    digests: dict[Cell, int] = {}

    def digest(cell: Cell) -> int:
        if cell not in digests:
            digests[cell] = int.from_bytes(hashlib.blake2b(repr(cell).encode(), digest_size=16).digest(), "big")
        return digests[cell]

    Signature = tuple[int, int]
    cells_by: list[dict[_Key, list[Cell]]] = []
    signatures: list[dict[_Key, Signature]] = []
    atoms: list[dict[Signature, dict[_Key, None]]] = []
    holding: list[dict[Cell, dict[_Key, None]]] = []
    queue: deque[tuple[int, Signature]] = deque()
    queued: set[tuple[int, Signature]] = set()

    def push(item: tuple[int, Signature]) -> None:
        if item not in queued:
            queued.add(item)
            queue.append(item)

    for number, family_classes in enumerate(classes):
        cells_by.append({})
        signatures.append({})
        atoms.append(defaultdict(dict))
        holding.append(defaultdict(dict))
        for key in family_classes:
            cells = list(dict.fromkeys(cells_of(*key[:5], key[5])))
            signature = (len(cells), sum(digest(cell) for cell in cells))
            cells_by[number][key], signatures[number][key] = cells, signature
            atoms[number][signature][key] = None
            for cell in cells:
                holding[number][cell][key] = None
            push((number, signature))
    suppressed: set[Cell] = set()
    while queue:
        number, signature = item = queue.popleft()
        queued.discard(item)
        keys = atoms[number].get(signature)
        if not signature[0] or not keys or _persons(classes[number], list(keys), min_cell) >= min_cell:
            continue
        visible = frozenset(c for c in cells_by[number][next(iter(keys))] if c not in suppressed)
        for cell in sorted(_complement(visible, members, suppressed, shown)):
            suppressed.add(cell)
            weight = digest(cell)
            for other, family_holding in enumerate(holding):
                for key in family_holding.pop(cell, {}):
                    old = signatures[other][key]
                    new = (old[0] - 1, old[1] - weight)
                    signatures[other][key] = new
                    del atoms[other][old][key]
                    atoms[other][new][key] = None
                    push((other, old))
                    push((other, new))
        push(item)  # a month beside it hidden leaves this atom as it was: it is checked again
    return Tables(tuple(found), dict(values), frozenset(suppressed), shown)


def _complement(signature: frozenset[Cell], members: Mapping[Cell, int], suppressed: set[Cell],
                shown: frozenset[int]) -> set[Cell]:
    """What to suppress for a small atom so that it merges with others or loses its last published cell.

    While the atom has a published month cell, its month cell with the fewest members (the cells of a unit, a sex
    and an age band first). Once its month cells are all suppressed, the quarter's cells would give their sum as the
    quarter minus the published months: then a sibling month's matching cells are suppressed with it (the sibling
    with the fewest members), so the atom merges with that month's pieces, as complementary suppression does within
    a table; a sibling quarter and its months likewise under the year. Only when no sibling has anything left to
    hide does the coarser cell itself go. So a small month costs a month beside it, not the year's total."""
    finest = min(rules._level(cell[0]) for cell in signature)
    own = [cell for cell in signature if rules._level(cell[0]) == finest]
    if finest > 0:
        candidates = []
        for parent in {cell[0] for cell in own}:
            for family in rules._children(parent):
                group = {(period, *cell[1:]) for cell in own if cell[0] == parent for period in family
                         if period in shown}
                group = {cell for cell in group if cell not in suppressed and members.get(cell, 0) > 0}
                if group:
                    candidates.append((sum(members[cell] for cell in group), sorted(group)[0], group))
        if candidates:
            return min(candidates, key=lambda candidate: candidate[:2])[2]
    return {min(own, key=lambda cell: (members.get(cell, 0), cell))}


def age_band(birth: date, on: date) -> str:
    age = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    return next(band for band, floor in reversed(list(zip(AGE_BANDS, _AGE_FLOORS, strict=True))) if age >= floor)


def nest(year: int) -> tuple[rules.Period, ...]:
    """The year's twelve months, four quarters and the year itself (indices 0-11, 12-15, 16): every period whose
    tables can be set against another's (a period nests in or holds only periods of its own year)."""
    months = [date(year, m, 1) for m in range(1, 13)] + [date(year + 1, 1, 1)]
    found = [rules.Period(f"{year}-{m:02d}", months[m - 1], months[m] - timedelta(days=1)) for m in range(1, 13)]
    found += [rules.Period(f"{year}-Q{q}", months[3 * q - 3], months[3 * q] - timedelta(days=1)) for q in range(1, 5)]
    return (*found, rules.Period(str(year), months[0], months[12] - timedelta(days=1)))
