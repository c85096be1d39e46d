"""Indicators (API-1.1 "Follow-up records and indicators"): GET /v1/indicators, JSON or CSV."""
from __future__ import annotations

from aiohttp import web

from policies.indicators import GROUPINGS, NOT_CLOSED, Period, parse_period
from policies.roles import Permission

from ..audit import Action
from ..domain import indicators
from ..errors import ValidationFailed
from .context import authenticate, runtime
from .routing import Routes, json_response
from .schemas import IndicatorTable

routes = Routes("indicators")
_SLUG = r"^[a-z0-9][a-z0-9-]{1,63}$"
_QUERY = (
    ("period", {"type": "string", "pattern": r"^[0-9]{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$"},
     "a whole period that has ended: YYYY, YYYY-Qn or YYYY-MM (required); a month or quarter only once its year "
     "has ended (422 period_not_closed)"),
    ("unit", {"type": "string", "pattern": _SLUG}, "one unit's table (a unit manager: their own)"),
    ("organisation", {"type": "string"}, "an organisation's table, or two, comma-separated: both principals together"),
    ("domain", {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,31}$"}, "with one organisation: its zone's table"),
    ("group_by", {"type": "string", "enum": ["", "sex", "age_band", "sex,age_band", "age_band,sex"]},
     "sex, age_band or both (the fixed groupings); none: totals only"),
)


def _ask(request: web.Request) -> indicators.Ask:
    """The query, checked: 422 validation_failed naming each field that is wrong."""
    query, problems = request.query, []
    unknown = sorted(set(query) - {"period", "unit", "organisation", "domain", "group_by"})
    problems += [{"field": name, "message": "not a parameter of this report"} for name in unknown]
    period = parse_period(query.get("period", ""), today=runtime(request).today())
    if isinstance(period, str):
        problems.append({"field": "period", "message": period})
    unit, domain = query.get("unit"), query.get("domain")
    organisations = tuple(o.strip() for o in query.get("organisation", "").split(",") if o.strip())
    if (unit is None) == (not organisations):
        problems.append({"field": "unit", "message": "name a unit or an organisation (or two), not both"})
    if len(organisations) > 2 or len(set(organisations)) != len(organisations):
        problems.append({"field": "organisation", "message": "one organisation, or two different ones"})
    if domain is not None and (len(organisations) != 1 or unit is not None):
        problems.append({"field": "domain", "message": "only with one organisation"})
    grouping = tuple(g for g in query.get("group_by", "").split(",") if g)
    if any(g not in GROUPINGS for g in grouping) or len(set(grouping)) != len(grouping):
        problems.append({"field": "group_by", "message": "sex, age_band, or both"})
    if problems:
        # A month or quarter of the running year, asked well: its own code (it can be asked once the year ends).
        closed = "period_not_closed" if problems == [{"field": "period", "message": NOT_CLOSED}] else None
        raise ValidationFailed(problems, code=closed)
    assert isinstance(period, Period)
    return indicators.Ask(period, unit, organisations, domain, tuple(g for g in GROUPINGS if g in grouping))


@routes.get(
    "/v1/indicators", summary="A period's follow-up indicators for a unit, a zone, an organisation or both principals "
                              "(never content; small cells suppressed); Accept: text/csv gives the same table",
    permission=Permission.INDICATORS_READ, action=Action.INDICATORS_READ, responses={200: IndicatorTable},
    query=_QUERY, also_content=("text/csv",),
    errors=((403, "no_organisation"), (403, "not_owning_unit"), (404, "not_found"), (422, "validation_failed"),
            (422, "period_not_closed"), (500, "integrity_error"), (503, "indicators_being_made")),
)
async def read_indicators(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    table = await indicators.report(runtime(request), caller, _ask(request))
    if any(part.split(";")[0].strip() == "text/csv" for part in request.headers.get("Accept", "").split(",")):
        return web.Response(text=indicators.csv_text(table), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="indicators-{table["period"]}.csv"'})
    return json_response(IndicatorTable, table)
