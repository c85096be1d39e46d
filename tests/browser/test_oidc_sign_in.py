"""Signing in through a real OpenID provider's login page in a real browser (headless Chromium), and out again.

The provider is npm oidc-provider (tests/oidc_provider.py) with its own login page; Brygga sends the browser
there from its sign-in page, and the provider sends it back with a code (PKCE, state, nonce checked by
Brygga). Signing out ends the session on the server (the cookie saved before it opens nothing) and at the
provider (the next person at the workstation meets the login page, not a silent sign-in).
Screenshots land in test-artifacts/screenshots/oidc-*.png.
"""
from __future__ import annotations

import pytest

from tests.browser.test_clinic_day import CHROMIUM, SHOTS, chromium  # noqa: F401  (fixture)
from tests.integration.test_oidc import oidc  # noqa: F401  (fixture)
from tests.oidc_provider import SKIP_REASON

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (python3 dev.py test installs it as root)"),
    pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or ""),
]


async def test_a_member_of_staff_signs_in_at_the_provider_and_out_again(chromium, oidc):
    context = await chromium.new_context(locale="sv-SE")
    page = await context.new_page()
    base = oidc.url("/").rstrip("/")
    await page.goto(base + "/ui/clients")
    assert page.url == base + "/ui/sign-in"
    assert await page.locator("textarea[name=token]").count() == 0  # no pasted tokens beside an issuer
    await page.get_by_role("link", name="Logga in med organisationens identitetstjänst").click()

    await page.wait_for_url(oidc.provider.issuer + "/**")  # the provider's own login page
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / "oidc-provider-login.png"))
    await page.locator("input[name=login]").fill("anna")
    await page.locator("input[name=password]").fill("anything")
    await page.locator("button[type=submit]").click()

    await page.wait_for_url(base + "/ui/clients")  # back, through the callback and its same-site refresh
    assert "Anna Andersson" in await page.content()
    await page.screenshot(path=str(SHOTS / "oidc-signed-in.png"))
    saved = await context.cookies()

    await page.get_by_role("button", name="Logga ut").click()
    await page.wait_for_url(oidc.provider.issuer + "/**")  # the provider asks to end its own session too
    await page.get_by_role("button", name="Yes, sign me out").click()
    await page.wait_for_url(base + "/ui/sign-in")
    await page.get_by_role("link", name="Logga in med organisationens identitetstjänst").click()
    await page.wait_for_url(oidc.provider.issuer + "/**")  # the next person meets the login page, not Anna's session
    assert await page.locator("input[name=login]").is_visible()
    thief = await chromium.new_context()
    await thief.add_cookies([cookie for cookie in saved if cookie["name"] == "brygga_session"])
    stolen = await thief.new_page()
    await stolen.goto(base + "/ui/clients")
    assert stolen.url == base + "/ui/sign-in?expired=1"
    await thief.close()
    await context.close()
