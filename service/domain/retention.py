"""Retention (gallring): the rules, the plan of what is due, and the run that culls it (API-1.1 "Retention").

policies/retention.py decides (pure); this module reads the files, applies the decision and records it. The run
re-judges every file after locking it (store.retention.file_summaries), so a file that got a new entry since the
plan is not culled; each batch is one transaction with its `document.cull` events, so a run killed at any point
leaves whole batches done and nothing half culled, and the next run goes on from there.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from crypto import DecryptionFailed
from crypto.envelope import KeyBinding, WrappedKey, re_epoch
from policies import retention as policy
from policies.model import Principal, Role, Zone
from policies.retention import FileSummary, Rule
from policies.roles import Permission, role_gate

from ..audit import Action, Caller
from ..database import session_lock
from ..errors import BelowLegalMinimum, ValidationFailed
from ..runtime import Runtime
from ..store import documents as documents_store
from ..store import retention as retention_store
from .access import access, access_on, batch_on, decided

log = logging.getLogger(__name__)


def _system() -> Caller:
    """The run's caller, as its events name it: system:retention, one request id per run."""
    return Caller(Principal(sub=retention_store.CULLED_BY, name=None, roles=frozenset({Role.SYSTEM})),
                  request_id=f"retention-{uuid.uuid4()}", remote_addr=None)


def operator() -> Caller:
    """The command line's caller for the plan: an operator on the host, as an admin (the plan names no client)."""
    import getpass
    return Caller(Principal(sub=f"cli:{getpass.getuser()}", name=None, roles=frozenset({Role.ADMIN})),
                  request_id=f"cli-{uuid.uuid4()}", remote_addr=None)


_RULES_SECONDS = 10.0


async def upload_epoch(rt: Runtime, conn: Any, zone: Zone, category: str) -> str | None:
    """The culling epoch a new document's key is wrapped under (policies.retention.entry_epoch), by the rules as
    they were at most a few seconds ago."""
    cached = rt.retention_cache
    if cached is None or time.monotonic() - cached[0] > _RULES_SECONDS:
        configured, research = await retention_store.configured(conn)
        cached = rt.retention_cache = (time.monotonic(), configured, research)
    _, configured_rules, research_flags = cached
    rules = policy.effective_rules(zone.organisation, configured_rules.get(zone.organisation))
    return policy.entry_epoch(rules, organisation=zone.organisation, domain=zone.domain, category=category,
                              research_municipality=research_flags.get(zone.organisation, False),
                              on=rt.clock().date())


def _rule_json(rule: Rule) -> dict[str, Any]:
    return {"organisation": rule.organisation, "domain": rule.domain, "category": rule.category,
            "action": rule.action, "years_after_last_entry": rule.years_after_last_entry,
            "research_birthdays": rule.research_birthdays}


async def _effective(conn: Any, scope: frozenset[str] | None) -> tuple[list[str], dict[str, tuple[Rule, ...]],
                                                                        dict[str, bool], set[str]]:
    """Known organisations in scope, their effective rules, research flags and which set their own."""
    organisations = [o for o in await retention_store.known_organisations(conn) if scope is None or o in scope]
    configured, research = await retention_store.configured(conn)
    rules = {o: policy.effective_rules(o, configured.get(o)) for o in organisations}
    return organisations, rules, {o: research.get(o, False) for o in organisations}, set(configured)


def _rules_json(organisations: list[str], rules: dict[str, tuple[Rule, ...]], research: dict[str, bool],
                configured: set[str]) -> dict[str, Any]:
    return {
        "items": [_rule_json(rule) for o in organisations
                  for rule in sorted(rules[o], key=lambda r: (r.domain, r.category != policy.ALL, r.category))],
        "organisations": [{"organisation": o, "research_municipality": research[o], "configured": o in configured}
                          for o in organisations],
    }


async def rules(rt: Runtime, caller: Caller) -> dict[str, Any]:
    """The effective rules of every organisation the caller may see (an auditor: its own), defaults filled in."""
    gate = role_gate(caller.principal.roles, Permission.RETENTION_READ)
    async with access(rt, caller, Action.RETENTION_RULES_READ, decided(gate)) as act:
        return _rules_json(*await _effective(act.conn, policy.read_scope(caller.principal)))


async def set_rules(rt: Runtime, caller: Caller, items: Sequence[Rule], research: dict[str, bool]) -> dict[str, Any]:
    """Replace the rules of every organisation named in `items` or `research` (API-1.1); raises ValidationFailed
    naming the field (`items[i].…`), BelowLegalMinimum for a health rule culling sooner than ten years. Nothing
    changes unless every rule is valid."""
    gate = role_gate(caller.principal.roles, Permission.RETENTION_WRITE)
    async with access(rt, caller, Action.RETENTION_RULES_SET, decided(gate)) as act:
        known = await retention_store.known_organisations(act.conn)
        problems = policy.check_rules(items, organisations=known)
        unknown = sorted(set(research) - set(known))
        if problems or unknown:
            errors = [{"field": f"items[{p.index}].{_FIELD_OF[p.code]}", "code": p.code, "message": p.message}
                      for p in problems]
            errors += [{"field": "organisations", "code": "unknown_organisation", "message": f"no unit belongs to {o!r}"}
                       for o in unknown]
            below = any(p.code == "below_legal_minimum" for p in problems)
            raise (BelowLegalMinimum if below else ValidationFailed)(errors)
        touched = {rule.organisation: False for rule in items} | research
        await retention_store.replace(act.conn, touched, items, by=caller.principal.sub)
        rt.retention_cache = None
        return _rules_json(*await _effective(act.conn, None))


_FIELD_OF = {"unknown_organisation": "organisation", "unknown_domain": "domain", "unknown_category": "category",
             "unknown_action": "action", "years_out_of_range": "years_after_last_entry",
             "below_legal_minimum": "years_after_last_entry", "duplicate_rule": "category",
             "never_culled": "category"}


@dataclass(frozen=True, slots=True)
class Plan:
    at: date
    zones: list[policy.ZoneReport]
    due: list[FileSummary]
    misplaced: list[tuple[FileSummary, str | None]]  # files not due, keys to move to their culling epoch
    rules: dict[str, tuple[Rule, ...]]  # the effective rules it was made by, by organisation (the run judges by them)
    research: dict[str, bool]

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "zones": [zone.as_json() for zone in self.zones],
                "due": {"files": len(self.due), "documents": sum(f.documents for f in self.due)}}


_KEPT_WORDS = {"research_municipality": "research municipality", "research_birthday": "born on the 5th/15th/25th",
               "never_culled": "placement/adoption/paternity", "keep_rule": "kept by rule", "not_yet": "not yet due"}


def plan_text(the_plan: Plan) -> str:
    """The plan for a terminal: a block per zone, due documents by category, kept files by reason."""
    lines = [f"retention plan for {the_plan.at.isoformat()} (nothing changed)"]
    for zone in the_plan.zones:
        lines.append(f"{zone.organisation} / {zone.domain}: {zone.files} files, {zone.documents} documents; "
                     f"due {zone.due_files} files, {zone.due_documents} documents")
        for category, count in sorted(zone.due_by_category.items()):
            lines.append(f"  due   {category:<16} {count:>9} documents")
        for reason in policy.KEPT_REASONS:
            if reason in zone.kept:
                files, documents = zone.kept[reason]
                lines.append(f"  kept  {_KEPT_WORDS[reason]:<30} {files:>7} files {documents:>9} documents")
    total = sum(f.documents for f in the_plan.due)
    lines.append(f"total due: {len(the_plan.due)} files, {total} documents")
    return "\n".join(lines)


async def _plan_on(conn: Any, scope: frozenset[str] | None, on: date) -> Plan:
    _, rules, research, _ = await _effective(conn, scope)
    async with conn.transaction(readonly=True, isolation="repeatable_read"):
        summaries = [summary async for summary in retention_store.files(conn, None if scope is None else sorted(scope))]
    zones, due, misplaced = policy.plan(summaries, rules, research, on=on)
    return Plan(on, zones, due, misplaced, rules, research)


async def plan(rt: Runtime, caller: Caller, *, on: date | None = None) -> Plan:
    """What is due on `on` (today), by zone and category, with what is kept and why; changes nothing."""
    gate = role_gate(caller.principal.roles, Permission.RETENTION_READ)
    async with access(rt, caller, Action.RETENTION_PLAN, decided(gate)):
        pass  # the read is recorded before it is made, like an export: the plan reads in its own snapshot
    async with rt.pool.acquire() as conn:
        return await _plan_on(conn, policy.read_scope(caller.principal), on or _today())


def _today() -> date:
    return datetime.now(UTC).date()


@dataclass(slots=True)
class RunResult:
    files: int = 0
    documents: int = 0
    skipped_files: int = 0  # due in the plan, not any more once locked (a new entry came in)
    moved_keys: int = 0  # keys of files not due moved from a past culling epoch to their file's
    destroyed_epochs: list[str] = field(default_factory=list)


async def run(rt: Runtime, *, on: date | None = None, batch: int = 500,
              progress: Callable[[int, int], None] = lambda done, total: None) -> RunResult:
    """Cull every file due on `on` (today): batches of files of about `batch` documents, a transaction each,
    every document crypto-shredded with its tombstone saying `culled` and a `document.cull` event by
    system:retention. Resumable: run it again after a crash or a kill and it goes on."""
    on = on or _today()
    async with rt.pool.acquire() as conn, session_lock(conn, retention_store.RUN_LOCK) as held:
        if not held:
            raise RunUnderWay()
        return await _run_locked(rt, conn, on, batch, progress)


class RunUnderWay(Exception):
    """Another retention run (another replica's schedule, or the command line) holds the run's lock."""


async def _run_locked(rt: Runtime, conn: Any, on: date, batch: int, progress: Callable[[int, int], None]) -> RunResult:
    """run() once it holds the run's lock on `conn`."""
    result = RunResult()
    system = _system()
    async with access_on(conn, system, Action.RETENTION_PLAN, decided(policy.RUN_DECISION)):
        pass  # the run's own read of the plan, recorded
    the_plan = await _plan_on(conn, None, on)
    rules, research = the_plan.rules, the_plan.research
    total = sum(f.documents for f in the_plan.due)
    for group in _groups(the_plan.due, batch):
        culled, skipped = await _cull(rt, conn, system, group, rules, research, on)
        result.files += len(group) - skipped
        result.skipped_files += skipped
        result.documents += culled
        progress(result.documents, total)
    await _make_epochs_ahead(rt, rules, research, _today())
    result.moved_keys = await _move_keys(rt, conn, the_plan.misplaced, rules, research, on)
    result.destroyed_epochs = await _destroy_spent_epochs(rt, conn, on)
    return result


def _groups(files: list[FileSummary], batch: int) -> list[list[FileSummary]]:
    groups: list[list[FileSummary]] = []
    current: list[FileSummary] = []
    size = 0
    for summary in files:
        if current and size + summary.documents > batch:
            groups.append(current)
            current, size = [], 0
        current.append(summary)
        size += summary.documents
    if current:
        groups.append(current)
    return groups


async def _cull(rt: Runtime, conn: Any, system: Caller, group: list[FileSummary], rules: dict[str, tuple[Rule, ...]],
                research: dict[str, bool], on: date) -> tuple[int, int]:
    """One batch: lock the files, judge each again as it is now, cull those still due; (documents, files skipped)."""
    async with batch_on(conn, system, Action.DOCUMENT_CULL) as act:
        now = await retention_store.file_summaries(conn, [f.key for f in group])
        still_due = [f.key for f in now if f.verdict(rules, research, on=on).due]
        if not still_due:
            return 0, len(group)
        documents = await retention_store.active_documents(conn, still_due)
        ids = [row["id"] for row in documents]
        await retention_store.cull(conn, ids)
        # Every version goes with its document (API-1.1 "Corrections": culling takes every version together).
        kept = await documents_store.shred_versions(conn, ids)
        await rt.blobs.delete_many(conn, [row["content_id"] for row in documents] + kept)
        for row in documents:
            act.record(policy.cull_decision(row["domain"]), client_id=row["client_id"], document_id=row["id"])
        return len(ids), len(group) - len(still_due)


async def _move_keys(rt: Runtime, conn: Any, misplaced: list[tuple[FileSummary, str | None]],
                     rules: dict[str, tuple[Rule, ...]], research: dict[str, bool], on: date, *,
                     files_per_batch: int = 200) -> int:
    """Move the keys of files not due to the culling epoch their file belongs under now (a newer entry or a changed
    rule moved its due month; None: kept for good), keys only, a batch of files per transaction, each file judged
    again under its lock. Afterwards an epoch whose month has come holds only culled files. Returns keys moved."""
    moved = 0
    for start in range(0, len(misplaced), files_per_batch):
        keys = [f.key for f, _ in misplaced[start:start + files_per_batch]]
        async with conn.transaction():
            target: dict[tuple[Any, str, str], str | None] = {}
            for f in await retention_store.file_summaries(conn, keys):
                verdict = f.verdict(rules, research, on=on)
                if not verdict.due:  # one that fell due meanwhile is culled by the next run
                    target[f.key] = policy.file_epoch(verdict)
            updates = []
            for row in await retention_store.wrapped_keys(conn, list(target)):
                epoch = target[(row["client_id"], row["organisation"], row["domain"])]
                if row["epoch"] == epoch:
                    continue
                binding = KeyBinding(document_id=row["content_id"], client_id=row["client_id"],
                                     organisation=row["organisation"], domain=row["domain"])
                try:
                    wrapped = re_epoch(await rt.keys.with_epoch(epoch),
                                       WrappedKey(row["kek_version"], row["dek_wrapped"], row["epoch"]),
                                       binding=binding, epoch=epoch)
                except DecryptionFailed:  # a tampered key: left where it is, named in the log, the run goes on
                    log.error("retention: the data key of document %s fails its integrity check; not moved", row["id"])
                    continue
                updates.append((row["id"], wrapped.kek_version, wrapped.ciphertext, wrapped.epoch, row["version"]))
            await retention_store.set_wrapped(conn, updates)
            moved += len(updates)
    return moved


async def _make_epochs_ahead(rt: Runtime, rules: dict[str, tuple[Rule, ...]], research: dict[str, bool],
                             today: date) -> None:
    """Make the culling epochs new entries of the next two months will need (the month each cull rule puts them
    in), so that a service whose ring is mounted read-only finds them made."""
    years = {rule.years_after_last_entry if rule.domain != "health" else max(rule.years_after_last_entry,
                                                                               policy.HEALTH_MINIMUM_YEARS)
             for organisation, org_rules in rules.items() if not research.get(organisation, False)
             for rule in org_rules if rule.action == "cull"}
    for y in sorted(years):
        for months in range(3):
            month = today.month - 1 + months
            await rt.keys.with_epoch(f"{today.year + y + month // 12:04d}-{month % 12 + 1:02d}")


async def _destroy_spent_epochs(rt: Runtime, conn: Any, on: date) -> list[str]:
    """Destroy every culling epoch of a month before `on`'s that no active document's key needs any more: from then
    on no database backup opens what was culled under it. Nothing can come to need it again: a new entry's own due
    month is at least a year away, and a file not due belongs under its due month, which is `on`'s or later."""
    month = policy.epoch_of(on)
    in_use = await retention_store.epochs_in_use(conn)
    destroyed = []
    for epoch in sorted(rt.keyring.epoch_ids):
        if epoch < month and epoch not in in_use and await rt.keys.destroy_epoch(epoch):
            destroyed.append(epoch)
    return destroyed
