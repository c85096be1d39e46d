"""A document's versions (API-1.1 "Corrections and reorganisations"): readable exactly when the document is.

A correction never removes record content: the version it replaces is kept, and shows the old and the new, when
and by whom (PDL 3:14). Whoever may read the document may read its history, and no one else: a version is part of
the document, so every rule that covered the document (consents by category, disclosures, blocks and their
liftings, releases to the client) covers it, whoever made the version and whenever (PDL 4:1, 4:4; OSL 25:1, 26:1,
25:12, 26:9). The version's own facts (its number, who made it, in which unit before a reorganisation) open and
close nothing; a shredded document's versions were shredded with it (PDL 3:17; store.documents.shred).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .decide import DEFAULT_CONFIG, Facts, PolicyConfig, Request, decide
from .decision import Basis, Decision, Reason, allow, deny
from .model import Role

# Who reads a document's history: those who work with the client (PDL 4:1). Not a system, though it may read back
# the metadata of what it uploaded (API.md "Roles": Basis.UPLOADER): the later versions' titles, who corrected them
# and why are staff's record, not the system's upload (insider attack 9, finding 5).
_HISTORY_ROLES = frozenset({Role.STAFF, Role.UNIT_MANAGER})


@dataclass(frozen=True, slots=True)
class VersionFacts:
    """One version of a document as stored: which, made when, by whom and in which unit (then)."""

    number: int
    created_at: datetime
    created_by: str
    created_in_unit: str
    superseded: bool


def decide_version(request: Request, facts: Facts, version: VersionFacts,
                   config: PolicyConfig = DEFAULT_CONFIG) -> Decision:
    """The decision on one version of the document `facts` describe: the document's own decision for the same
    request (module docstring). `version` is what a rule of its own would look at, and none does."""
    del version  # deliberately unused: a version has no access rule of its own
    return decide(request, facts, config)


def history_gate(roles: frozenset[Role] | set[Role]) -> Decision:
    """The role gate of a document's versions list, before the document is looked up (API-1.1 "Order of checks"):
    staff and unit managers pass; a system (whose uploader road opens only the document's own metadata) and every
    other role get forbidden_role, as for the other staff-only reads (content)."""
    if roles & _HISTORY_ROLES:
        return allow(Basis.ROLE, legal_basis="PDL 4:1")
    return deny(Reason.FORBIDDEN_ROLE, legal_basis="PDL 4:1")
