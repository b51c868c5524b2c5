"""Conversations written as data (tests/scenarios/*.yml), played through the web chat API.

A scenario is a few turns of what a customer sends and what must come back, in the spirit of Rasa's test
stories:

    - name: a bill, then the month before in a few words
      language: zh                 # the chat's language (zh | en)
      bound: true                  # bind a demo residential account first, through the chat (default false)
      feeder: BJ-F01               # that account on this feeder (optional: the demo's fault feeder)
      turns:
        - say: 2026年9月的电费是多少  # what the customer types ({number} / {last4}: the demo account's)
          intent: bill_amount      # the intent recorded for the message (optional)
          reply: [2026年9月]        # every string appears in the replies (optional)
          not: [没有理解]            # none of these does (optional)
        - press: intent:payment_methods   # or a button's payload
          reply: [微信]

`play` runs one scenario and returns its transcript; a mismatch raises ScenarioFailed naming the scenario, the
turn and what came back. `python -m tests.support.scenarios [FILE ...]` prints the transcripts of the
scenarios with a real Rasa server (the current model) and the demo data on a temporary SQLite database.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Message
from tests.support.dialogue import DemoAccount
from tests.support.webchat import start_chat

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
TURN_KEYS = {"say", "press", "intent", "reply", "not"}
SCENARIO_KEYS = {"name", "language", "bound", "feeder", "turns"}
BIND = {
    "zh": ("绑定户号 {number}", "手机尾号{last4}", "验证通过"),
    "en": ("link my account {number}", "the phone number ends with {last4}", "Verified"),
}


class ScenarioError(ValueError):
    """A scenario file that does not follow the format."""


class ScenarioFailed(AssertionError):
    """What came back is not what the scenario expects."""


@dataclass(frozen=True)
class Turn:
    say: str | None
    press: str | None
    intent: str | None
    reply: tuple[str, ...]
    absent: tuple[str, ...]


@dataclass(frozen=True)
class Scenario:
    name: str
    language: str
    bound: bool
    turns: tuple[Turn, ...]
    source: str  # file name, for messages
    feeder: str | None = None  # the demo account's feeder, when it matters

    @property
    def id(self) -> str:
        return f"{self.source}: {self.name} ({self.language})"


@dataclass
class Transcript:
    scenario: Scenario
    lines: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join([f"## {self.scenario.name} ({self.scenario.language})", *self.lines])


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ScenarioError(f"{where}: expected a string or a list of strings")


def _turn(raw: Any, where: str) -> Turn:
    if not isinstance(raw, dict) or set(raw) - TURN_KEYS:
        raise ScenarioError(f"{where}: a turn is a mapping of {sorted(TURN_KEYS)}")
    if ("say" in raw) == ("press" in raw):
        raise ScenarioError(f"{where}: a turn has exactly one of say / press")
    return Turn(
        say=str(raw["say"]) if "say" in raw else None,
        press=str(raw["press"]) if "press" in raw else None,
        intent=str(raw["intent"]) if raw.get("intent") is not None else None,
        reply=_strings(raw.get("reply"), f"{where}.reply"),
        absent=_strings(raw.get("not"), f"{where}.not"),
    )


def load(path: Path) -> list[Scenario]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ScenarioError(f"{path.name}: a list of scenarios expected")
    scenarios = []
    for index, raw in enumerate(data):
        where = f"{path.name}[{index}]"
        if not isinstance(raw, dict) or set(raw) - SCENARIO_KEYS or not raw.get("name") or not raw.get("turns"):
            raise ScenarioError(f"{where}: a scenario has a name and turns (keys {sorted(SCENARIO_KEYS)})")
        language = raw.get("language", "zh")
        if language not in BIND:
            raise ScenarioError(f"{where}: language is zh or en")
        turns = tuple(_turn(t, f"{where}.turns[{i}]") for i, t in enumerate(raw["turns"]))
        feeder = str(raw["feeder"]) if raw.get("feeder") else None
        scenarios.append(Scenario(str(raw["name"]), language, bool(raw.get("bound", False)), turns, path.name, feeder))
    return scenarios


def load_all(folder: Path = SCENARIOS) -> list[Scenario]:
    scenarios = [s for path in sorted(folder.glob("*.yml")) for s in load(path)]
    names = [s.id for s in scenarios]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ScenarioError(f"scenario names must be unique: {sorted(duplicates)}")
    return scenarios


async def _last_intent(sessionmaker: async_sessionmaker[AsyncSession]) -> str | None:
    async with sessionmaker() as session:
        return await session.scalar(
            select(Message.intent).where(Message.direction == "in").order_by(Message.id.desc()).limit(1)
        )


async def play(
    http: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    scenario: Scenario,
    account: DemoAccount,
    *,
    check: bool = True,
) -> Transcript:
    """One scenario in a new chat session; with `check`, the first mismatch raises ScenarioFailed."""
    chat = await start_chat(http, scenario.language)
    values = {"number": account.number, "last4": account.last4}
    transcript = Transcript(scenario)
    if scenario.bound:
        bind, proof, verified = BIND[scenario.language]
        await chat.send(bind.format(**values))
        answer = await chat.send(proof.format(**values))
        if verified not in answer:
            raise ScenarioFailed(f"{scenario.id}: binding the demo account failed:\n{answer}")
    for number, turn in enumerate(scenario.turns, 1):
        if turn.say is not None:
            text = turn.say.format(**values)
            reply = await chat.send(text)
            transcript.lines.append(f"> {text}")
        else:
            reply = await chat.send(payload=turn.press)
            transcript.lines.append(f"> [{turn.press}]")
        intent = await _last_intent(sessionmaker)
        transcript.lines.append(f"  ({intent})")
        transcript.lines.extend(f"  {line}" for line in reply.splitlines() if line.strip())
        if not check:
            continue
        problems = []
        if turn.intent is not None and intent != turn.intent:
            problems.append(f"intent {intent!r}, expected {turn.intent!r}")
        problems += [f"missing {s!r}" for s in turn.reply if s.format(**values) not in reply]
        problems += [f"unexpected {s!r}" for s in turn.absent if s.format(**values) in reply]
        if problems:
            raise ScenarioFailed(f"{scenario.id}, turn {number}: {'; '.join(problems)}\n{transcript}")
    return transcript


# ------------------------------------------------------------------------------------- transcripts


def _rasa() -> Iterator[str]:
    from nlu.project import RasaServer, current_model, free_port, latest_model

    root = Path(__file__).resolve().parents[2]
    model = current_model(root / "nlu" / "models") or latest_model(root / "nlu" / "models")
    if model is None:
        raise SystemExit("no trained NLU model: run `make model`")
    server = RasaServer(model, free_port(), root / ".venv-rasa")
    server.start()
    try:
        server.wait_ready(timeout=240, progress=lambda line: print(line, file=sys.stderr))
        yield server.url
    finally:
        server.stop()


async def _transcripts(scenarios: list[Scenario], rasa_url: str, folder: Path) -> None:
    from datetime import UTC, datetime

    from core.clock import FrozenClock
    from core.config import Settings
    from core.db import make_engine, make_sessionmaker
    from nlu.client import RasaNluClient
    from tests.conftest import empty_tables
    from tests.support.dialogue import demo_account, load_demo_data
    from tests.support.staff import api_client

    url = f"sqlite+aiosqlite:///{folder / 'gridtalk.db'}"
    engine = make_engine(url)
    sessionmaker = make_sessionmaker(engine)
    clock = FrozenClock(datetime(2026, 11, 23, 9, 30, tzinfo=UTC))
    settings = Settings(database_url=url, env="test")
    try:
        for scenario in scenarios:
            await load_demo_data(sessionmaker, clock)
            account = await demo_account(sessionmaker, feeder=scenario.feeder)
            nlu = RasaNluClient(rasa_url, timeout=10.0)
            async with api_client(settings, clock, nlu=nlu) as http:
                print(await play(http, sessionmaker, scenario, account, check=False), end="\n\n", flush=True)
            await nlu.aclose()
            await empty_tables(engine)
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description="Print the transcripts of scenarios (real Rasa, demo data).")
    parser.add_argument("files", nargs="*", type=Path, help="scenario files (default: tests/scenarios/*.yml)")
    args = parser.parse_args()
    scenarios = [s for f in args.files for s in load(f)] if args.files else load_all()
    from core.db.migrate import upgrade

    with tempfile.TemporaryDirectory() as folder:
        upgrade(f"sqlite+aiosqlite:///{Path(folder) / 'gridtalk.db'}")  # alembic runs its own event loop
        for url in _rasa():
            asyncio.run(_transcripts(scenarios, url, Path(folder)))


if __name__ == "__main__":
    main()
