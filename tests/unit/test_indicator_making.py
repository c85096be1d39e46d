"""The faster making of a year's indicator tables (issue 17) gives exactly the cells the making before it gave:
the same values and the same suppressed cells, for the same rows (tests/indicators_reference.py keeps the old
functions). Random rows as store.of_year gives them (a person, unit and month each, ordered by person, unit and
month), over units of two or three organisations, with small classes (so the suppression does real work) and large
ones."""
from __future__ import annotations

import uuid
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies import indicators as rules
from policies.model import Zone
from service.domain import indicators
from tests import indicators_reference as reference

UNITS = {"iof": ("kommun", "social"), "jour": ("kommun", "social"), "bc": ("region", "health"),
         "psyk": ("region", "health"), "skola": ("annan", "social")}
BIRTHS = (date(1990, 1, 1), date(2000, 5, 20), date(1990, 8, 1), date(1995, 3, 3), date(2010, 12, 31),
          date(1958, 6, 30))
EVENTS = ("episodes_new", "episodes_closed", "episodes_reopened",
          *(f"contacts_{k}" for k in rules.CONTACT_KINDS))
INTERVENTIONS = tuple(f"interventions_{k}_{r}" for k in rules.INTERVENTION_KINDS for r in (1, 2, 3))
SCORES = ("audit_first", "audit_latest", "dudit_first", "dudit_latest")
COLUMNS = ("client_id", "unit_id", "month", "sex", "birth_date", *EVENTS, *INTERVENTIONS, *SCORES)


class Row(tuple):
    """A row as asyncpg gives it: by position and by column name."""

    def __getitem__(self, key):  # type: ignore[override]
        return tuple.__getitem__(self, COLUMNS.index(key) if isinstance(key, str) else key)

    def keys(self):
        return iter(COLUMNS)


@st.composite
def rows(draw) -> tuple[list[Row], dict[str, tuple[str, str]]]:
    units = {u: UNITS[u] for u in draw(st.lists(st.sampled_from(sorted(UNITS)), min_size=2, max_size=4, unique=True))}
    found = []
    for person in sorted(uuid.UUID(int=draw(st.integers(1, 2**64))) for _ in range(draw(st.integers(1, 16)))):
        sex, birth = draw(st.sampled_from(rules.SEXES)), draw(st.sampled_from(BIRTHS))
        for unit in sorted(draw(st.lists(st.sampled_from(sorted(units)), min_size=1, max_size=2, unique=True))):
            for month in sorted(draw(st.lists(st.integers(1, 12), min_size=1, max_size=5, unique=True))):
                small = st.integers(0, 2)
                audit = draw(st.sampled_from((None, 3, 9, 17, 30)))
                dudit = draw(st.sampled_from((None, 1, 4, 8, 30)))
                found.append(Row((
                    person, unit, month, sex, birth, *(draw(small) for _ in EVENTS),
                    *(draw(st.sampled_from((0, 0, 1))) for _ in INTERVENTIONS),
                    audit, None if audit is None else draw(st.sampled_from((audit, 5, 18))),
                    dudit, None if dudit is None else draw(st.sampled_from((dudit, 3, 26))))))
    return found, units


def _made(make, rows_: list[Row], units: dict[str, tuple[str, str]], shown, min_cell: int) -> rules.Tables:
    contributions = make.contributions(rows_, 2025)
    suppress = getattr(make, "suppress", rules.suppress)
    return suppress(contributions, {u: Zone(*z) for u, z in units.items()}, min_cell=min_cell, published=shown)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rows(), st.sampled_from((range(17), (0, 1, 2, 12), tuple(range(12)))), st.sampled_from((3, 5)))
def test_the_new_making_gives_the_cells_the_old_one_gave(made, shown, min_cell) -> None:
    found, units = made
    old = _made(reference, found, units, shown, min_cell)
    new = indicators._suppress(found, 2025, units, tuple(shown), min_cell)
    assert new.scopes == old.scopes and new.published == old.published
    assert new.suppressed == old.suppressed
    assert {c: v for c, v in new.values.items() if v} == {c: v for c, v in old.values.items() if v}
