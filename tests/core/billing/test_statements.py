"""Bill statements by email on the demo data, on both databases: queued once per bill × key-account contact
(channel email, tier of key accounts) after a bills import and by the demo load, not for residential bills nor on
a dry run; mailed again as a correction when an import changes a bill whose statement went out; a chat request to
a verified address; rendered in each contact's language with the chat's breakdown,
the manager's 24-hour phone and the figures as CSV; the email carries the CSV, and the mail catcher lists it."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.billing.statement_repository import StatementRepository
from core.billing.statements import Requested, StatementNotices, mask_email
from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.demo import load_demo
from core.imports import ImportKind
from core.models import Identity, KeyAccountContact, NoticeDelivery, UtilityAccount
from core.models.enums import BillNotice, DeliveryChannel, DeliveryStatus, SubjectKind, Tier
from core.notices.email import EmailChannel
from core.notices.mailcatcher import read_mail
from core.notices.render import RenderedNotice
from core.services import CoreServices
from core.templating import Renderer, money
from tests.support.applications import FACTORY, DemoKeyAccount, demo_key_account
from tests.support.dialogue import bills_of, demo_account, load_demo_data
from tests.support.statements import bills_csv, next_period, statement_rows

Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def demo(sessionmaker: Maker, clock: FrozenClock) -> None:
    await load_demo_data(sessionmaker, clock)


@pytest.fixture
def core(settings: Settings, clock: FrozenClock) -> CoreServices:
    return CoreServices.build(settings, clock)


async def contacts_of(sessionmaker: Maker, account_id: int) -> list[KeyAccountContact]:
    async with sessionmaker() as session:
        query = select(KeyAccountContact).where(KeyAccountContact.account_id == account_id)
        return list(await session.scalars(query.order_by(KeyAccountContact.id)))


async def import_bills(core: CoreServices, sessionmaker: Maker, data: bytes, *, dry_run: bool = False) -> int:
    async with session_scope(sessionmaker) as session:
        report = await core.imports.run(session, ImportKind.BILLS, data, source="bills.csv", dry_run=dry_run)
    assert not report.errors, report.errors
    return report.statements


async def next_month(sessionmaker: Maker, key: DemoKeyAccount) -> str:
    return next_period((await bills_of(sessionmaker, key.account_id))[0].period)


async def render(settings: Settings, sessionmaker: Maker, rows: list[NoticeDelivery]) -> dict[str, RenderedNotice]:
    async with sessionmaker() as session:
        one = await StatementNotices(Renderer(settings.timezone), settings).load(session, rows)
        return {row.address: one(row) for row in rows}


async def test_a_bills_import_queues_one_statement_per_key_account_contact_once(
    sessionmaker: Maker, core: CoreServices, demo: None
) -> None:
    factory = await demo_key_account(sessionmaker, FACTORY)
    contacts = await contacts_of(sessionmaker, factory.account_id)
    period = await next_month(sessionmaker, factory)
    residential = await demo_account(sessionmaker)
    data = bills_csv(factory.number, period) + bills_csv(residential.number, period).split(b"\n", 1)[1]

    assert await import_bills(core, sessionmaker, data, dry_run=True) == 0
    assert await statement_rows(sessionmaker) == []
    assert await import_bills(core, sessionmaker, data) == len(contacts) == 2
    rows = await statement_rows(sessionmaker)
    assert sorted(r.address for r in rows) == sorted(c.email for c in contacts if c.email)
    assert {(r.channel, r.tier, r.account_id) for r in rows} == {
        (DeliveryChannel.EMAIL, Tier.KEY_ACCOUNT, factory.account_id)
    }
    assert {r.key_contact_id for r in rows} == {c.id for c in contacts}
    # the same file again changes nothing; other figures change the bill, but the statements, still waiting to
    # go, will carry them: nothing more is queued
    assert await import_bills(core, sessionmaker, data) == 0
    assert await import_bills(core, sessionmaker, bills_csv(factory.number, period, peak=830_000)) == 0
    assert len(await statement_rows(sessionmaker)) == 2


async def sent(sessionmaker: Maker) -> None:
    """Every statement in the outbox went out (as the worker would have it)."""
    async with session_scope(sessionmaker) as session:
        await session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.subject_kind == SubjectKind.BILL)
            .values(status=DeliveryStatus.SENT, sent_at=NoticeDelivery.due_at)
        )


async def test_a_bill_corrected_after_its_statement_went_out_is_mailed_again_as_a_correction(
    sessionmaker: Maker, core: CoreServices, settings: Settings, demo: None
) -> None:
    factory = await demo_key_account(sessionmaker, FACTORY)
    contacts = await contacts_of(sessionmaker, factory.account_id)
    period = await next_month(sessionmaker, factory)
    assert await import_bills(core, sessionmaker, bills_csv(factory.number, period)) == 2
    await sent(sessionmaker)
    assert await import_bills(core, sessionmaker, bills_csv(factory.number, period)) == 0  # the same figures
    assert await import_bills(core, sessionmaker, bills_csv(factory.number, period, peak=830_000)) == 2
    assert await import_bills(core, sessionmaker, bills_csv(factory.number, period, peak=830_000)) == 0
    corrections = await statement_rows(sessionmaker, BillNotice.CORRECTION)
    assert sorted(r.address for r in corrections) == sorted(c.email for c in contacts if c.email)
    assert {r.revision for r in corrections} == {1}
    await sent(sessionmaker)
    assert await import_bills(core, sessionmaker, bills_csv(factory.number, period, peak=840_000)) == 2
    assert sorted(r.revision for r in await statement_rows(sessionmaker, BillNotice.CORRECTION)) == [1, 1, 2, 2]
    assert len(await statement_rows(sessionmaker)) == 2  # the first statements stay as they were

    bill = (await bills_of(sessionmaker, factory.account_id))[0]
    texts = await render(settings, sessionmaker, await statement_rows(sessionmaker, BillNotice.CORRECTION))
    zh, en = texts["huang.zhiqiang@example.com"], texts["david.miller@example.com"]
    assert zh.subject.startswith("【电费账单·更正】") and money(bill.amount) in zh.subject
    assert "已更正" in zh.plain and f"应缴金额 {money(bill.amount)}" in zh.plain
    assert en.subject.startswith("Corrected: Electricity bill for ") and "have been corrected" in en.plain
    first = await render(settings, sessionmaker, await statement_rows(sessionmaker))
    assert "更正" not in first["huang.zhiqiang@example.com"].subject


async def test_a_contact_without_an_email_gets_none(sessionmaker: Maker, core: CoreServices, demo: None) -> None:
    factory = await demo_key_account(sessionmaker, FACTORY)
    first, second = await contacts_of(sessionmaker, factory.account_id)
    async with session_scope(sessionmaker) as session:
        contact = await session.get(KeyAccountContact, first.id)
        assert contact is not None
        contact.email = None
    assert (
        await import_bills(core, sessionmaker, bills_csv(factory.number, await next_month(sessionmaker, factory))) == 1
    )
    assert [r.address for r in await statement_rows(sessionmaker)] == [second.email]


async def test_the_demo_load_queues_every_key_accounts_latest_statement(
    sessionmaker: Maker, core: CoreServices, clock: FrozenClock
) -> None:
    async with session_scope(sessionmaker) as session:
        summary = await load_demo(session, clock.now(), statements=core.statements)
    rows = await statement_rows(sessionmaker)
    assert summary.statements == len(rows) > summary.key_accounts
    factory = await demo_key_account(sessionmaker, FACTORY)
    latest = (await bills_of(sessionmaker, factory.account_id))[0]
    assert {r.subject_id for r in rows if r.account_id == factory.account_id} == {latest.id}
    async with session_scope(sessionmaker) as session:
        assert await core.statements.queue_latest(session) == 0  # once


async def test_rendered_in_each_contacts_language_with_the_breakdown_manager_and_csv(
    sessionmaker: Maker, core: CoreServices, settings: Settings, demo: None
) -> None:
    factory = await demo_key_account(sessionmaker, FACTORY)
    await import_bills(core, sessionmaker, bills_csv(factory.number, await next_month(sessionmaker, factory)))
    bill, previous = (await bills_of(sessionmaker, factory.account_id))[:2]
    texts = await render(settings, sessionmaker, await statement_rows(sessionmaker))
    zh, en = texts["huang.zhiqiang@example.com"], texts["david.miller@example.com"]

    assert (
        zh.subject
        == f"【电费账单】户号 {factory.number} {bill.period[:4]}年{int(bill.period[5:])}月：应缴 {money(bill.amount)}"
    )
    assert f"您的户号 {factory.number}" in zh.plain and f"应缴金额 {money(bill.amount)}" in zh.plain
    assert f"缴费截止日期 {bill.due_date.isoformat()}" in zh.plain
    assert "峰时电量" in zh.plain and "谷时电量" in zh.plain  # the chat's own breakdown
    assert f"与上期（{previous.period[:4]}年{int(previous.period[5:])}月，{money(previous.amount)}" in zh.plain
    assert f"客户经理 {factory.manager_name}，24 小时电话 {factory.manager_phone}" in zh.plain
    assert "<b>" in zh.html and "<b>" not in zh.plain

    assert en.subject.startswith("Electricity bill for ") and money(bill.amount) in en.subject
    assert "Peak energy" in en.plain and "Compared with the previous bill" in en.plain
    assert f"account manager {factory.manager_name}, 24 hours a day: {factory.manager_phone}" in en.plain

    (attachment,) = zh.attachments
    assert attachment.filename == f"statement-{factory.number}-{bill.period}.csv"
    assert attachment.mime_type == "text/csv" and attachment.content.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(attachment.content.decode("utf-8-sig"))))
    assert table[0][:3] == ["户号", "账期", "计费天数"] and table[1][:2] == [factory.number, bill.period]
    lines = {row[0]: row for row in table if row and row[0] in ("峰时电量", "谷时电量", "合计")}
    assert Decimal(lines["合计"][3]) == bill.amount
    assert Decimal(lines["峰时电量"][3]) + Decimal(lines["谷时电量"][3]) <= bill.amount
    assert ["与上期相比", str(bill.kwh - previous.kwh), "", str(bill.amount - previous.amount)] in table
    en_table = list(csv.reader(io.StringIO(en.attachments[0].content.decode("utf-8-sig"))))
    assert en_table[0][0] == "Account" and any(row and row[0] == "Total" for row in en_table)


async def test_the_email_carries_the_csv_and_the_mail_catcher_lists_it(
    sessionmaker: Maker, core: CoreServices, settings: Settings, demo: None
) -> None:
    factory = await demo_key_account(sessionmaker, FACTORY)
    await import_bills(core, sessionmaker, bills_csv(factory.number, await next_month(sessionmaker, factory)))
    notice = (await render(settings, sessionmaker, await statement_rows(sessionmaker)))["david.miller@example.com"]
    message = EmailChannel("127.0.0.1", sender="notices@grid.test").message("david.miller@example.com", notice)
    (part,) = message.iter_attachments()
    assert part.get_filename() == notice.attachments[0].filename
    assert part.get_content_type() == "text/csv"
    assert part.get_payload(decode=True) == notice.attachments[0].content
    caught = read_mail("1-a.eml", message.as_bytes())
    assert caught.attachments == (notice.attachments[0].filename,)
    assert "Peak energy" in caught.text and caught.subject == notice.subject
    plain = read_mail(
        "2-b.eml", EmailChannel("h", sender="n@grid.test").message("x@y.z", RenderedNotice("hi", "s")).as_bytes()
    )
    assert plain.attachments == () and plain.text == "hi"  # other notices as they were


async def test_a_chat_request_goes_to_the_verified_address_only(
    sessionmaker: Maker, core: CoreServices, clock: FrozenClock, demo: None
) -> None:
    factory = await demo_key_account(sessionmaker, FACTORY)
    async with session_scope(sessionmaker) as session:
        identity = Identity(
            channel="web", external_id="w1", language="en", email="mia@example.com", created_at=clock.now()
        )
        session.add(identity)
        await session.flush()
        identity_id = identity.id

    async def request() -> Requested:
        async with session_scope(sessionmaker) as session:
            identity = await session.get(Identity, identity_id)
            account = await session.get(UtilityAccount, factory.account_id)
            assert identity is not None and account is not None
            return await core.statements.request(session, identity, account)

    assert await request() == Requested(no_email=True)  # an address not verified is not used
    async with session_scope(sessionmaker) as session:
        identity = await session.get(Identity, identity_id)
        assert identity is not None
        identity.email_verified_at = clock.now()
    latest = (await bills_of(sessionmaker, factory.account_id))[0]
    assert await request() == Requested(sent_to="m***@example.com", period=latest.period)
    assert await request() == Requested(sent_to="m***@example.com", period=latest.period)  # the same minute: one
    clock.advance(timedelta(minutes=5))
    await request()
    rows = await statement_rows(sessionmaker)
    assert [(r.address, r.subject_id, r.identity_id, r.tier, r.language) for r in rows] == [
        ("mia@example.com", latest.id, identity_id, Tier.KEY_ACCOUNT, "en")
    ] * 2


def test_mask_email() -> None:
    assert mask_email("mia@example.com") == "m***@example.com"
    assert mask_email("not-an-address") == "***"


async def test_key_account_bills_are_found_among_thousands_of_refs(sessionmaker: Maker, demo: None) -> None:
    factory = await demo_key_account(sessionmaker, FACTORY)
    residential = await demo_account(sessionmaker)
    bills = await bills_of(sessionmaker, factory.account_id)
    refs = [(residential.id, f"{2000 + n // 12}-{n % 12 + 1:02d}") for n in range(2500)]
    refs += [(factory.account_id, bill.period) for bill in bills]
    async with sessionmaker() as session:
        found = await StatementRepository(session).key_account_bills(refs)
    assert found == {bill.id: factory.account_id for bill in bills}
