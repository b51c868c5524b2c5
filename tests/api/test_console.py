"""The staff console over HTTP: sign-in (cookie, redirects, throttling), CSRF, sign-out, session expiry, the
language switch, the pages (home, audit log, outages) and the shell's assets (htmx served by the app)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from api.console.i18n import Translations
from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.models import NoticeDelivery
from core.models.enums import Role
from tests.support.notices import draft, load_demo_world, notice_settings
from tests.support.services import confirmations, core_services
from tests.support.staff import (
    PASSWORD,
    ROLE_USERS,
    api_client,
    audit_rows,
    bearer,
    console_login,
    make_role_users,
    make_staff,
    staff_service,
)

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_TEMPLATES = ROOT / "templates" / "console"
CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


@pytest.fixture
async def http(sessionmaker, clock: FrozenClock, settings: Settings):  # type: ignore[no-untyped-def]
    await make_role_users(sessionmaker, clock)
    async with api_client(settings, clock) as client:
        yield client


ADMIN, AGENT = ROLE_USERS[Role.ADMIN], ROLE_USERS[Role.AGENT]


# ------------------------------------------------------------------------------------------ sign in


async def test_the_sign_in_page_has_labelled_fields_in_chinese_by_default(http: httpx.AsyncClient) -> None:
    page = await http.get("/console/login")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in page.text and "员工登录" in page.text
    for field in ("username", "password"):
        assert f'<label for="{field}">' in page.text and f'id="{field}" name="{field}"' in page.text
    assert (
        page.headers["x-frame-options"] == "DENY"
        and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    )


async def test_sign_in_sets_an_httponly_lax_cookie_and_goes_on(http: httpx.AsyncClient, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    response = await http.post("/console/login", data={"username": ADMIN, "password": PASSWORD})
    assert response.status_code == 303 and response.headers["location"] == "/console"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("gridtalk_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie and "Secure" not in cookie
    assert "Max-Age=28800" in cookie
    home = await http.get("/console")
    assert home.status_code == 200 and ADMIN in home.text
    [row] = await audit_rows(sessionmaker, action="auth.login")
    assert row.client == "127.0.0.1" and row.detail == {"via": "console"}


async def test_the_cookie_is_secure_when_the_public_url_is_https(
    sessionmaker, clock: FrozenClock, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    await make_staff(sessionmaker, clock, "agent.wu")
    settings = Settings(database_url=database_url, env="test", public_url="https://grid.example.com")
    async with api_client(settings, clock) as http:
        response = await http.post("/console/login", data={"username": "agent.wu", "password": PASSWORD})
        assert response.status_code == 303 and "Secure" in response.headers["set-cookie"]


@pytest.mark.parametrize(
    ("next_path", "goes_to"),
    [
        ("/console/audit", "/console/audit"),
        ("/console/outages?status=draft", "/console/outages?status=draft"),
        ("//evil.example.com/x", "/console"),
        ("https://evil.example.com/", "/console"),
        ("/\\evil.example.com", "/console"),
        ("/console/login", "/console"),
        ("", "/console"),
    ],
)
async def test_sign_in_goes_to_next_on_this_site_only(http: httpx.AsyncClient, next_path: str, goes_to: str) -> None:
    response = await http.post("/console/login", data={"username": ADMIN, "password": PASSWORD, "next": next_path})
    assert response.status_code == 303 and response.headers["location"] == goes_to


async def test_a_wrong_password_answers_the_form_again_and_is_audited(http: httpx.AsyncClient, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    response = await http.post("/console/login", data={"username": ADMIN, "password": "nope"})
    assert response.status_code == 401 and "用户名或密码不正确" in response.text
    assert "gridtalk_session" not in response.headers.get("set-cookie", "")
    assert f'value="{ADMIN}"' in response.text  # the username stays filled in, the password does not
    [row] = await audit_rows(sessionmaker, action="auth.login_failed")
    assert (row.target_id, row.client, row.detail) == (ADMIN, "127.0.0.1", {"reason": "password", "via": "console"})


async def test_a_sign_in_posted_from_another_site_is_refused(http: httpx.AsyncClient) -> None:
    data = {"username": ADMIN, "password": PASSWORD}
    refused = await http.post("/console/login", data=data, headers={"Origin": "https://evil.example.com"})
    assert refused.status_code == 403 and "gridtalk_session" not in refused.headers.get("set-cookie", "")
    ours = await http.post("/console/login", data=data, headers={"Origin": "http://test"})
    assert ours.status_code == 303


async def test_sign_in_is_throttled_per_username_and_per_address(
    sessionmaker, clock: FrozenClock, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    await make_staff(sessionmaker, clock, "agent.wu")
    await make_staff(sessionmaker, clock, "agent.li")
    settings = Settings(
        database_url=database_url,
        env="test",
        staff_login_max_failures=2,
        staff_login_max_failures_per_client=4,
        staff_login_window_minutes=10,
    )
    async with api_client(settings, clock) as http:
        for _ in range(2):
            wrong = await http.post("/api/v1/auth/token", data={"username": "agent.wu", "password": "guess"})
            assert wrong.status_code == 401
        token = await http.post("/api/v1/auth/token", data={"username": "agent.wu", "password": PASSWORD})
        assert token.status_code == 429 and token.headers["retry-after"] == "600"
        page = await http.post("/console/login", data={"username": "agent.wu", "password": PASSWORD})
        assert page.status_code == 429 and "10 分钟" in page.text and page.headers["retry-after"] == "600"
        assert (
            await http.post("/console/login", data={"username": "agent.li", "password": PASSWORD})
        ).status_code == 303
        for name in ("x.one", "x.two"):  # the address's fourth failure
            assert (await http.post("/console/login", data={"username": name, "password": "g"})).status_code == 401
        refused = await http.post("/api/v1/auth/token", data={"username": "agent.li", "password": PASSWORD})
        assert refused.status_code == 429
        clock.advance(timedelta(minutes=10))
        assert (
            await http.post("/api/v1/auth/token", data={"username": "agent.wu", "password": PASSWORD})
        ).status_code == 200
    failed = await audit_rows(sessionmaker, action="auth.login_failed")
    assert [r.target_id for r in failed] == ["agent.wu", "agent.wu", "x.one", "x.two"]
    assert {r.client for r in failed} == {"127.0.0.1"}
    assert len(await audit_rows(sessionmaker, action="auth.login_throttled")) == 3


# ------------------------------------------------------------------------------- pages and guards


async def test_a_page_without_a_session_redirects_to_sign_in_and_back(http: httpx.AsyncClient) -> None:
    page = await http.get("/console/audit?action=auth.login")
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login?next=/console/audit%3Faction%3Dauth.login"
    login = await http.get(page.headers["location"])
    assert 'name="next" value="/console/audit?action=auth.login"' in login.text
    htmx = await http.get("/console/audit", headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"] == "/console/login?next=/console/audit"


async def test_a_role_without_the_permission_gets_the_403_page(http: httpx.AsyncClient) -> None:
    await console_login(http, AGENT)
    page = await http.get("/console/audit")
    assert page.status_code == 403 and "无权访问" in page.text
    assert 'href="/console/outages"' in page.text and 'href="/console/audit"' not in page.text  # the agent's nav
    home = await http.get("/console")
    assert 'href="/console/outages"' in home.text and "/console/audit" not in home.text


async def test_the_signed_in_sign_in_page_goes_straight_on(http: httpx.AsyncClient) -> None:
    await console_login(http, ADMIN)
    page = await http.get("/console/login?next=/console/audit")
    assert page.status_code == 303 and page.headers["location"] == "/console/audit"


async def test_a_cookie_post_without_the_csrf_token_is_refused(http: httpx.AsyncClient, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    console = await console_login(http, ADMIN)
    assert (await http.post("/console/logout")).status_code == 403
    assert (await http.post("/console/logout", data={"csrf_token": "forged"})).status_code == 403
    # the JSON API with the cookie: the header is needed too (a bearer token needs none)
    body = {"role": "agent"}
    assert (await http.patch("/api/v1/staff/999999", json=body)).status_code == 403
    with_header = await http.patch("/api/v1/staff/999999", json=body, headers={"X-CSRF-Token": console.csrf})
    assert with_header.status_code == 404
    assert (await http.get("/api/v1/auth/me")).json()["username"] == ADMIN  # reading needs no token
    assert (await http.get("/console")).status_code == 200  # still signed in
    assert await audit_rows(sessionmaker, action="auth.logout") == []


async def test_sign_out_revokes_the_session(http: httpx.AsyncClient, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    console = await console_login(http, ADMIN)
    cookie = http.cookies.get("gridtalk_session")
    out = await http.post("/console/logout", data={"csrf_token": console.csrf})
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    assert 'gridtalk_session=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    http.cookies.set("gridtalk_session", cookie or "")  # a copy of the cookie kept elsewhere is dead too
    assert (await http.get("/console")).status_code == 303
    assert (await http.get("/api/v1/auth/me")).status_code == 401
    assert len(await audit_rows(sessionmaker, action="auth.logout")) == 1


async def test_the_console_session_expires(http: httpx.AsyncClient, clock: FrozenClock, settings: Settings) -> None:
    await console_login(http, ADMIN)
    clock.advance(timedelta(minutes=settings.staff_session_minutes) - timedelta(seconds=1))
    assert (await http.get("/console")).status_code == 200
    clock.advance(timedelta(seconds=1))
    expired = await http.get("/console")
    assert expired.status_code == 303 and expired.headers["location"].startswith("/console/login")


async def test_a_disabled_users_session_and_token_are_refused_at_once(
    http: httpx.AsyncClient, sessionmaker, clock: FrozenClock
) -> None:  # type: ignore[no-untyped-def]
    token = await bearer(http, AGENT)
    await console_login(http, AGENT)
    admin_token = await bearer(http, ADMIN)
    agent_id = (await http.get("/api/v1/auth/me", headers=token)).json()["id"]
    disabled = await http.post(f"/api/v1/staff/{agent_id}/disable", headers=admin_token)
    assert disabled.status_code == 200 and disabled.json()["is_active"] is False
    assert (await http.get("/console")).status_code == 303
    assert (await http.get("/api/v1/auth/me", headers=token)).status_code == 401


async def test_the_language_is_switched_with_lang_and_remembered(http: httpx.AsyncClient) -> None:
    await console_login(http, ADMIN)
    english = await http.get("/console?lang=en")
    assert '<html lang="en">' in english.text and "Audit log" in english.text
    assert "gridtalk_lang=en" in english.headers["set-cookie"]
    again = await http.get("/console/audit")
    assert '<html lang="en">' in again.text and "Audit log" in again.text
    assert 'href="/console/audit?lang=zh"' in again.text  # the switch back
    chinese = await http.get("/console/audit?lang=zh")
    assert "审计日志" in chinese.text


async def test_the_shell_serves_htmx_and_hands_it_the_csrf_token(http: httpx.AsyncClient) -> None:
    console = await console_login(http, ADMIN)
    home = await http.get("/console")
    assert '<script src="/static/htmx.min.js" defer></script>' in home.text
    assert f'hx-headers=\'{{"X-CSRF-Token": "{console.csrf}"}}\'' in home.text
    assert 'name="viewport"' in home.text
    htmx = await http.get("/static/htmx.min.js")
    assert htmx.status_code == 200 and 'version:"2.0.' in htmx.text
    assert (await http.get("/static/console.css")).status_code == 200


async def test_the_audit_page_filters_and_pages(http: httpx.AsyncClient, sessionmaker, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    await console_login(http, ADMIN)
    for i in range(55):
        async with session_scope(sessionmaker) as session:
            await staff_service(clock).create(session, username=f"temp.{i:02d}", password=PASSWORD, role="agent")
    page = await http.get("/console/audit?action=staff.create")
    assert page.status_code == 200
    assert page.text.count("<tr class=") == 50 and 'rel="next"' in page.text
    assert "第 1–50 条，共 59 条" in page.text  # the four role users and the 55 more
    second = await http.get("/console/audit?action=staff.create&page=2")
    assert second.text.count("<tr class=") == 9 and 'rel="prev"' in second.text
    by_actor = await http.get(f"/console/audit?actor={ADMIN}")
    assert by_actor.text.count("<tr class=") == 1 and "登录控制台" in by_actor.text
    for label in ('<label for="audit-action">', '<label for="audit-actor">'):
        assert label in page.text


async def test_the_outages_page_shows_counts_and_unconfirmed_key_accounts_in_red(
    sessionmaker, clock: FrozenClock, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    await load_demo_world(sessionmaker, clock.now())
    settings = notice_settings(database_url)
    services = core_services(clock, settings)
    async with session_scope(sessionmaker) as session:
        outage = await services.outages.create(
            session, draft(clock.now() + timedelta(minutes=25), areas=("XH", "SC")), actor_id=None
        )
        await services.outages.publish(session, outage.id, actor_id=None)
    async with session_scope(sessionmaker) as session:  # the final confirmations went out; nobody answered
        await session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.outage_id == outage.id, NoticeDelivery.stage == "30m")
            .values(status="sent", sent_at=clock.now())
        )
    clock.advance(timedelta(minutes=10))
    async with session_scope(sessionmaker) as session:
        await confirmations(clock, settings).chase_unconfirmed(session)
    async with sessionmaker() as session:
        total_final = len(list(await session.scalars(select(NoticeDelivery.id).where(NoticeDelivery.stage == "30m"))))
        stale = await session.scalar(  # a customer's notice (not the manager's alert the chase just queued)
            select(NoticeDelivery.id)
            .where(NoticeDelivery.outage_id == outage.id, NoticeDelivery.stage == "initial")
            .order_by(NoticeDelivery.id)
            .limit(1)
        )
    assert stale is not None
    async with session_scope(sessionmaker) as session:  # one notice came too late to send: skipped, not failed
        await session.execute(
            update(NoticeDelivery).where(NoticeDelivery.id == stale).values(status="skipped", last_error="too late")
        )

    async with api_client(settings, clock) as http:
        await console_login(http, "admin", "gridtalk-demo")
        page = await http.get("/console/outages")
        assert page.status_code == 200
        assert f"#{outage.id}" in page.text and "SC, XH" in page.text
        assert "3 个重点客户未确认最终通知" in page.text and 'class="unconfirmed"' in page.text
        for name in ("城西自来水厂", "市第一人民医院", "市政务服务中心"):
            assert name in page.text
        assert "已提醒客户经理" in page.text
        assert f"{total_final} / {total_final}" in page.text  # the final stage: all sent
        assert "已跳过（已过时）" in page.text
        assert '<td data-label="已跳过（已过时）">1</td>' in page.text
        assert '<td data-label="失败" class="bad">' not in page.text  # a skipped notice is not a failure

    async with api_client(settings, clock) as http:  # an agent: how many, not who
        await console_login(http, "agent.li", "gridtalk-demo")
        page = await http.get("/console/outages?lang=en")
        assert "3 key account(s) did not confirm" in page.text and "城西自来水厂" not in page.text

    async with api_client(settings, clock) as http:  # an account manager: the names of their own
        await console_login(http, "manager.zhao", "gridtalk-demo")
        page = await http.get("/console/outages")
        assert "市政务服务中心" in page.text and "城西自来水厂" not in page.text


# ---------------------------------------------------------------------------------------- strings


def test_both_locale_files_have_the_same_keys() -> None:
    strings = Translations().strings
    assert set(strings["zh"]) == set(strings["en"])
    assert all(value.strip() for language in strings.values() for value in language.values())


def test_page_templates_are_language_neutral() -> None:
    for template in CONSOLE_TEMPLATES.glob("*.j2"):
        text = template.read_text(encoding="utf-8")
        assert not CJK.search(text), f"{template.name}: words belong in templates/console/locale/"


def test_every_key_a_template_names_exists() -> None:
    strings = Translations().strings["zh"]
    for template in CONSOLE_TEMPLATES.glob("*.j2"):
        for key in re.findall(r"""\bt\(\s*["']([a-z_0-9.]+)["']\s*[,)]""", template.read_text(encoding="utf-8")):
            assert key in strings, f"{template.name}: t({key!r}) is in no locale file"
