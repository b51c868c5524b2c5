"""Closed sets in the schema: EnumString / IntEnumType bind only allowed values and load enum members, the
database refuses anything else (CHECK ck_<table>_<column>, on SQLite and PostgreSQL), the migrations create
exactly the CHECKs the models declare, and revision 0003 moves the old rows to the new shape."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import CheckConstraint, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.db import make_engine
from core.db.migrate import alembic_config, upgrade_async
from core.models import (
    Application,
    ApplicationEvent,
    Area,
    Base,
    Conversation,
    Customer,
    Escalation,
    FaultTicket,
    Feedback,
    Feeder,
    FollowUp,
    Identity,
    KeyAccountContact,
    Message,
    NoticeDelivery,
    NoticeStage,
    Outage,
    StaffUser,
    Survey,
    Tariff,
    TicketAttachment,
    UtilityAccount,
    VerificationCode,
)
from core.models.base import EnumString, IntEnumType, enum_check
from core.models.enums import (
    AlertKind,
    ApplicationNotice,
    Audience,
    BillNotice,
    ChatChannel,
    ConversationState,
    DeliveryChannel,
    DeliveryStatus,
    Direction,
    EscalationReason,
    EscalationState,
    Language,
    MessagePurpose,
    OutageKind,
    OutageStatus,
    Priority,
    Role,
    Segment,
    Stage,
    StageStatus,
    SubjectKind,
    TicketStatus,
    Tier,
)

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)

CHECKS = sorted(
    (
        (table.name, constraint)
        for table in Base.metadata.sorted_tables
        for constraint in table.constraints
        if isinstance(constraint, CheckConstraint)
    ),
    key=lambda pair: (pair[0], str(pair[1].name)),
)


def _allowed(sqltext: str) -> set[str]:
    """The values a CHECK's condition lists, as strings, whatever the backend made of the SQL."""
    quoted = re.findall(r"'([^']*)'", sqltext)
    return set(quoted) if quoted else set(re.findall(r"\b\d+\b", sqltext))


# -- the types, without a database ------------------------------------------------------------------------


def test_enum_string_binds_members_and_their_values_only() -> None:
    kind = EnumString(Segment, 20)
    assert kind.process_bind_param(Segment.KEY_ACCOUNT, None) == "key_account"  # type: ignore[arg-type]
    assert kind.process_bind_param("residential", None) == "residential"  # type: ignore[arg-type]
    assert kind.process_bind_param(None, None) is None  # type: ignore[arg-type]
    for bad in ("staff", "", "KEY_ACCOUNT", 1, Stage.FIRST):
        with pytest.raises(ValueError):
            kind.process_bind_param(bad, None)  # type: ignore[arg-type]
    assert kind.process_result_value("public", None) is Segment.PUBLIC  # type: ignore[arg-type]


def test_enum_string_of_two_enums_loads_members_of_each() -> None:
    kind = EnumString((Stage, AlertKind), 10)
    assert kind.process_result_value("30m", None) is Stage.FINAL  # type: ignore[arg-type]
    assert kind.process_result_value("alert", None) is AlertKind.UNCONFIRMED  # type: ignore[arg-type]
    assert kind.process_bind_param(AlertKind.PROBLEM, None) == "problem"  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        kind.process_bind_param("staff", None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not fit"):
        EnumString(Role, 5)


def test_int_enum_type() -> None:
    kind = IntEnumType(Tier)
    assert kind.process_bind_param(Tier.STAFF, None) == 0  # type: ignore[arg-type]
    assert kind.process_bind_param(3, None) == 3  # type: ignore[arg-type]
    for bad in (4, -1, True, "1", 1.0):
        with pytest.raises(ValueError):
            kind.process_bind_param(bad, None)  # type: ignore[arg-type]
    assert kind.process_result_value(2, None) is Tier.KEY_ACCOUNT  # type: ignore[arg-type]


def test_enum_check_is_named_after_its_table_and_column() -> None:
    names = {constraint.name for _, constraint in CHECKS}
    assert {"ck_customers_segment", "ck_notice_deliveries_stage", "ck_notice_deliveries_tier"} <= names
    for table, constraint in CHECKS:  # ck_<table>_<column>, on that column
        column = str(constraint.name).removeprefix(f"ck_{table}_")
        assert column in Base.metadata.tables[table].c and str(constraint.sqltext).startswith(f"{column} IN (")
    assert str(enum_check("tier", Tier).sqltext) == "tier IN (0, 1, 2, 3)"
    stage = next(c for t, c in CHECKS if c.name == "ck_notice_deliveries_stage")
    assert _allowed(str(stage.sqltext)) == {*Stage, *AlertKind, *MessagePurpose, *ApplicationNotice, *BillNotice}


# -- on the database ----------------------------------------------------------------------------------------


async def _graph(session: AsyncSession) -> dict[str, Any]:
    """One valid row in every table that has a CHECK, written with plain strings where the enums allow it."""
    session.add_all([Area(code="A1", name="一区"), Feeder(code="F1", area_code="A1", name="一线")])
    tariff = Tariff(
        code="T",
        name="T",
        tier1_limit_kwh=Decimal(200),
        tier2_limit_kwh=Decimal(400),
        tier2_surcharge=Decimal("0.05"),
        tier3_surcharge=Decimal("0.3"),
        peak_price=Decimal("0.6"),
        valley_price=Decimal("0.3"),
        peak_starts=time(8),
        valley_starts=time(22),
    )
    manager = StaffUser(username="mgr", password_hash="x", role="account_manager", created_at=NOW)
    customer = Customer(name="Plant", segment="key_account", created_at=NOW)
    session.add_all([tariff, manager, customer])
    await session.flush()
    account = UtilityAccount(
        account_number="1000000001",
        customer_id=customer.id,
        address="addr",
        area_code="A1",
        feeder_code="F1",
        phone="13800000000",
        tariff_id=tariff.id,
        created_at=NOW,
    )
    identity = Identity(channel="telegram", external_id="42", telegram_chat_id=42, language="en", created_at=NOW)
    outage = Outage(kind="planned", status="published", starts_at=NOW, ends_at=NOW + timedelta(hours=4), created_at=NOW)
    session.add_all([account, identity, outage])
    await session.flush()
    contact = KeyAccountContact(account_id=account.id, name="Li", email="li@example.com", created_at=NOW)
    conversation = Conversation(identity_id=identity.id, channel="telegram", created_at=NOW)
    session.add_all([contact, conversation])
    await session.flush()
    delivery = NoticeDelivery(
        subject_id=outage.id,
        outage_id=outage.id,
        tier=0,
        contact_key="staff:1",
        account_id=account.id,
        segment="key_account",
        stage="alert",
        channel="email",
        address="mgr@example.com",
        due_at=NOW,
        created_at=NOW,
    )
    session.add_all(
        [
            delivery,
            Message(conversation_id=conversation.id, channel="telegram", direction="in", created_at=NOW),
            NoticeStage(
                outage_id=outage.id, stage="30m", audience="key_account", due_at=NOW, send_from=NOW, created_at=NOW
            ),
            ticket := FaultTicket(
                reference="F1", identity_id=identity.id, location="l", description="d", created_at=NOW
            ),
            VerificationCode(
                identity_id=identity.id,
                purpose="email",
                target="li@example.com",
                code_hash="0" * 64,
                expires_at=NOW,
                created_at=NOW,
            ),
        ]
    )
    await session.flush()
    survey = Survey(
        conversation_id=conversation.id,
        identity_id=identity.id,
        channel="telegram",
        language="zh",
        trigger="resolved",
        sent_at=NOW,
        expires_at=NOW,
        score=1,
        aspect="supply",
        created_at=NOW,
    )
    session.add_all(
        [
            Escalation(
                conversation_id=conversation.id, delivery_id=delivery.id, reason="notice_problem", created_at=NOW
            ),
            TicketAttachment(ticket_id=ticket.id, kind="location", latitude=30.2, longitude=120.1, created_at=NOW),
            survey,
        ]
    )
    await session.flush()
    session.add_all(
        [
            Feedback(
                conversation_id=conversation.id, survey_id=survey.id, score=1, sentiment="negative", created_at=NOW
            ),
            FollowUp(survey_id=survey.id, due_at=NOW, state="open", created_at=NOW),
            application := Application(
                account_id=account.id,
                kind="capacity_increase",
                stage="site_survey",
                stage_started_at=NOW,
                due_at=NOW,
                updated_at=NOW,
                created_at=NOW,
            ),
        ]
    )
    await session.flush()
    session.add(
        ApplicationEvent(
            application_id=application.id, kind="advanced", from_stage="accepted", to_stage="site_survey", at=NOW
        )
    )
    await session.commit()
    return {"outage": outage.id, "delivery": delivery.id}


async def test_loaded_rows_give_enum_members(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session:
        ids = await _graph(session)
    async with sessionmaker() as session:
        customer = (await session.scalars(select(Customer))).one()
        assert customer.segment is Segment.KEY_ACCOUNT and customer.language is Language.ZH
        assert (await session.scalars(select(StaffUser))).one().role is Role.ACCOUNT_MANAGER
        identity = (await session.scalars(select(Identity))).one()
        assert identity.channel is ChatChannel.TELEGRAM and identity.language is Language.EN
        assert (await session.scalars(select(KeyAccountContact))).one().language is Language.ZH
        conversation = (await session.scalars(select(Conversation))).one()
        assert conversation.channel is ChatChannel.TELEGRAM and conversation.state is ConversationState.OPEN
        assert (await session.scalars(select(Message))).one().direction is Direction.IN
        escalation = (await session.scalars(select(Escalation))).one()
        assert escalation.state is EscalationState.PENDING and escalation.priority is Priority.NORMAL
        assert escalation.reason is EscalationReason.NOTICE_PROBLEM  # a closed set since revision 0005
        outage = await session.get(Outage, ids["outage"])
        assert outage is not None and outage.kind is OutageKind.PLANNED and outage.status is OutageStatus.PUBLISHED
        stage = (await session.scalars(select(NoticeStage))).one()
        assert (stage.stage, stage.audience, stage.status) == (Stage.FINAL, Audience.KEY_ACCOUNT, StageStatus.PLANNED)
        assert type(stage.stage) is Stage
        d = await session.get(NoticeDelivery, ids["delivery"])
        assert d is not None
        assert d.subject_kind is SubjectKind.OUTAGE and d.subject_id == ids["outage"] and d.tier is Tier.STAFF
        assert d.stage is AlertKind.UNCONFIRMED and d.segment is Segment.KEY_ACCOUNT
        assert d.channel is DeliveryChannel.EMAIL and d.status is DeliveryStatus.PENDING and d.language is Language.ZH
        assert d.deadline_at is None
        assert (await session.scalars(select(FaultTicket))).one().status is TicketStatus.RECEIVED
        # a filter binds through the type too: a value outside the set never reaches the database
        assert (await session.scalars(select(NoticeDelivery).where(NoticeDelivery.tier == 0))).one() is d
        with pytest.raises(StatementError) as caught:
            await session.scalars(select(NoticeDelivery).where(NoticeDelivery.segment == "staff"))
        assert isinstance(caught.value.orig, ValueError)


async def test_orm_refuses_a_value_outside_the_set(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session:
        session.add(StaffUser(username="root", password_hash="x", role="root", created_at=NOW))
        with pytest.raises(StatementError) as caught:
            await session.flush()
        assert isinstance(caught.value.orig, ValueError)


async def _refused(engine: AsyncEngine, sql: str) -> bool:
    async with engine.connect() as conn:
        try:
            await conn.execute(text(sql))
        except IntegrityError:
            return True
        finally:
            await conn.rollback()
    return False


async def test_the_database_refuses_values_outside_each_set(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as session:
        await _graph(session)
    accepted = []
    for table, constraint in CHECKS:
        column = str(constraint.name).removeprefix(f"ck_{table}_")
        bad = "7" if column == "tier" else "'xx'"  # 'xx' fits every column's length
        if not await _refused(engine, f"UPDATE {table} SET {column} = {bad}"):
            accepted.append(f"{table}.{column}")
    assert accepted == []
    # the values this revision retired
    assert await _refused(engine, "UPDATE notice_deliveries SET segment = 'staff'")
    assert await _refused(engine, "UPDATE fault_tickets SET status = 'open'")
    # and a raw insert, not only an update
    assert await _refused(
        engine,
        "INSERT INTO staff_users (username, password_hash, role, display_name, is_active, created_at)"
        " VALUES ('root', 'x', 'root', '', true, CURRENT_TIMESTAMP)",
    )
    # while a good value passes
    assert not await _refused(engine, "UPDATE notice_deliveries SET stage = '15d', tier = 2, status = 'skipped'")


async def test_migrations_create_exactly_the_checks_of_the_models(engine: AsyncEngine) -> None:
    def reflect(sync: Any) -> set[tuple[str, str, frozenset[str]]]:
        inspector = inspect(sync)
        return {
            (table, c["name"], frozenset(_allowed(c["sqltext"])))
            for table in inspector.get_table_names()
            for c in inspector.get_check_constraints(table)
        }

    async with engine.connect() as conn:
        in_database = await conn.run_sync(reflect)
    in_models = {(t, str(c.name), frozenset(_allowed(str(c.sqltext)))) for t, c in CHECKS}
    assert in_database == in_models


# -- revision 0003's data steps ---------------------------------------------------------------------------

TS = "'2026-11-20 08:00:00'"
SEED_0002 = [
    "INSERT INTO areas (code, name, name_en) VALUES ('A1', 'Area', 'Area')",
    "INSERT INTO feeders (code, area_code, name, lines) VALUES ('F1', 'A1', 'Feeder', '')",
    "INSERT INTO tariffs (id, code, name, tier1_limit_kwh, tier2_limit_kwh, tier2_surcharge, tier3_surcharge,"
    " peak_price, valley_price, peak_starts, valley_starts) VALUES (1, 'T', 'T', 200, 400, 0.05, 0.3, 0.6, 0.3,"
    " '08:00:00', '22:00:00')",
    "INSERT INTO staff_users (id, username, password_hash, role, display_name, is_active, created_at)"
    f" VALUES (1, 'mgr', 'x', 'account_manager', '', true, {TS})",
    f"INSERT INTO customers (id, name, segment, language, created_at) VALUES (1, 'Plant', 'key_account', 'zh', {TS})",
    f"INSERT INTO customers (id, name, segment, language, created_at) VALUES (2, 'Home', 'residential', 'en', {TS})",
    "INSERT INTO utility_accounts (id, account_number, customer_id, address, area_code, feeder_code, phone,"
    f" tariff_id, created_at) VALUES (1, '1000000001', 1, 'a', 'A1', 'F1', '1', 1, {TS})",
    "INSERT INTO utility_accounts (id, account_number, customer_id, address, area_code, feeder_code, phone,"
    f" tariff_id, created_at) VALUES (2, '1000000002', 2, 'b', 'A1', 'F1', '2', 1, {TS})",
    "INSERT INTO key_account_contacts (id, account_id, name, title, email, language, created_at)"
    f" VALUES (1, 1, 'Li', '', 'li@example.com', 'zh', {TS})",
    "INSERT INTO identities (id, channel, external_id, telegram_chat_id, language, subscribed_notices, created_at)"
    f" VALUES (1, 'telegram', '42', 42, 'en', true, {TS})",
    "INSERT INTO outages (id, kind, status, starts_at, ends_at, reason, contact, created_by_id, created_at)"
    f" VALUES (1, 'planned', 'published', {TS}, {TS}, 'works', '', 1, {TS})",
    "INSERT INTO outage_areas (outage_id, area_code) VALUES (1, 'A1')",
    "INSERT INTO notice_stages (id, outage_id, stage, audience, revision, due_at, send_from, status, recipients,"
    f" created_at) VALUES (1, 1, '30m', 'key_account', 0, {TS}, {TS}, 'resolved', 1, {TS})",
    *(
        "INSERT INTO notice_deliveries (id, outage_id, contact_key, identity_id, key_contact_id, account_id, segment,"
        " stage, channel, address, telegram_chat_id, language, priority, due_at, status, attempts, created_at,"
        f" revision) VALUES ({values}, 'zh', 1, {TS}, 'sent', 1, {TS}, 0)"
        for values in (
            "1, 1, 'contact:1', NULL, 1, 1, 'key_account', '30m', 'email', 'li@example.com', NULL",
            "2, 1, 'staff:1', NULL, NULL, 1, 'staff', 'alert', 'email', 'mgr@example.com', NULL",
            "3, 1, 'identity:1', 1, NULL, 2, 'residential', '15d', 'telegram', '42', 42",
        )
    ),
    "INSERT INTO escalations (id, delivery_id, reason, priority, state, created_at)"
    f" VALUES (1, 2, 'notice_problem', 'high', 'pending', {TS})",
    "INSERT INTO fault_tickets (id, reference, identity_id, account_id, location, description, hazard, urgent,"
    f" status, created_at) VALUES (1, 'F-1', 1, 2, 'l', 'd', false, false, 'open', {TS})",
    "INSERT INTO fault_tickets (id, reference, location, description, hazard, urgent, status, created_at)"
    f" VALUES (2, 'F-2', 'l', 'd', true, true, 'closed', {TS})",
]


async def _admin(url: str, *statements: str) -> None:
    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
async def scratch_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of its own on the backend under test (a file, or a PostgreSQL database)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}"
        return
    name = f"{url.database}_scratch"
    await _admin(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(text(sql))]
    finally:
        await engine.dispose()


async def _run(url: str, *statements: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _downgrade(url: str, revision: str) -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(url), revision)


async def test_revision_0003_moves_old_rows_and_back(scratch_url: str) -> None:
    url = scratch_url
    await upgrade_async(url, "0002")
    await _run(url, *SEED_0002)

    await upgrade_async(url, "0003")
    deliveries = "SELECT id, subject_kind, subject_id, tier, segment, outage_id FROM notice_deliveries ORDER BY id"
    assert await _rows(url, deliveries) == [
        (1, "outage", 1, 1, "key_account", 1),
        (2, "outage", 1, 0, "key_account", 1),  # the staff alert: tier 0, the key account's segment
        (3, "outage", 1, 2, "residential", 1),
    ]
    assert await _rows(url, "SELECT id, status FROM fault_tickets ORDER BY id") == [(1, "received"), (2, "closed")]
    # rebuilding tables (SQLite) lost nothing, not even rows that refer to a rebuilt table
    for table, count in {"outage_areas": 1, "escalations": 1, "utility_accounts": 2, "notice_stages": 1}.items():
        assert await _rows(url, f"SELECT COUNT(*) FROM {table}") == [(count,)], table
    if url.startswith("sqlite"):
        assert await _rows(url, "PRAGMA foreign_key_check") == []
    assert await _rows(url, "SELECT version_num FROM alembic_version") == [("0003",)]

    await _downgrade(url, "0002")
    assert await _rows(url, "SELECT id, segment, outage_id FROM notice_deliveries ORDER BY id") == [
        (1, "key_account", 1),
        (2, "staff", 1),
        (3, "residential", 1),
    ]
    assert await _rows(url, "SELECT id, status FROM fault_tickets ORDER BY id") == [(1, "open"), (2, "closed")]
    assert await _rows(url, "SELECT COUNT(*) FROM outage_areas") == [(1,)]

    await upgrade_async(url)  # and up again: the constraints' names come out the same
    assert await _rows(url, deliveries) == [  # (revision 0005 makes room for the conversation tier, 1)
        (1, "outage", 1, 2, "key_account", 1),
        (2, "outage", 1, 0, "key_account", 1),
        (3, "outage", 1, 3, "residential", 1),
    ]
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_check_constraints("notice_deliveries")}
            )
    finally:
        await engine.dispose()
    assert names == {str(c.name) for t, c in CHECKS if t == "notice_deliveries"}
