"""The console's "not understood" inbox over HTTP: who sees it, the waiting count, one-click annotation with the
session cookie and CSRF token (htmx: the row goes and the count updates out of band; a plain form: 303)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from core.clock import FrozenClock
from core.config import Settings
from core.models.enums import Role
from tests.support.nlu_review import a_day_of_transcripts
from tests.support.staff import ROLE_USERS, api_client, audit_rows, console_login, make_role_users

START = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def waiting(page: str) -> int:
    found = re.search(r'<span id="nlu-waiting"[^>]*>(\d+)</span>', page)
    assert found, page
    return int(found.group(1))


async def test_a_supervisor_annotates_in_one_click_and_the_count_follows(
    sessionmaker, clock: FrozenClock, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    users = await make_role_users(sessionmaker, clock)
    t = await a_day_of_transcripts(sessionmaker, START)
    await t.conversation("web-x")
    await t.say("markup", "<script>alert(1)</script> 电费", "nlu_fallback", 0.1)
    async with api_client(settings, clock) as http:
        console = await console_login(http, ROLE_USERS[Role.SUPERVISOR])
        home = await http.get("/console")
        assert 'href="/console/nlu"' in home.text and "未理解的消息" in home.text
        page = await http.get("/console/nlu")
        assert page.status_code == 200 and waiting(page.text) == 5
        assert "&lt;script&gt;alert(1)&lt;/script&gt; 电费" in page.text and "<script>alert" not in page.text
        assert "电表箱冒火花了咋整" in page.text and "未理解" in page.text and "之后转了人工" in page.text
        assert "置信度 0.42" in page.text and "我家这个月电费多少" not in page.text
        assert '<option value="out_of_scope"' in page.text and 'value="nlu_fallback"' not in page.text
        url = f"/console/nlu/messages/{t.ids['fallback']}/annotate"

        refused = await http.post(url, data={"intent": "report_fault"}, headers={"HX-Request": "true"})
        assert refused.status_code == 403  # no CSRF token
        clicked = await http.post(
            url, data={"intent": "report_fault"}, headers={"HX-Request": "true", "X-CSRF-Token": console.csrf}
        )
        assert clicked.status_code == 200 and "<html" not in clicked.text
        assert 'id="nlu-waiting" hx-swap-oob="true">4<' in clicked.text and "已标注为 report_fault" in clicked.text
        bad = await http.post(
            f"/console/nlu/messages/{t.ids['low']}/annotate",
            data={"intent": "no_such_intent"},
            headers={"HX-Request": "true", "X-CSRF-Token": console.csrf},
        )
        assert bad.status_code == 200 and bad.headers["HX-Reswap"] == "none" and "请从列出的意图中选择" in bad.text
        plain = await http.post(
            f"/console/nlu/messages/{t.ids['low']}/annotate",
            data={"intent": "out_of_scope", "csrf_token": console.csrf},
        )
        assert plain.status_code == 303 and plain.headers["location"] == "/console/nlu"
        after = await http.get("/console/nlu?lang=en")
        assert waiting(after.text) == 3 and "Not understood" in after.text
        assert (
            f'id="nlu-msg-{t.ids["fallback"]}"' not in after.text and f'id="nlu-msg-{t.ids["low"]}"' not in after.text
        )
    audit = await audit_rows(sessionmaker, action="nlu.annotate")
    supervisor = users[Role.SUPERVISOR].id
    assert [(r.staff_id, r.target_id, r.detail["intent"]) for r in audit] == [
        (supervisor, str(t.ids["fallback"]), "report_fault"),
        (supervisor, str(t.ids["low"]), "out_of_scope"),
    ]


async def test_agents_and_account_managers_neither_see_nor_use_it(
    sessionmaker, clock: FrozenClock, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    await make_role_users(sessionmaker, clock)
    t = await a_day_of_transcripts(sessionmaker, START)
    for role in (Role.AGENT, Role.ACCOUNT_MANAGER):
        async with api_client(settings, clock) as http:
            console = await console_login(http, ROLE_USERS[role])
            assert 'href="/console/nlu"' not in (await http.get("/console")).text
            assert (await http.get("/console/nlu")).status_code == 403
            post = await http.post(
                f"/console/nlu/messages/{t.ids['fallback']}/annotate",
                data={"intent": "greet", "csrf_token": console.csrf},
            )
            assert post.status_code == 403, role
    assert await audit_rows(sessionmaker, action="nlu.annotate") == []
    async with api_client(settings, clock) as http:  # an admin may
        await console_login(http, ROLE_USERS[Role.ADMIN])
        assert waiting((await http.get("/console/nlu")).text) == 4
