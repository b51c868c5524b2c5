"""The channels turn their transport's failures into the dispatcher's errors: Telegram (a fake Bot API server),
email (a real SMTP server), the SMS webhook (httpx.MockTransport). And the notice settings' own checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from aiohttp import web

from bot.channel import TelegramChannel
from core.config import SettingsError, load_settings
from core.models.enums import OutageKind, OutageStatus
from core.notices.channels import ChannelDown, PermanentFailure, RecipientBlocked, RetryAfter, TemporaryFailure
from core.notices.email import EmailChannel
from core.notices.render import NoticeRenderer, RenderedNotice
from core.notices.sms import SmsWebhookChannel
from core.outages.facts import AreaFacts, FeederFacts, OutageFacts
from core.templating import Renderer
from nlu.project import free_port
from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.notices import TOKEN, SmtpServer

FACTS = OutageFacts(
    id=1,
    kind=OutageKind.PLANNED,
    status=OutageStatus.PUBLISHED,
    starts_at=datetime(2026, 12, 10, 0, tzinfo=UTC),
    ends_at=datetime(2026, 12, 10, 6, tzinfo=UTC),
    reason='检修 "A&B" <x>',
    contact="95598",
    areas=(AreaFacts("XH", "西湖区", "Xihu District"),),
    feeders=(FeederFacts("XH-F01", "文三线", "10kV 文三线", "XH"),),
)


def final_notice() -> RenderedNotice:
    return NoticeRenderer(Renderer()).notice("30m", "zh", FACTS, delivery_id=7)


async def test_telegram_sends_html_with_buttons_and_maps_failures() -> None:
    async with FakeTelegramApi() as api:
        from aiogram import Bot
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        channel = TelegramChannel(bot, allow_paid_broadcast=True, timeout=5)
        try:
            await channel.deliver("5001", final_notice())
            [call] = api.sent()
            assert call.chat_id == 5001 and call.params["parse_mode"] == "HTML"
            assert "检修 &#34;A&amp;B&#34; &lt;x&gt;" in call.text
            assert [b["callback_data"] for b in call.buttons] == ["notice:ack:7", "notice:problem:7"]
            assert str(call.params["allow_paid_broadcast"]).lower() == "true"
            assert call.params["link_preview_options"] == {"is_disabled": True}

            api.fail_next("sendMessage", 429, retry_after=3)
            with pytest.raises(RetryAfter) as waited:
                await channel.deliver("5001", final_notice())
            assert waited.value.retry_after == 3
            api.fail_next("sendMessage", 500)
            with pytest.raises(TemporaryFailure):
                await channel.deliver("5001", final_notice())
            api.block_chat(5002)
            with pytest.raises(RecipientBlocked):
                await channel.deliver("5002", final_notice())
            api.fail_next("sendMessage", 400)
            with pytest.raises(PermanentFailure):
                await channel.deliver("5001", final_notice())
            with pytest.raises(PermanentFailure):
                await channel.deliver("not-a-chat", final_notice())
        finally:
            await channel.aclose()


def telegram_channel(base_url: str, timeout: float) -> TelegramChannel:
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))
    return TelegramChannel(bot, timeout=timeout)


async def test_telegram_down_is_channel_down_but_a_timeout_is_one_sends_trouble() -> None:
    """A 401 (wrong token) and an unreachable Bot API fail every send alike: ChannelDown, the dispatcher pauses
    the channel. A send that times out (a slow answer for one chat) is a TemporaryFailure, retried alone."""
    async with FakeTelegramApi() as api:
        channel = telegram_channel(api.base_url, timeout=1)
        try:
            api.fail_next("sendMessage", 401)
            with pytest.raises(ChannelDown, match="401"):
                await channel.deliver("5001", final_notice())
            api.stall_chat(5001, 2.5)
            with pytest.raises(TemporaryFailure) as slow:
                await channel.deliver("5001", final_notice())
            assert not isinstance(slow.value, ChannelDown)
            await channel.deliver("5002", final_notice())  # the others are answered meanwhile
            assert [c.status for c in api.calls] == [401, 504, 200]
        finally:
            await channel.aclose()
    refused = telegram_channel(f"http://127.0.0.1:{free_port()}", timeout=2)  # nothing listens there
    try:
        with pytest.raises(ChannelDown, match="cannot reach"):
            await refused.deliver("5001", final_notice())
    finally:
        await refused.aclose()


async def test_telegram_flood_limit_and_an_answer_that_is_not_the_bot_api() -> None:
    """Over Telegram's flood limit the answer is a 429 naming retry_after: RetryAfter. An answer that is not the
    Bot API's JSON (a proxy's error page) is one send's trouble: TemporaryFailure. One notice's JSON is encoded
    once for every chat it goes to, and every chat gets its own chat id."""
    async with FakeTelegramApi(rate_cap=2) as api:
        channel = telegram_channel(api.base_url, timeout=5)
        try:
            await channel.deliver("5001", final_notice())
            await channel.deliver("5002", final_notice())
            with pytest.raises(RetryAfter) as flooded:
                await channel.deliver("5003", final_notice())  # a third send within the same second
            assert flooded.value.retry_after == 1
            assert [(c.chat_id, c.status) for c in api.calls] == [(5001, 200), (5002, 200), (5003, 429)]
            assert api.calls[0].text == api.calls[1].text and api.calls[0].buttons == api.calls[1].buttons
        finally:
            await channel.aclose()

    async def proxy_page(_request: web.Request) -> web.Response:
        return web.Response(status=502, text="<html>Bad Gateway</html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("POST", "/{path:.+}", proxy_page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    channel = telegram_channel(f"http://127.0.0.1:{port}", timeout=5)
    try:
        with pytest.raises(TemporaryFailure) as garbled:
            await channel.deliver("5001", final_notice())
        assert not isinstance(garbled.value, ChannelDown)
    finally:
        await channel.aclose()
        await runner.cleanup()


async def test_email_goes_as_plain_text_and_html_and_maps_refusals() -> None:
    with SmtpServer() as smtp:
        smtp.refuse.add("gone@example.com")
        channel = EmailChannel("127.0.0.1", smtp.port, sender="notices@grid.test", security="none", timeout=5)
        notice = NoticeRenderer(Renderer()).notice("30m", "zh", FACTS, channel="email")
        await channel.deliver("a@example.com", notice)
        [mail] = smtp.to("a@example.com")
        assert str(mail["From"]) == "notices@grid.test"
        assert "停电最后确认" in str(mail["Subject"])
        plain = mail.get_body(("plain",))
        html = mail.get_body(("html",))
        assert plain is not None and html is not None
        assert '检修 "A&B" <x>' in plain.get_content()  # as typed, in the text part
        assert "检修 &#34;A&amp;B&#34; &lt;x&gt;" in html.get_content()  # escaped, in the HTML part
        assert "确认收到" not in plain.get_content()  # no buttons by email
        with pytest.raises(PermanentFailure):
            await channel.deliver("gone@example.com", notice)
    closed = EmailChannel("127.0.0.1", free_port(), sender="n@grid.test", security="none", timeout=2)
    with pytest.raises(TemporaryFailure):
        await closed.deliver("a@example.com", notice)


async def test_sms_webhook_fills_the_body_as_data_and_maps_statuses() -> None:
    seen: list[httpx.Request] = []
    answers = iter([200, 429, 503, 400])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = next(answers)
        return httpx.Response(status, headers={"retry-after": "7"} if status == 429 else {})

    channel = SmsWebhookChannel(
        "http://sms.test/send",
        '{"phone": "{to}", "content": "【供电】{text}", "tags": ["notice", "{to}"]}',
        token="t0k",
        transport=httpx.MockTransport(handler),
    )
    notice = NoticeRenderer(Renderer()).notice("cancel", "zh", FACTS, channel="sms")
    try:
        await channel.deliver("13800001111", notice)
        body = json.loads(seen[0].content)
        assert body["phone"] == "13800001111" and body["tags"] == ["notice", "13800001111"]
        assert body["content"].startswith("【供电】【停电取消】") and "<b>" not in body["content"]
        assert seen[0].headers["authorization"] == "Bearer t0k"
        with pytest.raises(RetryAfter) as waited:
            await channel.deliver("13800001111", notice)
        assert waited.value.retry_after == 7
        with pytest.raises(TemporaryFailure):
            await channel.deliver("13800001111", notice)
        with pytest.raises(PermanentFailure):
            await channel.deliver("13800001111", notice)
    finally:
        await channel.aclose()


def test_notice_settings_refuse_what_cannot_work() -> None:
    with pytest.raises(SettingsError, match="GRIDTALK_NOTICE_RATE_LIMIT"):
        load_settings(notice_rate_limit=100)
    assert load_settings(notice_rate_limit=1000, notice_allow_paid_broadcast=True).notice_rate_limit == 1000
    with pytest.raises(SettingsError, match="GRIDTALK_NOTICE_RATE_LIMIT"):
        load_settings(notice_rate_limit=1001, notice_allow_paid_broadcast=True)
    with pytest.raises(SettingsError, match="GRIDTALK_SMS_WEBHOOK_BODY"):
        load_settings(sms_webhook_body="{not json")
    with pytest.raises(SettingsError, match="GRIDTALK_NOTICE_SECOND_DAYS"):
        load_settings(notice_first_days=7, notice_second_days=7)
