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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from uuid import UUID

from .decision import Basis, Decision, Reason, allow, deny
from .model import ALL_ORGANISATIONS, CATEGORIES, Principal, Role

LAW_SOCIAL = "SoL 12:1-2 (old), SoF 7:2; SoL (2025:400)"
LAW_HEALTH = "PDL 3:17, 8:4"
HEALTH_MINIMUM_YEARS = 10
IVO_BASIS = "ivo_decision:"  # an allowed shred's basis on an IVO decision: "ivo_decision:<reference>"
RESEARCH_BIRTHDAYS = frozenset({5, 15, 25})
# Kept for ever in social services' files, whatever the rule (paternity and parenthood, adoption, placement).
NEVER_CULLED = frozenset({"paternity", "adoption", "placement"})
ALL = "*"
DOMAINS = ("social", "health")
KEPT_REASONS = ("research_municipality", "research_birthday", "never_culled", "keep_rule", "not_yet")


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


def effective_rules(organisation: str, configured: Sequence[Rule] | None) -> tuple[Rule, ...]:
    """The rules that apply to an organisation: the defaults until it sets its own (`configured` None); once set,
    its rules, and for a domain it gave no `*` rule, that domain's default `*` rule (nothing is left unruled)."""
    defaults = default_rules(organisation)
    if configured is None:
        return defaults
    general = {rule.domain for rule in configured if rule.category == ALL}
    return (*configured, *(rule for rule in defaults if rule.domain not in general))


def check_rules(rules: Sequence[Rule], *, organisations: Iterable[str] | None = None) -> list[Violation]:
    """What is wrong with a set of rules, in order: an organisation no unit belongs to (unknown_organisation, when
    `organisations` is given), a domain or category that does not exist (unknown_domain, unknown_category), a
    years value outside 1-100 (years_out_of_range), a health rule culling before ten years
    (below_legal_minimum), two rules for one (organisation, domain, category) (duplicate_rule), a social rule
    culling a category that is never culled (never_culled)."""
    known = None if organisations is None else frozenset(organisations)
    problems, seen = [], set()
    for index, rule in enumerate(rules):
        if known is not None and rule.organisation not in known:
            problems.append(Violation(index, "unknown_organisation", f"no unit belongs to {rule.organisation!r}"))
        if rule.domain not in DOMAINS:
            problems.append(Violation(index, "unknown_domain", f"must be one of {', '.join(DOMAINS)}"))
        if rule.category != ALL and rule.category not in CATEGORIES:
            problems.append(Violation(index, "unknown_category", f"must be * or one of {', '.join(CATEGORIES)}"))
        if rule.action not in ("cull", "keep"):
            problems.append(Violation(index, "unknown_action", "must be cull or keep"))
        if not 1 <= rule.years_after_last_entry <= 100:
            problems.append(Violation(index, "years_out_of_range", "must be between 1 and 100"))
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


def read_scope(principal: Principal) -> frozenset[str] | None:
    """The organisations whose rules and plan a caller reads: None for all (an admin, an auditor of `*`), else the
    auditor's own (the role and organisation gates have let only these through: policies/audit.organisation_gate)."""
    if Role.ADMIN in principal.roles:
        return None
    organisations = principal.organisations or frozenset()  # no claim: nothing (the gate refused it already)
    return None if ALL_ORGANISATIONS in organisations else organisations


def cull_decision(domain: str) -> Decision:
    """The decision that culls a due file's documents, with its legal basis (the audit event carries it)."""
    return allow(Basis.RETENTION, legal_basis=LAW_HEALTH if domain == "health" else LAW_SOCIAL)


# The retention run's own read of what is due: the law that makes it cull (its event's basis).
RUN_DECISION = allow(Basis.RETENTION, legal_basis=f"{LAW_SOCIAL}; {LAW_HEALTH}")


def entry_epoch(rules: Iterable[Rule], *, organisation: str, domain: str, category: str, research_municipality: bool,
                on: date) -> str | None:
    """The culling epoch of a new entry made on `on`: the month it will itself be due, or None when its rule keeps
    it (then its file is kept too). Never later than its file's due month, which it can only push later; the
    retention run moves a key forward when the file's month is reached and the file is not due."""
    if research_municipality or (domain == "social" and category in NEVER_CULLED):
        return None
    rule = rule_for(rules, organisation, domain, category)
    if rule is None or rule.action != "cull":
        return None
    years = max(rule.years_after_last_entry, HEALTH_MINIMUM_YEARS) if domain == "health" else rule.years_after_last_entry
    return epoch_of(_years_later(datetime(on.year, on.month, on.day), years))


def file_epoch(verdict: Verdict) -> str | None:
    """The culling epoch a file's keys belong under: the month it is due, None when it is kept for good."""
    return epoch_of(verdict.due_on) if verdict.due_on is not None and verdict.kept_by in (None, "not_yet") else None


def epoch_of(due_on: date) -> str:
    """The culling epoch of a file due on `due_on`: its month, `YYYY-MM` (crypto/epochs.py keys one per month)."""
    return f"{due_on.year:04d}-{due_on.month:02d}"


@dataclass(frozen=True, slots=True)
class FileSummary:
    """One file as the plan reads it: its zone, its client's birth date and, per category, the newest document's
    time and how many documents there are (a file's due date depends on nothing else)."""

    client_id: UUID
    organisation: str
    domain: str
    birth_date: date
    categories: tuple[tuple[str, datetime, int], ...]
    # The culling epochs its documents' keys are under: (lowest, highest, how many have one).
    epochs: tuple[str | None, str | None, int] = (None, None, 0)

    @property
    def documents(self) -> int:
        return sum(count for _, _, count in self.categories)

    def under(self, epoch: str | None) -> bool:
        """Whether every document's key is under culling epoch `epoch` (None: under none)."""
        low, high, count = self.epochs
        if epoch is None:
            return count == 0
        return count == self.documents and low == high == epoch

    @property
    def key(self) -> tuple[UUID, str, str]:
        """The file: its client and zone."""
        return self.client_id, self.organisation, self.domain

    def verdict(self, rules: Mapping[str, Sequence[Rule]], research: Mapping[str, bool], *, on: date) -> Verdict:
        """Whether the file is due on `on` by its organisation's rules (`rules` by organisation; one missing from it
        has the defaults) and research flag."""
        org_rules = rules.get(self.organisation)
        return file_verdict(organisation=self.organisation, domain=self.domain,
                            documents=[(category, last) for category, last, _ in self.categories],
                            rules=default_rules(self.organisation) if org_rules is None else org_rules,
                            client_birth_date=self.birth_date,
                            research_municipality=research.get(self.organisation, False), on=on)


@dataclass(slots=True)
class ZoneReport:
    """What the plan says of one zone: its files and documents, those due (by category), those kept (by reason)."""

    organisation: str
    domain: str
    files: int = 0
    documents: int = 0
    due_files: int = 0
    due_documents: int = 0
    due_by_category: dict[str, int] = field(default_factory=dict)
    kept: dict[str, list[int]] = field(default_factory=dict)  # reason -> [files, documents]

    def add(self, summary: FileSummary, verdict: Verdict) -> None:
        self.files += 1
        self.documents += summary.documents
        if verdict.due:
            self.due_files += 1
            self.due_documents += summary.documents
            for category, _, count in summary.categories:
                self.due_by_category[category] = self.due_by_category.get(category, 0) + count
        else:
            counts = self.kept.setdefault(verdict.kept_by or "not_yet", [0, 0])
            counts[0] += 1
            counts[1] += summary.documents

    def as_json(self) -> dict[str, object]:
        return {
            "organisation": self.organisation, "domain": self.domain, "files": self.files, "documents": self.documents,
            "due": {"files": self.due_files, "documents": self.due_documents,
                    "by_category": dict(sorted(self.due_by_category.items()))},
            "kept": {reason: {"files": self.kept[reason][0], "documents": self.kept[reason][1]}
                     for reason in KEPT_REASONS if reason in self.kept},
        }


def plan(files: Iterable[FileSummary], rules: Mapping[str, Sequence[Rule]], research: Mapping[str, bool], *,
         on: date) -> tuple[list[ZoneReport], list[FileSummary], list[tuple[FileSummary, str | None]]]:
    """The plan on `on`: a report per zone (sorted), the files due, and the files not due whose keys are not all
    under the culling epoch they belong under (with that epoch: a newer entry or a changed rule moved it). `rules`
    maps an organisation to its effective rules (organisations missing from it have the defaults); `research`
    whether it keeps everything."""
    zones: dict[tuple[str, str], ZoneReport] = {}
    due: list[FileSummary] = []
    misplaced: list[tuple[FileSummary, str | None]] = []
    for summary in files:
        verdict = summary.verdict(rules, research, on=on)
        key = (summary.organisation, summary.domain)
        report = zones.get(key)
        if report is None:
            report = zones[key] = ZoneReport(summary.organisation, summary.domain)
        report.add(summary, verdict)
        if verdict.due:
            due.append(summary)
        elif not summary.under(epoch := file_epoch(verdict)):
            misplaced.append((summary, epoch))
    return [zones[key] for key in sorted(zones)], due, misplaced


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
