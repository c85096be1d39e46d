"""Retention (gallring), API-1.1: GET/PUT /v1/retention/rules, GET /v1/retention/plan."""
from __future__ import annotations

from datetime import date

from aiohttp import web

from policies.retention import Rule
from policies.roles import Permission

from ..audit import Action
from ..domain import retention
from ..errors import ValidationFailed
from .context import authenticate, runtime
from .routing import Routes, json_response, read_body
from .schemas import RetentionPlan, RetentionRules, RetentionRulesIn

routes = Routes("retention")


@routes.get("/v1/retention/rules", summary="The retention rules of every organisation (defaults filled in)",
            permission=Permission.RETENTION_READ, action=Action.RETENTION_RULES_READ, responses={200: RetentionRules},
            errors=((403, "no_organisation"),))
async def get_rules(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    return json_response(RetentionRules, await retention.rules(runtime(request), caller))


@routes.put("/v1/retention/rules", summary="Replace the retention rules of the organisations named",
            permission=Permission.RETENTION_WRITE, body=RetentionRulesIn, responses={200: RetentionRules},
            errors=((422, "below_legal_minimum"),))
async def put_rules(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    body = await read_body(request, RetentionRulesIn)
    items = [Rule(i.organisation, i.domain, i.category, i.action, i.years_after_last_entry, i.research_birthdays)
             for i in body.items]
    research = {o.organisation: o.research_municipality for o in body.organisations}
    return json_response(RetentionRules, await retention.set_rules(runtime(request), caller, items, research))


@routes.get("/v1/retention/plan", summary="What is due to be culled, by zone and category, and what is kept (a dry run)",
            permission=Permission.RETENTION_READ, responses={200: RetentionPlan},
            errors=((403, "no_organisation"), (422, "validation_failed")),
            query=(("at", {"type": "string", "format": "date"}, "the day to plan for (default today, UTC)"),))
async def get_plan(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    at = request.query.get("at")
    on = None
    if at is not None:
        try:
            on = date.fromisoformat(at)
        except ValueError:
            raise ValidationFailed([{"field": "at", "message": "must be a date, YYYY-MM-DD"}]) from None
    result = await retention.plan(runtime(request), caller, on=on)
    return json_response(RetentionPlan, result.as_json())
