"""Indicators and their disclosure control (API-1.1 "Follow-up records and indicators"; issue 17). Pure.

What is counted. A *contribution* is one person's follow-up at one unit in the period: the person's sex and age band
(from the personal number, at the period's end) and, per measure, a number (1 for a person measure, the count of
events for an event measure). Every table the API gives for a period (a unit's, a zone's, an organisation's, two
organisations' together: "both principals") sums the contributions of its units, so a person served by two units
counts once in each. The overlap of two units (who is seen by both the social services and the clinic) is exactly
what would point at a person, and it is never computed.

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

Families. The atoms are formed within a family of measures whose numbers are set against each other: the persons
with each instrument's bands (first, latest), where no difference may count fewer than min_cell persons (the persons
without an AUDIT); and each event count (episodes, contacts, interventions) on its own, where every derived value sums
the events of min_cell persons or more. A cell suppressed in one family is suppressed in all (persons is in four).

The suppression is computed over every table of the period at once, the same whoever asks, so two callers' answers
never differ in what they hide. Only whole periods that have ended are reported (a month, a quarter, a year): a
running period reported day by day would give one person's records as the difference of two days.

Risk bands. AUDIT (WHO: Babor, Higgins-Biddle, Saunders, Monteiro 2001, "AUDIT - The Alcohol Use Disorders
Identification Test: Guidelines for Use in Primary Care", 2nd ed., WHO/MSD/MSB/01.6a, zones I-IV): 0-7, 8-15, 16-19,
20-40. DUDIT (Berman, Bergman, Palmstierna, Schlyter 2005, "Evaluation of the Drug Use Disorders Identification
Test (DUDIT) in criminal justice and detoxification settings and in a Swedish population sample", Eur Addict Res
11:22-31): drug-related problems from 6 for men and 2 for women, probable dependence from 25 for both.
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
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


def age_band(birth: date, on: date) -> str:
    age = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    return next(band for band, floor in reversed(list(zip(AGE_BANDS, _AGE_FLOORS, strict=True))) if age >= floor)


@dataclass(frozen=True, slots=True)
class Period:
    """A whole month, quarter or year: [start, end] inclusive."""

    label: str
    start: date
    end: date


_PERIOD = re.compile(r"^([0-9]{4})(?:-Q([1-4])|-(0[1-9]|1[0-2]))?$")


def parse_period(text: str, *, today: date) -> Period | str:
    """The period `YYYY`, `YYYY-Qn` or `YYYY-MM`, or why not (a message for 422 naming `period`): anything else, or
    a period that has not ended (a running period reported day by day would tell one person's records apart)."""
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


@dataclass(frozen=True, slots=True)
class Contribution:
    """One person's follow-up at one unit in the period (see the module docstring)."""

    person: str
    unit: str
    sex: str
    age_band: str
    values: Mapping[str, int] = field(default_factory=dict)  # measure -> number; absent: 0


# A cell: (scope index, measure, sex or ALL, age band or ALL).
Cell = tuple[int, str, str, str]


def _selections(sex: str, band: str) -> tuple[tuple[str, str], ...]:
    return ((ALL, ALL), (sex, ALL), (ALL, band), (sex, band))


@dataclass(frozen=True, slots=True)
class Tables:
    """Every cell of the period's tables: its value and whether it is suppressed."""

    scopes: tuple[Scope, ...]
    values: Mapping[Cell, int]
    suppressed: frozenset[Cell]

    def cell(self, scope: int, measure: str, sex: str = ALL, band: str = ALL) -> int | None:
        key = (scope, measure, sex, band)
        return None if key in self.suppressed else self.values.get(key, 0)


def families() -> tuple[tuple[str, ...], ...]:
    """The measures whose cells are set against each other (see the module docstring, "Families").

    Person counts that are parts of the persons counted (each instrument's bands, first and latest) are protected
    with `persons`: no difference of them (the persons without an AUDIT) counts fewer than min_cell. An event count
    is protected on its own: every value derived from it sums the events of min_cell persons or more. Subtracting
    contacts from persons counts no one."""
    person = tuple((("persons", *(f"{i}_{w}_{b}" for b in bands)))
                   for i, bands in (("audit", AUDIT_BANDS), ("dudit", DUDIT_BANDS)) for w in ("first", "latest"))
    events = tuple((m,) for m in MEASURES if m.startswith(("episodes_", "contacts_", "interventions_")))
    return person + events


def suppress(contributions: Sequence[Contribution], units: Mapping[str, Zone], *, min_cell: int) -> Tables:
    """Every table of the period with its suppression (module docstring: within each family of measures, no atom
    of published cells under `min_cell` persons; every family's suppression holds in the others too)."""
    found = scopes(units)
    of_unit: dict[str, list[int]] = defaultdict(list)
    for index, scope in enumerate(found):
        for unit in scope.units:
            of_unit[unit].append(index)
    # Per unit, sex, age band and measure: the sum and the members, then spread over the tables holding the unit.
    base_values: dict[tuple[str, str, str, str], int] = defaultdict(int)
    base_members: dict[tuple[str, str, str, str], int] = defaultdict(int)
    # Per family, a class: the members of one unit, sex and age band in the same measures of the family.
    groups = families()
    classes: list[dict[tuple[str, str, str, frozenset[str]], set[str]]] = [defaultdict(set) for _ in groups]
    family_of: dict[str, list[int]] = defaultdict(list)
    for number, family in enumerate(groups):
        for measure in family:
            family_of[measure].append(number)
    for c in contributions:
        measures = frozenset(m for m, v in c.values.items() if v > 0)
        for measure in measures:
            base_values[(c.unit, c.sex, c.age_band, measure)] += c.values[measure]
            base_members[(c.unit, c.sex, c.age_band, measure)] += 1
        inside: dict[int, list[str]] = defaultdict(list)
        for measure in measures:
            for number in family_of.get(measure, ()):
                inside[number].append(measure)
        for number, named in inside.items():
            classes[number][(c.unit, c.sex, c.age_band, frozenset(named))].add(c.person)
    values: dict[Cell, int] = defaultdict(int)
    members: dict[Cell, int] = defaultdict(int)
    for (unit, sex_of, band_of, measure), value in base_values.items():
        for index in of_unit.get(unit, ()):
            for sex, band in _selections(sex_of, band_of):
                values[(index, measure, sex, band)] += value
                members[(index, measure, sex, band)] += base_members[(unit, sex_of, band_of, measure)]
    class_cells = [{key: [(index, m, s, b) for index in of_unit.get(key[0], ()) for m in key[3]
                          for s, b in _selections(key[1], key[2])] for key in family_classes}
                   for family_classes in classes]
    suppressed: set[Cell] = set()
    changed = True
    while changed:
        changed = False
        for family_classes, cells_of in zip(classes, class_cells, strict=True):
            while True:
                atoms: dict[frozenset[Cell], list[tuple[str, str, str, frozenset[str]]]] = defaultdict(list)
                for key, cells in cells_of.items():
                    signature = frozenset(cells).difference(suppressed) if suppressed else frozenset(cells)
                    if signature:
                        atoms[signature].append(key)
                small = [signature for signature, keys in atoms.items()
                         if _persons(family_classes, keys, min_cell) < min_cell]
                if not small:
                    break
                changed = True
                for signature in small:
                    if signature & suppressed:
                        continue  # an earlier suppression this round already changed this atom
                    suppressed.add(min(signature, key=lambda cell: (members[cell], cell)))
    return Tables(tuple(found), dict(values), frozenset(suppressed))


def _persons(classes: Mapping[tuple[str, str, str, frozenset[str]], set[str]],
             keys: list[tuple[str, str, str, frozenset[str]]], enough: int) -> int:
    """The distinct persons of an atom's classes (a person is in one class a unit: only classes of several units
    can share one), counted only as far as needed to tell whether they reach `enough`."""
    total = sum(len(classes[key]) for key in keys)
    if total < enough or len({key[0] for key in keys}) == 1:
        return total
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
