"""Checks of single setting values (pure), by setting name (`CHECKS`): core.config.Settings applies them. Each
returns the value as Settings keeps it, or raises ValueError saying what is wrong (pydantic names the setting)."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.applications.stages import parse_days, parse_holidays, parse_route


def check_async_driver(value: str) -> str:
    if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
    return value


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {value!r}") from exc
    return value


def check_payment_methods(value: str) -> str:
    """Known payment method keys, comma-separated; kept without blanks."""
    known = {"app", "wechat", "alipay", "bank_autodebit", "online_banking", "service_hall", "prepaid"}
    keys = [key.strip() for key in value.split(",") if key.strip()]
    unknown = [key for key in keys if key not in known]
    if not keys or unknown:
        raise ValueError(f"unknown payment method(s) {unknown}; known: {', '.join(sorted(known))}")
    return ",".join(keys)


def check_proxy_addresses(value: str | None) -> str | None:
    """Addresses or networks, comma-separated; empty: None."""
    for part in (value or "").split(","):
        if part.strip():
            try:
                ipaddress.ip_network(part.strip(), strict=False)
            except ValueError as exc:
                raise ValueError(f"not an address or network: {part.strip()!r}") from exc
    return value or None


def check_json(value: str) -> str:
    try:
        json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg}") from exc
    return value


def check_stage_days(value: str) -> str:
    parse_days(value)
    return value


def check_holidays(value: str) -> str:
    parse_holidays(value)
    return value


def check_stage_route(value: str) -> str:
    parse_route(value)
    return value


CHECKS: Mapping[str, Callable[[Any], Any]] = {
    "database_url": check_async_driver,
    "timezone": check_timezone,
    "payment_methods": check_payment_methods,
    "trusted_proxy": check_proxy_addresses,
    "sms_webhook_body": check_json,
    "application_stage_days": check_stage_days,
    "application_holidays": check_holidays,
    "application_stages_new_connection": check_stage_route,
    "application_stages_capacity_increase": check_stage_route,
    "application_stages_capacity_decrease": check_stage_route,
    "application_stages_ev_charger": check_stage_route,
    "application_stages_rooftop_solar": check_stage_route,
}
