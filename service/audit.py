"""record(conn, action, ...): the one way audit events are written.

Always called on the connection and inside the transaction of the access it
records, so an access and its event commit or vanish together (DESIGN.md
invariant 2). Events carry ids, roles, decisions and reasons: never a personal
number, name, title or content.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

import asyncpg

from policies.decision import Decision
from policies.model import Principal

from .metrics import child, decisions
from .store import audit_recording as recording
from .store.audit_recording import EventValues


class Action(StrEnum):
    """Audited actions (API.md "Audit"); `client.lookup`, `relation.list`, `emergency.review`, `auth.unknown_unit`
    extend the contract, `consent.confirm` is API-1.1's."""

    BLOCK_LIFT = "block.lift"
    BLOCK_LIFT_END = "block.lift_end"  # a lifting ended early by its unit (extends API-1.1)
    CLIENT_LIST = "client.list"  # a unit's own clients listed, one event each client shown (web interface, #20)
    CLIENT_LOOKUP = "client.lookup"
    CLIENT_READ = "client.read"
    CLIENT_REGISTER = "client.register"
    CONSENT_CONFIRM = "consent.confirm"
    CONSENT_GRANT = "consent.grant"
    CONSENT_READ = "consent.read"
    CONSENT_REVOKE = "consent.revoke"
    DISCLOSURE_CREATE = "disclosure.create"
    DISCLOSURE_LIST = "disclosure.list"
    DOCUMENT_BLOCK = "document.block"
    DOCUMENT_CORRECT = "document.correct"  # a new version replaced the latest; the old one is kept (API-1.1)
    DOCUMENT_CREATE = "document.create"
    DOCUMENT_CULL = "document.cull"  # culled by its retention rule, by system:retention (API-1.1)
    DOCUMENT_LIST = "document.list"
    DOCUMENT_READ_CONTENT = "document.read_content"
    DOCUMENT_READ_METADATA = "document.read_metadata"
    DOCUMENT_RELEASE = "document.release"  # released to the client's own view (API-1.1)
    DOCUMENT_SHRED = "document.shred"
    DOCUMENT_UNBLOCK = "document.unblock"
    EMERGENCY_OPEN = "emergency.open"
    EMERGENCY_REVIEW = "emergency.review"
    AUDIT_READ = "audit.read"
    AUDIT_EXTRACT = "audit.extract"
    AUDIT_ARCHIVE = "audit.archive"  # `audit archive`: months older than the keep years out to a file
    AUTH_UNKNOWN_UNIT = "auth.unknown_unit"  # a token of an unknown or inactive unit, asking for no audited action
    CLIENT_NETWORK = "client.network"
    ME_ACCESS_LOG = "me.access_log"  # the client read their own access log (extends API-1.1)
    ME_READ = "me.read"  # the client read their own record (extends API-1.1)
    FOLLOWUP_CLOSE = "followup.close"  # an episode closed (extends API-1.1)
    FOLLOWUP_CREATE = "followup.create"  # a follow-up record written (extends API-1.1)
    FOLLOWUP_LIST = "followup.list"  # a client's follow-up records of one kind listed (extends API-1.1)
    FOLLOWUP_READ = "followup.read"  # the records of another zone's unit in a list, read under a consent
    FOLLOWUP_VOID = "followup.void"  # a record voided (extends API-1.1)
    INDICATORS_READ = "indicators.read"
    RELATION_END = "relation.end"
    RELATION_LIST = "relation.list"
    RELATION_OPEN = "relation.open"
    RETENTION_PLAN = "retention.plan"  # the plan of what is due read (extends API-1.1)
    RETENTION_RULES_READ = "retention.rules_read"  # the retention rules read (extends API-1.1)
    RETENTION_RULES_SET = "retention.rules_set"  # an organisation's retention rules replaced (extends API-1.1)
    SIP_CLOSE = "sip.close"
    SIP_CREATE = "sip.create"
    SIP_FOLLOW_UP = "sip.follow_up"
    SIP_LIST = "sip.list"
    SIP_OVERDUE = "sip.overdue"  # a unit manager's list of plans past their follow-up date (extends API-1.1)
    SIP_READ = "sip.read"
    SIP_UPDATE = "sip.update"
    SIP_VERSIONS = "sip.versions"
    UNIT_SUCCESSION = "unit.succession"  # a reorganisation: a unit's records moved to its successor (API-1.1)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made the request and from where, as the audit log records it."""

    principal: Principal
    request_id: str
    remote_addr: str | None





async def record(
    conn: asyncpg.Connection,
    action: Action,
    *,
    caller: Caller,
    decision: Decision,
    client_id: UUID | None = None,
    document_id: UUID | None = None,
    consent_id: UUID | None = None,
    purpose: str | None = None,
) -> int:
    """Insert one event in the caller's transaction; returns its sequence number.

    Raises RuntimeError when called outside a transaction: an event must share
    the fate of its access.
    """
    if not conn.is_in_transaction():
        raise RuntimeError("audit.record must run inside the transaction of the access it records")
    return await _insert(conn, action, caller, decision, client_id, document_id, consent_id, purpose)


async def record_all(conn: asyncpg.Connection, events: list[EventValues]) -> None:
    """Insert events built by event_values, in order, in one round trip; like record, only inside a transaction."""
    if not conn.is_in_transaction():
        raise RuntimeError("audit.record must run inside the transaction of the access it records")
    if events:
        await recording.insert_many(conn, events)


async def record_before_read(
    conn: asyncpg.Connection,
    action: Action,
    *,
    caller: Caller,
    decision: Decision,
    client_id: UUID | None = None,
    document_id: UUID | None = None,
    purpose: str | None = None,
) -> int:
    """For a read that writes nothing but its event: the INSERT is its own transaction.

    It has committed (durably) when this returns, before the caller sends a byte
    of what it read, and it saves the BEGIN and COMMIT round trips of the hottest
    path (content downloads). Raises RuntimeError inside a transaction, where the
    event would not be committed yet.
    """
    if conn.is_in_transaction():
        raise RuntimeError("audit.record_before_read commits its event itself; call it outside a transaction")
    return await _insert(conn, action, caller, decision, client_id, document_id, None, purpose)


async def _insert(conn: asyncpg.Connection, action: Action, caller: Caller, decision: Decision,
                  client_id: UUID | None, document_id: UUID | None, consent_id: UUID | None,
                  purpose: str | None) -> int:
    return await recording.insert(conn, event_values(action, caller, decision, client_id=client_id,
                                                     document_id=document_id, consent_id=consent_id, purpose=purpose))


def event_values(action: Action, caller: Caller, decision: Decision, *, client_id: UUID | None = None,
                 document_id: UUID | None = None, consent_id: UUID | None = None,
                 purpose: str | None = None) -> EventValues:
    """The event's column values, in store/audit_recording.py's order (and its decision counted in the metrics)."""
    who = caller.principal
    basis, outcome = str(decision.basis), "allow" if decision.allowed else "deny"
    child(decisions, action.value, outcome, basis.split(":", 1)[0]).inc()
    return (
        who.sub,
        who.name,
        who.unit,
        who.zone.organisation if who.zone else None,
        who.zone.domain if who.zone else None,
        sorted(who.roles),
        action.value,
        client_id,
        document_id,
        consent_id,
        outcome,
        basis,
        [reason.value for reason in decision.reason_codes] + ([decision.record] if decision.record else []),
        purpose,
        caller.request_id,
        caller.remote_addr,
        decision.flagged,
    )
