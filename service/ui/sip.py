"""SIP pages (API-1.1 "Joint plans (SIP)"; SoL 2:7, HSL 16:4): a plan, its form, its history with what changed
between two versions, a printable view, and the unit manager's overdue follow-ups.

Every page calls the domain functions the API calls (service/domain/sip.py): the same decisions and events. The
form is judged by the API's own model (SipPlanIn) and rules; a refusal is shown beside the form, in words.
"""
from __future__ import annotations

import json
from datetime import date
from typing import Any
from uuid import UUID

from aiohttp import web
from pydantic import ValidationError

from policies.model import Zone
from policies.roles import Permission, role_gate
from policies.sip import PlanFacts, may_close

from ..domain import sip, units
from ..errors import NotFound, PreconditionRequired, ValidationFailed, VersionConflict
from ..http.schemas import SipFollowUpIn, SipPlanIn
from .pages import caller, form, page, redirect, render, rt

EFFORT_ROWS = 6  # rows of the form's efforts table; an edit gets its plan's efforts and two empty rows more
# Why a plan is closed to a unit, in words (the consent test's reasons, policies/sip.py).
CLOSED_TEXT = {
    "consent_revoked": "klienten har återkallat samtycket",
    "consent_expired": "samtycket har löpt ut",
    "came_of_age": "vårdnadshavarens samtycke upphörde när klienten fyllde 18",
    "consent_unconfirmed": "samtycket väntar på bekräftelse",
    "consent_pending": "samtycket gäller inte ännu",
    "no_consent": "inget samtycke till SIP för samordning",
    "purpose_not_covered": "samtycket gäller inte samordning",
    "category_not_covered": "samtycket omfattar inte SIP",
    "unit_not_covered": "samtycket gäller en annan enhet",
}


def _uuid(request: web.Request, name: str) -> UUID:
    try:
        return UUID(request.match_info[name])
    except ValueError:
        raise NotFound() from None


async def _unit_names(request: web.Request) -> dict[str, dict[str, Any]]:
    """Every unit by id (names, organisation, domain): unit ids are public (GET /v1/units lists them to every role)."""
    listed = await units.page(rt(request), caller(request).principal, after="", limit=500)
    return {u["id"]: u for u in listed.items}


def _body(posted: Any) -> dict[str, Any]:
    """The API's plan body from the form's fields."""
    def text(name: str) -> str:
        value = posted.get(name)
        return value.strip() if isinstance(value, str) else ""

    externals = [line.strip() for line in text("externals").splitlines() if line.strip()]
    participants: list[dict[str, str]] = [{"unit": str(u)} for u in posted.getall("units", [])]
    participants += [{"external": name} for name in externals]
    efforts = []
    for i in range(int(text("effort_rows") or EFFORT_ROWS) if text("effort_rows").isdigit() else EFFORT_ROWS):
        what = text(f"effort_{i}_text")
        if not what:
            continue
        provider = text(f"effort_{i}_provider")
        effort: dict[str, Any] = {"text": what, "due": text(f"effort_{i}_due") or None}
        if provider.startswith("unit:"):
            effort["provided_by_unit"] = provider.removeprefix("unit:")
        elif provider.startswith("external:"):
            effort["provided_by_external"] = provider.removeprefix("external:")
        efforts.append(effort)
    return {"title": text("title"), "start_date": text("start_date"), "participants": participants,
            "responsible_unit": text("responsible_unit") or None, "efforts": efforts,
            "next_follow_up": text("next_follow_up"), "no_measures_by_others": text("no_measures_by_others") == "on"}


def _errors(exc: ValidationError | ValidationFailed) -> dict[str, str]:
    """A refusal's messages by field (efforts.2.provided_by_unit → effort_2), for the form."""
    items = ([{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
             if isinstance(exc, ValidationError) else list(exc.extra.get("errors") or []))
    errors: dict[str, str] = {}
    for item in items:
        parts = str(item.get("field", "")).split(".")
        key = f"effort_{parts[1]}" if parts[0] == "efforts" and len(parts) > 1 and parts[1].isdigit() else parts[0]
        errors.setdefault(key, str(item.get("message", "")))
        errors.setdefault("", "Planen kunde inte sparas. Se fälten nedan.")
    if getattr(exc, "code", "") == "consent_required":
        errors["participants"] = ("Deltagarna hör till olika zoner: klientens samtycke till SIP för samordning från "
                                  "din zon till var och en av deras behövs (SoL 2 kap. 7 §, HSL 16 kap. 4 §).")
    return errors


def _values(body: dict[str, Any]) -> dict[str, Any]:
    """The form's values from a plan body (a plan's content, or what was posted)."""
    values: dict[str, Any] = {
        "title": body.get("title", ""), "start_date": str(body.get("start_date") or ""),
        "units": [p["unit"] for p in body.get("participants", []) if "unit" in p],
        "externals": "\n".join(p["external"] for p in body.get("participants", []) if "external" in p),
        "responsible_unit": body.get("responsible_unit") or "", "next_follow_up": str(body.get("next_follow_up") or ""),
        "no_measures_by_others": bool(body.get("no_measures_by_others")),
        "efforts": [{"text": e.get("text", ""), "due": str(e.get("due") or ""),
                     "provider": f"unit:{e['provided_by_unit']}" if e.get("provided_by_unit")
                     else f"external:{e['provided_by_external']}" if e.get("provided_by_external") else ""}
                    for e in body.get("efforts", [])],
    }
    return values


async def _form_view(request: web.Request, *, client_id: UUID, plan: dict[str, Any] | None, values: dict[str, Any],
                     errors: dict[str, str], status: int = 200) -> web.Response:
    names = await _unit_names(request)
    rows = max(EFFORT_ROWS, len(values.get("efforts", [])) + 2)
    efforts = values.get("efforts", []) + [{"text": "", "due": "", "provider": ""}] * (rows - len(values.get("efforts", [])))
    externals = [line.strip() for line in str(values.get("externals", "")).splitlines() if line.strip()]
    return render(request, "sip_form.html", http_status=status, client_id=client_id, plan=plan, values=values,
                  errors=errors, units=[u for u in names.values() if u["active"]], externals=externals,
                  efforts=efforts, rows=rows)


@page()
async def new_plan(request: web.Request) -> web.Response:
    client_id = _uuid(request, "client_id")
    principal = caller(request).principal
    values = {"units": [principal.unit], "responsible_unit": principal.unit, "start_date": date.today().isoformat(),
              "efforts": []}
    return await _form_view(request, client_id=client_id, plan=None, values=values, errors={})


@page()
async def create_plan(request: web.Request) -> web.Response:
    client_id = _uuid(request, "client_id")
    await form(request)
    body = _body(await request.post())
    try:
        plan = await sip.create(rt(request), caller(request), client_id,
                                SipPlanIn.model_validate_json(json.dumps(body)).content())
    except (ValidationError, ValidationFailed) as exc:
        return await _form_view(request, client_id=client_id, plan=None, values=_values(body), errors=_errors(exc),
                                status=422)
    return redirect(request, f"/ui/sip-plans/{plan['id']}")


@page()
async def edit_plan(request: web.Request) -> web.Response:
    plan = await sip.read(rt(request), caller(request), _uuid(request, "plan_id"))
    return await _form_view(request, client_id=plan["client_id"], plan=plan, values=_values(plan), errors={})


@page()
async def save_plan(request: web.Request) -> web.Response:
    """A new version over the one the form was opened on (its version, sent as If-Match): another unit's save in
    between is shown, not overwritten."""
    plan_id = _uuid(request, "plan_id")
    data = await form(request)
    body = _body(await request.post())
    runtime, who = rt(request), caller(request)
    try:
        content = SipPlanIn.model_validate_json(json.dumps(body)).content()
        await sip.update(runtime, who, plan_id, content, if_match=sip.parse_if_match(data.get("version")))
    except (ValidationError, ValidationFailed) as exc:
        plan = await sip.read(runtime, who, plan_id)
        return await _form_view(request, client_id=plan["client_id"], plan=plan, values=_values(body),
                                errors=_errors(exc), status=422)
    except (VersionConflict, PreconditionRequired):
        plan = await sip.read(runtime, who, plan_id)
        values = {**_values(body)}
        saved_by = (await _unit_names(request)).get(plan["saved_by_unit"], {}).get("name", plan["saved_by_unit"])
        errors = {"": f"En annan enhet ({saved_by}) sparade version {plan['version']} medan du "
                      "redigerade. Läs den nya versionen och gör om ändringen; din text finns kvar nedan."}
        return await _form_view(request, client_id=plan["client_id"], plan=plan, values=values, errors=errors,
                                status=412)
    return redirect(request, f"/ui/sip-plans/{plan_id}")


async def _plan_view(request: web.Request, template: str, *, errors: dict[str, str] | None = None,
                     status: int = 200) -> web.Response:
    plan = await sip.read(rt(request), caller(request), _uuid(request, "plan_id"))
    names = await _unit_names(request)
    return render(request, template, http_status=status, plan=plan, names=names, errors=errors or {}, values={},
                  closed_text=CLOSED_TEXT, today=date.today().isoformat(), may_close=_may_close(request, plan, names))


def _may_close(request: web.Request, plan: dict[str, Any], names: dict[str, dict[str, Any]]) -> bool:
    """The close form only for a unit the API would let close the plan (policies/sip.py may_close: the holding zone's
    units or the responsible unit), with a role that writes plans; others would only be refused (issue #20)."""
    principal = caller(request).principal
    holding = names.get(plan["holding_unit"])
    if holding is None or not role_gate(principal.roles, Permission.SIP_WRITE):
        return False
    facts = PlanFacts(id=str(plan["id"]), zone=Zone(holding["organisation"], holding["domain"]),
                      unit=plan["holding_unit"], participants={})
    return may_close(principal.zone, principal.unit, facts, plan["responsible_unit"])


@page()
async def plan_page(request: web.Request) -> web.Response:
    return await _plan_view(request, "sip_plan.html")


@page()
async def print_page(request: web.Request) -> web.Response:
    return await _plan_view(request, "sip_print.html")


@page()
async def record_follow_up(request: web.Request) -> web.Response:
    plan_id = _uuid(request, "plan_id")
    data = await form(request)
    try:
        body = SipFollowUpIn.model_validate_json(json.dumps({
            "held_on": data.get("held_on", ""), "summary": data.get("summary", ""),
            "next_follow_up": data.get("next_follow_up") or None}))
        await sip.follow_up(rt(request), caller(request), plan_id, body.command())
    except (ValidationError, ValidationFailed) as exc:
        return await _plan_view(request, "sip_plan.html", errors=_errors(exc), status=422)
    return redirect(request, f"/ui/sip-plans/{plan_id}#follow-ups")


@page()
async def close_plan(request: web.Request) -> web.Response:
    plan_id = _uuid(request, "plan_id")
    await form(request)
    await sip.close(rt(request), caller(request), plan_id)
    return redirect(request, f"/ui/sip-plans/{plan_id}")


def changes(old: dict[str, Any], new: dict[str, Any], names: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """What changed from one version's content to another's, as (what, before, after) in words."""
    def unit(u: str | None) -> str:
        return names[u]["name"] if u in names else (u or "")

    def who(p: dict[str, Any]) -> str:
        return unit(p["unit"]) if "unit" in p else p["external"]

    def effort(e: dict[str, Any]) -> str:
        provider = unit(e["provided_by_unit"]) if e.get("provided_by_unit") else e.get("provided_by_external") or ""
        return f"{e['text']} — {provider}" + (f", senast {e['due']}" if e.get("due") else "")

    found: list[tuple[str, str, str]] = []
    for key, label in (("title", "Titel"), ("start_date", "Startdatum"), ("next_follow_up", "Nästa uppföljning")):
        if old.get(key) != new.get(key):
            found.append((label, str(old.get(key) or ""), str(new.get(key) or "")))
    if old.get("responsible_unit") != new.get("responsible_unit"):
        found.append(("Övergripande ansvar", unit(old.get("responsible_unit")), unit(new.get("responsible_unit"))))
    before, after = [who(p) for p in old.get("participants", [])], [who(p) for p in new.get("participants", [])]
    for name in before:
        if name not in after:
            found.append(("Deltagare", name, ""))
    for name in after:
        if name not in before:
            found.append(("Deltagare", "", name))
    before, after = [effort(e) for e in old.get("efforts", [])], [effort(e) for e in new.get("efforts", [])]
    for text in before:
        if text not in after:
            found.append(("Insats", text, ""))
    for text in after:
        if text not in before:
            found.append(("Insats", "", text))
    if bool(old.get("no_measures_by_others")) != bool(new.get("no_measures_by_others")):
        found.append(("Inga åtgärder av andra", "ja" if old.get("no_measures_by_others") else "nej",
                      "ja" if new.get("no_measures_by_others") else "nej"))
    return found


@page()
async def history_page(request: web.Request) -> web.Response:
    """Every version, and what changed between two of them (by default the latest and the one before)."""
    plan_id = _uuid(request, "plan_id")
    runtime, who = rt(request), caller(request)
    versions: list[dict[str, Any]] = []
    after = 0
    while True:
        page_ = await sip.versions(runtime, who, plan_id, after=after, limit=500)
        versions += page_.items
        if not page_.more:
            break
        after = versions[-1]["version"]
    by_number = {v["version"]: v for v in versions}
    latest = versions[-1]["version"]

    def number(name: str, default: int) -> int:
        raw = request.query.get(name, "")
        return int(raw) if raw.isdigit() and int(raw) in by_number else default

    to = number("to", latest)
    frm = number("from", max(1, to - 1))
    names = await _unit_names(request)
    diff = changes(by_number[frm]["content"], by_number[to]["content"], names) if frm != to else []
    return render(request, "sip_history.html", plan_id=plan_id, versions=versions, frm=frm, to=to, diff=diff,
                  names=names, title=by_number[latest]["content"]["title"])


@page()
async def overdue_page(request: web.Request) -> web.Response:
    """The unit manager's reminders: plans the unit takes part in whose follow-up date has passed."""
    shown = await sip.overdue(rt(request), caller(request))
    return render(request, "sip_overdue.html", plans=shown, names=await _unit_names(request),
                  today=date.today())


def routes() -> list[web.RouteDef]:
    return [
        web.get("/ui/clients/{client_id}/sip-plans/new", new_plan),
        web.post("/ui/clients/{client_id}/sip-plans", create_plan),
        web.get("/ui/sip-plans/overdue", overdue_page),
        web.get("/ui/sip-plans/{plan_id}", plan_page),
        web.get("/ui/sip-plans/{plan_id}/edit", edit_plan),
        web.post("/ui/sip-plans/{plan_id}", save_plan),
        web.get("/ui/sip-plans/{plan_id}/print", print_page),
        web.get("/ui/sip-plans/{plan_id}/history", history_page),
        web.post("/ui/sip-plans/{plan_id}/follow-ups", record_follow_up),
        web.post("/ui/sip-plans/{plan_id}/close", close_plan),
    ]
