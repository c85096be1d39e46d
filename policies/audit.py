"""Who may read the audit log and the client's log extract, and which part of it.

The log must be checked, systematically and recurrently (HSLF-FS 2016:40 ch. 4, check):
that is the auditor's work, which never includes document content. The client has
a right to learn who read their records (PDL 8:5, check): an auditor, or the
manager of a unit that has a relation with the client, produces the extract.

The log is itself secret between zones. An event says that someone opened a
client's record in a zone (OSL 25:1, 26:1), and secrecy holds between the
organisations and between two branches of one authority (OSL 8:2), also toward
the other zone's auditors. So a reader sees a part of the log, its `LogScope`:

- an auditor (or analyst) the organisations their token names in its claim
  `organisations`; `["*"]`, given explicitly, is the installation's own security
  officer, who sees everything. A token without the claim is refused
  (`no_organisation`): an auditor who audits no one in particular audits no one.
- a unit manager, for the client's extract, their own zone.

An event belongs to its actor's zone and to the zones of the record it names, read
at query time from immutable facts (the chained event format stays as it is):

- a document event: the document's zone (`documents.organisation`/`domain` never change);
- a consent event: the consent's holding (`from`) zone and its receiving (`to`) zone,
  both parties to it;
- any other event (a client, a relation, a list, an emergency grant): only the actor's
  zone: the actor acted on their own zone's record of the client. An emergency grant
  is its opener's unit's.

A reader sees an event when they cover its actor's zone or one of its record's zones.
An event by an installation-wide actor (auditor, admin: no zone) naming no record is
seen only by the `*` auditor.

What the other zone learns. A health unit's reads of its own records are not the
social auditor's business, so they are not shown at all. A social staff member's
*allowed* read of a health document (under consent or emergency) reached the social
zone lawfully: the social auditor sees it whole, as the health auditor does. A social
staff member's *denied* attempt on a health document is for the social auditor to
see (their own staff probing is exactly what log review looks for), but the event
holds what the server found, not only what the staff member sent: the client the
document belongs to and the reason it was refused (`no_relation` vs
`unknown_document` says whether it exists). So for a denied event naming a document
or consent that the reader does not cover, or that does not exist (the two must look
alike), the client id and reason codes are withheld (`withholds`). The mirror image, the other
zone's denied attempt on the reader's own record, shows its client (the record is the reader's)
but not its reason codes: they tell the other zone's facts (`withholds_reasons`). Chain hashes
are withheld from every reader but the `*` auditor, wherever they appear: with all other
fields of an event in hand, the chain hash before it and its own let one test guesses of
the withheld fields (which client? which reason: `unknown_document` or `blocked`, does the
document exist, does it carry a block?), and the next event's `prev_hash` is the hash of
one they may not see. So a scoped auditor gets no per-event hash, verification tells them
ok, the number checked, the first bad seq and the problem, with the head's seq but no hash,
and checkpoints with seq, time and key id but no hash or signature: two consecutive
checkpoints in a quiet period are the hashes before and after one event. Verifying a
checkpoint one holds (`checkpoint_seq`, `checkpoint_hash`) is for the `*` auditor only
(`decide_verify`, 403 `whole_log_only`): it stops the walk at any seq one names and answers
with the chain hash there. This deviates from API-1.1 ("chain status, checkpoints and public
keys are whole") for scoped auditors, because the hashes are an oracle over fields withheld
from them (OSL 8:2, 25:1, 26:1). Public keys stay whole: they name no one.

Organisations, not zones, for auditors: the contract (API-1.1 "Side doors closed")
names the claim so; an auditor of a municipality audits both its domains.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from .decision import Basis, Decision, Reason, allow, deny
from .model import ALL_ORGANISATIONS, Principal, Role, Zone
from .roles import Permission, role_gate

_LOG_REVIEW = "HSLF-FS 2016:40 4:9"
# The permissions whose decisions need the token's `organisations` claim (403 `no_organisation` without it).
ORGANISATION_PERMISSIONS = frozenset({Permission.AUDIT_EXTRACT, Permission.AUDIT_READ, Permission.AUDIT_REVIEW})
_SCOPE_BASIS = "OSL 8:2, 25:1, 26:1"


@dataclass(frozen=True, slots=True)
class LogScope:
    """The part of the log a reader sees; by default nothing.

    `whole`: everything (the `*` auditor). `organisations`: every zone of these
    organisations (an auditor). `zone`: one zone (a unit manager's extract).
    """

    whole: bool = False
    organisations: frozenset[str] = frozenset()
    zone: Zone | None = None

    def covers(self, zone: Zone | None) -> bool:
        """Whether `zone` (None: no zone, an installation-wide actor or no record) is the reader's."""
        if self.whole:
            return True
        if zone is None:
            return False
        if self.zone is not None:
            return zone == self.zone
        return zone.organisation in self.organisations


WHOLE = LogScope(whole=True)


@dataclass(frozen=True, slots=True)
class EventFilter:
    """The audit log's filters (API.md `GET /v1/audit/events`); None means any. The API, the web interface and
    the command line build one; the store says it in SQL."""

    client_id: UUID | None = None
    actor: str | None = None
    unit: str | None = None
    action: str | None = None
    decision: str | None = None
    flagged: bool | None = None
    since: datetime | None = None
    until: datetime | None = None


# The emergency-access review queue's status filter: no verdict yet, a verdict, either.
REVIEW_STATUSES = ("open", "reviewed", "all")


def sees(scope: LogScope, *, actor_zone: Zone | None, record_zones: Iterable[Zone]) -> bool:
    """Whether the reader sees an event by an actor of `actor_zone` naming a record held in `record_zones`."""
    return scope.covers(actor_zone) or any(scope.covers(zone) for zone in record_zones)


def withholds(scope: LogScope, *, allowed: bool, names_record: bool, record_zones: Iterable[Zone]) -> bool:
    """Whether a seen event's client id and reason codes are withheld: a denied attempt on a document or
    consent the reader does not cover or that does not exist (what the server found, not what was sent)."""
    return (not scope.whole and not allowed and names_record
            and not any(scope.covers(zone) for zone in record_zones))


def withholds_reasons(scope: LogScope, *, allowed: bool, actor_zone: Zone | None, names_record: bool,
                      record_zones: Iterable[Zone]) -> bool:
    """Whether a seen event's reason codes are withheld: wherever its client id is (`withholds`), and on a
    denial the reader sees only because of its record, by an actor whose zone is not theirs.

    The reasons of another zone's refused attempt on the reader's record are that zone's facts: the relation
    is checked first, so `consent_unconfirmed` or `category_not_covered` say the clinic has an active care
    relation with the client and `no_relation` that it has none; `emergency_domain_not_covered` shows a
    health emergency grant (OSL 25:1, 26:1, 8:2). The reader sees that it was denied, and the client (the
    record is theirs), not why. A unit manager's extract lists allowed reads only, so it shows no reasons.
    """
    if scope.whole or allowed:
        return False
    return (not scope.covers(actor_zone)
            or withholds(scope, allowed=allowed, names_record=names_record, record_zones=record_zones))


def _scoped(principal: Principal) -> bool:
    """Whether the token named the organisations it audits (service/auth.py drops an ill-formed claim)."""
    return principal.organisations is not None


def auditor_scope(principal: Principal) -> LogScope:
    """The organisations an auditor whose call was allowed sees: all with `*`, else those the token names."""
    organisations = principal.organisations or frozenset()
    if ALL_ORGANISATIONS in organisations:
        return WHOLE
    return LogScope(organisations=organisations)


def decide_audit(principal: Principal, permission: Permission) -> Decision:
    """Reading, verifying or reviewing the log: auditors only, and only those whose token names organisations."""
    gate = role_gate(principal.roles, permission)
    if not gate:
        return gate
    if not _scoped(principal):
        return deny(Reason.NO_ORGANISATION, legal_basis=f"{_SCOPE_BASIS}; {_LOG_REVIEW}")
    return allow(Basis.ROLE, legal_basis=_LOG_REVIEW)


def organisation_gate(principal: Principal, permission: Permission) -> Decision:
    """The claim half of the gate, checked with the role gate before anything else (API-1.1 "Order of checks"):
    an auditor's call on the log needs the organisations it audits (a unit manager's extract does not). The
    decisions above check it again; here it comes before the query and the path are read, so a token without
    the claim learns nothing of them and every such call is refused, and audited, the same."""
    if permission in (Permission.AUDIT_READ, Permission.AUDIT_REVIEW) and not _scoped(principal):
        return deny(Reason.NO_ORGANISATION, legal_basis=f"{_SCOPE_BASIS}; {_LOG_REVIEW}")
    if permission is Permission.RETENTION_READ and Role.ADMIN not in principal.roles and not _scoped(principal):
        return deny(Reason.NO_ORGANISATION, legal_basis=f"{_SCOPE_BASIS}; {_LOG_REVIEW}")  # an auditor's plan
    if permission is Permission.AUDIT_EXTRACT and _as_auditor(principal) and not _scoped(principal):
        return deny(Reason.NO_ORGANISATION, legal_basis=f"{_SCOPE_BASIS}; {_LOG_REVIEW}")
    # An analyst's indicators need the organisations analysed (API-1.1), unless the token is a unit manager's too.
    if (permission is Permission.INDICATORS_READ and Role.ANALYST in principal.roles
            and Role.UNIT_MANAGER not in principal.roles and not _scoped(principal)):
        return deny(Reason.NO_ORGANISATION, legal_basis=_SCOPE_BASIS)
    return _GATE_PASSED


_GATE_PASSED = allow(Basis.ROLE, legal_basis=_LOG_REVIEW)  # immutable: made once (every request passes here)


def decide_operator_read() -> Decision:
    """Verifying or exporting the log from the command line (`brygga audit`): allowed, the whole log.

    The operator runs it on the host with the database and the keyring, where the whole log is theirs to
    check anyway; no token names organisations, so decide_audit's scope does not apply. The read is still an
    event, under the log review's basis.
    """
    return allow(Basis.ROLE, legal_basis=_LOG_REVIEW)


def decide_verify(principal: Principal, *, held_checkpoint: bool) -> Decision:
    """Verifying the chain: as reading the log; against a checkpoint the caller holds, the `*` auditor only.

    A held checkpoint stops the walk at the seq it names and the answer reports the chain hash there: for a
    scoped auditor an oracle over the client ids and reason codes withheld from them (module docstring).
    """
    decision = decide_audit(principal, Permission.AUDIT_READ)
    if not decision or not held_checkpoint or auditor_scope(principal).whole:
        return decision
    return deny(Reason.WHOLE_LOG_ONLY, legal_basis=f"{_SCOPE_BASIS}; {_LOG_REVIEW}")


def _as_auditor(principal: Principal) -> bool:
    """Whether an extract is made as an auditor: an auditor's token with organisations; one without them
    too (to be refused `no_organisation`) unless it is also a unit manager's, who extracts as the manager."""
    return Role.AUDITOR in principal.roles and (_scoped(principal) or Role.UNIT_MANAGER not in principal.roles)


def decide_auditor_lookup(principal: Principal, *, found: bool | None = None,
                          known_in_scope: bool | None = None) -> Decision:
    """An auditor finds a client by personal number, to read that client's log extract (the web interface's
    lookup, issue #20): a person asks who read their records (PDL 8:5), or a review follows one client, and the
    auditor must not have to ask staff for an internal id. Auditors only, and only those whose token names the
    organisations they audit (as for the extract itself).

    Called first on the token alone (found None), then on what the lookup found: a client counts as found only
    when a unit of the auditor's organisations has (or had) a relation with them or acted on their record; a
    client only another organisation knows answers as an unregistered number does, since "registered, but no
    one here knows them" would tell the auditor that the other principal holds a case (OSL 25:1, 26:1; insider
    attack 12, finding 2). The `*` auditor audits every organisation: every client is in scope."""
    if Role.AUDITOR not in principal.roles:
        return deny(Reason.FORBIDDEN_ROLE, legal_basis="PDL 4:3")
    if not _scoped(principal):
        return deny(Reason.NO_ORGANISATION, legal_basis=f"{_SCOPE_BASIS}; {_LOG_REVIEW}")
    if found is False or known_in_scope is False:
        return deny(Reason.UNKNOWN_CLIENT, legal_basis="OSL 25:1, 26:1; PDL 8:5")
    return allow(Basis.ROLE, legal_basis=f"PDL 8:5; {_LOG_REVIEW}")


def decide_access_log(principal: Principal, *, client_exists: bool, relation_active: bool) -> Decision:
    """A client's log extract: an auditor, or a unit manager whose unit has an active relation with the client."""
    gate = role_gate(principal.roles, Permission.AUDIT_EXTRACT)
    if not gate:
        return gate
    if _as_auditor(principal) and not _scoped(principal):
        return deny(Reason.NO_ORGANISATION, legal_basis=f"{_SCOPE_BASIS}; {_LOG_REVIEW}")
    if not client_exists:
        return deny(Reason.UNKNOWN_CLIENT, legal_basis="PDL 8:5")
    if _as_auditor(principal):
        return allow(Basis.ROLE, legal_basis=f"PDL 8:5; {_LOG_REVIEW}")
    if not relation_active:
        return deny(Reason.NO_RELATION, legal_basis="PDL 4:1")
    return allow(Basis.RELATION, legal_basis="PDL 8:5")


def extract_scope(principal: Principal) -> LogScope:
    """Whose accesses an allowed extract lists: an auditor's organisations; for a unit manager the accesses to
    records their zone holds and those made by their zone, nothing of another zone's own work (OSL 8:2)."""
    if _as_auditor(principal):
        return auditor_scope(principal)
    return LogScope(zone=principal.zone) if principal.zone is not None else LogScope()


def decide_review(principal: Principal, *, grant_exists: bool, grant_sub: str | None,
                  grant_zone: Zone | None) -> Decision:
    """A verdict on an emergency access: an auditor of the organisation whose unit opened it (another
    organisation's grant is not there for them), never on an access of their own (no one judges themself)."""
    gate = role_gate(principal.roles, Permission.AUDIT_REVIEW)
    if not gate:
        return gate
    if not _scoped(principal):
        return deny(Reason.NO_ORGANISATION, legal_basis=f"{_SCOPE_BASIS}; {_LOG_REVIEW}")
    if not grant_exists or not auditor_scope(principal).covers(grant_zone):
        return deny(Reason.UNKNOWN_GRANT, legal_basis=f"{_LOG_REVIEW}; {_SCOPE_BASIS}")
    if grant_sub == principal.sub:
        return deny(Reason.OWN_EMERGENCY, legal_basis=_LOG_REVIEW)
    return allow(Basis.ROLE, legal_basis=_LOG_REVIEW)
