"""Shared by the notice fault tests (tests/faults): a world seeded in bulk SQL, a real `gridtalk worker`
process, the fake Bot API's log read back per chat (the figures each test measures are recorded with
tests.support.processes.record_figures).

The fault tests run on PostgreSQL only (tests/faults is an e2e folder), so the seeding speaks PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.clock import SystemClock
from core.config import Settings
from core.db import session_scope
from core.models import NoticeDelivery
from core.outages import service
from tests.fakes.telegram_api import Call
from tests.support.notices import TOKEN, load_demo_world, notice_settings
from tests.support.processes import clean_env
from tests.support.services import core_services

ROOT = Path(__file__).resolve().parents[2]
FAULT_AREA = "FT"
FAULT_FEEDER = "FT-F01"
RESIDENT_CHATS = 910_000_000  # chat id of resident n: RESIDENT_CHATS + n
CONTACT_CHATS = 920_000_000  # chat id of key-account contact n: CONTACT_CHATS + n


# ------------------------------------------------------------------------------------------- seeding


@dataclass(frozen=True)
class Seeded:
    residents: int
    key_accounts: int
    contacts: int

    def resident_chats(self) -> list[int]:
        return [RESIDENT_CHATS + n for n in range(1, self.residents + 1)]

    def contact_chats(self) -> list[int]:
        return [CONTACT_CHATS + n for n in range(1, self.contacts + 1)]

    @staticmethod
    def contact_email(n: int) -> str:
        return f"contact{n}@ft.example.com"


async def seed_area(
    engine: AsyncEngine, now: datetime, *, residents: int, key_accounts: int = 0, contacts_per_account: int = 2
) -> Seeded:
    """A district of its own (FT, one feeder) in a loaded demo world (its tariffs and account managers): `residents`
    subscribed residential Telegram customers, each bound to an account, and `key_accounts` key accounts managed
    by manager.wang, each with `contacts_per_account` contacts (Telegram and email). A few statements of
    INSERT ... SELECT generate_series: 10 000 customers take about a second."""
    contacts = key_accounts * contacts_per_account
    params = {"now": now, "area": FAULT_AREA, "feeder": FAULT_FEEDER, "rc": RESIDENT_CHATS, "cc": CONTACT_CHATS}
    statements = [
        "INSERT INTO areas (code, name, name_en) VALUES (:area, '故障测试区', 'Fault test district')",
        "INSERT INTO feeders (code, area_code, name, lines) VALUES (:feeder, :area, '测试线', '10kV 测试线')",
        # residents: customer n, account 77nnnnnnnn, identity with chat rc + n, bound and subscribed
        f"""INSERT INTO customers (name, segment, language, created_at)
            SELECT 'FT居民' || n, 'residential', CASE WHEN n % 5 = 0 THEN 'en' ELSE 'zh' END, :now
            FROM generate_series(1, {residents}) AS n""",
        f"""INSERT INTO customers (name, segment, language, created_at)
            SELECT 'FT大客户' || n, 'key_account', 'zh', :now FROM generate_series(1, {key_accounts}) AS n""",
        """INSERT INTO utility_accounts (account_number, customer_id, address, area_code, feeder_code, phone,
                                         tariff_id, created_at)
           SELECT CASE WHEN c.segment = 'residential' THEN '77' ELSE '78' END
                    || lpad(substring(c.name FROM '[0-9]+$'), 8, '0'),
                  c.id, '测试路' || c.id || '号', :area, :feeder, '1380000' || lpad((c.id % 10000)::text, 4, '0'),
                  (SELECT min(id) FROM tariffs), :now
           FROM customers c WHERE c.name LIKE 'FT%'""",
        """INSERT INTO identities (channel, external_id, telegram_chat_id, language, subscribed_notices, created_at)
           SELECT 'telegram', (:rc + n)::text, :rc + n, c.language, true, :now
           FROM customers c, LATERAL (SELECT substring(c.name FROM '[0-9]+$')::int AS n) AS num
           WHERE c.name LIKE 'FT居民%'""",
        """INSERT INTO identity_accounts (identity_id, account_id, verified_at, is_current)
           SELECT i.id, a.id, :now, true
           FROM identities i JOIN utility_accounts a
             ON a.account_number = '77' || lpad((i.telegram_chat_id - :rc)::text, 8, '0')
           WHERE i.telegram_chat_id > :rc AND i.telegram_chat_id < :cc""",
        """INSERT INTO key_account_profiles (account_id, account_manager_id, priority, category)
           SELECT a.id, (SELECT id FROM staff_users WHERE username = 'manager.wang'), 1 + a.id % 3, 'industry'
           FROM utility_accounts a WHERE a.account_number LIKE '78%' AND a.area_code = :area""",
        f"""INSERT INTO key_account_contacts (account_id, name, title, telegram_chat_id, email, phone, language,
                                             created_at)
            SELECT a.id, '联系人' || k.n, '电气主管', :cc + k.n, 'contact' || k.n || '@ft.example.com',
                   '1390000' || lpad(k.n::text, 4, '0'), 'zh', :now
            FROM utility_accounts a,
                 LATERAL (SELECT substring(a.account_number FROM 3)::int AS i) AS acc,
                 LATERAL (SELECT (acc.i - 1) * {contacts_per_account} + j AS n
                          FROM generate_series(1, {contacts_per_account}) AS j) AS k
            WHERE a.account_number LIKE '78%' AND a.area_code = :area""",
    ]
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement), params)
    return Seeded(residents, key_accounts, contacts)


async def publish(
    sessionmaker: async_sessionmaker[AsyncSession], clock: Any, settings: Settings, start: datetime, **scope: Any
) -> int:
    """A planned outage of the FT district (or `scope`), created and published as the staff API does it."""
    data = service.OutageInput(
        starts_at=start,
        ends_at=start + timedelta(hours=6),
        reason="10kV线路检修",
        contact="95598",
        **(scope or {"areas": (FAULT_AREA,)}),
    )
    services = core_services(clock, settings)
    async with session_scope(sessionmaker) as session:
        outage = await services.outages.create(session, data, actor_id=None)
        await services.outages.publish(session, outage.id, actor_id=None)
        return outage.id


async def fan_out(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    residents: int,
    **settings: Any,
) -> tuple[Seeded, int]:
    """The demo world, a district of `residents` subscribed Telegram customers, and a planned outage of it
    published 3 days ahead (its first notice due at once, to everyone): the seeded district and the outage id."""
    now = datetime.now(UTC)
    await load_demo_world(sessionmaker, now)
    seeded = await seed_area(engine, now, residents=residents)
    worker_settings = notice_settings(database_url, telegram_token=TOKEN, **settings)
    return seeded, await publish(sessionmaker, SystemClock(), worker_settings, now + timedelta(days=3))


async def status_counts(sessionmaker: async_sessionmaker[AsyncSession], outage_id: int, **where: Any) -> dict[str, int]:
    async with sessionmaker() as session:
        query = select(NoticeDelivery.status, func.count()).where(NoticeDelivery.outage_id == outage_id)
        for name, value in where.items():
            query = query.where(getattr(NoticeDelivery, name) == value)
        return {str(s): int(n) for s, n in await session.execute(query.group_by(NoticeDelivery.status))}


# --------------------------------------------------------------------------------- the worker process


def worker_env(database_url: str, **settings: object) -> dict[str, str]:
    """The environment of a `gridtalk worker`: this one's, without any GRIDTALK_ setting but these
    (GRIDTALK_<NAME> for each name=value)."""
    named = {f"GRIDTALK_{name.upper()}": str(value) for name, value in settings.items()}
    return clean_env(GRIDTALK_ENV="test", GRIDTALK_DATABASE_URL=database_url, **named)


class WorkerProcess:
    """`python -m gridtalk worker` (for good, or with extra args such as --once --at), its output in a file."""

    def __init__(self, env: dict[str, str], log_file: Path, *args: str) -> None:
        self.env = env
        self.log_file = log_file
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None

    def start(self) -> WorkerProcess:
        self._out = self.log_file.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gridtalk", "worker", *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._close()

    async def wait(self, within: float) -> int:
        """Wait for the process to end by itself (--once); its exit code."""
        assert self.proc is not None
        deadline = time.monotonic() + within
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the worker did not finish within {within} s:\n{self.output()[-3000:]}")
            await asyncio.sleep(0.1)
        self._close()
        return self.proc.returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def _close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


async def wait_for(condition: Callable[[], Any], within: float, what: str, every: float = 0.1) -> float:
    """Poll `condition` (sync or async) until it is true; the seconds it took. Fails after `within` seconds."""
    started = time.monotonic()
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(every)


async def scrape(url: str) -> str:
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(url)
        response.raise_for_status()
        return response.text


def metric(text_: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample (0 when absent)."""
    for line in text_.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# ------------------------------------------------------------------------------ the Bot API server's log


def delivered_per_chat(calls: Iterable[Call]) -> Counter[int]:
    """How many sendMessage calls each chat got answered with 200 (a message it received)."""
    return Counter(c.chat_id for c in calls if c.method == "sendMessage" and c.status == 200 and c.chat_id)


def attempts_per_chat(calls: Iterable[Call]) -> dict[int, list[Call]]:
    found: dict[int, list[Call]] = {}
    for c in calls:
        if c.method == "sendMessage" and c.chat_id is not None:
            found.setdefault(c.chat_id, []).append(c)
    return found
