"""How a change to an outage is written down, whatever its kind: its scope rows replaced in place
(`rescope`), and the audit log's detail of the change (`describe`: a new outage's times and scope;
`stage_list`: the notice stages it planned; `jsonable`: a time as ISO 8601 text). Shared by OutageService
(core.outages.service) and FaultOutages (core.outages.faults); no database access of its own."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.models import NoticeStage, Outage, OutageAccount, OutageArea, OutageFeeder
from core.outages.facts import Scope


def rescope(outage: Outage, old: Scope, new: Scope) -> None:
    """Keep the scope rows that stay (same primary keys), drop the others, add the new ones."""
    outage.areas = [a for a in outage.areas if a.area_code in new.area_codes] + [
        OutageArea(area_code=code) for code in new.area_codes if code not in old.area_codes
    ]
    outage.feeders = [f for f in outage.feeders if f.feeder_code in new.feeder_codes] + [
        OutageFeeder(feeder_code=code) for code in new.feeder_codes if code not in old.feeder_codes
    ]
    outage.accounts = [a for a in outage.accounts if a.account_id in new.account_ids] + [
        OutageAccount(account_id=ident) for ident in new.account_ids if ident not in old.account_ids
    ]


def describe(outage: Outage, accounts: tuple[str, ...]) -> dict[str, Any]:
    return {
        "starts_at": jsonable(outage.starts_at),
        "ends_at": jsonable(outage.ends_at),
        "areas": [a.area_code for a in outage.areas],
        "feeders": [f.feeder_code for f in outage.feeders],
        "accounts": list(accounts),
    }


def stage_list(stages: list[NoticeStage]) -> list[dict[str, Any]]:
    return [
        {"stage": s.stage, "audience": s.audience, "due_at": jsonable(s.due_at), "recipients": s.recipients}
        for s in stages
    ]


def jsonable(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value
