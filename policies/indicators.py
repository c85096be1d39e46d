"""Indicators and their disclosure control (API-1.1 "Follow-up records and indicators"; issue 17). Pure.

What is counted. A *contribution* is one person's follow-up at one unit in the period (with nested periods, a
piece of it: below): the person's sex and age band (from the personal number, at the period's end) and, per
measure, a number (1 for a person measure, the count of events for an event measure). Every table the API gives
for a period (a unit's, a zone's, an organisation's, two organisations' together: "both principals") sums the
contributions of its units, so a person served by two units counts once in each. The overlap of two units (who is
seen by both the social services and the clinic) is exactly what would point at a person, and it is never computed.

Disclosure control (OSL 24:8 on statistics; GDPR art. 89; Socialstyrelsen's practice of suppressing 1-4). A cell's
*members* are the contributions with a nonzero number in it. Two contributions that are members of exactly the same
published cells are in the same *atom*; whatever an attacker computes from published cells by sums and differences
(any linear combination, over every table of the period) is a sum over whole atoms of the same per-contribution
function. So: every atom with any published cell must hold at least `min_cell` distinct persons, else one of its
cells is suppressed (the one with the fewest members) and the atoms are formed again, until none is small. Then

* no published cell counts 1..min_cell-1 persons (its atoms would be small), zeros are published (they name no one);
* no suppressed cell of 1..min_cell-1 persons can be computed: the published cells take one value across each atom,
  and such a cell is no union of atoms of min_cell or more;
* no sum or difference of published cells, within a table or across the unit, organisation and joint tables of the
  period, isolates fewer than min_cell persons: it is a sum over atoms of min_cell or more.

Families. The atoms are formed within a family of measures whose numbers are set against each other, that is every
measure tied to another by an identity an attacker knows: the persons with each instrument's bands, first and latest
together (everyone scored has one first and one latest score: the first bands and the latest bands sum alike, and
both are parts of the persons); episodes new and reopened together (a reopened episode is a new one); and each other
event count (episodes closed, contacts, interventions) on its own, where every derived value sums the events of
min_cell persons or more. A cell suppressed in one family is suppressed in all (persons is in two).

Nested periods. The tables of a year, its quarters and its months are set against each other too: a year's contacts
minus eleven months' give the twelfth month's, and a quarter's persons minus its months' give the persons of one
month when no one came twice. So the unit of counting is a *piece*: one person's follow-up at one unit in one month,
counted in that month's tables and, as far as its `reach`, in its quarter's and its year's (see Contribution). Every
cell of the seventeen periods of a year sums whole pieces, each with one number in every cell it is in, and the atoms
above are formed over the pieces and every cell of every table of every ended period of the year at once: whatever
an attacker computes from the year's, the quarters' and the months' tables, of every scope, is again a sum over
whole atoms of min_cell persons or more. A small month is hidden together with a month beside it (its
complement in the time dimension: `_complement`), so that the quarter minus the published months gives the sum of
two, and the year's totals are kept where a month beside it can be hidden instead.

The suppression is computed over every table of the year's periods at once, the same whoever asks, so two
callers' answers never differ in what they hide. Only whole periods that have ended are reported, and a month or a
quarter only once its year has ended: a running period reported day by day would give one person's records as the
difference of two days, and a month published before a later month ended would be set against the quarter
suppressed afterwards over more periods (insider attack 10, finding 2). A year's tables are made from its records as
they stood when any of its tables was first given (service/domain/indicators.py: the year's freeze instant), so a
record dated back into the year, a void or an episode closed after then changes no published cell.

Risk bands. AUDIT (WHO: Babor, Higgins-Biddle, Saunders, Monteiro 2001, "AUDIT - The Alcohol Use Disorders
Identification Test: Guidelines for Use in Primary Care", 2nd ed., WHO/MSD/MSB/01.6a, zones I-IV): 0-7, 8-15, 16-19,
20-40. DUDIT (Berman, Bergman, Palmstierna, Schlyter 2005, "Evaluation of the Drug Use Disorders Identification
Test (DUDIT) in criminal justice and detoxification settings and in a Swedish population sample", Eur Addict Res
11:22-31): drug-related problems from 6 for men and 2 for women, probable dependence from 25 for both.
"""
from __future__ import annotations

import functools
import hashlib
import re
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import date, timedelta

from .decision import Basis, Decision, Reason, allow, deny
from .model import ALL_ORGANISATIONS, Principal, Role, Zone

SEXES = ("female", "male")
AGE_BANDS = ("0-17", "18-24", "25-34", "35-49", "50-64", "65+")
_AGE_FLOORS = (0, 18, 25, 35, 50, 65)
AUDIT_BANDS = ("0-7", "8-15", "16-19", "20-40")
DUDIT_BANDS = ("no_problems", "problems", "dependence")
CONTACT_KINDS = ("individual", "group", "joint", "phone", "home_visit")
INTERVENTION_KINDS = ("medication_assisted", "group", "individual", "other")
# The measures, in the order tables list them. Persons and the score bands count persons; the rest count events.
MEASURES: tuple[str, ...] = (
    "persons", "episodes_new", "episodes_closed", "episodes_reopened",
    *(f"contacts_{kind}" for kind in CONTACT_KINDS),
    *(f"audit_{which}_{band}" for which in ("first", "latest") for band in AUDIT_BANDS),
    *(f"dudit_{which}_{band}" for which in ("first", "latest") for band in DUDIT_BANDS),
    *(f"interventions_{kind}" for kind in INTERVENTION_KINDS),
)
GROUPINGS = ("sex", "age_band")
ALL = "all"
_LAW = "OSL 24:8; GDPR art. 89"


def audit_band(score: int) -> str:
    """The AUDIT risk zone (WHO 2001): I 0-7, II 8-15, III 16-19, IV 20-40."""
    return AUDIT_BANDS[0] if score <= 7 else AUDIT_BANDS[1] if score <= 15 else AUDIT_BANDS[2] if score <= 19 \
        else AUDIT_BANDS[3]


def dudit_band(score: int, sex: str) -> str:
    """The DUDIT band (Berman et al. 2005): drug-related problems from 6 (men) or 2 (women), dependence from 25."""
    if score >= 25:
        return "dependence"
    return "problems" if score >= (2 if sex == "female" else 6) else "no_problems"


_FLOORS_DOWN = tuple(reversed(list(zip(AGE_BANDS, _AGE_FLOORS, strict=True))))


def age_band(birth: date, on: date) -> str:
    age = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    return next(band for band, floor in _FLOORS_DOWN if age >= floor)


@dataclass(frozen=True, slots=True)
class Period:
    """A whole month, quarter or year: [start, end] inclusive."""

    label: str
    start: date
    end: date


_PERIOD = re.compile(r"^([0-9]{4})(?:-Q([1-4])|-(0[1-9]|1[0-2]))?$")


# Why a month or quarter of the running year is not given (422 period_not_closed).
NOT_CLOSED = "a month or a quarter only once its year has ended (a year's published tables never change)"


def parse_period(text: str, *, today: date) -> Period | str:
    """The period `YYYY`, `YYYY-Qn` or `YYYY-MM`, or why not (a message for 422 naming `period`): anything else, or
    a period that has not ended (a running period reported day by day would tell one person's records apart), or
    (NOT_CLOSED) a month or quarter of a year that has not ended: the year's suppression is made once, over all its
    periods, when the year has ended (insider attack 10, finding 2: a month published in February and the quarter
    published in April, each suppressed over the periods ended so far, gave March's hidden month)."""
    match = _PERIOD.fullmatch(text)
    if match is None or int(match.group(1)) < 1900:
        return "a whole period: YYYY, YYYY-Qn or YYYY-MM"
    year = int(match.group(1))
    if match.group(2):
        first = 3 * (int(match.group(2)) - 1) + 1
        start, months = date(year, first, 1), 3
    elif match.group(3):
        start, months = date(year, int(match.group(3)), 1), 1
    else:
        start, months = date(year, 1, 1), 12
    month = start.month - 1 + months
    end = date(start.year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    if end >= today:
        return "only a period that has ended"
    if months < 12 and date(year, 12, 31) >= today:
        return NOT_CLOSED
    return Period(text, start, end)


@dataclass(frozen=True, slots=True)
class Scope:
    """A table's units: one unit, a zone (organisation and domain), an organisation, or two organisations (both
    principals). `key` names it in the API's terms."""

    kind: str  # unit, zone, organisation, joint
    key: tuple[str, ...]
    units: frozenset[str]


def scopes(units: Mapping[str, Zone]) -> list[Scope]:
    """Every table the API gives for a period, over these units: each unit, each zone, each organisation, each two
    organisations together."""
    found: list[Scope] = [Scope("unit", (unit,), frozenset({unit})) for unit in sorted(units)]
    zones: dict[Zone, set[str]] = defaultdict(set)
    organisations: dict[str, set[str]] = defaultdict(set)
    for unit, zone in units.items():
        zones[zone].add(unit)
        organisations[zone.organisation].add(unit)
    found += [Scope("zone", (z.organisation, z.domain), frozenset(u)) for z, u in sorted(
        zones.items(), key=lambda item: (item[0].organisation, item[0].domain))]
    names = sorted(organisations)
    found += [Scope("organisation", (name,), frozenset(organisations[name])) for name in names]
    found += [Scope("joint", (a, b), frozenset(organisations[a] | organisations[b]))
              for i, a in enumerate(names) for b in names[i + 1:]]
    return found


# The periods of a year whose tables nest (year ⊃ quarters ⊃ months), in the order of their index in a Nest.
LEVELS = ("month", "quarter", "year")
MONTHS, QUARTERS, YEAR = tuple(range(12)), tuple(range(12, 16)), 16


@functools.lru_cache(maxsize=256)  # pure, and asked for once a person and unit when a year's tables are made
def nest(year: int) -> tuple[Period, ...]:
    """The year's twelve months, four quarters and the year itself (indices 0-11, 12-15, 16): every period whose
    tables can be set against another's (a period nests in or holds only periods of its own year)."""
    months = [date(year, m, 1) for m in range(1, 13)] + [date(year + 1, 1, 1)]
    found = [Period(f"{year}-{m:02d}", months[m - 1], months[m] - timedelta(days=1)) for m in range(1, 13)]
    found += [Period(f"{year}-Q{q}", months[3 * q - 3], months[3 * q] - timedelta(days=1)) for q in range(1, 5)]
    return (*found, Period(str(year), months[0], months[12] - timedelta(days=1)))


def nest_index(period: Period) -> int:
    """The period's index in its year's nest."""
    if len(period.label) == 4:
        return YEAR
    if "-Q" in period.label:
        return 12 + int(period.label[-1]) - 1
    return int(period.label[5:]) - 1


def period_of(level: int, month: int) -> int:
    """The nest index of the month's (1-12) own period at a level: 0 the month, 1 its quarter, 2 the year."""
    return (month - 1, 12 + (month - 1) // 3, YEAR)[level]


def _level(period: int) -> int:
    return 0 if period < 12 else 1 if period < 16 else 2


_LEVEL_OF = tuple(_level(period) for period in range(17))


@functools.lru_cache(maxsize=1 << 20)
def _bands(birth: date, year: int, month: int) -> tuple[str, str, str]:
    """The age band at the end of the month, its quarter and the year (a person's bands, asked for every month of
    every person and unit when a year's tables are made: kept, as few distinct birth dates recur)."""
    ends = nest(year)
    return (age_band(birth, ends[month - 1].end), age_band(birth, ends[12 + (month - 1) // 3].end),
            age_band(birth, ends[YEAR].end))


def _children(period: int) -> tuple[tuple[int, ...], ...]:
    """The periods one level down, each with its own descendants: a quarter's months; the year's quarters (each
    with its three months)."""
    if period == YEAR:
        return tuple((q, *range(3 * (q - 12), 3 * (q - 12) + 3)) for q in QUARTERS)
    if period >= 12:
        return tuple((m,) for m in range(3 * (period - 12), 3 * (period - 12) + 3))
    return ()


def reaches(months: Sequence[int], *, last: bool = False) -> dict[int, int]:
    """For the months (1-12) in which something counted in a period of the nest happens once (a person present, a
    first or latest score), how far each month's piece reaches (see Contribution): the first month of the year with
    it reaches the year (3), the first of a quarter the quarter (2), the others their month only (1). `last`: the
    latest instead of the first (a latest score)."""
    ordered = sorted(set(months), reverse=last)
    found, seen = {}, set()
    for index, month in enumerate(ordered):
        quarter = (month - 1) // 3
        found[month] = 3 if index == 0 else 1 if quarter in seen else 2
        seen.add(quarter)
    return found


@dataclass(frozen=True, slots=True)
class Contribution:
    """One piece of one person's follow-up at one unit (see the module docstring, "Nested periods").

    A piece lies in one month of the year and is counted in that month's tables, and as far as `reach` says in its
    quarter's (2) and the year's (3): an event (a contact, an episode opened) reaches all three, since the quarter's
    and year's counts are sums of the months'. What is counted once a period (the person, a first or latest score,
    an intervention running) is split so that each period counts it once: the first month of the year with it
    reaches the year, the first of a quarter its quarter, every other month its own month only. So every cell of
    every period of the year sums whole pieces, each piece with one number in every cell it is in. `bands`: the
    age band at the end of the month, the quarter and the year (age is taken at each period's end)."""

    person: str
    unit: str
    sex: str
    bands: tuple[str, str, str]
    values: Mapping[str, int] = field(default_factory=dict)  # measure -> number; absent: 0
    month: int = 12
    reach: int = 3


@dataclass(frozen=True, slots=True)
class Month:
    """What one person had at one unit in one month of the year: the events by measure and how far they reach (a
    contact or an episode opened reaches the year, 3; an intervention running through several months is split like
    a person, see `reaches`), and each instrument's first and latest score of the month. A Month exists only for a
    month in which the person is counted at the unit (a record in it, or an episode or intervention running)."""

    month: int
    events: Mapping[tuple[str, int], int] = field(default_factory=dict)  # (measure, reach) -> number
    scores: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # "audit"|"dudit" -> (first, latest)


def pieces(person: str, unit: str, sex: str, birth: date, year: int, months: Sequence[Month]) -> list[Contribution]:
    """One person's year at one unit as the pieces the nest's cells sum (Contribution): the person in the first
    month of the year they are counted (reach 3), of each quarter (2), and every other month (1); each instrument's
    first score likewise from the first month with one, its latest from the last; events as they come."""
    present = reaches([m.month for m in months])
    scored: dict[tuple[str, str], dict[int, int]] = {}
    for instrument in ("audit", "dudit"):
        with_score = [m.month for m in months if instrument in m.scores]
        scored[(instrument, "first")] = reaches(with_score)
        scored[(instrument, "latest")] = reaches(with_score, last=True)
    found = []
    for m in months:
        bands = _bands(birth, year, m.month)
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
                found.append(Contribution(person, unit, sex, bands, values, m.month, reach))
    return found


# A cell: (nest index of the period, scope index, measure, sex or ALL, age band or ALL).
Cell = tuple[int, int, str, str, str]
# A class of pieces, within a family: (unit, month, reach, sex, bands, the family's measures with a number).
_Key = tuple[str, int, int, str, tuple[str, str, str], frozenset[str]]


def _selections(sex: str, band: str) -> tuple[tuple[str, str], ...]:
    return ((ALL, ALL), (sex, ALL), (ALL, band), (sex, band))


@dataclass(frozen=True, slots=True)
class Tables:
    """Every cell of every table of a year's nest of periods: its value and whether it is suppressed. Cells of a
    period not `published` (not yet ended) are in no answer and constrain nothing."""

    scopes: tuple[Scope, ...]
    values: Mapping[Cell, int]
    suppressed: frozenset[Cell]
    published: frozenset[int] = frozenset(range(17))

    def cell(self, period: int, scope: int, measure: str, sex: str = ALL, band: str = ALL) -> int | None:
        key = (period, scope, measure, sex, band)
        return None if key in self.suppressed else self.values.get(key, 0)


def families() -> tuple[tuple[str, ...], ...]:
    """The measures whose cells are set against each other (see the module docstring, "Families").

    A family holds every measure tied to another by an identity an attacker knows, since the atoms' argument holds
    only within a family (insider attack 10, findings 1 and 4):

    * each instrument's first and latest bands with `persons`: everyone with an AUDIT in a period has exactly one
      first and one latest score, so in every cell the first bands and the latest bands sum to the same number (a
      suppressed latest band was the first total minus the published latest bands), and both are parts of the
      persons (their difference counts the persons without an AUDIT);
    * `episodes_new` with `episodes_reopened`: a reopened episode is a new one too (reopened ⊆ new), so their
      difference counts the persons new to the unit;
    * every other event count on its own: no identity ties it to another measure (a contact, an intervention
      running, an episode closed are recorded each on its own; a closed episode was opened in any earlier period,
      so closed is no part of new), and every value derived from it sums the events of min_cell persons or more.
      Subtracting contacts from persons counts no one."""
    person = tuple(("persons", *(f"{i}_{w}_{b}" for w in ("first", "latest") for b in bands))
                   for i, bands in (("audit", AUDIT_BANDS), ("dudit", DUDIT_BANDS)))
    episodes = ("episodes_new", "episodes_reopened")
    events = tuple((m,) for m in MEASURES if m.startswith(("episodes_", "contacts_", "interventions_"))
                   and m not in episodes)
    return (*person, episodes, *events)


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
    # Whether a piece of a month and reach is in a published period, and a set of measures split by family: the
    # same few answers for every piece, worked out once.
    reaching = {(month, reach): any(period_of(level, month) in shown for level in range(reach))
                for month in range(1, 13) for reach in (1, 2, 3)}
    split: dict[frozenset[str], list[tuple[int, frozenset[str]]]] = {}
    for c in contributions:
        if not reaching[(c.month, c.reach)]:
            continue  # in no published period
        measures = frozenset(m for m, v in c.values.items() if v > 0)
        for measure in measures:
            base_values[(c.unit, c.month, c.reach, c.sex, c.bands, measure)] += c.values[measure]
            base_members[(c.unit, c.month, c.reach, c.sex, c.bands, measure)] += 1
        by_family = split.get(measures)
        if by_family is None:
            inside: dict[int, list[str]] = defaultdict(list)
            for measure in measures:
                for number in family_of.get(measure, ()):
                    inside[number].append(measure)
            by_family = split[measures] = [(number, frozenset(named)) for number, named in inside.items()]
        for number, named_set in by_family:
            classes[number][(c.unit, c.month, c.reach, c.sex, c.bands, named_set)].add(c.person)

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
    live: list[dict[_Key, set[Cell]]] = []  # each class's published cells not suppressed (kept as cells go)
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
        live.append({})
        signatures.append({})
        atoms.append(defaultdict(dict))
        holding.append(defaultdict(dict))
        for key in family_classes:
            cells = list(dict.fromkeys(cells_of(*key[:5], key[5])))
            signature = (len(cells), sum(digest(cell) for cell in cells))
            live[number][key], signatures[number][key] = set(cells), signature
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
        visible = live[number][next(iter(keys))]
        for cell in sorted(_complement(visible, members, suppressed, shown)):
            suppressed.add(cell)
            weight = digest(cell)
            for other, family_holding in enumerate(holding):
                held = family_holding.pop(cell, None)
                if not held:
                    continue
                family_signatures, family_atoms, family_live = signatures[other], atoms[other], live[other]
                for key in held:
                    old = family_signatures[key]
                    new = (old[0] - 1, old[1] - weight)
                    family_signatures[key] = new
                    del family_atoms[old][key]
                    family_atoms[new][key] = None
                    family_live[key].discard(cell)
                    for pushed in ((other, old), (other, new)):  # push, inline (the hottest loop)
                        if pushed not in queued:
                            queued.add(pushed)
                            queue.append(pushed)
        push(item)  # a month beside it hidden leaves this atom as it was: it is checked again
    return Tables(tuple(found), dict(values), frozenset(suppressed), shown)


def _complement(signature: Set[Cell], members: Mapping[Cell, int], suppressed: set[Cell],
                shown: frozenset[int]) -> set[Cell]:
    """What to suppress for a small atom so that it merges with others or loses its last published cell.

    While the atom has a published month cell, its month cell with the fewest members (the cells of a unit, a sex
    and an age band first). Once its month cells are all suppressed, the quarter's cells would give their sum as the
    quarter minus the published months: then a sibling month's matching cells are suppressed with it (the sibling
    with the fewest members), so the atom merges with that month's pieces, as complementary suppression does within
    a table; a sibling quarter and its months likewise under the year. Only when no sibling has anything left to
    hide does the coarser cell itself go. So a small month costs a month beside it, not the year's total."""
    finest, own = 2, []  # the cells of the finest level present, in one pass
    for cell in signature:
        level = _LEVEL_OF[cell[0]]
        if level < finest:
            finest, own = level, [cell]
        elif level == finest:
            own.append(cell)
    if finest > 0:
        candidates = []
        for parent in {cell[0] for cell in own}:
            for family in _children(parent):
                group = {(period, *cell[1:]) for cell in own if cell[0] == parent for period in family
                         if period in shown}
                group = {cell for cell in group if cell not in suppressed and members.get(cell, 0) > 0}
                if group:
                    candidates.append((sum(members[cell] for cell in group), sorted(group)[0], group))
        if candidates:
            return min(candidates, key=lambda candidate: candidate[:2])[2]
    return {min(own, key=lambda cell: (members.get(cell, 0), cell))}


def _persons(classes: Mapping[_Key, set[str]], keys: list[_Key], enough: int) -> int:
    """The distinct persons of an atom's classes, counted only as far as needed to tell whether they reach
    `enough` (a person has one piece a unit, month and reach: a class's members are distinct; several classes can
    share a person)."""
    sizes = [len(classes[key]) for key in keys]
    total = sum(sizes)
    if total < enough or len(keys) == 1 or max(sizes) >= enough:
        return total if total < enough or len(keys) == 1 else max(sizes)
    return len(set().union(*(classes[key] for key in keys)))


def find_scope(tables_scopes: Iterable[Scope], kind: str, key: tuple[str, ...]) -> int | None:
    for index, scope in enumerate(tables_scopes):
        if scope.kind == kind and scope.key == key:
            return index
    return None


def decide_indicators(principal: Principal, organisations: frozenset[str], unit: str | None) -> Decision:
    """Who reads which table (API-1.1): a unit manager their own unit's; an analyst the tables of the organisations
    in its token's claim `organisations` (all with `*`); never content, and no client is named. `organisations`:
    the organisations of the asked table's units."""
    if Role.ANALYST in principal.roles:
        claim = principal.organisations
        if claim is None:
            return deny(Reason.NO_ORGANISATION, legal_basis=_LAW)
        if ALL_ORGANISATIONS in claim or organisations <= claim:
            return allow(Basis.ROLE, legal_basis=_LAW)
    if Role.UNIT_MANAGER in principal.roles and unit is not None and unit == principal.unit:
        return allow(Basis.ROLE, legal_basis=_LAW)
    if Role.ANALYST in principal.roles:
        return deny(Reason.NO_ORGANISATION, legal_basis=_LAW)
    return deny(Reason.NOT_OWNING_UNIT, legal_basis=_LAW)
