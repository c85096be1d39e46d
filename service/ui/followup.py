"""Follow-up in the web interface (issue 17): the client's follow-up page (record a visit, an assessment, an
episode, an intervention in a few clicks, today's date by default; close an episode) and the indicator page for
unit managers and analysts: the table with its suppressed cells marked and charts drawn as SVG on the server
(no script, no inline style: the strict CSP holds), printable.

Every page calls the domain functions the API calls (service/domain/followup.py, indicators.py): the same
decisions, the same audit events, the same disclosure control. A form is judged by the API's own model.
"""
from __future__ import annotations

from typing import Any
from uuid import UUID

from aiohttp import web

from policies.indicators import AGE_BANDS, AUDIT_BANDS, DUDIT_BANDS, GROUPINGS, SEXES, Period, parse_period

from ..domain import followup, indicators
from ..errors import IndicatorsBeingMade, NotFound, ValidationFailed
from ..http import followup as api
from ..http.schemas import AssessmentIn, ContactIn, EpisodeCloseIn, EpisodeIn, InterventionIn, VoidIn
from .pages import caller, form, page, redirect, render, rt, validated

_FORMS: dict[str, tuple[type[Any], Any]] = {
    "episode": (EpisodeIn, api._episode), "contact": (ContactIn, api._contact),
    "assessment": (AssessmentIn, api._assessment), "intervention": (InterventionIn, api._intervention),
}
_DATE_FIELD = followup.DATE_FIELD


def _uuid(request: web.Request, name: str) -> UUID:
    try:
        return UUID(request.match_info[name])
    except ValueError:
        raise NotFound() from None


async def _view(request: web.Request, client_id: UUID, *, errors: dict[str, str] | None = None,
                values: dict[str, str] | None = None, status: int = 200) -> web.Response:
    runtime, who = rt(request), caller(request)
    lists = {kind: (await followup.page(runtime, who, client_id, kind, purpose="care", before=None, limit=20)).items
             for kind in ("episode", "contact", "assessment", "intervention")}
    return render(request, "followup.html", http_status=status, client_id=client_id, lists=lists,
                  today=runtime.today().isoformat(), errors=errors or {}, values=values or {})


@page()
async def followup_page(request: web.Request) -> web.Response:
    return await _view(request, _uuid(request, "client_id"))


@page()
async def record(request: web.Request) -> web.Response:
    client_id, kind = _uuid(request, "client_id"), request.match_info["kind"]
    if kind not in _FORMS:
        raise NotFound()
    posted = await form(request)
    model, command = _FORMS[kind]
    values: dict[str, Any] = {k: v.strip() for k, v in posted.items() if k != "csrf" and v.strip()}
    if "score" in values:
        values["score"] = int(values["score"]) if values["score"].isdigit() else values["score"]
    try:
        body = validated(model, values)
        await followup.create(rt(request), caller(request), client_id, command(body))
    except ValidationFailed as exc:
        errors = {f"{kind}.{e['field']}": e["message"] for e in exc.extra.get("errors") or []}
        errors[kind] = "Kunde inte sparas. Se fälten nedan."
        return await _view(request, client_id, errors=errors, values={f"{kind}.{k}": str(v) for k, v in values.items()},
                           status=422)
    return redirect(request, f"/ui/clients/{client_id}/followup")


@page()
async def close_episode(request: web.Request) -> web.Response:
    episode_id = _uuid(request, "episode_id")
    posted = await form(request)
    client_id = _uuid(request, "client_id")
    try:
        body = validated(EpisodeCloseIn, {"closed_on": posted.get("closed_on", ""), "reason": posted.get("reason", "")})
        await followup.close(rt(request), caller(request), episode_id, closed_on=body.closed_on, reason=body.reason)
    except ValidationFailed as exc:
        errors = {"close": "; ".join(str(e["message"]) for e in exc.extra.get("errors") or [])}
        return await _view(request, client_id, errors=errors, status=422)
    return redirect(request, f"/ui/clients/{client_id}/followup")


@page()
async def void_record(request: web.Request) -> web.Response:
    """Void a record of the caller's unit with a reason (the API's /v1/{kind}s/{id}/void): it counts nowhere after,
    and stays on the page marked. A missing reason is refused beside the list, nothing changed."""
    client_id, record_id, kind = _uuid(request, "client_id"), _uuid(request, "record_id"), request.match_info["kind"]
    if kind not in _FORMS:
        raise NotFound()
    posted = await form(request)
    try:
        body = validated(VoidIn, {"reason": posted.get("reason", "").strip()})
    except ValidationFailed as exc:
        errors = {"void": "; ".join(str(e["message"]) for e in exc.extra.get("errors") or [])}
        return await _view(request, client_id, errors=errors, status=422)
    await followup.void(rt(request), caller(request), record_id, body.reason, kind=kind)
    return redirect(request, f"/ui/clients/{client_id}/followup")


# --- the indicator page
_WIDTH, _BAR = 520, 18


def _bars(title: str, rows: list[tuple[str, int | None]], partly: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A horizontal bar chart, as data the template draws in SVG: a suppressed value is a grey stub, marked; a bar
    in `partly` sums only the published cells of its row (some were suppressed), and is marked so."""
    top = max([v for _, v in rows if v is not None] or [1]) or 1
    bars = [{"label": label, "value": value, "y": 24 + i * (_BAR + 8), "partly": label in partly,
             "width": 4 if value is None else max(1, round((_WIDTH - 200) * value / top))}
            for i, (label, value) in enumerate(rows)]
    return {"title": title, "bars": bars, "height": 32 + len(rows) * (_BAR + 8), "width": _WIDTH}


def _per_month(months: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Visits per month of the period (a quarter's or a year's ended months): a month whose visits of every kind are
    suppressed is a marked stub; one with some kinds suppressed shows the sum of the published ones, marked as part
    (a sum of published cells reveals nothing they do not)."""
    if len(months) < 2:
        return None
    rows = [(m["period"], None if m["value"] is None else m["value"]) for m in months]
    return _bars("Besök per månad", rows, frozenset(m["period"] for m in months if m["partly"]))


def _charts(table: dict[str, Any]) -> list[dict[str, Any]]:
    cells = {(c["measure"], c["sex"], c["age_band"]): c["value"] for c in table["cells"]}
    charts = []
    if "sex" in table["group_by"] and "age_band" in table["group_by"]:
        charts.append(_bars("Personer efter kön och ålder", [
            (f"{'Kvinnor' if sex == 'female' else 'Män'} {band}", cells[("persons", sex, band)])
            for sex in SEXES for band in AGE_BANDS]))
    for instrument, bands in (("audit", AUDIT_BANDS), ("dudit", DUDIT_BANDS)):
        charts.append(_bars(f"{instrument.upper()}: första och senaste skattning", [
            (f"{'Första' if which == 'first' else 'Senaste'} {band}", cells[(f"{instrument}_{which}_{band}", "all", "all")])
            for band in bands for which in ("first", "latest")]))
    per_month = _per_month(table.get("months", []))
    if per_month is not None:
        charts.append(per_month)
    charts.append(_bars("Besök efter slag", [
        (kind, cells[(f"contacts_{kind}", "all", "all")]) for kind in ("individual", "group", "joint", "phone",
                                                                        "home_visit")]))
    return charts


@page()
async def indicator_page(request: web.Request) -> web.Response:
    query = request.query
    values = {name: query.get(name, "") for name in ("period", "unit", "organisation", "domain")}
    grouping = tuple(g for g in GROUPINGS if g in query.getall("group_by", ["sex", "age_band"]))
    if not values["period"]:
        return render(request, "indicators.html", values=values, table=None, charts=[], errors={})
    period = parse_period(values["period"], today=rt(request).today())
    errors: dict[str, str] = {}
    if isinstance(period, str):
        errors["period"] = period
    organisations = tuple(o.strip() for o in values["organisation"].split(",") if o.strip())
    if bool(values["unit"]) == bool(organisations):
        errors["unit"] = "Välj en enhet eller en eller två organisationer."
    if errors:
        return render(request, "indicators.html", http_status=422, values=values, table=None, charts=[], errors=errors)
    assert isinstance(period, Period)
    ask = indicators.Ask(period, values["unit"] or None, organisations, values["domain"] or None, grouping)
    try:
        table = await indicators.report(rt(request), caller(request), ask, months=True)
    except IndicatorsBeingMade as exc:  # the making goes on: the same page later shows the table
        response = render(request, "indicators.html", http_status=exc.status, values=values, table=None, charts=[],
                          errors={}, making=True)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return render(request, "indicators.html", values=values, table=table, charts=_charts(table), errors={})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/ui/clients/{client_id}/followup", followup_page),
        web.post("/ui/clients/{client_id}/followup/{kind}", record),
        web.post("/ui/clients/{client_id}/episodes/{episode_id}/close", close_episode),
        web.post("/ui/clients/{client_id}/followup/{kind}/{record_id}/void", void_record),
        web.get("/ui/indicators", indicator_page),
    ]
