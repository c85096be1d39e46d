"""policies/retention.py shred_allowed / decide_shred: a patient record younger than ten years is shredded only on an
IVO decision (PDL 3:17, 8:4); nothing else changes a shred's decision."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from policies.decision import Basis, Reason, allow, deny
from policies.retention import HEALTH_MINIMUM_YEARS, LAW_HEALTH, decide_shred, shred_allowed

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
_settings = settings(max_examples=400, deadline=None, database=None, derandomize=True)


def test_the_tenth_anniversary_is_the_first_day():
    created = datetime(2016, 12, 1, 23, 0, tzinfo=UTC)
    assert shred_allowed(domain="health", created_at=created, now=NOW, ivo_decision=None)
    assert not shred_allowed(domain="health", created_at=created + timedelta(days=1), now=NOW, ivo_decision=None)
    leap = datetime(2016, 2, 29, tzinfo=UTC)  # ten years later has no 29 February: 1 March
    assert not shred_allowed(domain="health", created_at=leap, now=datetime(2026, 2, 28, 23, tzinfo=UTC), ivo_decision=None)
    assert shred_allowed(domain="health", created_at=leap, now=datetime(2026, 3, 1, tzinfo=UTC), ivo_decision=None)


@_settings
@given(days=st.integers(0, 366 * HEALTH_MINIMUM_YEARS + 400), domain=st.sampled_from(("health", "social", "other")),
       ivo=st.sampled_from((None, "IVO 3.5.1-1/2026")))
def test_health_never_below_ten_years_without_ivo(days, domain, ivo):
    created = NOW - timedelta(days=days)
    ok = shred_allowed(domain=domain, created_at=created, now=NOW, ivo_decision=ivo)
    if domain == "health" and ivo is None and days < 365 * HEALTH_MINIMUM_YEARS:
        assert not ok
    if domain != "health" or ivo is not None or days > 366 * HEALTH_MINIMUM_YEARS:
        assert ok


def test_decide_shred_refuses_names_the_decision_and_keeps_an_earlier_refusal():
    young = NOW - timedelta(days=30)
    owner = allow(Basis.OWN_ZONE)
    refused = decide_shred(owner, domain="health", created_at=young, now=NOW, ivo_decision=None)
    assert not refused and refused.reason_codes == (Reason.RETENTION_MINIMUM,) and refused.legal_basis == LAW_HEALTH
    on_ivo = decide_shred(owner, domain="health", created_at=young, now=NOW, ivo_decision="IVO 1")
    assert on_ivo and on_ivo.basis == "ivo_decision:IVO 1" and on_ivo.legal_basis == LAW_HEALTH
    assert decide_shred(owner, domain="social", created_at=young, now=NOW, ivo_decision=None) == owner
    not_owner = deny(Reason.NOT_OWNING_UNIT)  # the document's own refusal comes first: the rule says nothing more
    assert decide_shred(not_owner, domain="health", created_at=young, now=NOW, ivo_decision=None) == not_owner
