"""The log's scopes as pure rules (policies/audit.py) and the `organisations` claim (service/auth.py)."""
from __future__ import annotations

import pytest

from policies.audit import (
    WHOLE,
    LogScope,
    auditor_scope,
    decide_access_log,
    decide_audit,
    decide_review,
    extract_scope,
    sees,
    withholds,
    withholds_reasons,
)
from policies.decision import Basis, Reason
from policies.model import Principal, Role, Zone
from policies.roles import Permission
from service.auth import ClaimMapping, _claims
from service.errors import Unauthorized

SOCIAL, HEALTH, VGR = Zone("malmo-stad", "social"), Zone("region-skane", "health"), Zone("vgr", "health")
MUNICIPAL_HEALTH = Zone("malmo-stad", "health")


def auditor(organisations: frozenset[str] | None, *roles: Role, sub: str = "astrid", zone: Zone | None = None) -> Principal:
    return Principal(sub, None, frozenset({Role.AUDITOR, *roles}), "malmo-iof" if zone else None, zone,
                     organisations)


def manager(zone: Zone = SOCIAL) -> Principal:
    return Principal("chef", None, frozenset({Role.UNIT_MANAGER}), "malmo-iof", zone)


# --- who may read


@pytest.mark.parametrize("permission", [Permission.AUDIT_READ, Permission.AUDIT_REVIEW])
def test_an_auditor_must_name_organisations(permission):
    refused = decide_audit(auditor(None), permission)
    assert not refused and refused.reason_codes == (Reason.NO_ORGANISATION,) and "OSL 8:2" in refused.legal_basis
    assert decide_audit(auditor(frozenset({"malmo-stad"})), permission)
    assert decide_audit(auditor(frozenset({"*"})), permission)


def test_the_role_gate_comes_first():
    analyst = Principal("ada", None, frozenset({Role.ANALYST}), organisations=None)
    assert decide_audit(analyst, Permission.AUDIT_READ).reason_codes == (Reason.FORBIDDEN_ROLE,)
    staff = Principal("anna", None, frozenset({Role.STAFF}), "malmo-iof", SOCIAL)
    assert decide_access_log(staff, client_exists=True, relation_active=True).reason_codes == (Reason.FORBIDDEN_ROLE,)


def test_the_extract_without_organisations_tells_nothing_of_the_client():
    for exists in (True, False):
        refused = decide_access_log(auditor(None), client_exists=exists, relation_active=False)
        assert refused.reason_codes == (Reason.NO_ORGANISATION,)


def test_an_auditor_who_is_a_unit_manager_without_organisations_extracts_as_the_manager():
    both = auditor(None, Role.UNIT_MANAGER, zone=SOCIAL)
    assert decide_access_log(both, client_exists=True, relation_active=True).basis == Basis.RELATION
    assert not decide_access_log(both, client_exists=True, relation_active=False)
    assert extract_scope(both) == LogScope(zone=SOCIAL)
    scoped = auditor(frozenset({"vgr"}), Role.UNIT_MANAGER, zone=SOCIAL)
    assert decide_access_log(scoped, client_exists=True, relation_active=False).basis == Basis.ROLE
    assert extract_scope(scoped) == LogScope(organisations=frozenset({"vgr"}))


def test_scopes():
    assert auditor_scope(auditor(frozenset({"*"}))) == WHOLE
    assert auditor_scope(auditor(frozenset({"vgr", "malmo-stad"}))) == LogScope(organisations=frozenset({"vgr", "malmo-stad"}))
    assert extract_scope(manager()) == LogScope(zone=SOCIAL)
    assert extract_scope(Principal("chef", None, frozenset({Role.UNIT_MANAGER}), "x", None)) == LogScope()


def test_a_verdict_outside_the_organisations_is_an_unknown_grant():
    municipal = auditor(frozenset({"malmo-stad"}))
    assert decide_review(municipal, grant_exists=True, grant_sub="bertil", grant_zone=HEALTH).reason_codes == \
        (Reason.UNKNOWN_GRANT,)
    assert decide_review(municipal, grant_exists=False, grant_sub=None, grant_zone=None).reason_codes == \
        (Reason.UNKNOWN_GRANT,)
    assert decide_review(municipal, grant_exists=True, grant_sub="bertil", grant_zone=MUNICIPAL_HEALTH)
    # Out of scope before own: an auditor learns nothing of another organisation's grant, not even that it is theirs.
    assert decide_review(municipal, grant_exists=True, grant_sub="astrid", grant_zone=HEALTH).reason_codes == \
        (Reason.UNKNOWN_GRANT,)
    assert decide_review(auditor(frozenset({"*"})), grant_exists=True, grant_sub="astrid",
                         grant_zone=HEALTH).reason_codes == (Reason.OWN_EMERGENCY,)
    assert decide_review(auditor(None), grant_exists=True, grant_sub="bertil", grant_zone=HEALTH).reason_codes == \
        (Reason.NO_ORGANISATION,)


# --- what they see


MUNICIPAL = LogScope(organisations=frozenset({"malmo-stad"}))


@pytest.mark.parametrize("scope,actor,records,seen", [
    (MUNICIPAL, SOCIAL, [], True),                     # the municipality's own work
    (MUNICIPAL, MUNICIPAL_HEALTH, [], True),           # an organisation is all its zones
    (MUNICIPAL, HEALTH, [], False),                    # the region's reads of its own records
    (MUNICIPAL, HEALTH, [HEALTH], False),
    (MUNICIPAL, HEALTH, [SOCIAL], True),               # the region read the municipality's record
    (MUNICIPAL, HEALTH, [HEALTH, SOCIAL], True),       # a consent from the municipality to the region
    (MUNICIPAL, None, [], False),                      # an installation-wide actor about no record
    (MUNICIPAL, None, [SOCIAL], True),
    (WHOLE, None, [], True),
    (LogScope(zone=SOCIAL), MUNICIPAL_HEALTH, [], False),  # a manager's zone is one domain
    (LogScope(zone=SOCIAL), HEALTH, [SOCIAL], True),
    (LogScope(zone=SOCIAL), SOCIAL, [HEALTH], True),
    (LogScope(), SOCIAL, [SOCIAL], False),
])
def test_sees(scope, actor, records, seen):
    assert sees(scope, actor_zone=actor, record_zones=records) is seen


def test_withholds_only_a_denial_on_a_record_not_held():
    assert withholds(MUNICIPAL, allowed=False, names_record=True, record_zones=[HEALTH])
    assert withholds(MUNICIPAL, allowed=False, names_record=True, record_zones=[])  # names nothing that exists
    assert not withholds(MUNICIPAL, allowed=True, names_record=True, record_zones=[HEALTH])
    assert not withholds(MUNICIPAL, allowed=False, names_record=True, record_zones=[SOCIAL])
    assert not withholds(MUNICIPAL, allowed=False, names_record=False, record_zones=[])
    assert not withholds(WHOLE, allowed=False, names_record=True, record_zones=[HEALTH])


def test_withholds_the_reasons_of_the_other_zones_denial_on_your_record():
    own_record = dict(names_record=True, record_zones=[SOCIAL])
    assert withholds_reasons(MUNICIPAL, allowed=False, actor_zone=HEALTH, **own_record)
    assert withholds_reasons(MUNICIPAL, allowed=False, actor_zone=None, **own_record)  # an installation-wide actor
    assert not withholds_reasons(MUNICIPAL, allowed=True, actor_zone=HEALTH, **own_record)
    assert not withholds_reasons(MUNICIPAL, allowed=False, actor_zone=SOCIAL, **own_record)  # their own staff
    assert not withholds_reasons(MUNICIPAL, allowed=False, actor_zone=MUNICIPAL_HEALTH, **own_record)
    assert not withholds_reasons(WHOLE, allowed=False, actor_zone=HEALTH, **own_record)
    # Where the client id is withheld, the reasons are too.
    assert withholds_reasons(MUNICIPAL, allowed=False, actor_zone=SOCIAL, names_record=True, record_zones=[HEALTH])
    assert not withholds_reasons(MUNICIPAL, allowed=False, actor_zone=SOCIAL, names_record=False, record_zones=[])


# --- the claim


def claims(**extra):
    return {"sub": "astrid", "roles": ["auditor"], "exp": 2_000_000_000, **extra}


@pytest.mark.parametrize("value,parsed", [
    (["malmo-stad"], frozenset({"malmo-stad"})),
    (["malmo-stad", "region-skane", "malmo-stad"], frozenset({"malmo-stad", "region-skane"})),
    (["*"], frozenset({"*"})),
    (None, None), ([], None), ("malmo-stad", None), ("*", None), ([7], None), (["*", "vgr"], None),
    (["Malmö"], None), ([""], None), ({"vgr": True}, None), (["vgr", None], None),
])
def test_the_organisations_claim(value, parsed):
    extra = {} if value is None else {"organisations": value}
    assert _claims(claims(**extra), ClaimMapping()).organisations == parsed


def test_only_auditors_and_analysts_carry_organisations():
    assert _claims(claims(roles=["analyst"], organisations=["vgr"]), ClaimMapping()).organisations == frozenset({"vgr"})
    assert _claims(claims(roles=["admin"], organisations=["vgr"]), ClaimMapping()).organisations is None
    assert _claims(claims(roles=["staff"], unit="malmo-iof", organisations=["*"]), ClaimMapping()).organisations is None


def test_the_analyst_needs_no_unit():
    assert _claims(claims(roles=["analyst"]), ClaimMapping()).unit is None
    with pytest.raises(Unauthorized):
        _claims(claims(roles=["analyst", "staff"]), ClaimMapping())
