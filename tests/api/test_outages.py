"""The staff API for planned outages (DESIGN.md's contract): create, publish, change, cancel, complete,
deliveries and preview, each with a staff token, each written to the audit log."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from math import ceil
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from api.app import create_app
from core.clock import FrozenClock
from core.db import session_scope
from core.models import AuditLog, KeyAccountProfile, NoticeDelivery, StaffUser, UtilityAccount
from core.notices.dispatcher import Dispatcher
from core.notices.render import NoticeRenderer
from core.templating import Renderer
from gridtalk.worker import build_channels
from tests.fakes.nlu import FakeNlu
from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.notices import SmtpServer, channel_settings, load_demo_world, notice_settings
from tests.support.outage_api import Staff
from tests.support.services import confirmations, core_services

DELIVERY_FIELDS = {
    "id",
    "recipient",
    "account_number",
    "segment",
    "stage",
    "channel",
    "due_at",
    "status",
    "attempts",
    "sent_at",
    "acked_at",
}


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_every_outage_route_needs_a_staff_token(staff: Staff, clock: FrozenClock) -> None:
    outage_id = (await staff.create(clock.now() + timedelta(days=3)))["id"]
    for method, path in [
        ("POST", ""),
        ("GET", f"/{outage_id}"),
        ("POST", f"/{outage_id}/publish"),
        ("PATCH", f"/{outage_id}"),
        ("POST", f"/{outage_id}/cancel"),
        ("POST", f"/{outage_id}/complete"),
        ("GET", f"/{outage_id}/deliveries"),
        ("GET", f"/{outage_id}/preview"),
    ]:
        response = await staff.http.request(method, f"/api/v1/outages{path}", json={})
        assert response.status_code == 401, (method, path)


async def test_create_a_draft_then_publish_16_days_ahead(staff: Staff, clock: FrozenClock, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    start = clock.now() + timedelta(days=16)
    created = await staff.create(start)
    assert created["status"] == "draft" and created["stages"] == []
    assert (await staff.deliveries(created["id"]))["total"] == 0  # a draft sends nothing

    published = (await staff.post(f"/{created['id']}/publish")).json()
    assert published["status"] == "published"
    assert {(s["stage"], s["audience"]) for s in published["stages"]} == {
        (stage, audience) for stage in ("15d", "7d", "30m") for audience in ("key_account", "residential")
    }
    page = await staff.deliveries(created["id"])
    items = page["items"]
    assert set(items[0]) >= DELIVERY_FIELDS and "unconfirmed" in items[0]
    assert page["total"] == len(items) and page["counts"] == {"pending": len(items)}
    due = {"15d": start - timedelta(days=15), "7d": start - timedelta(days=7), "30m": start - timedelta(minutes=30)}
    by_recipient: dict[tuple[str, str | None], dict[str, datetime]] = {}
    for item in items:
        by_recipient.setdefault((item["recipient"], item["account_number"]), {})[item["stage"]] = at(item["due_at"])
    assert all(stages == due for stages in by_recipient.values())
    segments = [item["segment"] for item in (await staff.deliveries(created["id"], stage="15d"))["items"]]
    first_other = next(i for i, s in enumerate(segments) if s != "key_account")
    assert first_other > 0 and "key_account" not in segments[first_other:]  # key accounts first

    key_only = await staff.deliveries(created["id"], segment="key_account", stage="30m")
    assert {i["recipient"] for i in key_only["items"]} == {"郑国华", "冯涛"}
    assert {i["account_number"] for i in key_only["items"]} == {key_only["items"][0]["account_number"]}

    async with sessionmaker() as session:
        actions = list(await session.scalars(select(AuditLog.action).where(AuditLog.target_type == "outage")))
    assert actions == ["outage.create", "outage.publish"]
    assert (await staff.post(f"/{created['id']}/publish")).status_code == 409


async def test_published_3_days_ahead_initial_now_and_the_final(staff: Staff, clock: FrozenClock) -> None:
    start = clock.now() + timedelta(days=3)
    outage_id = await staff.published(start)
    page = await staff.deliveries(outage_id)
    stages = {i["stage"] for i in page["items"]}
    assert stages == {"initial", "30m"}
    assert {at(i["due_at"]) for i in page["items"] if i["stage"] == "initial"} == {clock.now()}
    filtered = await staff.deliveries(outage_id, stage="initial", status="pending")
    assert filtered["total"] == len(page["items"]) // 2


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"ends_at": "2026-12-01T07:00:00+08:00", "starts_at": "2026-12-01T08:00:00+08:00"}, "ends_at"),
        ({"starts_at": "2026-11-20T08:00:00+08:00", "ends_at": "2026-11-20T12:00:00+08:00"}, "starts_at"),
        ({"areas": ["ZZ"]}, "areas"),
        ({"areas": [], "accounts": ["0000000000"]}, "accounts"),
        ({"areas": [], "feeders": ["XH-F09"]}, "feeders"),
        ({"areas": []}, "areas"),
        ({"starts_at": "2026-12-01T08:00:00"}, "starts_at"),  # no UTC offset
        ({"reason": ""}, "reason"),
        ({"kind": "unplanned"}, "estimated_restoration_at"),
    ],
)
async def test_bad_input_is_422_naming_the_field(
    staff: Staff, clock: FrozenClock, override: dict[str, Any], field: str
) -> None:
    start = clock.now() + timedelta(days=8)
    body = {
        "kind": "planned",
        "areas": ["XH"],
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=4)).isoformat(),
        "reason": "检修",
        "contact": "95598",
    }
    body.update(override)
    response = await staff.post("", body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"][:2] == ["body", field], detail
    assert detail["msg"]


async def test_empty_audience_is_422(staff: Staff, clock: FrozenClock, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    async with session_scope(sessionmaker) as session:  # nobody in Xihu subscribed, no contacts reachable
        from core.models import Identity, KeyAccountContact

        await session.execute(update(Identity).values(subscribed_notices=False))
        await session.execute(update(KeyAccountContact).values(telegram_chat_id=None, email=None, phone=None))
    start = clock.now() + timedelta(days=8)
    response = await staff.post(
        "",
        {
            "areas": ["XH"],
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=1)).isoformat(),
            "reason": "检修",
        },
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "areas"]
    assert "empty audience" in response.json()["detail"][0]["msg"]


async def test_unknown_outage_is_404(staff: Staff) -> None:
    assert (await staff.get("/99999")).status_code == 404
    assert (await staff.get("/99999/deliveries")).status_code == 404
    assert (await staff.post("/99999/publish")).status_code == 404


async def sent(sessionmaker, outage_id: int, stage: str, at: datetime) -> None:  # type: ignore[no-untyped-def]
    async with session_scope(sessionmaker) as session:
        await session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.outage_id == outage_id, NoticeDelivery.stage == stage)
            .values(status="sent", sent_at=at, attempts=1)
        )


async def test_reschedule_cancel_and_complete(staff: Staff, clock: FrozenClock, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    start = clock.now() + timedelta(days=16)
    outage_id = await staff.published(start)
    clock.set(start - timedelta(days=15))
    await staff.sign_in()
    await sent(sessionmaker, outage_id, "15d", clock.now())
    told = {i["id"] for i in (await staff.deliveries(outage_id, stage="15d"))["items"]}

    clock.advance(timedelta(hours=3))
    new_start = start + timedelta(days=1)
    response = await staff.patch(
        f"/{outage_id}",
        {"starts_at": new_start.isoformat(), "ends_at": (new_start + timedelta(hours=5)).isoformat()},
    )
    assert response.status_code == 200, response.text
    assert at(response.json()["starts_at"]) == new_start
    change = (await staff.deliveries(outage_id, stage="change"))["items"]
    assert len(change) == len(told) and {at(i["due_at"]) for i in change} == {clock.now()}
    assert {at(i["due_at"]) for i in (await staff.deliveries(outage_id, stage="7d"))["items"]} == {
        new_start - timedelta(days=7)
    }
    assert (
        await staff.patch(f"/{outage_id}", {"ends_at": (new_start - timedelta(hours=1)).isoformat()})
    ).status_code == 422

    await sent(sessionmaker, outage_id, "change", clock.now())
    cancelled = await staff.post(f"/{outage_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    cancel = await staff.deliveries(outage_id, stage="cancel")
    assert cancel["total"] == len(told)
    rest = await staff.deliveries(outage_id, stage="7d")
    assert rest["counts"] == {"cancelled": rest["total"]}
    assert (await staff.post(f"/{outage_id}/complete")).status_code == 409
    assert (await staff.patch(f"/{outage_id}", {"reason": "x"})).status_code == 409

    other = await staff.published(clock.now() + timedelta(days=2), areas=["GS"])
    assert (await staff.post(f"/{other}/complete")).status_code == 409  # not started yet
    clock.advance(timedelta(days=2, hours=2))
    await staff.sign_in()
    done = await staff.post(f"/{other}/complete")
    assert done.status_code == 200 and done.json()["status"] == "completed"
    restored = await staff.deliveries(other, stage="restored")
    assert restored["total"] == (await staff.deliveries(other, stage="initial"))["total"]

    async with sessionmaker() as session:
        actions = list(
            await session.scalars(
                select(AuditLog.action)
                .where(AuditLog.target_type == "outage", AuditLog.target_id == str(outage_id))
                .order_by(AuditLog.id)
            )
        )
    assert actions == ["outage.create", "outage.publish", "outage.update", "outage.cancel"]


async def test_unconfirmed_final_confirmations_show_in_deliveries(
    staff: Staff, clock: FrozenClock, sessionmaker, database_url: str
) -> None:
    outage_id = await staff.published(clock.now() + timedelta(minutes=25))
    await sent(sessionmaker, outage_id, "30m", clock.now())
    clock.advance(timedelta(minutes=10))
    async with session_scope(sessionmaker) as session:
        await confirmations(clock, notice_settings(database_url)).chase_unconfirmed(session)
    final = (await staff.deliveries(outage_id, stage="30m"))["items"]
    assert {i["unconfirmed"] for i in final if i["segment"] == "key_account"} == {True}
    assert {i["unconfirmed"] for i in final if i["segment"] != "key_account"} == {False}
    staff_rows = (await staff.deliveries(outage_id))["items"]
    stages = {i["stage"] for i in staff_rows}
    assert "30m" in stages and not stages & {"alert", "problem"}  # the alerts to the manager are not customer notices


async def test_preview_renders_each_stage_and_language_with_staff_text_as_data(
    staff: Staff, clock: FrozenClock
) -> None:
    created = await staff.create(clock.now() + timedelta(days=16), reason="线路<i>检修</i> & 更换", feeders=["XH-F02"])
    response = await staff.get(f"/{created['id']}/preview")
    assert response.status_code == 200
    items = response.json()["items"]
    stages = [i["stage"] for i in items if i["language"] == "zh" and i["audience"] == "residential"]
    assert stages == ["15d", "7d", "30m", "change", "cancel", "restored"]
    assert {i["language"] for i in items} == {"zh", "en"}
    key = next(i for i in items if i["audience"] == "key_account" and i["stage"] == "15d" and i["language"] == "zh")
    assert "王建国" in key["text"] and "10kV 古荡线" in key["text"]
    final = next(i for i in items if i["stage"] == "30m" and i["language"] == "en")
    assert [b["title"] for b in final["buttons"]] == ["Confirm", "Problem"]
    assert all("线路&lt;i&gt;检修&lt;/i&gt; &amp; 更换" in i["text"] for i in items if i["stage"] in ("15d", "7d"))
    only_en = (await staff.get(f"/{created['id']}/preview", language="en")).json()["items"]
    assert {i["language"] for i in only_en} == {"en"}


async def test_an_agent_may_not_publish_a_planned_outage(staff: Staff, clock: FrozenClock, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    outage_id = (await staff.create(clock.now() + timedelta(days=16)))["id"]
    await staff.sign_in("agent.li")
    assert (await staff.get(f"/{outage_id}")).status_code == 200  # reading is allowed
    refused = await staff.post(f"/{outage_id}/publish")
    assert refused.status_code == 403, refused.text
    assert (await staff.get(f"/{outage_id}")).json()["status"] == "draft"
    assert (await staff.get(f"/{outage_id}/deliveries")).status_code == 403  # names and account numbers: no
    async with sessionmaker() as session:
        actions = list(
            await session.scalars(
                select(AuditLog.action).where(AuditLog.target_type == "outage", AuditLog.target_id == str(outage_id))
            )
        )
    assert actions == ["outage.create"]


async def managed_accounts(sessionmaker, username: str) -> set[str]:  # type: ignore[no-untyped-def]
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(UtilityAccount.account_number)
            .join(KeyAccountProfile, KeyAccountProfile.account_id == UtilityAccount.id)
            .join(StaffUser, StaffUser.id == KeyAccountProfile.account_manager_id)
            .where(StaffUser.username == username)
        )
        return set(rows)


async def test_an_account_manager_sees_only_the_deliveries_of_their_own_key_accounts(
    staff: Staff, clock: FrozenClock, sessionmaker
) -> None:
    # Xihu and Shangcheng: 城西自来水厂 and 市第一人民医院 (manager.wang), 市政务服务中心 (manager.zhao), residents
    outage_id = await staff.published(clock.now() + timedelta(days=16), areas=["XH", "SC"])
    everything = (await staff.deliveries(outage_id))["items"]
    assert {i["segment"] for i in everything} >= {"key_account", "residential"}
    for manager in ("manager.wang", "manager.zhao"):
        own = await managed_accounts(sessionmaker, manager)
        expected = [i for i in everything if i["account_number"] in own]
        assert expected, manager
        await staff.sign_in(manager)
        page = await staff.deliveries(outage_id)
        assert sorted(i["id"] for i in page["items"]) == sorted(i["id"] for i in expected), manager
        assert page["total"] == len(expected) and sum(page["counts"].values()) == len(expected)
        assert {i["segment"] for i in page["items"]} == {"key_account"}
        assert (await staff.post(f"/{outage_id}/cancel")).status_code == 403


async def test_a_stage_too_large_for_the_rate_starts_early_and_says_so_from_preview_to_send(
    sessionmaker,
    clock: FrozenClock,
    database_url: str,  # type: ignore[no-untyped-def]
) -> None:
    """At one message every 20 s the demo district's final confirmation cannot all go in the last minutes:
    the draft's preview, the publish response and the stage say how many minutes early it starts, and the
    worker's dispatcher sends it from then on, before its due time."""
    await load_demo_world(sessionmaker, clock.now())
    slow = {"notice_rate_limit": 0.05, "notice_fanout_margin_minutes": 5}
    async with FakeTelegramApi() as api, AsyncExitStack() as stack:
        smtp = stack.enter_context(SmtpServer())
        settings = channel_settings(database_url, api, smtp, **slow)
        app = create_app(settings, clock=clock, nlu=FakeNlu())
        await stack.enter_async_context(app.router.lifespan_context(app))
        http = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        )
        staff = Staff(http)
        await staff.sign_in()
        draft = await staff.create(clock.now() + timedelta(days=16))
        preview = (await staff.get(f"/{draft['id']}/preview", language="zh")).json()["items"]
        early = {(i["stage"], i["audience"]): i["early_by_minutes"] for i in preview if i["stage"] == "30m"}
        published = await staff.post(f"/{draft['id']}/publish")
        assert published.status_code == 200, published.text
        final = [s for s in published.json()["stages"] if s["stage"] == "30m"]
        messages = len((await staff_rows(sessionmaker, draft["id"]))["30m"])  # a message a route
        expected = (ceil(messages / 0.05) + 5 * 60) // 60  # messages ÷ rate, plus the margin
        assert {s["early_by_minutes"] for s in final} == {expected} and expected > 5
        assert set(early.values()) == {expected}  # the preview of the draft said the same before publishing

        due = at(final[0]["due_at"])
        clock.set(at(final[0]["send_from"]) + timedelta(minutes=1))
        assert clock.now() < due
        fast = settings.model_copy(update={"notice_rate_limit": 1000.0})  # the test need not wait 20 s a message
        async with session_scope(sessionmaker) as session:
            await core_services(clock, fast).stage_starter.start_due_stages(session)
        renderer = NoticeRenderer(Renderer(fast.timezone))
        dispatcher = Dispatcher(sessionmaker, clock, fast, build_channels(fast), renderer)
        try:
            await dispatcher.run_once()
        finally:
            await dispatcher.aclose()
    rows = (await staff_rows(sessionmaker, draft["id"]))["30m"]
    assert rows and all(r.status == "sent" and r.sent_at is not None and r.sent_at < due for r in rows)


async def staff_rows(sessionmaker, outage_id: int) -> dict[str, list[NoticeDelivery]]:  # type: ignore[no-untyped-def]
    async with sessionmaker() as session:
        found = await session.scalars(select(NoticeDelivery).where(NoticeDelivery.outage_id == outage_id))
        by_stage: dict[str, list[NoticeDelivery]] = {}
        for row in found:
            by_stage.setdefault(row.stage, []).append(row)
        return by_stage
