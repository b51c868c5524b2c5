"""Headless Chromium for the browser tests (tests/e2e/browser): Debian's /usr/bin/chromium driven by Playwright's
async API, and the real api started as a process for it to load pages from.

`make install` installs Chromium and the CJK fonts (scripts/install-browser.sh); Playwright's own browser
download is not used. Every wait here has a timeout.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# The flags this machine needs (no sandbox as root, no GPU, and no background connections: the network is
# closed). Playwright adds --headless and gives every launch a fresh, empty user data dir of its own (it
# refuses --user-data-dir in `args`).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MISSING_CHROMIUM = (
    f"the browser tests need Debian's Chromium at {CHROMIUM} and CJK fonts: run `make install` as root, "
    "or `sudo apt-get install -y --no-install-recommends chromium fonts-noto-cjk`"
)
SCREENSHOTS = ROOT / "reports" / "screenshots"
TIMEOUT_MS = 15_000  # the longest any page action or expectation waits
STAFF_PASSWORD = "gridtalk-demo"  # every demo staff user's
PHONE: ViewportSize = {"width": 390, "height": 844}  # a phone's width, where nothing may overflow (fits)
# Anything laid out past the right edge of the viewport (what a phone would cut off or scroll sideways to).
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const e of document.querySelectorAll("body *")) {
    const r = e.getBoundingClientRect();
    if (!r.width || !r.height || e.closest(".skip, .visually-hidden")) continue;
    if (r.left < -1 || r.right > width + 1) out.push(`${e.tagName}.${e.className} ${r.left | 0}..${r.right | 0}`);
  }
  return { width, scrollWidth: document.documentElement.scrollWidth, out };
}"""


def chromium_installed() -> bool:
    """Chromium, and fonts with Chinese glyphs (without them Chinese text renders as boxes)."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return False
    try:
        fonts = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return fonts.returncode == 0 and bool(fonts.stdout.strip())


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """One headless Chromium, closed (with Playwright's driver) on the way out."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def new_context(browser: Browser, *, locale: str = "zh-CN") -> AsyncIterator[BrowserContext]:
    """A fresh context (no cookies, no storage) whose waits are bounded by TIMEOUT_MS."""
    context = await browser.new_context(locale=locale, viewport={"width": 900, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        await context.close()


async def sign_in(page: Page, url: str, username: str) -> None:
    """Sign in to the console (in Chinese, the default) as a demo staff user; lands on the home page."""
    await page.goto(f"{url}/console/login")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(STAFF_PASSWORD)
    await page.get_by_label("密码").press("Enter")
    await expect(page).to_have_url(re.compile(r"/console/?$"))


async def fits(page: Page) -> None:
    """Nothing wider than the viewport, nothing laid out past its edge (what a phone would cut off)."""
    layout = await page.evaluate(OVERFLOW)
    assert layout["scrollWidth"] <= layout["width"] and not layout["out"], layout


async def screenshot(page: Page, name: str) -> Path:
    """Save the page as reports/screenshots/<name>.png (reports/ is git-ignored) and return the path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


@dataclass(frozen=True)
class LiveApi:
    """The running api (its base URL) and sessions on the database it uses."""

    url: str
    sessionmaker: async_sessionmaker[AsyncSession]


class ApiProcess:
    """`gridtalk api` as a separate process on 127.0.0.1:`port`; stop() always ends it."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDTALK_")}
        self._env.update(env, GRIDTALK_API_HOST="127.0.0.1", GRIDTALK_API_PORT=str(port), PYTHONUNBUFFERED="1")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(ROOT / ".venv" / "bin" / "gridtalk"), "api"],
                cwd=ROOT,
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def log_tail(self, lines: int = 40) -> str:
        with suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until /readyz answers 200 (database and NLU ok); fails early if the process exits."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        last = "no answer"
        with httpx.Client(timeout=5.0) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"gridtalk api exited ({self.proc.returncode}):\n{self.log_tail()}")
                try:
                    response = http.get(f"{self.url}/readyz")
                    if response.status_code == 200:
                        return
                    last = f"{response.status_code} {response.text}"
                except httpx.HTTPError as exc:
                    last = repr(exc)
                time.sleep(0.2)
        raise RuntimeError(f"gridtalk api not ready within {timeout} s ({last}):\n{self.log_tail()}")

    def stop(self, grace: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(grace)
