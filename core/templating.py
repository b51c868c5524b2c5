"""Rendering of customer- and staff-facing text from templates/ (zh and en), in a sandboxed Jinja2.

Templates are named `<folder>/<name>.<lang>.j2`. Values staff typed (an outage reason, a contact) are data
passed in the context, never template source. `html=True` escapes for Telegram's HTML parse mode.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
LANGUAGES = ("zh", "en")


def money(value: Decimal | float | int) -> str:
    """¥1,234.56"""
    amount = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{abs(amount):,.2f}"


def kwh(value: Decimal | float | int) -> str:
    """1,234.5 (no unit: the template says kWh or 度)."""
    number = Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    text = f"{number:,.1f}"
    return text[:-2] if text.endswith(".0") else text


class Renderer:
    def __init__(self, timezone: str = "Asia/Shanghai", templates_dir: Path = TEMPLATES_DIR) -> None:
        self.tz = ZoneInfo(timezone)
        self._plain = self._environment(templates_dir, autoescape=False)
        self._html = self._environment(templates_dir, autoescape=True)

    def _environment(self, templates_dir: Path, *, autoescape: bool) -> SandboxedEnvironment:
        env = SandboxedEnvironment(
            loader=FileSystemLoader(templates_dir),
            autoescape=select_autoescape(default=True, default_for_string=True) if autoescape else False,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        env.filters["money"] = money
        env.filters["kwh"] = kwh
        env.filters["local"] = self.local
        env.filters["local_date"] = lambda value: self.local(value, "%Y-%m-%d")
        env.filters["local_time"] = lambda value: self.local(value, "%H:%M")
        return env

    def local(self, value: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """A UTC timestamp shown in the utility's timezone."""
        return value.astimezone(self.tz).strftime(fmt)

    def render(self, name: str, language: str, *, html: bool = False, **context: object) -> str:
        if language not in LANGUAGES:
            raise ValueError(f"unsupported language {language!r}")
        env = self._html if html else self._plain
        return env.get_template(f"{name}.{language}.j2").render(**context).strip()
