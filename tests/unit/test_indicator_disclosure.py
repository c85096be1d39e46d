"""Disclosure control of indicators by attack (issue 17; policies/indicators.py).

Hypothesis makes follow-up data of units in two or three organisations (both principals), suppression runs over every
table of the period, and the attacker takes everything published: every unit's, zone's, organisation's and two
organisations' table, every grouping. It tries sums and differences of up to three published cells (within a table
and across tables) and every exact linear derivation of a suppressed cell (Gaussian elimination over the
contributions), within each family of measures that can be set against each other (person counts with person
counts, an event count with itself): none may give a value about 1..min_cell-1 persons. A naive suppression (small cells only) is
caught by the same attack, so the attack has teeth.
"""
from __future__ import annotations

import itertools
from datetime import date
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies.indicators import (
    AGE_BANDS,
    ALL,
    SEXES,
    Contribution,
    Tables,
    age_band,
    audit_band,
    dudit_band,
    parse_period,
    suppress,
)
from policies.model import Zone

MIN = 5
MEASURES = ("persons", "contacts_phone", "audit_first_0-7")
# What the attacker sets against each other: person counts with person counts (persons and a band: their
# difference counts persons too), an event count with itself (persons minus phone calls counts no one).
FAMILIES = (("persons", "audit_first_0-7"), ("contacts_phone",))
UNITS = {"iof": Zone("kommun", "social"), "jour": Zone("kommun", "social"), "bc": Zone("region", "health"),
         "psyk": Zone("region", "health"), "skola": Zone("annan", "social")}


@st.composite
def contributions(draw) -> tuple[list[Contribution], dict[str, Zone]]:
    units = {u: UNITS[u] for u in draw(st.lists(st.sampled_from(sorted(UNITS)), min_size=2, max_size=4, unique=True))}
    people = draw(st.integers(min_value=1, max_value=30))
    found = []
    for person in range(people):
        sex, band = draw(st.sampled_from(SEXES)), draw(st.sampled_from(AGE_BANDS[1:4]))
        for unit in draw(st.lists(st.sampled_from(sorted(units)), min_size=1, max_size=2, unique=True)):
            values = {"persons": 1, "contacts_phone": draw(st.integers(0, 3)),
                      "audit_first_0-7": draw(st.integers(0, 1))}
            found.append(Contribution(f"p{person}", unit, sex, band, values))
    return found, units


def _vector(tables: Tables, contribs: list[Contribution], cell) -> tuple[int, ...]:
    """What the cell sums, contribution by contribution."""
    index, measure, sex, band = cell
    scope = tables.scopes[index]
    return tuple(c.values.get(measure, 0) if c.unit in scope.units and sex in (ALL, c.sex) and band in (ALL, c.age_band)
                 else 0 for c in contribs)


def _persons(contribs: list[Contribution], vector) -> int:
    return len({c.person for c, value in zip(contribs, vector, strict=True) if value != 0})


def _all_cells(tables: Tables) -> list:
    return [(i, m, s, b) for i in range(len(tables.scopes)) for m in MEASURES
            for s in (ALL, *SEXES) for b in (ALL, *AGE_BANDS)]


def _in_span(rows: list[tuple[int, ...]], target: tuple[int, ...]) -> bool:
    """Whether `target` is an exact linear combination of `rows` (Gaussian elimination over the rationals)."""
    basis: list[list[Fraction]] = []
    pivots: list[int] = []
    for row in rows:
        vector = [Fraction(x) for x in row]
        for pivot, base in zip(pivots, basis, strict=True):
            if vector[pivot]:
                factor = vector[pivot] / base[pivot]
                vector = [a - factor * b for a, b in zip(vector, base, strict=True)]
        lead = next((i for i, x in enumerate(vector) if x), None)
        if lead is not None:
            basis.append(vector)
            pivots.append(lead)
    rest = [Fraction(x) for x in target]
    for pivot, base in zip(pivots, basis, strict=True):
        if rest[pivot]:
            factor = rest[pivot] / base[pivot]
            rest = [a - factor * b for a, b in zip(rest, base, strict=True)]
    return not any(rest)


def leaks(tables: Tables, contribs: list[Contribution]) -> list[str]:
    """Everything the attacker finds: a published cell, a sum or difference of up to three published cells that sums
    fewer than MIN persons (a nonnegative combination, so a value about exactly those persons), or a suppressed cell
    of fewer than MIN persons derived exactly from the published ones."""
    found = []
    for family in FAMILIES:
        found += _leaks_in(tables, contribs, family)
    return found


def _leaks_in(tables: Tables, contribs: list[Contribution], family: tuple[str, ...]) -> list[str]:
    cells = [cell for cell in _all_cells(tables) if cell[1] in family]
    published = {cell: _vector(tables, contribs, cell) for cell in cells if cell not in tables.suppressed}
    vectors = sorted({v for v in published.values() if any(v)})
    found = []
    for size in (1, 2, 3):
        for chosen in itertools.combinations(vectors, size):
            for signs in itertools.product((1, -1), repeat=size - 1):
                combined = [sum(s * v[i] for s, v in zip((1, *signs), chosen, strict=True)) for i in range(len(contribs))]
                if all(x >= 0 for x in combined) and 0 < _persons(contribs, combined) < MIN:
                    found.append(f"{size} cells {signs}: {_persons(contribs, combined)} persons")
                    return found
    for cell in (c for c in tables.suppressed if c[1] in family):
        target = _vector(tables, contribs, cell)
        if 0 < _persons(contribs, target) < MIN and _in_span(vectors, target):
            found.append(f"suppressed {cell} derived")
    return found


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contributions())
def test_no_sum_or_difference_of_the_periods_tables_reveals_fewer_than_min_cell_persons(data) -> None:
    contribs, units = data
    tables = suppress(contribs, units, min_cell=MIN)
    assert leaks(tables, contribs) == []


def test_the_attack_catches_a_suppression_of_small_cells_only() -> None:
    """Six persons at IFO, one at the night unit: the zone's total minus IFO's gives the night unit's one person,
    though every small cell is suppressed."""
    contribs = [Contribution(f"p{i}", "iof", "female", "25-34", {"persons": 1}) for i in range(6)]
    contribs.append(Contribution("p9", "jour", "female", "25-34", {"persons": 1}))
    units = {"iof": UNITS["iof"], "jour": UNITS["jour"]}
    full = suppress(contribs, units, min_cell=MIN)
    naive = Tables(full.scopes, full.values, frozenset(
        cell for cell, _ in full.values.items() if 0 < _persons(contribs, _vector(full, contribs, cell)) < MIN))
    assert leaks(naive, contribs) != []
    assert leaks(full, contribs) == []
    # IFO's 6 stay; the zone's and the organisation's 7 go with the night unit's 1: else 7 - 6 names that one.
    assert [full.cell(i, "persons") for i in range(len(full.scopes))] == [6, None, None, None]


def test_zero_is_published_and_a_large_enough_table_is_not_suppressed() -> None:
    contribs = [Contribution(f"p{i}", "iof", "female", "25-34", {"persons": 1}) for i in range(12)]
    tables = suppress(contribs, {"iof": UNITS["iof"]}, min_cell=MIN)
    assert tables.cell(0, "persons") == 12 and tables.cell(0, "persons", "male") == 0
    assert tables.cell(0, "persons", "female", "25-34") == 12


def test_bands_and_periods() -> None:
    assert [audit_band(s) for s in (0, 7, 8, 15, 16, 19, 20, 40)] == ["0-7", "0-7", "8-15", "8-15", "16-19", "16-19",
                                                                       "20-40", "20-40"]
    assert [dudit_band(s, "female") for s in (1, 2, 24, 25)] == ["no_problems", "problems", "problems", "dependence"]
    assert [dudit_band(s, "male") for s in (5, 6, 25)] == ["no_problems", "problems", "dependence"]
    assert age_band(date(2000, 6, 1), date(2025, 5, 31)) == "18-24" and age_band(date(1950, 1, 1), date(2025, 1, 1)) == "65+"
    today = date(2026, 12, 1)
    assert parse_period("2026-Q3", today=today).end == date(2026, 9, 30)  # type: ignore[union-attr]
    assert parse_period("2026-02", today=today).end == date(2026, 2, 28)  # type: ignore[union-attr]
    assert parse_period("2025", today=today).start == date(2025, 1, 1)  # type: ignore[union-attr]
    assert not isinstance(parse_period("2026-11", today=today), str)  # ended yesterday
    for bad in ("2026", "2026-Q4", "2026-12", "2026-13", "2026-Q5", "26", "2026-01-01", "2026-1"):
        assert isinstance(parse_period(bad, today=today), str), bad
