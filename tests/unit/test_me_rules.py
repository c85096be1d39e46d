"""policies/me.py: the client acts on themself alone (OSL 12:1; PDL 8:2, 8:5)."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from policies.decision import Basis, Reason
from policies.me import (
    Release,
    consent_as_the_person_sees_it,
    decide_me,
    decide_own_consent,
    decide_own_document,
    decide_own_record,
    may_delay,
)
from policies.model import Principal, Role, Zone
from policies.roles import Permission

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
CLIENT = Principal(sub="client:abc", name=None, roles=frozenset({Role.CLIENT}), personal_number_index=b"i" * 32)
STAFF = Principal(sub="hsa-1", name="S", roles=frozenset({Role.STAFF}), unit="u", zone=Zone("o", "social"))


def test_only_the_client_role_with_a_number_reaches_their_own() -> None:
    assert decide_me(CLIENT, Permission.ME_READ).basis == Basis.SELF
    assert decide_me(STAFF, Permission.ME_READ).reason_codes == (Reason.FORBIDDEN_ROLE,)
    without = Principal(sub="client:x", name=None, roles=frozenset({Role.CLIENT}))
    assert not decide_me(without, Permission.ME_READ)


def test_another_persons_record_is_unknown() -> None:
    mine = decide_own_record(CLIENT, Permission.ME_CONSENT_REVOKE, own_client=1, record_client=1,
                             unknown=Reason.UNKNOWN_CONSENT)
    assert mine and "OSL 12:1" in mine.legal_basis
    for own, record in ((1, 2), (None, 2), (1, None), (None, None)):
        decision = decide_own_record(CLIENT, Permission.ME_CONSENT_REVOKE, own_client=own, record_client=record,
                                     unknown=Reason.UNKNOWN_CONSENT)
        assert decision.reason_codes == (Reason.UNKNOWN_CONSENT,)


def test_a_minor_gives_no_electronic_consent() -> None:
    today = date(2026, 12, 1)
    assert decide_own_consent(CLIENT, registered=True, birth_date=date(2008, 12, 1), today=today)  # 18 today
    minor = decide_own_consent(CLIENT, registered=True, birth_date=date(2008, 12, 2), today=today)
    assert minor.reason_codes == (Reason.MINOR,) and "OSL 12:3" in minor.legal_basis
    assert decide_own_consent(CLIENT, registered=False, birth_date=None, today=today).reason_codes == \
        (Reason.UNKNOWN_CLIENT,)


def test_only_a_released_document_visible_now_is_the_clients() -> None:
    released = Release(NOW - timedelta(days=1), NOW - timedelta(seconds=1))

    def decide(release: Release | None, *, record: int = 1, shredded: bool = False):
        return decide_own_document(CLIENT, Permission.ME_DOCUMENTS, own_client=1, record_client=record,
                                   release=release, shredded=shredded, now=NOW)
    assert decide(released)
    assert decide(None).reason_codes == (Reason.UNRELEASED,)
    assert decide(Release(NOW, NOW + timedelta(days=3))).reason_codes == (Reason.UNRELEASED,)
    assert decide(released, record=2).reason_codes == (Reason.UNKNOWN_DOCUMENT,)
    assert decide(released, shredded=True).reason_codes == (Reason.SHREDDED,)
    assert may_delay("health") and not may_delay("social")


def test_an_event_in_words() -> None:
    from service.domain.words import describe

    read = describe(action="document.read_content", allowed=True, basis="consent:1f", unit_name="Beroendecentrum Malmö",
                    organisation="region-skane", roles=["staff"], document_title="Utredning", document_named=True)
    assert read == "Beroendecentrum Malmö öppnade dokumentet ”Utredning” med stöd av ditt samtycke."
    hidden = describe(action="document.read_content", allowed=False, basis="none", unit_name="IFO Malmö",
                      organisation="malmo-stad", roles=["staff"], document_title=None, document_named=True)
    assert hidden == "IFO Malmö försökte öppna ett dokument men nekades."
    culled = describe(action="document.cull", allowed=True, basis="retention", unit_name=None, organisation=None,
                      roles=["system"], document_title=None, document_named=True)
    assert culled == "Gallringen tog bort ett dokument när tiden att bevara det hade gått ut."


def test_a_consent_as_the_person_sees_it() -> None:
    """Staff's note and an evidence document not released now are left out; the person's own note and every term
    stay; the consent given is not changed."""
    maturity = {"assessed_by": "Kurator K", "assessed_at": "2026-11-30", "basis": "Samtal; pappan hotfull"}
    consent = {"id": 1, "categories": ["assessment"], "note": "intern", "recorded_by": "hsa-1",
               "evidence_document_id": "d1", "revoked_by": "hsa-2", "maturity": maturity}
    seen = consent_as_the_person_sees_it(consent, person=CLIENT.sub, released_now=())
    assert seen == {**consent, "note": None, "evidence_document_id": None, "maturity": {**maturity, "basis": None}}
    assert consent["note"] == "intern" and consent["evidence_document_id"] == "d1" and consent["maturity"] == maturity
    assert consent_as_the_person_sees_it({**consent, "maturity": None}, person=CLIENT.sub,
                                         released_now=())["maturity"] is None
    assert consent_as_the_person_sees_it(consent, person=CLIENT.sub, released_now={"d1"})["evidence_document_id"] == "d1"
    own = {**consent, "recorded_by": CLIENT.sub, "evidence_document_id": None, "maturity": None}
    assert consent_as_the_person_sees_it(own, person=CLIENT.sub, released_now=()) == own
