"""Shared fixtures: a migrated database (SQLite, or PostgreSQL with GRIDTALK_TEST_DB=postgresql), a real
Rasa server, and the CI rule that nothing may be skipped.

Each database test gets a schema built by `alembic upgrade head` once per run, and empty tables: they are
emptied after every test (tests commit for real, as the app does, so a rollback-only trick would lie).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import core.security
from core.clock import FrozenClock
from core.config import Settings
from core.db import make_engine, make_sessionmaker
from core.db.migrate import upgrade
from core.models import Base
from core.outages.places_cache import places_changed

IN_CI = os.environ.get("CI", "").lower() == "true"
BACKEND = os.environ.get("GRIDTALK_TEST_DB", "sqlite")
ROOT = Path(__file__).resolve().parent.parent


# Tests that drive whole processes: end to end, browser, fault injection, fuzzing the running api.
E2E_DIRS = tuple(Path(__file__).resolve().parent / name for name in ("e2e", "faults"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the database is a `db` test: the PostgreSQL run selects them with -m db. A test under
    tests/e2e or tests/faults drives whole processes: it is an `e2e` test, run once, in the PostgreSQL run
    (-m "db or e2e") and deselected from the SQLite run (-m "not e2e"); so is one marked e2e by hand."""
    for item in items:
        if "database_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)
        if any(folder in Path(str(item.fspath)).resolve().parents for folder in E2E_DIRS):
            item.add_marker(pytest.mark.e2e)


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if IN_CI and _skipped and exitstatus == 0:
        session.exitstatus = 1
        print(f"\nCI=true: {len(_skipped)} skipped test(s) count as failures: {', '.join(_skipped[:10])}")


@pytest.fixture(autouse=True, scope="session")
def quick_password_hashing() -> Iterator[None]:
    """Staff passwords hashed and checked with argon2id at its lowest cost in this process: the product's cost
    is ≈ 0.1 s a hash and a check, on purpose, and the suite creates and signs in staff some thousand times. The
    scheme, the salts and the checks are the real ones (a process the tests start, `gridtalk api`, keeps the
    product's cost and rehashes such a hash at the first sign-in, as it would any hash of other parameters)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(core.security, "_ARGON2", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        yield


def unavailable(reason: str) -> None:
    """Skip on a developer's machine; under CI a missing service is a failure."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: required)")
    pytest.skip(reason)


def _admin(url: str, *statements: str) -> None:
    """Run statements outside a transaction (CREATE/DROP DATABASE) on the server of `url`."""

    async def run() -> None:
        engine = make_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                for statement in statements:
                    await conn.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run())


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated to head, once per test run.

    On PostgreSQL each run gets a database of its own (`<name>_<pid>`, dropped afterwards) next to the one
    GRIDTALK_TEST_DATABASE_URL names, so two runs on one server never trip over each other.
    """
    if BACKEND != "postgresql":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'gridtalk.db'}"
        upgrade(url)
        yield url
        return
    base = os.environ.get("GRIDTALK_TEST_DATABASE_URL")
    if not base:
        unavailable("GRIDTALK_TEST_DATABASE_URL is not set")
    assert base is not None
    name = f"{make_url(base).database}_{os.getpid()}"
    try:
        _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    except OSError as exc:
        unavailable(f"PostgreSQL at {make_url(base).render_as_string()} is unreachable: {exc}")
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


async def empty_tables(engine: AsyncEngine) -> None:
    """Every row gone, children before parents, and on PostgreSQL every sequence back at 1 (as after a TRUNCATE
    ... RESTART IDENTITY, which costs ≈ 55 ms a test over 37 tables against ≈ 5 ms for these DELETEs)."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with engine.begin() as conn:
        for name in tables:
            await conn.execute(text(f"DELETE FROM {name}"))
        if engine.dialect.name == "postgresql":
            await conn.execute(text("SELECT setval(c.oid::regclass, 1, false) FROM pg_class c WHERE c.relkind = 'S'"))
    places_changed()  # the districts and feeders this process keeps are gone with the rows


@pytest.fixture
async def sessionmaker(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the test database; every table is emptied after the test."""
    yield make_sessionmaker(engine)
    await empty_tables(engine)


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 23, 9, 30, tzinfo=UTC))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, env="test", rasa_model_dir=ROOT / "nlu" / "models")


@pytest.fixture(scope="session")
def rasa_url() -> Iterator[str]:
    """A real Rasa server from the trained model (`make test` trains it), for the run."""
    from nlu.project import RasaServer, current_model, free_port

    model = current_model(ROOT / "nlu" / "models")
    if model is None:
        unavailable("no NLU model trained from the current nlu/: run `make model`")
    assert model is not None
    server = RasaServer(model, free_port(), ROOT / ".venv-rasa")
    server.start()
    try:
        server.wait_ready(timeout=240, progress=lambda _line: None)
        yield server.url
    finally:
        server.stop()
