"""What every page shares: the caller from the session, CSRF, rendering, errors as pages."""
from __future__ import annotations

import functools
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import aiohttp_jinja2
from aiohttp import web
from pydantic import BaseModel, ValidationError

from policies.model import Role

from ..audit import Caller
from ..errors import BryggaError, CsrfRefused, Forbidden, Unauthorized, UnknownUnit
from ..http.context import caller_of, runtime
from ..http.routing import body_error
from ..runtime import Runtime
from . import labels
from . import session as sessions
from .i18n import translate

M = TypeVar("M", bound=BaseModel)

log = logging.getLogger("brygga.ui")
SIGN_IN = "/ui/sign-in"
# No inline script or style anywhere: the policy forbids both, so injected markup stays inert.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
R = TypeVar("R", bound=web.StreamResponse)
CALLER = web.RequestKey("ui_caller", Caller)


def render(request: web.Request, template: str, http_status: int = 200, **context: Any) -> web.Response:
    """A page in the session's language; sends the session cookie when it is new."""
    session = sessions.load(request)
    lang = session.lang
    for name in ("errors", "values", "query"):  # forms look fields up by name: an absent one is empty
        if name in context:
            context[name] = defaultdict(str, context[name])
    context.update(t=lambda text: translate(text, lang), lang=lang, session=session, csrf=session.csrf,
                   caller=request.get(CALLER), path=request.path)
    context.setdefault("unit_index", labels.loaded_units(request))  # names for labels.unit_words (issue #20)
    response = aiohttp_jinja2.render_template(template, request, context, status=http_status)
    finish(request, response)
    return response


def finish(request: web.Request, response: R) -> R:
    session = sessions.load(request)
    if session.fresh:
        sessions.store(request, response, session)
    response.headers.update(SECURITY_HEADERS)
    return response


def redirect(request: web.Request, location: str) -> web.Response:
    """303 See Other after a form (the browser then GETs `location`)."""
    return finish(request, web.Response(status=303, headers={"Location": location}))


def validated(model: type[M], values: Mapping[str, object]) -> M:
    """A form's values checked by the API's own request model: the web interface refuses what the API refuses
    (422 with the fields' messages), never shortens or bends it to fit."""
    try:
        return model.model_validate_json(json.dumps(dict(values)), strict=True)
    except ValidationError as exc:
        raise body_error(exc) from None


async def form(request: web.Request) -> dict[str, str]:
    """The posted form, once its CSRF token matched the session's; raises CsrfRefused."""
    data = await request.post()
    token = data.get("csrf")
    if not sessions.csrf_ok(sessions.load(request), token if isinstance(token, str) else None):
        raise CsrfRefused("the form's CSRF token does not match this session")
    return {key: value for key, value in data.items() if isinstance(value, str)}


def page(*, signed_in: bool = True) -> Callable[[Handler], Handler]:
    """Wrap a page handler: the session resolved, the caller from it (else to sign-in), domain errors as pages."""
    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            session = await sessions.resolve(request)  # the one database look-up for the session
            try:
                if signed_in:
                    if not session.signed_in():  # never signed in, or signed out, expired, idle: the cookie is replaced
                        return redirect(request, f"{SIGN_IN}?expired=1" if session.lapsed else SIGN_IN)
                    assert session.token is not None  # signed_in()
                    request[CALLER] = await caller_of(request, session.token, id_token=session.id_token)
                    # A client's session has their own pages only: the staff pages' forms would only be refused
                    # (insider attack 8, finding 4).
                    if Role.CLIENT in request[CALLER].principal.roles and not request.path.startswith("/ui/me"):
                        return redirect(request, "/ui/me/")
                    if Role.CLIENT not in request[CALLER].principal.roles:
                        await labels.load_units(request)  # units by name on every page (issue #20)
                return await handler(request)
            except (Unauthorized, UnknownUnit):  # the token expired or its unit was deactivated: the session is over
                response = redirect(request, f"{SIGN_IN}?expired=1")
                await sessions.end(request, response)
                return response
            except CsrfRefused:
                return render(request, "error.html", http_status=403, message="Formuläret hade gått ut. Försök igen.")
            except Forbidden as exc:
                message = "Din roll tillåter inte detta." if exc.code == "forbidden_role" else str(exc)
                return render(request, "error.html", http_status=403, message=message)
            except BryggaError as exc:
                if exc.status >= 500:
                    raise
                message = "Sidan finns inte, eller så får du inte se den." if exc.status in (404, 410) else str(exc)
                return render(request, "error.html", http_status=exc.status, message=message)
        return run
    return wrap


def caller(request: web.Request) -> Caller:
    return request[CALLER]


def rt(request: web.Request) -> Runtime:
    return runtime(request)
