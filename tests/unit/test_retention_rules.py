"""policies/retention.py on random files and rules: what is never culled, and never too soon (#15; LEGAL.md)."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import event, given, settings
from hypothesis import strategies as st

from policies.retention import (
    HEALTH_MINIMUM_YEARS,
    NEVER_CULLED,
    RESEARCH_BIRTHDAYS,
    Rule,
    check_rules,
    default_rules,
    file_verdict,
    rule_for,
)

CATEGORIES = ("journal_note", "assessment", "decision", "statement", "placement", "adoption", "paternity", "other")
ORG = "malmo-stad"
_settings = settings(max_examples=600, deadline=None, database=None, derandomize=True)


@st.composite
def files(draw):
    domain = draw(st.sampled_from(("social", "health")))
    rules = [Rule(ORG, domain, draw(st.sampled_from(("*",) + CATEGORIES)), draw(st.sampled_from(("cull", "keep"))),
                  draw(st.integers(1, 30)), draw(st.booleans())) for _ in range(draw(st.integers(0, 4)))]
    if draw(st.booleans()):
        rules.extend(default_rules(ORG))
    start = datetime(2000, 1, 1, tzinfo=UTC)
    documents = [(draw(st.sampled_from(CATEGORIES)), start + timedelta(days=draw(st.integers(0, 9000))))
                 for _ in range(draw(st.integers(1, 6)))]
    return dict(organisation=ORG, domain=domain, documents=documents, rules=rules,
                client_birth_date=draw(st.dates(date(1950, 1, 1), date(2010, 12, 31))),
                research_municipality=draw(st.integers(0, 9)) == 0,
                on=draw(st.dates(date(2000, 1, 1), date(2060, 12, 31))))


def _years_after(moment: datetime, years: int) -> date:
    try:
        return moment.date().replace(year=moment.year + years)
    except ValueError:
        return date(moment.year + years, 3, 1)


@_settings
@given(files())
def test_nothing_is_culled_while_a_document_of_the_file_is_younger_than_its_rule(file):
    verdict = file_verdict(**file)
    event("due" if verdict.due else f"kept: {verdict.kept_by}")
    if not verdict.due:
        return
    for category, created_at in file["documents"]:
        rule = rule_for(file["rules"], ORG, file["domain"], category)
        assert rule is not None and rule.action == "cull"
        assert file["on"] >= _years_after(created_at, rule.years_after_last_entry)


@_settings
@given(files())
def test_nothing_exempt_is_ever_due(file):
    verdict = file_verdict(**file)
    categories = {category for category, _ in file["documents"]}
    rules = [rule_for(file["rules"], ORG, file["domain"], c) for c in categories]
    exempt = (file["research_municipality"]
              or (file["domain"] == "social" and categories & NEVER_CULLED)
              or any(rule is None or rule.action == "keep" for rule in rules)
              or (file["client_birth_date"].day in RESEARCH_BIRTHDAYS and any(r and r.research_birthdays for r in rules)))
    if exempt:
        assert not verdict.due


@_settings
@given(files())
def test_health_records_are_never_culled_before_ten_years_whatever_the_rules(file):
    if file["domain"] != "health":
        return
    verdict = file_verdict(**file)
    if verdict.due:
        newest = max(created_at for _, created_at in file["documents"])
        assert file["on"] >= _years_after(newest, HEALTH_MINIMUM_YEARS)


def test_rules_that_would_cull_health_before_ten_years_are_refused():
    problems = check_rules([Rule(ORG, "health", "*", "cull", 9), Rule(ORG, "health", "journal_note", "cull", 10),
                            Rule(ORG, "social", "placement", "cull", 5), Rule(ORG, "health", "*", "keep", 1)])
    assert [(p.index, p.code) for p in problems] == [(0, "below_legal_minimum"), (2, "never_culled"),
                                                     (3, "duplicate_rule")]
    assert check_rules(default_rules(ORG)) == []


def test_the_defaults_cull_social_files_after_five_years_and_keep_health():
    old = [("journal_note", datetime(2015, 6, 1, tzinfo=UTC)), ("assessment", datetime(2019, 6, 1, tzinfo=UTC))]
    social = dict(organisation=ORG, domain="social", documents=old, rules=default_rules(ORG),
                  client_birth_date=date(1980, 1, 2), research_municipality=False)
    assert file_verdict(**social, on=date(2024, 5, 31)).kept_by == "not_yet"
    assert file_verdict(**social, on=date(2024, 5, 31)).due_on == date(2024, 6, 1)
    assert file_verdict(**social, on=date(2024, 6, 1)).due
    assert file_verdict(**{**social, "client_birth_date": date(1980, 1, 15)}, on=date(2030, 1, 1)).kept_by == \
        "research_birthday"
    assert file_verdict(**{**social, "domain": "health"}, on=date(2060, 1, 1)).kept_by == "keep_rule"
