"""Retention (gallring): when a file is due to be culled, and what keeps it (pure; LEGAL.md, API-1.1 "Retention").

Social services' personal files are culled five years after the last entry in the file, at the latest in the
following calendar year, and nothing is culled while other information on the same person in the file is kept;
never culled: paternity and parenthood, adoption, placement of a child outside the home; persons born on the
5th, 15th or 25th of a month are kept for research, and research municipalities keep everything (old SoL 12:1-2;
socialtjänstförordningen 7:2; new SoL 2025:400 carries these over, check §). Patient records are kept at least
ten years after the last entry; public providers keep them until the archive authority decides, so health is
`keep` by default, and no rule may cull health records sooner than ten years (PDL 3:17, 8:4).

A *file* is a client's documents in one zone; its last entry is its newest document. A file is due when every
document in it is past its rule (a category's own rule, else the zone's `*` rule) and none is kept.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from .decision import Decision, Reason, allow, deny

LAW_SOCIAL = "SoL 12:1-2 (old), SoF 7:2; SoL (2025:400)"
LAW_HEALTH = "PDL 3:17, 8:4"
HEALTH_MINIMUM_YEARS = 10
IVO_BASIS = "ivo_decision:"  # an allowed shred's basis on an IVO decision: "ivo_decision:<reference>"
RESEARCH_BIRTHDAYS = frozenset({5, 15, 25})
# Kept for ever in social services' files, whatever the rule (paternity and parenthood, adoption, placement).
NEVER_CULLED = frozenset({"paternity", "adoption", "placement"})
ALL = "*"


@dataclass(frozen=True, slots=True)
class Rule:
    organisation: str
    domain: str
    category: str  # a category, or "*" for every one without its own rule
    action: str  # "cull" | "keep"
    years_after_last_entry: int
    research_birthdays: bool = True


@dataclass(frozen=True, slots=True)
class Violation:
    index: int  # the rule's position in what was sent
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a file is due (`due`), and if not, why it is kept (`kept_by`: a reason code) or until when."""

    due: bool
    kept_by: str | None = None  # research_municipality | research_birthday | never_culled | keep_rule | not_yet
    due_on: date | None = None  # the first day it is due, when it will be (not_yet)


def default_rules(organisation: str) -> tuple[Rule, ...]:
    """An organisation's rules until it sets its own: social cull after 5 years, health keep (API-1.1)."""
    return (Rule(organisation, "social", ALL, "cull", 5, True),
            Rule(organisation, "health", ALL, "keep", HEALTH_MINIMUM_YEARS, False))


def check_rules(rules: Sequence[Rule]) -> list[Violation]:
    """What is wrong with a set of rules, in order: a health rule culling before ten years (below_legal_minimum),
    two rules for one (organisation, domain, category) (duplicate_rule), a social rule culling a category that is
    never culled (never_culled)."""
    problems, seen = [], set()
    for index, rule in enumerate(rules):
        key = (rule.organisation, rule.domain, rule.category)
        if key in seen:
            problems.append(Violation(index, "duplicate_rule", "one rule per organisation, domain and category"))
        seen.add(key)
        if rule.domain == "health" and rule.action == "cull" and rule.years_after_last_entry < HEALTH_MINIMUM_YEARS:
            problems.append(Violation(index, "below_legal_minimum",
                                      f"patient records are kept at least {HEALTH_MINIMUM_YEARS} years ({LAW_HEALTH})"))
        if rule.domain == "social" and rule.action == "cull" and rule.category in NEVER_CULLED:
            problems.append(Violation(index, "never_culled", f"{rule.category} is never culled ({LAW_SOCIAL})"))
    return problems


def rule_for(rules: Iterable[Rule], organisation: str, domain: str, category: str) -> Rule | None:
    """The rule for one category of a zone: its own, else the zone's `*` rule, else None (kept)."""
    general = None
    for rule in rules:
        if (rule.organisation, rule.domain) != (organisation, domain):
            continue
        if rule.category == category:
            return rule
        if rule.category == ALL:
            general = rule
    return general


def _years_later(moment: datetime, years: int) -> date:
    day = moment.date()
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none: the day after
        return date(day.year + years, 3, 1)


def file_verdict(*, organisation: str, domain: str, documents: Sequence[tuple[str, datetime]], rules: Iterable[Rule],
                 client_birth_date: date, research_municipality: bool, on: date) -> Verdict:
    """Whether the file (its documents as (category, created_at)) is due to be culled on `on`.

    Kept: an organisation that keeps everything for research; a person born on the 5th, 15th or 25th where the
    rule keeps them; any document of a category never culled in social services or under a `keep` rule (or
    none at all); until every document is past its rule. An empty file is not due (there is nothing to cull).
    """
    if not documents:
        return Verdict(False, "not_yet")
    if research_municipality:
        return Verdict(False, "research_municipality")
    rules = tuple(rules)
    due_on = date.min
    for category, created_at in documents:
        if domain == "social" and category in NEVER_CULLED:
            return Verdict(False, "never_culled")
        rule = rule_for(rules, organisation, domain, category)
        if rule is None or rule.action != "cull":
            return Verdict(False, "keep_rule")
        years = max(rule.years_after_last_entry, HEALTH_MINIMUM_YEARS) if domain == "health" else rule.years_after_last_entry
        if rule.research_birthdays and client_birth_date.day in RESEARCH_BIRTHDAYS:
            return Verdict(False, "research_birthday")
        due_on = max(due_on, _years_later(created_at, years))
    if on < due_on:
        return Verdict(False, "not_yet", due_on)
    return Verdict(True, due_on=due_on)


def shred_allowed(*, domain: str, created_at: datetime, now: datetime, ivo_decision: str | None) -> bool:
    """Whether one document may be shredded now, as far as retention goes.

    A patient record is kept at least ten years (PDL 3:17); before that it may be destroyed only on a decision of
    IVO, on the patient's application (PDL 8:4), which the caller names. Counted per document from its creation,
    to the day (UTC): the floor holds for each entry, whatever the rest of the file. Social services' documents
    have no such floor for a single shred (a wrong-client upload is shredded at once).
    """
    if domain != "health" or ivo_decision:
        return True
    return now.date() >= _years_later(created_at, HEALTH_MINIMUM_YEARS)


def decide_shred(allowed: Decision, *, domain: str, created_at: datetime, now: datetime,
                 ivo_decision: str | None) -> Decision:
    """A shred the document's own decision `allowed`, under the retention floor (shred_allowed).

    Refused: `retention_minimum` (PDL 3:17, 8:4). On an IVO decision the basis names it
    (`ivo_decision:<reference>`), so the audit event says on what a record was destroyed early.
    """
    if not allowed:
        return allowed
    if not shred_allowed(domain=domain, created_at=created_at, now=now, ivo_decision=ivo_decision):
        return deny(Reason.RETENTION_MINIMUM, legal_basis=LAW_HEALTH)
    if ivo_decision:
        return allow(f"{IVO_BASIS}{ivo_decision}", legal_basis=LAW_HEALTH, reasons=allowed.reason_codes)
    return allowed
