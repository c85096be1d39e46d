"""Property tests of the SIP rule (policies/sip.py) against what the law asks, stated independently here.

Whatever the principal, roles, relation, consents (any zones, units, categories, purposes, periods, revocations,
confirmations, givers) and plan: no unit that takes no part in a plan ever reads or writes it; no unit of another
zone does without a consent naming sip for coordination from the holding zone in force for it now; and the
four parts are refused by name exactly when missing.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from policies.decide import Facts, Request
from policies.model import Consent, Principal, Role, Zone
from policies.roles import Permission
from policies.sip import Effort, PlanContent, PlanFacts, check_content, decide_plan

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
ZONES = [Zone("malmo-stad", "social"), Zone("region-skane", "health"), Zone("alingsas", "social")]
UNITS = {"iof": ZONES[0], "jour": ZONES[0], "bc": ZONES[1], "psyk": ZONES[1], "ifo-a": ZONES[2]}

instants = st.sampled_from([NOW - timedelta(days=30), NOW - timedelta(hours=1), NOW, NOW + timedelta(hours=1), None])


@st.composite
def consents(draw: st.DrawFn) -> Consent:
    start = draw(st.sampled_from([NOW - timedelta(days=10), NOW + timedelta(days=1)]))
    return Consent(
        id=draw(st.sampled_from(["c1", "c2", "c3", "c4"])), from_zone=draw(st.sampled_from(ZONES)),
        to_zone=draw(st.sampled_from(ZONES)), to_unit=draw(st.sampled_from([None, *UNITS])),
        categories=frozenset(draw(st.sets(st.sampled_from(["sip", "assessment", "*"]), min_size=1))),
        purposes=frozenset(draw(st.sets(st.sampled_from(["coordination", "care"]), min_size=1))),
        valid_from=start, valid_until=start + draw(st.sampled_from([timedelta(days=1), timedelta(days=60)])),
        revoked_at=draw(instants), confirmed_at=draw(instants), given_by=draw(st.sampled_from(["client", "guardian"])))


@st.composite
def cases(draw: st.DrawFn) -> tuple[Request, Facts, PlanFacts]:
    unit = draw(st.sampled_from(sorted(UNITS)))
    roles = frozenset(draw(st.sets(st.sampled_from(list(Role)), min_size=1)))
    who = Principal(sub="u", name=None, roles=roles, unit=unit, zone=UNITS[unit])
    holder = draw(st.sampled_from(sorted(UNITS)))
    participants = {u: UNITS[u] for u in draw(st.sets(st.sampled_from(sorted(UNITS)), min_size=1)) | {holder}}
    plan = PlanFacts(id="p", zone=UNITS[holder], unit=holder, participants=participants, closed=draw(st.booleans()))
    facts = Facts(client_exists=draw(st.booleans()), caller_relation_active=draw(st.booleans()), now=NOW,
                  consents=tuple(draw(st.lists(consents(), max_size=4))),
                  client_birth_date=draw(st.sampled_from([date(1990, 1, 1), date(2010, 1, 1)])))
    permission = draw(st.sampled_from([Permission.SIP_READ, Permission.SIP_WRITE]))
    return Request(who, permission, "coordination"), facts, plan


def _opens(consent: Consent, who: Principal, plan: PlanFacts) -> bool:
    """The reference: this consent lets the plan's holding zone's SIP reach the caller now."""
    adult = consent.given_by == "client" or NOW < datetime(2028, 1, 1, tzinfo=UTC)  # the minor turns 18 in 2028
    return (consent.from_zone == plan.zone and consent.to_zone == who.zone and consent.to_unit in (None, who.unit)
            and "sip" in consent.categories and "coordination" in consent.purposes
            and consent.valid_from <= NOW < consent.valid_until
            and (consent.revoked_at is None or consent.revoked_at > NOW)
            and consent.confirmed_at is not None and consent.confirmed_at <= NOW and adult)


@settings(max_examples=1500, deadline=None)
@given(cases())
def test_no_one_outside_the_plan_ever_reads_or_writes_it(case: tuple[Request, Facts, PlanFacts]) -> None:
    request, facts, plan = case
    decision = decide_plan(request, facts, plan)
    who = request.principal
    if who.unit not in plan.participants or not facts.caller_relation_active or not facts.client_exists:
        assert not decision
    if who.roles.isdisjoint({Role.STAFF, Role.UNIT_MANAGER}):
        assert not decision
    if who.zone != plan.zone and not any(_opens(c, who, plan) for c in facts.consents):
        assert not decision
    if request.permission is Permission.SIP_WRITE and plan.closed:
        assert not decision
    expected = (who.unit in plan.participants and facts.caller_relation_active and facts.client_exists
                and not who.roles.isdisjoint({Role.STAFF, Role.UNIT_MANAGER})
                and (who.zone == plan.zone or any(_opens(c, who, plan) for c in facts.consents))
                and not (request.permission is Permission.SIP_WRITE and plan.closed))
    assert bool(decision) is expected
    assert decision.record == "sip_plan:p"


@given(efforts=st.lists(st.tuples(st.sampled_from([None, "iof", "bc", "x"]), st.sampled_from([None, "Mamma Eva"])),
                        max_size=3),
       responsible=st.sampled_from([None, "iof", "x"]), none_by_others=st.booleans())
def test_the_four_parts_are_named_exactly_when_missing(efforts: list[tuple[str | None, str | None]],
                                                        responsible: str | None, none_by_others: bool) -> None:
    content = PlanContent(title="SIP", start_date=date(2026, 12, 1), units=("iof", "bc"), externals=("Mamma Eva",),
                          responsible_unit=responsible,
                          efforts=tuple(Effort(text="t", provided_by_unit=u, provided_by_external=e) for u, e in efforts),
                          next_follow_up=date(2027, 1, 1), no_measures_by_others=none_by_others)
    fields = [violation.field for violation in check_content(content)]
    assert ("efforts" in fields) is (not efforts)
    for i, (unit, external) in enumerate(efforts):
        ok = (unit is None) != (external is None) and unit in (None, "iof", "bc")
        assert (any(f.startswith(f"efforts.{i}.") for f in fields)) is (not ok)
    by_others = any(external is not None for _, external in efforts)
    assert ("no_measures_by_others" in fields) is (by_others == none_by_others)
    assert ("responsible_unit" in fields) is (responsible != "iof")
