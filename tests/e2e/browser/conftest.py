"""Browser fixtures: one headless Chromium per run, a fresh context (zh-CN) per test, and the real api as a process
on the test database with the demo data and the real Rasa server.

Under CI=true a missing Chromium fails these tests with what to run (tests/conftest.py `unavailable`)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import make_sessionmaker
from nlu.project import free_port
from tests.conftest import empty_tables, unavailable
from tests.support.browser import (
    MISSING_CHROMIUM,
    ROOT,
    ApiProcess,
    LiveApi,
    chromium,
    chromium_installed,
    new_context,
)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not chromium_installed():
        unavailable(MISSING_CHROMIUM)
    async with chromium() as browser:
        yield browser


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    async with new_context(browser, locale="zh-CN") as context:
        yield context


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


@pytest.fixture(scope="module")
async def live_api(
    database_url: str, rasa_url: str, engine: AsyncEngine, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveApi]:
    """`gridtalk demo load`, then `gridtalk api` on a free port against the test database and the real Rasa
    server, ready (/readyz); stopped, and the tables emptied, after the module."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDTALK_")}
    env.update(GRIDTALK_DATABASE_URL=database_url, GRIDTALK_RASA_URL=rasa_url)
    api = ApiProcess(env, free_port(), tmp_path_factory.mktemp("api") / "api.log")
    try:
        loaded = await asyncio.to_thread(
            subprocess.run,
            [str(ROOT / ".venv" / "bin" / "gridtalk"), "demo", "load"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert loaded.returncode == 0, loaded.stderr
        api.start()
        await asyncio.to_thread(api.wait_ready, 60)
        yield LiveApi(api.url, make_sessionmaker(engine))
    finally:
        await asyncio.to_thread(api.stop)
        await empty_tables(engine)
