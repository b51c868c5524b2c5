"""The console's outages board and fault-outage forms over HTTP (cookie session + CSRF), on the demo data without
its outages: what the board shows of a fault going on (estimate and its moves, customers, reports, notices
sent, tickets) and of open feeder alerts; a fault entered as a draft, previewed (audience, the notice in zh and
en) and published; its estimate moved and its power restored (some feeders, then all), each previewed first;
who may do which step; bad input answered at its field with nothing written. The browser test
(tests/e2e/browser/test_console_outages.py) drives the same pages in Chromium."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.models import (
    AuditLog,
    FaultTicket,
    FeederAlert,
    NoticeDelivery,
    Outage,
    OutageEstimate,
    OutageFeeder,
    OutageReport,
    UtilityAccount,
)
from core.models.enums import OutageKind, OutageStatus
from core.outages import service
from core.services import CoreServices
from tests.support.notices import SHANGHAI, draft, load_demo_world, notice_settings
from tests.support.services import core_services
from tests.support.staff import Console, api_client, console_login

PASSWORD = "gridtalk-demo"
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI)
KEY_ACCOUNT_XH = "城西自来水厂"  # the demo's key account on XH-F02 (manager.wang), two contacts


@pytest.fixture
def world_settings(database_url: str) -> Settings:
    return notice_settings(database_url)


@pytest.fixture
async def services(sessionmaker, clock: FrozenClock, world_settings: Settings) -> CoreServices:  # type: ignore[no-untyped-def]
    clock.set(NOW)
    await load_demo_world(sessionmaker, clock.now())
    return core_services(clock, world_settings)


@pytest.fixture
async def http(
    services: CoreServices, clock: FrozenClock, world_settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(world_settings, clock) as client:
        yield client


def local(value: datetime) -> str:
    """As a datetime-local field holds it (and as the console shows it, with a space)."""
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def shown(value: datetime) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


async def fault(
    sessionmaker: async_sessionmaker[AsyncSession],
    services: CoreServices,
    *feeders: str,
    back_in: timedelta = timedelta(hours=2),
    publish: bool = True,
) -> int:
    now = services.clock.now()
    async with session_scope(sessionmaker) as session:
        outage = await services.outages.create(
            session,
            service.OutageInput(
                kind=OutageKind.UNPLANNED,
                starts_at=now - timedelta(minutes=30),
                ends_at=None,
                estimated_restoration_at=now + back_in,
                reason="10kV古荡线电缆故障抢修",
                contact="95598",
                feeders=feeders,
            ),
            actor_id=None,
        )
        if publish:
            await services.outages.publish(session, outage.id, actor_id=None)
        return outage.id


async def one(sessionmaker: async_sessionmaker[AsyncSession], query: Any) -> Any:
    async with sessionmaker() as session:
        return await session.scalar(query)


async def outage_row(sessionmaker: async_sessionmaker[AsyncSession], outage_id: int) -> Outage:
    async with sessionmaker() as session:
        outage = await session.get(Outage, outage_id)
        assert outage is not None
        return outage


async def deliveries(sessionmaker: async_sessionmaker[AsyncSession], outage_id: int, stage: str) -> int:
    query = select(func.count()).where(NoticeDelivery.outage_id == outage_id, NoticeDelivery.stage == stage)
    return int(await one(sessionmaker, query))


# --------------------------------------------------------------------------------------------- board


async def test_the_board_shows_alerts_then_the_fault_going_on_then_the_other_outages(
    http: httpx.AsyncClient, sessionmaker, services: CoreServices, clock: FrozenClock
) -> None:  # type: ignore[no-untyped-def]
    now = clock.now()
    fault_id = await fault(sessionmaker, services, "XH-F02")
    async with session_scope(sessionmaker) as session:  # the estimate moved once
        await services.outages.update(
            session,
            fault_id,
            service.OutageChanges(estimated_restoration_at=now + timedelta(hours=3)),
            actor_id=None,
        )
    async with session_scope(sessionmaker) as session:
        planned = await services.outages.create(session, draft(now + timedelta(days=10), areas=("SC",)), actor_id=None)
        await services.outages.publish(session, planned.id, actor_id=None)
        # the first notices of the fault went out; two customers said "no power here"; a ticket is part of it
        sent = await session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.outage_id == fault_id, NoticeDelivery.stage == "initial")
            .values(status="sent", sent_at=now)
        )
        session.add_all(
            [
                OutageReport(outage_id=fault_id, feeder_code="XH-F02", created_at=now - timedelta(minutes=m))
                for m in (5, 9)
            ]
        )
        session.add(
            FaultTicket(
                reference="F261130-QX7K",
                location="古荡新村",
                description="整栋楼停电",
                hazard=True,
                status="assigned",
                outage_id=fault_id,
                created_at=now - timedelta(minutes=20),
            )
        )
        # a probable fault somewhere else (open), and one looked at already (closed)
        session.add(
            FeederAlert(feeder_code="GS-F02", reports=4, first_report_at=now - timedelta(minutes=12), created_at=now)
        )
        session.add(
            FeederAlert(
                feeder_code="YH-F01",
                reports=3,
                first_report_at=now - timedelta(hours=2),
                created_at=now - timedelta(hours=2),
                closed_at=now,
            )
        )
    initial_sent = int(sent.rowcount)  # type: ignore[attr-defined]
    assert initial_sent > 0
    customers = await one(
        sessionmaker, select(func.count()).select_from(UtilityAccount).where(UtilityAccount.feeder_code == "XH-F02")
    )
    assert customers > 0

    await console_login(http, "agent.li", PASSWORD)
    page = await http.get("/console/outages")
    assert page.status_code == 200
    text = page.text
    assert text.index('id="alerts-h"') < text.index('id="faults-h"') < text.index('id="all-outages"')
    alerts = text[text.index('id="alerts-h"') : text.index('id="faults-h"')]
    assert "GS-F02" in alerts and "大关线" in alerts and "4 位客户报告无电" in alerts and "YH-F01" not in alerts
    assert f"自 {shown(now - timedelta(minutes=12))} 起" in alerts
    assert 'href="/console/outages/new?feeder=GS-F02"' in alerts  # an agent may make a fault of it

    card = text[text.index(f'id="outage-{fault_id}"') : text.index('id="all-outages"')]
    assert "故障停电" in card and "XH-F02" in card and "10kV古荡线电缆故障抢修" in card
    assert shown(now + timedelta(hours=3)) in card and "已调整 1 次" in card
    assert f'<dd class="customers">{customers}</dd>' in card
    assert '<dd class="reports">2</dd>' in card
    assert f"首次通知 {initial_sent} · 时间更新 0 · 恢复送电 0" in card
    assert "F261130-QX7K (已派单)" in card and "危险" in card
    assert f"{shown(now + timedelta(hours=2))}（{shown(now)} 设定）" in card  # the estimates so far
    assert f'href="/console/outages/{fault_id}/estimate"' in card  # an agent moves the estimate ...
    assert f'href="/console/outages/{fault_id}/restore"' not in card  # ... but does not restore

    others = text[text.index('id="all-outages"') :]
    assert f'id="outage-{planned.id}"' in others and f'id="outage-{fault_id}"' not in others  # shown once, above
    assert "SC" in others

    english = await http.get("/console/outages?lang=en")
    assert "Fault outages going on" in english.text and "moved 1 time(s)" in english.text
    assert "4 customer(s) report no power" in english.text and "Probable faults" in english.text

    live = await http.get("/console/outages", params={"live": "1"}, headers={"HX-Request": "true"})
    assert live.status_code == 200 and "<html" not in live.text
    assert live.text.lstrip().startswith('<div id="outage-live"') and f'id="outage-{fault_id}"' in live.text


async def test_an_account_manager_reads_the_board_but_cannot_create_a_fault(
    http: httpx.AsyncClient, sessionmaker, services: CoreServices
) -> None:  # type: ignore[no-untyped-def]
    fault_id = await fault(sessionmaker, services, "XH-F02")
    console = await console_login(http, "manager.zhao", PASSWORD)
    board = await http.get("/console/outages")
    assert board.status_code == 200 and f'id="outage-{fault_id}"' in board.text
    assert 'href="/console/outages/new"' not in board.text and "/estimate" not in board.text
    assert (await http.get("/console/outages/new")).status_code == 403
    refused = await http.post(
        "/console/outages/new",
        data={
            "csrf_token": console.csrf,
            "feeders": "XH-F01",
            "estimated_restoration_at": local(NOW + timedelta(hours=2)),
            "reason": "故障",
        },
    )
    assert refused.status_code == 403 and "无权访问" in refused.text
    assert await one(sessionmaker, select(func.count()).select_from(Outage)) == 1
    assert (await http.get(f"/console/outages/{fault_id}/estimate")).status_code == 403


# -------------------------------------------------------------------------- create, preview, publish


async def create(console: Console, **fields: Any) -> httpx.Response:
    data: dict[str, Any] = {
        "csrf_token": console.csrf,
        "feeders": ["XH-F02"],
        "starts_at": local(NOW - timedelta(minutes=15)),
        "estimated_restoration_at": local(NOW + timedelta(hours=2, minutes=30)),
        "reason": "古荡线电缆故障，正在抢修",
        "contact": "",
    }
    data.update(fields)
    return await console.http.post("/console/outages/new", data=data)


async def test_an_agent_drafts_a_fault_previews_it_in_both_languages_and_a_supervisor_publishes_it(
    http: httpx.AsyncClient, sessionmaker, services: CoreServices, clock: FrozenClock, world_settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    agent = await console_login(http, "agent.li", PASSWORD)
    form = await http.get("/console/outages/new?feeder=XH-F02")
    assert form.status_code == 200
    for field in ("starts_at", "estimated_restoration_at", "reason", "contact"):
        assert f'<label for="{field}">' in form.text and f'id="{field}"' in form.text
    assert '<label for="feeder-XH-F02">XH-F02 · 古荡线</label>' in form.text
    assert 'id="feeder-XH-F02" name="feeders" value="XH-F02" checked' in form.text  # ticked from the alert
    assert 'id="area-XH" name="areas" value="XH">' in form.text  # the utility's own lists
    assert f'value="{local(clock.now())}"' in form.text  # the start: now
    assert (await http.post("/console/outages/new", data={"feeders": "XH-F02"})).status_code == 403  # no CSRF

    created = await create(agent)
    assert created.status_code == 303, created.text
    outage_id = int(re.fullmatch(r"/console/outages/(\d+)/preview", created.headers["location"]).group(1))  # type: ignore[union-attr]
    outage = await outage_row(sessionmaker, outage_id)
    assert (outage.kind, outage.status, outage.contact) == ("unplanned", "draft", world_settings.service_hotline)
    assert outage.starts_at == NOW - timedelta(minutes=15) and outage.ends_at == NOW + timedelta(hours=2, minutes=30)
    assert await deliveries(sessionmaker, outage_id, "initial") == 0  # a draft sends nothing

    preview = await http.get(created.headers["location"])
    assert preview.status_code == 200 and "这是草稿：尚未发送任何通知。" in preview.text
    expected = shown(NOW + timedelta(hours=2, minutes=30))
    zh = re.search(r'data-language="zh" data-audience="residential".*?</article>', preview.text, re.S)
    en = re.search(r'data-language="en" data-audience="residential".*?</article>', preview.text, re.S)
    assert zh and en
    assert "【故障停电】" in zh.group() and f"预计 {expected} 前恢复供电" in zh.group() and "西湖区" in zh.group()
    assert "Power outage at your address" in en.group() and f"power back by {expected}" in en.group()
    assert "Xihu District" in en.group() and "古荡线电缆故障，正在抢修" in en.group()
    audience = re.search(r'<dd class="key-contacts">(\d+)', preview.text)
    subscribers = re.search(r'<dd class="subscribers">(\d+)</dd>', preview.text)
    assert audience and int(audience.group(1)) == 2 and "（1 个重点客户）" in preview.text
    assert subscribers and int(subscribers.group(1)) > 0
    # an agent sees how many key accounts, not which, and no key-account version of the notice
    assert KEY_ACCOUNT_XH not in preview.text and "您的角色不能查看重点客户名称。" in preview.text
    assert 'data-audience="key_account"' not in preview.text
    # and may not publish: no button, and the action itself is refused
    assert f'action="/console/outages/{outage_id}/publish"' not in preview.text
    assert f'action="/console/outages/{outage_id}/discard"' in preview.text
    refused = await http.post(f"/console/outages/{outage_id}/publish", data={"csrf_token": agent.csrf})
    assert refused.status_code == 403
    assert (await outage_row(sessionmaker, outage_id)).status == "draft"

    async with api_client(world_settings, clock) as other:  # a supervisor finds the draft and publishes it
        supervisor = await console_login(other, "supervisor.zhou", PASSWORD)
        board = await other.get("/console/outages")
        drafts = board.text[board.text.index('id="drafts-h"') :]
        assert f'href="/console/outages/{outage_id}/preview"' in drafts
        seen = await other.get(f"/console/outages/{outage_id}/preview?lang=en")
        assert KEY_ACCOUNT_XH in seen.text and 'data-audience="key_account"' in seen.text  # named to a supervisor
        assert f'action="/console/outages/{outage_id}/publish"' in seen.text and "Publish and send" in seen.text
        published = await other.post(f"/console/outages/{outage_id}/publish", data={"csrf_token": supervisor.csrf})
        assert published.status_code == 303
        assert published.headers["location"] == f"/console/outages?done=published&outage={outage_id}#outage-{outage_id}"
        done = await other.get(published.headers["location"])
        assert f"Fault outage #{outage_id} published" in done.text
        assert f'id="outage-{outage_id}"' in done.text[done.text.index('id="faults-h"') :]
        again = await other.get(f"/console/outages/{outage_id}/preview")
        assert again.status_code == 303  # no longer a draft: back to the board
    assert (await outage_row(sessionmaker, outage_id)).status == "published"
    assert await deliveries(sessionmaker, outage_id, "initial") > 0
    async with sessionmaker() as session:
        query = select(AuditLog).where(AuditLog.target_type == "outage", AuditLog.target_id == str(outage_id))
        logged = [(r.action, r.staff_id is not None) for r in await session.scalars(query.order_by(AuditLog.id))]
    assert logged == [("outage.create", True), ("outage.publish", True)]


async def test_a_draft_is_discarded_without_sending_anything(
    http: httpx.AsyncClient, sessionmaker, services: CoreServices
) -> None:  # type: ignore[no-untyped-def]
    agent = await console_login(http, "agent.li", PASSWORD)
    outage_id = int((await create(agent)).headers["location"].split("/")[3])
    discarded = await http.post(f"/console/outages/{outage_id}/discard", data={"csrf_token": agent.csrf})
    assert discarded.status_code == 303 and "done=discarded" in discarded.headers["location"]
    outage = await outage_row(sessionmaker, outage_id)
    assert outage.status == "cancelled" and await deliveries(sessionmaker, outage_id, "cancel") == 0
    published = await fault(sessionmaker, services, "XH-F01")  # a published fault is restored, never discarded
    kept = await http.post(f"/console/outages/{published}/discard", data={"csrf_token": agent.csrf})
    assert kept.status_code == 303 and (await outage_row(sessionmaker, published)).status == "published"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"feeders": []}, "scope", "请至少勾选一个区域或一条线路。"),
        ({"feeders": ["ZZ-F09"]}, "scope", "请只勾选本单位的区域和线路。"),
        ({"estimated_restoration_at": ""}, "estimated_restoration_at", "请填写预计恢复时间。"),
        ({"estimated_restoration_at": "明天下午"}, "estimated_restoration_at", "请填写正确的时间"),
        ({"estimated_restoration_at": local(NOW - timedelta(minutes=5))}, "estimated_restoration_at", "必须晚于现在"),
        ({"starts_at": local(NOW + timedelta(hours=1))}, "starts_at", "开始时间不能晚于现在"),
        ({"reason": "   "}, "reason", "请填写停电原因。"),
        ({"reason": "长" * 2001}, "reason", "不超过 2000 字"),
    ],
)
async def test_bad_input_is_answered_at_its_field_and_nothing_is_written(
    http: httpx.AsyncClient, sessionmaker, fields: dict[str, Any], field: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    agent = await console_login(http, "agent.li", PASSWORD)
    answer = await create(agent, **fields)
    assert answer.status_code == 422
    error = re.search(rf'<p class="field-error" id="err-{field}">([^<]+)</p>', answer.text)
    assert error and message in error.group(1), answer.text
    assert answer.text.count('class="field-error"') == 1
    if field != "scope":
        assert (
            f'aria-describedby="{"estimate" if field == "estimated_restoration_at" else field}-hint err-{field}"'
            in (answer.text)
        )
        assert 'aria-invalid="true"' in answer.text
    if field != "reason":
        assert "古荡线电缆故障，正在抢修" in answer.text  # what was typed stays
    assert await one(sessionmaker, select(func.count()).select_from(Outage)) == 0
    assert await one(sessionmaker, select(func.count()).select_from(OutageEstimate)) == 0
    assert (
        await one(sessionmaker, select(func.count()).select_from(AuditLog).where(AuditLog.action == "outage.create"))
        == 0
    )


# ---------------------------------------------------------------------------------- move the estimate


async def test_moving_the_estimate_previews_the_update_in_both_languages_then_confirms(
    http: httpx.AsyncClient, sessionmaker, services: CoreServices
) -> None:  # type: ignore[no-untyped-def]
    fault_id = await fault(sessionmaker, services, "XH-F02")
    async with session_scope(sessionmaker) as session:  # its first notices are out: the update goes to them
        await session.execute(
            update(NoticeDelivery).where(NoticeDelivery.outage_id == fault_id).values(status="sent", sent_at=NOW)
        )
    agent = await console_login(http, "agent.li", PASSWORD)
    form = await http.get(f"/console/outages/{fault_id}/estimate")
    assert form.status_code == 200 and f'value="{local(NOW + timedelta(hours=2))}"' in form.text
    assert '<label for="estimated_restoration_at">' in form.text and "data-language" not in form.text

    later = NOW + timedelta(hours=4)
    preview = await http.get(f"/console/outages/{fault_id}/estimate", params={"estimated_restoration_at": local(later)})
    assert preview.status_code == 200
    zh = re.search(r'data-language="zh" data-audience="residential".*?</article>', preview.text, re.S)
    en = re.search(r'data-language="en" data-audience="residential".*?</article>', preview.text, re.S)
    assert zh and "【故障停电·恢复时间更新】" in zh.group() and f"预计恢复时间调整为 {shown(later)}" in zh.group()
    assert en and "Power outage: new estimate" in en.group() and f"power back by {shown(later)}" in en.group()
    assert "更新通知只发给已收到此次停电通知的客户。" in preview.text
    assert f'name="estimated_restoration_at" value="{local(later)}"' in preview.text
    # the preview changed nothing
    assert (await outage_row(sessionmaker, fault_id)).ends_at == NOW + timedelta(hours=2)
    assert await deliveries(sessionmaker, fault_id, "change") == 0

    small = await http.get(
        f"/console/outages/{fault_id}/estimate",
        params={"estimated_restoration_at": local(NOW + timedelta(hours=2, minutes=20))},
    )
    assert "只记录新的预计时间，不发送更新通知" in small.text and "data-language" not in small.text

    passed = await http.get(
        f"/console/outages/{fault_id}/estimate", params={"estimated_restoration_at": local(NOW - timedelta(hours=1))}
    )
    assert passed.status_code == 422 and 'id="err-estimated_restoration_at"' in passed.text
    refused = await http.post(
        f"/console/outages/{fault_id}/estimate",
        data={"csrf_token": agent.csrf, "estimated_restoration_at": local(NOW - timedelta(hours=1))},
    )
    assert refused.status_code == 422 and "预计恢复时间必须晚于现在" in refused.text
    assert await one(sessionmaker, select(func.count()).where(OutageEstimate.outage_id == fault_id)) == 1

    moved = await http.post(
        f"/console/outages/{fault_id}/estimate",
        data={"csrf_token": agent.csrf, "estimated_restoration_at": local(later)},
    )
    assert moved.status_code == 303 and "done=estimate" in moved.headers["location"]
    outage = await outage_row(sessionmaker, fault_id)
    assert outage.ends_at == later and outage.estimated_restoration_at == later
    assert await one(sessionmaker, select(func.count()).where(OutageEstimate.outage_id == fault_id)) == 2
    assert await deliveries(sessionmaker, fault_id, "change") > 0
    board = await http.get(moved.headers["location"])
    assert "已调整 1 次" in board.text and f"故障停电 #{fault_id} 的预计恢复时间已更新。" in board.text


# ------------------------------------------------------------------------------------------- restore


async def test_restoring_some_feeders_then_all_previews_each_notice_and_only_publishers_may(
    http: httpx.AsyncClient, sessionmaker, services: CoreServices, clock: FrozenClock, world_settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    fault_id = await fault(sessionmaker, services, "XH-F01", "XH-F02")
    agent = await console_login(http, "agent.li", PASSWORD)
    assert (await http.get(f"/console/outages/{fault_id}/restore")).status_code == 403
    refused = await http.post(f"/console/outages/{fault_id}/restore", data={"csrf_token": agent.csrf, "which": "all"})
    assert refused.status_code == 403 and (await outage_row(sessionmaker, fault_id)).status == "published"

    clock.advance(timedelta(minutes=40))
    async with api_client(world_settings, clock) as other:
        supervisor = await console_login(other, "supervisor.zhou", PASSWORD)
        form = await other.get(f"/console/outages/{fault_id}/restore")
        assert form.status_code == 200 and '<label for="which-some">' in form.text
        assert '<label for="restore-XH-F02">XH-F02</label>' in form.text

        empty = await other.get(f"/console/outages/{fault_id}/restore", params={"which": "some"})
        assert empty.status_code == 422 and "请至少勾选一条已恢复的线路。" in empty.text

        preview = await other.get(f"/console/outages/{fault_id}/restore", params={"which": "some", "feeders": "XH-F02"})
        assert preview.status_code == 200 and "只恢复：XH-F02" in preview.text
        zh = re.search(r'data-language="zh" data-audience="residential".*?</article>', preview.text, re.S)
        en = re.search(r'data-language="en" data-audience="residential".*?</article>', preview.text, re.S)
        assert zh and "【恢复供电】" in zh.group() and en and "Power restored" in en.group()
        assert KEY_ACCOUNT_XH in preview.text  # the key account on XH-F02 gets it (named to a supervisor)
        assert await deliveries(sessionmaker, fault_id, "restored") == 0  # previewed only

        part = await other.post(
            f"/console/outages/{fault_id}/restore",
            data={"csrf_token": supervisor.csrf, "which": "some", "feeders": "XH-F02"},
        )
        assert part.status_code == 303 and "done=restored_part" in part.headers["location"]
        assert (await outage_row(sessionmaker, fault_id)).status == "published"
        async with sessionmaker() as session:
            left = list(
                await session.scalars(select(OutageFeeder.feeder_code).where(OutageFeeder.outage_id == fault_id))
            )
        assert left == ["XH-F01"]
        assert await deliveries(sessionmaker, fault_id, "restored") > 0

        wrong = await other.post(
            f"/console/outages/{fault_id}/restore",
            data={"csrf_token": supervisor.csrf, "which": "some", "feeders": "XH-F02"},
        )
        assert wrong.status_code == 422 and "请只勾选此次停电涉及的线路。" in wrong.text  # not a feeder of it any more

        whole = await other.get(f"/console/outages/{fault_id}/restore", params={"which": "all", "lang": "en"})
        assert "Restored: " + shown(clock.now()) in whole.text  # the notice says when power came back
        done = await other.post(f"/console/outages/{fault_id}/restore", data={"csrf_token": supervisor.csrf})
        assert done.status_code == 303 and "done=restored" in done.headers["location"]
        outage = await outage_row(sessionmaker, fault_id)
        assert outage.status == OutageStatus.COMPLETED and outage.completed_at == clock.now()
        board = await other.get("/console/outages?lang=zh")
        live = board.text[board.text.index('id="faults-h"') : board.text.index('id="all-outages"')]
        assert f'id="outage-{fault_id}"' not in live and "目前没有正在发生的故障停电。" in live
        assert f'id="outage-{fault_id}"' in board.text[board.text.index('id="all-outages"') :]
