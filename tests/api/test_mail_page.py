"""The mail catcher (aiosmtpd on loopback, in process) keeps what it is sent in its folder, the last `keep` of
them, and the console's mail page shows them, newest first and escaped, to those who may read the audit log;
without the catcher the page says where email goes and the nav has no link to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from core.clock import FrozenClock
from core.config import Settings
from core.models.enums import Role
from core.notices.email import EmailChannel
from core.notices.mailcatcher import MailFolder, start_catcher
from nlu.project import free_port
from tests.support.staff import ROLE_USERS, api_client, console_login, make_role_users


@pytest.fixture
async def catcher(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[tuple[MailFolder, int]]:
    folder = MailFolder(tmp_path / "mail", keep=3)
    port = free_port()
    server = await start_catcher(folder, clock, port)
    try:
        yield folder, port
    finally:
        server.close()
        await server.wait_closed()


def sender(port: int) -> EmailChannel:
    return EmailChannel("127.0.0.1", port, sender="gridtalk@grid.test", security="none", timeout=5)


async def test_the_catcher_keeps_the_last_messages_newest_first(
    catcher: tuple[MailFolder, int], clock: FrozenClock
) -> None:
    folder, port = catcher
    for n in range(5):
        await sender(port).send_text(f"c{n}@home.test", f"code {n}", f"Your code is 00000{n}.")
        clock.advance(timedelta(seconds=1))
    caught = folder.latest()
    assert [m.to for m in caught] == ["c4@home.test", "c3@home.test", "c2@home.test"]  # 3 kept
    assert caught[0].subject == "code 4" and caught[0].text == "Your code is 000004."
    assert caught[0].sender == "gridtalk@grid.test" and caught[0].received_at > caught[1].received_at
    assert not list(folder.path.glob(".*"))  # no temporary file left behind


async def test_the_mail_page_shows_what_was_caught_escaped_to_those_allowed(
    sessionmaker, clock: FrozenClock, settings: Settings, catcher: tuple[MailFolder, int]
) -> None:  # type: ignore[no-untyped-def]
    folder, port = catcher
    await sender(port).send_text("li@home.test", "<script>alert(1)</script>", "Code <b>123456</b> & more")
    clock.advance(timedelta(seconds=1))
    await sender(port).send_text("wu@home.test", "second", "newer")
    await make_role_users(sessionmaker, clock)
    on = settings.model_copy(update={"mail_catcher_dir": folder.path})
    async with api_client(on, clock) as http:
        await console_login(http, ROLE_USERS[Role.SUPERVISOR])
        page = await http.get("/console/mail?lang=en")
        assert page.status_code == 200
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert" not in page.text
        assert "Code &lt;b&gt;123456&lt;/b&gt; &amp; more" in page.text and "li@home.test" in page.text
        assert page.text.index("wu@home.test") < page.text.index("li@home.test")  # newest first
        assert 'href="/console/mail"' in page.text  # in the nav
        zh = await http.get("/console/mail?lang=zh")
        assert "收件人" in zh.text and "123456" in zh.text
    async with api_client(on, clock) as http:
        await console_login(http, ROLE_USERS[Role.AGENT])
        assert (await http.get("/console/mail")).status_code == 403
        assert 'href="/console/mail"' not in (await http.get("/console")).text


async def test_without_the_catcher_the_page_says_so_and_the_nav_has_no_link(
    sessionmaker, clock: FrozenClock, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    await make_role_users(sessionmaker, clock)
    async with api_client(settings, clock) as http:
        await console_login(http, ROLE_USERS[Role.ADMIN])
        page = await http.get("/console/mail?lang=en")
        assert page.status_code == 200 and "The mail catcher is off" in page.text
        home = await http.get("/console")
        assert 'href="/console/mail"' not in home.text and 'href="/console/audit"' in home.text


def test_a_message_deleted_while_reading_is_left_out(tmp_path: Path, clock: FrozenClock) -> None:
    folder = MailFolder(tmp_path, keep=10)
    first = folder.store(b"To: a@b.test\r\nSubject: one\r\n\r\nhello\r\n", clock.now())
    folder.store(b"To: c@d.test\r\nSubject: two\r\n\r\nbye\r\n", clock.now() + timedelta(seconds=1))
    first.unlink()
    assert [m.subject for m in folder.latest()] == ["two"]
