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
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies.indicators import (
    AGE_BANDS,
    ALL,
    NOT_CLOSED,
    SEXES,
    Contribution,
    Month,
    Tables,
    age_band,
    audit_band,
    dudit_band,
    nest,
    parse_period,
    pieces,
    reaches,
    suppress,
)
from policies.model import Zone

MIN = 5
YEAR = 2025
MEASURES = ("persons", "contacts_phone", "audit_first_0-7", "audit_first_8-15", "audit_latest_0-7", "audit_latest_8-15",
            "episodes_new", "episodes_reopened")
# What the attacker sets against each other: person counts with person counts (persons and a band: their
# difference counts persons too), first and latest bands together (everyone scored has one of each: the first
# bands and the latest bands sum alike, insider attack 10 finding 1), new episodes with reopened ones (reopened ⊆
# new: finding 4), an event count with itself (persons minus phone calls counts no one). The identities need not be
# told: a cell's vector is its value person by person, so Σ first = Σ latest and new - reopened hold of the vectors.
FAMILIES = (("persons", "audit_first_0-7", "audit_first_8-15", "audit_latest_0-7", "audit_latest_8-15"),
            ("episodes_new", "episodes_reopened"), ("contacts_phone",))
UNITS = {"iof": Zone("kommun", "social"), "jour": Zone("kommun", "social"), "bc": Zone("region", "health"),
         "psyk": Zone("region", "health"), "skola": Zone("annan", "social")}
# Birth dates: some turn 25 or 35 inside the year, so a person's age band differs between a month and the year.
BIRTHS = (date(1990, 1, 1), date(2000, 5, 20), date(1990, 8, 1), date(1995, 3, 3))
PERIODS = nest(YEAR)


@dataclass(frozen=True)
class Pair:
    """One person's year at one unit, as recorded: per month, phone calls and the month's first AUDIT score; the
    month's latest AUDIT score where it differs from the first; episodes opened and of them reopened."""

    person: str
    unit: str
    sex: str
    birth: date
    months: dict[int, tuple[int, int | None]]  # month -> (phone calls, first AUDIT score or None)
    latest: dict[int, int] = field(default_factory=dict)  # month -> the month's latest AUDIT score (else the first)
    episodes: dict[int, tuple[int, int]] = field(default_factory=dict)  # month -> (opened, of them reopened)

    def scores(self, month: int) -> tuple[int, int] | None:
        first = self.months[month][1]
        return None if first is None else (first, self.latest.get(month, first))


@st.composite
def years(draw, *, months=range(1, 7)) -> tuple[list[Pair], dict[str, Zone]]:
    """A year at two to four units: each person at one or two units, present in one to three months of the first
    half year (so months, both quarters and the year hold the same people), with phone calls and AUDIT scores."""
    units = {u: UNITS[u] for u in draw(st.lists(st.sampled_from(sorted(UNITS)), min_size=2, max_size=3, unique=True))}
    found = []
    for person in range(draw(st.integers(min_value=1, max_value=14))):
        sex, birth = draw(st.sampled_from(SEXES)), draw(st.sampled_from(BIRTHS))
        for unit in draw(st.lists(st.sampled_from(sorted(units)), min_size=1, max_size=2, unique=True)):
            present = draw(st.lists(st.sampled_from(list(months)), min_size=1, max_size=3, unique=True))
            scored = {m: (draw(st.integers(0, 2)), draw(st.sampled_from((None, 3, 9)))) for m in present}
            latest = {m: draw(st.sampled_from((3, 9))) for m, (_, first) in scored.items()
                      if first is not None and draw(st.booleans())}
            opened = {m: draw(st.sampled_from(((0, 0), (1, 0), (1, 1)))) for m in present}
            found.append(Pair(f"p{person}", unit, sex, birth, scored, latest, opened))
    return found, units


def contributions_of(pairs: list[Pair]) -> list[Contribution]:
    """The pairs as the domain gives them to the suppression (policies.indicators.pieces)."""
    found = []
    for pair in pairs:
        months = [Month(m, {("contacts_phone", 3): calls, ("episodes_new", 3): pair.episodes.get(m, (0, 0))[0],
                            ("episodes_reopened", 3): pair.episodes.get(m, (0, 0))[1]},
                        {"audit": scores} if (scores := pair.scores(m)) is not None else {})
                  for m, (calls, _) in sorted(pair.months.items())]
        found += pieces(pair.person, pair.unit, pair.sex, pair.birth, YEAR, months)
    return found


def _value(pair: Pair, period: int, measure: str) -> int:
    """What a pair gives a cell of the period, from the records themselves (not from the pieces)."""
    inside = sorted(m for m in pair.months if PERIODS[period].start.month <= m <= PERIODS[period].end.month)
    if not inside:
        return 0
    if measure == "persons":
        return 1
    if measure == "contacts_phone":
        return sum(pair.months[m][0] for m in inside)
    if measure.startswith("episodes_"):
        return sum(pair.episodes.get(m, (0, 0))[measure == "episodes_reopened"] for m in inside)
    scores = [score for m in inside if (score := pair.scores(m)) is not None]
    if not scores:
        return 0
    _, which, band = measure.split("_")
    return int(audit_band(scores[0][0] if which == "first" else scores[-1][1]) == band)


def _vector(tables: Tables, pairs: list[Pair], cell) -> tuple[int, ...]:
    """What the cell sums, person and unit by person and unit (the attacker's unknowns)."""
    period, index, measure, sex, band = cell
    scope = tables.scopes[index]
    return tuple(_value(p, period, measure) if p.unit in scope.units and sex in (ALL, p.sex)
                 and band in (ALL, age_band(p.birth, PERIODS[period].end)) else 0 for p in pairs)


def _persons(pairs: list[Pair], vector) -> int:
    return len({p.person for p, value in zip(pairs, vector, strict=True) if value != 0})


def _all_cells(tables: Tables, periods=range(17)) -> list:
    return [(p, i, m, s, b) for p in periods if p in tables.published for i in range(len(tables.scopes))
            for m in MEASURES for s in (ALL, *SEXES) for b in (ALL, *AGE_BANDS)]


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


def leaks(tables: Tables, pairs: list[Pair]) -> list[str]:
    """Everything the attacker finds in every table of every period of the year: a published cell, or a sum or
    difference of two (of three while the published vectors are few: 24) published cells, that sums fewer than MIN
    persons (a nonnegative combination, so a value about exactly those persons); or a suppressed cell of fewer than
    MIN persons derived exactly from the published ones (any linear combination: the year minus eleven months)."""
    found = []
    for family in FAMILIES:
        found += _leaks_in(tables, pairs, family)
    return found


def _leaks_in(tables: Tables, pairs: list[Pair], family: tuple[str, ...]) -> list[str]:
    cells = [cell for cell in _all_cells(tables) if cell[2] in family]
    published = {cell: _vector(tables, pairs, cell) for cell in cells if cell not in tables.suppressed}
    vectors = sorted({v for v in published.values() if any(v)})
    for size in (1, 2, 3) if len(vectors) <= 24 else (1, 2):
        for chosen in itertools.combinations(vectors, size):
            for signs in itertools.product((1, -1), repeat=size - 1):
                combined = [sum(s * v[i] for s, v in zip((1, *signs), chosen, strict=True)) for i in range(len(pairs))]
                if all(x >= 0 for x in combined) and 0 < _persons(pairs, combined) < MIN:
                    return [f"{size} cells {signs}: {_persons(pairs, combined)} persons"]
    found = []
    for cell in sorted(c for c in tables.suppressed if c[2] in family):
        target = _vector(tables, pairs, cell)
        if 0 < _persons(pairs, target) < MIN and _in_span(vectors, target):
            found.append(f"suppressed {PERIODS[cell[0]].label} {cell[1:]} derived")
    return found


def per_period(contribs: list[Contribution], units: dict[str, Zone]) -> Tables:
    """Each period's tables suppressed on their own (every scope of the period together, as before nested periods
    were): the union of each period's suppression, the one the API gave for whichever period was asked."""
    hidden: set = set()
    for period in range(17):
        hidden |= suppress(contribs, units, min_cell=MIN, published=[period]).suppressed
    whole = suppress(contribs, units, min_cell=MIN)
    return Tables(whole.scopes, whole.values, frozenset(hidden), whole.published)


@pytest.mark.timeout(600)  # every table of 17 periods attacked: a minute or two on a loaded machine
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(years())
def test_no_sum_or_difference_of_the_years_tables_reveals_fewer_than_min_cell_persons(data) -> None:
    """Every scope's table of every month, quarter and the year, set against each other."""
    pairs, units = data
    tables = suppress(contributions_of(pairs), units, min_cell=MIN)
    for cell in _all_cells(tables):  # the pieces sum to what the records say, in every period
        assert tables.values.get(cell, 0) == sum(_vector(tables, pairs, cell)), cell
    assert leaks(tables, pairs) == []


def test_a_year_minus_its_other_months_gives_a_month_suppressed_alone() -> None:
    """Seven persons at IFO with phone calls in March, two more in April: April's (and the second quarter's) two are
    suppressed in their own tables, and the year's nine minus the first quarter's seven gave them. Now the second
    quarter is hidden with the first: no difference of the year's tables gives two."""
    pairs = [Pair(f"p{i}", "iof", "female", BIRTHS[0], {3: (1, None)}) for i in range(7)]
    pairs += [Pair(f"q{i}", "iof", "female", BIRTHS[0], {4: (1, None)}) for i in range(2)]
    units = {"iof": UNITS["iof"]}
    contribs = contributions_of(pairs)
    before = per_period(contribs, units)
    assert before.cell(16, 0, "contacts_phone") == 9 and before.cell(12, 0, "contacts_phone") == 7
    assert before.cell(13, 0, "contacts_phone") is None and before.cell(14, 0, "contacts_phone") == 0
    assert leaks(before, pairs) != []
    tables = suppress(contribs, units, min_cell=MIN)
    assert leaks(tables, pairs) == []
    # April has no month beside it with anyone to hide with, so the second quarter goes, and with it the first
    # quarter and March: the year's nine stays (7 + 2 is one atom of nine).
    assert [tables.cell(p, 0, "contacts_phone") for p in (2, 3, 12, 13, 14, 16)] == [None, None, None, None, 0, 9]
    assert tables.cell(16, 0, "persons") == 9 and tables.cell(4, 0, "persons") == 0


def test_a_latest_score_is_not_the_first_total_minus_the_other_latest_bands() -> None:
    """Insider attack 10, finding 1: six women at IFO with an AUDIT of 5 in March; one of them scores 12 later that
    month. Her latest band (8-15) was suppressed alone, and the first bands' 6 minus the latest 0-7's 5 gave it: the
    first and the latest bands were separate families. Now they are one: no cell of hers stands apart."""
    pairs = [Pair(f"p{i}", "iof", "female", BIRTHS[0], {3: (0, 5)}) for i in range(6)]
    pairs[0] = Pair("p0", "iof", "female", BIRTHS[0], {3: (0, 5)}, latest={3: 12})
    tables = suppress(contributions_of(pairs), {"iof": UNITS["iof"]}, min_cell=MIN)
    for period in (2, 12, 16):  # March, the first quarter, the year
        assert tables.cell(period, 0, "audit_latest_8-15") is None
        # Something else goes with it, so that the first bands' total minus the latest 0-7 no longer gives her.
        assert None in (tables.cell(period, 0, "audit_first_0-7"), tables.cell(period, 0, "audit_latest_0-7"))
    assert leaks(tables, pairs) == []


def test_new_minus_reopened_episodes_does_not_count_one_person() -> None:
    """Insider attack 10, finding 4: six women open an episode at IFO in March, five of them reopenings. 6 - 5 named
    the one new to the unit; new and reopened are one family now, so one of them is hidden."""
    pairs = [Pair(f"p{i}", "iof", "female", BIRTHS[0], {3: (0, None)}, episodes={3: (1, int(i > 0))})
             for i in range(6)]
    tables = suppress(contributions_of(pairs), {"iof": UNITS["iof"]}, min_cell=MIN)
    for period in (2, 12, 16):
        assert None in (tables.cell(period, 0, "episodes_new"), tables.cell(period, 0, "episodes_reopened"))
    assert leaks(tables, pairs) == []


def test_the_attack_catches_a_suppression_of_small_cells_only() -> None:
    """Six persons at IFO, one at the night unit: the zone's total minus IFO's gives the night unit's one person,
    though every small cell is suppressed."""
    pairs = [Pair(f"p{i}", "iof", "female", BIRTHS[0], {1: (0, None)}) for i in range(6)]
    pairs.append(Pair("p9", "jour", "female", BIRTHS[0], {1: (0, None)}))
    units = {"iof": UNITS["iof"], "jour": UNITS["jour"]}
    full = suppress(contributions_of(pairs), units, min_cell=MIN)
    naive = Tables(full.scopes, full.values, frozenset(
        cell for cell in full.values if 0 < _persons(pairs, _vector(full, pairs, cell)) < MIN))
    assert leaks(naive, pairs) != []
    assert leaks(full, pairs) == []
    # IFO's 6 stay; the zone's and the organisation's 7 go with the night unit's 1: else 7 - 6 names that one.
    assert [full.cell(16, i, "persons") for i in range(len(full.scopes))] == [6, None, None, None]
    assert [full.cell(0, i, "persons") for i in range(len(full.scopes))] == [6, None, None, None]


def test_zero_is_published_and_a_large_enough_table_is_not_suppressed() -> None:
    pairs = [Pair(f"p{i}", "iof", "female", BIRTHS[0], {m: (1, 5) for m in (1, 2, 5)}) for i in range(12)]
    tables = suppress(contributions_of(pairs), {"iof": UNITS["iof"]}, min_cell=MIN)
    assert not tables.suppressed
    assert tables.cell(16, 0, "persons") == 12 and tables.cell(16, 0, "persons", "male") == 0
    assert tables.cell(16, 0, "persons", "female", "35-49") == 12 and tables.cell(16, 0, "contacts_phone") == 36
    assert tables.cell(12, 0, "persons") == 12 and tables.cell(12, 0, "contacts_phone") == 24
    assert tables.cell(1, 0, "audit_first_0-7") == 12 and tables.cell(2, 0, "persons") == 0


def test_pieces_count_a_person_once_a_period() -> None:
    """Present in January, February and May: the person reaches the year from January, the second quarter from
    May; the first score from January, the latest from May; each phone call everywhere."""
    months = [Month(1, {("contacts_phone", 3): 2}, {"audit": (9, 3)}), Month(2), Month(5, {}, {"audit": (20, 20)})]
    found = pieces("p", "iof", "male", date(2000, 5, 20), YEAR, months)
    by = {(c.month, c.reach): dict(c.values) for c in found}
    assert by == {(1, 3): {"persons": 1, "audit_first_8-15": 1, "contacts_phone": 2},
                  (1, 2): {"audit_latest_0-7": 1},  # January's latest is the first quarter's latest
                  (2, 1): {"persons": 1},
                  (5, 2): {"persons": 1, "audit_first_20-40": 1}, (5, 3): {"audit_latest_20-40": 1}}
    assert next(c.bands for c in found if c.month == 1) == ("18-24", "18-24", "25-34")  # 25 on 2025-05-20
    assert reaches([1, 2, 5, 12]) == {1: 3, 2: 1, 5: 2, 12: 2}
    assert reaches([1, 2, 5, 12], last=True) == {12: 3, 5: 2, 2: 2, 1: 1}


def test_bands_and_periods() -> None:
    assert [audit_band(s) for s in (0, 7, 8, 15, 16, 19, 20, 40)] == ["0-7", "0-7", "8-15", "8-15", "16-19", "16-19",
                                                                       "20-40", "20-40"]
    assert [dudit_band(s, "female") for s in (1, 2, 24, 25)] == ["no_problems", "problems", "problems", "dependence"]
    assert [dudit_band(s, "male") for s in (5, 6, 25)] == ["no_problems", "problems", "dependence"]
    assert age_band(date(2000, 6, 1), date(2025, 5, 31)) == "18-24" and age_band(date(1950, 1, 1), date(2025, 1, 1)) == "65+"
    today = date(2026, 12, 1)
    assert parse_period("2025-Q3", today=today).end == date(2025, 9, 30)  # type: ignore[union-attr]
    assert parse_period("2024-02", today=today).end == date(2024, 2, 29)  # type: ignore[union-attr]
    assert parse_period("2025", today=today).start == date(2025, 1, 1)  # type: ignore[union-attr]
    # A month or quarter of the running year, though ended, only once the year has (insider attack 10, finding 2).
    for running in ("2026-11", "2026-Q3", "2026-01"):
        assert parse_period(running, today=today) == NOT_CLOSED, running
    assert not isinstance(parse_period("2025-12", today=date(2026, 1, 1)), str)  # its year ended yesterday
    for bad in ("2026", "2026-Q4", "2026-12", "2026-13", "2026-Q5", "26", "2026-01-01", "2026-1"):
        assert isinstance(parse_period(bad, today=today), str), bad
