"""Turning a denied Decision into the error the contract prescribes."""
from __future__ import annotations

from collections.abc import Callable, Mapping

from policies.decision import Decision, Reason

from ..errors import BryggaError, Forbidden, Gone, NotFound

Answers = Mapping[Reason, Callable[[], BryggaError]]


def raise_if_denied(decision: Decision, answers: Answers | None = None) -> None:
    """403 for a role (organisation, owning-unit) refusal, 410 for shredded content, else 404: existence is not revealed.

    `answers`: the errors of reasons that only the caller's own rules give (a 403, 409 or 422 of one
    endpoint), checked first. Reasons that other decisions give too (a consent revoked, emergency not
    permitted) stay 404 everywhere else, where they would reveal what the caller may not see.
    """
    if decision:
        return
    for reason in decision.reason_codes:
        if answers and reason in answers:
            raise answers[reason]()
    if Reason.FORBIDDEN_ROLE in decision.reason_codes:
        raise Forbidden("your roles do not allow this")
    if Reason.NO_ORGANISATION in decision.reason_codes:
        raise Forbidden("an auditor's token must name the organisations audited (claim organisations)",
                        code="no_organisation")
    if Reason.OWN_EMERGENCY in decision.reason_codes:
        raise Forbidden("no one reviews their own emergency access", code="own_emergency")
    if Reason.NOT_OWNING_UNIT in decision.reason_codes:
        raise Forbidden("only the owning unit may do this", code="not_owning_unit")
    if Reason.SHREDDED in decision.reason_codes:
        raise Gone("the document was shredded; its content no longer exists")
    raise NotFound()
