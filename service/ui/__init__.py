"""The web interface for staff and auditors: server-rendered (Jinja2), Swedish first, no build step.

Pages call the same domain functions as the API (service/domain/), so they obey the
same decisions and write the same audit events. Mounted under /ui.
"""
from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from . import auditor, followup, labels, me, oidc, records, retention, signin, sip, staff
from .pages import page, redirect

HERE = Path(__file__).resolve().parent


@page(signed_in=False)
async def _root(request: web.Request) -> web.Response:
    """/ui without its slash: to the start page (a redirect with its Location, like every other)."""
    return redirect(request, "/ui/")


def setup(app: web.Application) -> None:
    """Templates (autoescaped), static files and the routes of every page."""
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                               undefined=jinja2.StrictUndefined)
    labels.install(env)  # codes in words, dates as ÅÅÅÅ-MM-DD (issue #20)
    app.router.add_static("/ui/static", HERE / "static", append_version=True, name="ui_static")
    app.router.add_routes([
        web.get("/ui", _root), web.get("/ui/", signin.home), web.get("/ui/sign-in", signin.sign_in_form),
        web.post("/ui/sign-in", signin.sign_in), web.post("/ui/sign-out", signin.sign_out),
        web.post("/ui/language", signin.language),
        *staff.routes(), *sip.routes(), *auditor.routes(), *me.routes(), *followup.routes(), *oidc.routes(),
        *records.routes(), *retention.routes(),
    ])
