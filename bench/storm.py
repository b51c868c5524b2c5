"""Storm benchmark: a fault cuts a feeder and every customer on it asks the bot at once.

On a scratch database (PostgreSQL `bench_storm`, dropped and made again; --db sqlite for a SQLite file under a
temporary folder) it loads the demo's reference data (core.demo: tariffs, districts, feeders, staff), adds one
district with one 10 kV feeder and --web + --telegram residential accounts on it, each already bound to a
customer: --web web chat sessions and --telegram Telegram users (identity_accounts rows, verified, as the
demo loader binds). Then a FAULT (unplanned) outage of that feeder is created and published through the real
service (core.outages.service, as staff would), with an estimated restoration time.

It starts one Rasa server (nlu.project.RasaServer, or --rasa-url), a fake Telegram Bot API on loopback
(tests/fakes/telegram_api.py: it receives the bot's answers) and the api (`gridtalk api`, webhook mode:
GRIDTALK_TELEGRAM_WEBHOOK_SECRET set, GRIDTALK_TELEGRAM_API_BASE the fake) on free loopback ports. Every
customer then asks "现在停电了吗" once, the arrivals spread evenly over --window seconds (60: "within one minute";
open loop, the next does not wait for the last): web chat customers through `POST
/api/v1/chat/sessions/{id}/messages`, Telegram users through the api's webhook route (an Update per user, as
Telegram would POST it). A web customer is answered when the response holds the outage and its restoration
time; a Telegram user when the fake Bot API received a sendMessage to their chat that holds them (within
--grace seconds after the last arrival; a web request waits as long as the window and the grace together).
Nothing may be dropped: a customer without such an answer counts
as dropped, and the bench exits 1.

The per-address limits are settings; the bench runs with the values it prints (the api's defaults unless
given): GRIDTALK_CHAT_SESSION_RATE_LIMIT / _WINDOW (new web chat sessions per address: the customers' sessions
exist already, so it is not reached), GRIDTALK_CHAT_RATE_LIMIT / _WINDOW (messages per Telegram user: each
sends one), and GRIDTALK_CHAT_TURNS_IN_FLIGHT (turns one api process answers at once; the rest queue).

Printed and written to reports/bench/storm.json: per channel, customers, answered, dropped, answers/s (from
the first arrival to the last answer), p50, p99 and max latency (a web request's round trip; a Telegram
update's POST to the answer reaching the fake Bot API).

Run: `.venv/bin/python bench/storm.py [--web 5000] [--telegram 1000] [--window 60] [--db postgresql]`;
`--quick` is 500 web + 100 Telegram customers within 10 s. Goal: every customer answered with the outage and
its restoration time, none dropped; throughput and p99 are reported. Loopback only; stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from bench.chat import api_env, api_process, drop_database, fresh_database, start_rasa  # noqa: E402
from bench.common import percentile  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.config import Settings  # noqa: E402
from core.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from core.demo.loader import load_demo  # noqa: E402
from core.models import (  # noqa: E402
    Area,
    Conversation,
    Customer,
    Feeder,
    Identity,
    IdentityAccount,
    Tariff,
    UtilityAccount,
)
from core.models.enums import ChatChannel, Language, OutageKind, Segment  # noqa: E402
from core.outages.service import OutageInput  # noqa: E402
from core.services import CoreServices  # noqa: E402
from nlu.project import free_port  # noqa: E402
from tests.fakes.telegram_api import Call, FakeTelegramApi  # noqa: E402

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench_storm"
TOKEN = "123456:bench-storm-token"
WEBHOOK_SECRET = "bench-storm-webhook-secret"
WEBHOOK_PATH = "/telegram/webhook"
AREA, FEEDER = "BENCH", "BENCH-F1"
QUESTION = "现在停电了吗"
FIRST_CHAT = 9_100_000_000
OUT = ROOT / "reports" / "bench" / "storm.json"


@dataclass
class World:
    sessions: list[str]
    chats: list[int]
    restoration: str  # the estimated restoration time as the answers print it (local HH:MM)


async def seed(url: str, web: int, telegram: int) -> World:
    """Demo reference data, the storm's feeder with its bound customers, and the published fault outage."""
    await fresh_database(url)
    now = datetime.now(UTC)
    settings = Settings(database_url=url)
    engine = make_engine(url)
    sessionmaker = make_sessionmaker(engine)
    try:
        async with session_scope(sessionmaker) as session:
            await load_demo(session, now)
        async with session_scope(sessionmaker) as session:
            tariff = await session.scalar(select(Tariff).order_by(Tariff.id).limit(1))
            assert tariff is not None
            session.add(Area(code=AREA, name="风暴区", name_en="Storm district"))
            await session.flush()
            session.add(Feeder(code=FEEDER, area_code=AREA, name="风暴线", lines="风暴路"))
            await session.flush()
            customers = [
                Customer(name=f"客户{i}", segment=Segment.RESIDENTIAL, language=Language.ZH, created_at=now)
                for i in range(web + telegram)
            ]
            session.add_all(customers)
            await session.flush()
            accounts = [
                UtilityAccount(
                    account_number=f"77{i:08d}",
                    customer_id=customer.id,
                    address=f"风暴路{i}号",
                    area_code=AREA,
                    feeder_code=FEEDER,
                    phone=f"139{i:08d}",
                    tariff_id=tariff.id,
                    created_at=now,
                )
                for i, customer in enumerate(customers)
            ]
            session.add_all(accounts)
            await session.flush()
            sessions = [uuid.uuid4().hex for _ in range(web)]
            chats = [FIRST_CHAT + i for i in range(telegram)]
            identities = [
                Identity(channel=ChatChannel.WEB, external_id=sid, language=Language.ZH, created_at=now)
                for sid in sessions
            ] + [
                Identity(
                    channel=ChatChannel.TELEGRAM,
                    external_id=str(chat),
                    telegram_chat_id=chat,
                    language=Language.ZH,
                    created_at=now,
                )
                for chat in chats
            ]
            session.add_all(identities)
            await session.flush()
            for identity, account in zip(identities, accounts, strict=True):
                session.add(IdentityAccount(identity_id=identity.id, account_id=account.id, verified_at=now))
                if identity.channel == ChatChannel.WEB:
                    session.add(
                        Conversation(
                            identity_id=identity.id, channel=ChatChannel.WEB, created_at=now, last_message_at=now
                        )
                    )
        estimate = (now + timedelta(hours=3)).replace(second=0, microsecond=0)
        outages = CoreServices.build(settings, SystemClock()).outages
        async with session_scope(sessionmaker) as session:
            outage = await outages.create(
                session,
                OutageInput(
                    starts_at=now - timedelta(minutes=10),
                    ends_at=None,
                    reason="线路故障",
                    kind=OutageKind.UNPLANNED,
                    feeders=(FEEDER,),
                    estimated_restoration_at=estimate,
                ),
                actor_id=None,
            )
            await outages.publish(session, outage.id, actor_id=None)
    finally:
        await engine.dispose()
    return World(sessions, chats, estimate.astimezone(settings.tz).strftime("%H:%M"))


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    wrong: int = 0  # answered, but without the outage's restoration time
    errors: int = 0  # an HTTP error or no answer
    last_answer: float = 0.0


def update(update_id: int, chat: int) -> dict[str, Any]:
    person = {"id": chat, "is_bot": False, "first_name": "客户", "language_code": "zh"}
    message = {"message_id": update_id, "date": int(time.time()), "chat": {"id": chat, "type": "private"}}
    return {"update_id": update_id, "message": {**message, "from": person, "text": QUESTION}}


async def storm(api_url: str, bot_api: FakeTelegramApi, world: World, window: float, grace: float) -> dict[str, Any]:
    web, tg = Tally(), Tally()
    asked: dict[int, float] = {}  # Telegram chat → when its update was posted
    answered: set[int] = set()
    all_answered = asyncio.Event()

    async def on_send(call: Call) -> None:
        chat = call.chat_id
        if chat is None or chat not in asked or chat in answered:
            return
        if world.restoration in call.text:
            answered.add(chat)
            tg.latencies.append(time.perf_counter() - asked[chat])
            tg.last_answer = time.perf_counter()
            if len(answered) == len(world.chats):
                all_answered.set()

    bot_api.on_call("sendMessage", on_send)
    arrivals: list[tuple[str, str | int]] = []
    web_left, tg_left = list(world.sessions), list(world.chats)
    total = len(web_left) + len(tg_left)
    for i in range(total):  # interleaved evenly: the Telegram users among the web customers
        take_tg = tg_left and (not web_left or (i * len(world.chats)) // total != ((i + 1) * len(world.chats)) // total)
        arrivals.append(("telegram", tg_left.pop(0)) if take_tg else ("web", web_left.pop(0)))
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    async with httpx.AsyncClient(base_url=api_url, timeout=window + grace, limits=limits) as http:

        async def ask_web(sid: str) -> None:
            started = time.perf_counter()
            try:
                response = await http.post(f"/api/v1/chat/sessions/{sid}/messages", json={"text": QUESTION})
            except httpx.HTTPError:
                web.errors += 1
                return
            if response.status_code != 200:
                web.errors += 1
                return
            text = "\n".join(r["text"] for r in response.json()["replies"])
            if world.restoration not in text:
                web.wrong += 1
                return
            web.latencies.append(time.perf_counter() - started)
            web.last_answer = time.perf_counter()

        async def ask_telegram(n: int, chat: int) -> None:
            asked[chat] = time.perf_counter()
            try:
                response = await http.post(WEBHOOK_PATH, json=update(n + 1, chat), headers=headers)
            except httpx.HTTPError:
                tg.errors += 1
                return
            if response.status_code != 200:
                tg.errors += 1

        began = time.perf_counter()
        tasks = []
        for n, (channel, who) in enumerate(arrivals):
            delay = began + window * n / total - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(ask_web(str(who)) if channel == "web" else ask_telegram(n, int(who))))
        await asyncio.gather(*tasks)
        if world.chats and len(answered) < len(world.chats):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_answered.wait(), grace)
    result: dict[str, Any] = {}
    for name, tally, customers in (("web", web, len(world.sessions)), ("telegram", tg, len(world.chats))):
        lat = tally.latencies
        span = (tally.last_answer - began) if lat else 0.0
        result[name] = {
            "customers": customers,
            "answered": len(lat),
            "dropped": customers - len(lat),
            "wrong_answer": tally.wrong,
            "errors": tally.errors,
            "answers_per_s": round(len(lat) / span, 1) if span else 0.0,
            "p50_ms": round(percentile(lat, 0.50) * 1000, 1) if lat else None,
            "p99_ms": round(percentile(lat, 0.99) * 1000, 1) if lat else None,
            "max_ms": round(max(lat) * 1000, 1) if lat else None,
        }
    result["arrival_rate_per_s"] = round(total / window, 1)
    result["span_s"] = round(max(web.last_answer, tg.last_answer) - began, 1)
    return result


async def run(args: argparse.Namespace, rasa_url: str, folder: Path) -> dict[str, Any]:
    url = f"sqlite+aiosqlite:///{folder / 'storm.db'}" if args.db == "sqlite" else args.pg_url
    web, telegram = (500, 100) if args.quick else (args.web, args.telegram)
    window = 10.0 if args.quick else args.window
    try:
        started = time.perf_counter()
        world = await seed(url, web, telegram)
        print(
            f"seeded {web} web + {telegram} Telegram customers in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
        limits = {
            "chat_session_rate_limit": str(args.session_limit),
            "chat_session_rate_window": str(args.session_window),
            "chat_rate_limit": str(args.chat_limit),
            "chat_rate_window": str(args.chat_window),
            "chat_turns_in_flight": str(args.turns_in_flight),
        }
        async with FakeTelegramApi() as bot_api:
            env = api_env(
                url,
                rasa_url,
                free_port(),
                telegram_token=TOKEN,
                telegram_api_base=bot_api.base_url,
                telegram_webhook_secret=WEBHOOK_SECRET,
                **limits,
            )
            with api_process(env, args.api_log or folder / "api.log") as api:
                result = await storm(api.url, bot_api, world, window, args.grace)
    finally:
        await drop_database(url)
    return {
        "db": args.db,
        "window_s": window,
        "settings": {f"GRIDTALK_{k.upper()}": v for k, v in limits.items()},
        **result,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--web", type=int, default=5000, help="web chat customers")
    parser.add_argument("--telegram", type=int, default=1000, help="Telegram customers (through the webhook)")
    parser.add_argument("--window", type=float, default=60.0, help="seconds the questions arrive within")
    parser.add_argument("--grace", type=float, default=300.0, help="seconds to wait for late answers")
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--pg-url", default=PG_URL, help="the scratch PostgreSQL database (dropped and made again)")
    parser.add_argument("--rasa-url", help="a running Rasa server to use instead of starting one")
    parser.add_argument("--session-limit", type=int, default=Settings().chat_session_rate_limit)
    parser.add_argument("--session-window", type=int, default=Settings().chat_session_rate_window)
    parser.add_argument("--chat-limit", type=int, default=Settings().chat_rate_limit)
    parser.add_argument("--chat-window", type=int, default=Settings().chat_rate_window)
    parser.add_argument("--turns-in-flight", type=int, default=Settings().chat_turns_in_flight)
    parser.add_argument("--quick", action="store_true", help="500 web + 100 Telegram customers within 10 s")
    parser.add_argument("--api-log", type=Path, help="keep the api's log there")
    args = parser.parse_args()
    rasa_url, server = start_rasa(args.rasa_url)
    try:
        with tempfile.TemporaryDirectory(prefix="gridtalk-bench-storm-") as tmp:
            result = asyncio.run(run(args, rasa_url, Path(tmp)))
    finally:
        if server is not None:
            server.stop()
    result["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    print(f"settings: {result['settings']}")
    print(f"arrivals: {result['arrival_rate_per_s']}/s over {result['window_s']} s ({result['db']})")
    head = f"{'channel':<10}{'customers':>10}{'answered':>10}{'dropped':>9}{'answers/s':>11}"
    print(f"{head}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'wrong':>7}{'errors':>7}")
    for name in ("web", "telegram"):
        r = result[name]
        print(
            f"{name:<10}{r['customers']:>10}{r['answered']:>10}{r['dropped']:>9}{r['answers_per_s']:>11}"
            f"{r['p50_ms']!s:>9}{r['p99_ms']!s:>9}{r['max_ms']!s:>9}{r['wrong_answer']:>7}{r['errors']:>7}"
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"written to {OUT.relative_to(ROOT)}")
    return 0 if result["web"]["dropped"] == 0 and result["telegram"]["dropped"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
