"""Retention (gallring) pages for admins and auditors (issue #20): the effective rules of each organisation and
today's plan of what is due, in words. Read only: the rules are set through the API (PUT /v1/retention/rules).

The same domain functions as GET /v1/retention/rules and /plan, so the same decisions and events
(retention.rules_read, retention.plan); the organisations claim is checked first, as the API's order of checks
does (policies/audit.py organisation_gate), and a refusal is audited the same.
"""
from __future__ import annotations

from aiohttp import web

from policies.audit import organisation_gate
from policies.roles import Permission

from ..audit import Action
from ..domain import retention
from ..domain.access import refuse
from .pages import caller, page, render, rt


@page()
async def retention_page(request: web.Request) -> web.Response:
    who = caller(request)
    gate = organisation_gate(who.principal, Permission.RETENTION_READ)
    if not gate:
        await refuse(rt(request), who, gate, Action.RETENTION_RULES_READ)
    rules = await retention.rules(rt(request), who)
    plan = (await retention.plan(rt(request), who)).as_json()
    return render(request, "retention.html", rules=rules, plan=plan)


def routes() -> list[web.RouteDef]:
    return [web.get("/ui/retention", retention_page)]
