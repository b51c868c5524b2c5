"""The api under schemathesis: cases generated from its own OpenAPI (valid and invalid input), sent in process to
the real app on a migrated database holding the demo data, as each staff role and as an anonymous caller.

Every answer must be below 500, carry a status the route declares, and a body that matches the schema declared
for that status (error bodies included: `api.errors.ErrorBody`); invalid input must be refused with a 4xx, and a
staff route must refuse a caller without credentials. Generation is seeded (per role, operation and mode), so a
run is repeatable and each role gets cases of its own; the counts per role and the time are printed.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections import Counter
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from core.clock import FrozenClock
from core.db import session_scope
from core.demo import load_demo
from core.models import Escalation, FaultTicket, Outage, StaffUser
from tests.fakes.nlu import FakeNlu
from tests.support.notices import notice_settings

pytestmark = pytest.mark.e2e

PASSWORD = "gridtalk-demo"
# Anonymous first, the admin last: what the admin's cases change (disabled users, new passwords) cannot take
# away the other roles' credentials in the middle of their run.
ROLES: dict[str, str | None] = {
    "anonymous": None,
    "agent": "agent.li",
    "account_manager": "manager.wang",
    "supervisor": "supervisor.zhou",
    "admin": "admin",
}
EXAMPLES = 6  # per operation, per generation mode (valid / invalid input), per role
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]
MIN_CASES = 1000
REQUEST_TIMEOUT = 10.0  # seconds, one request
BUDGET = 300.0  # seconds, the whole run (it takes well under that; beyond it something hangs)


async def test_every_answer_is_declared_and_no_5xx(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with session_scope(sessionmaker) as session:
        await load_demo(session, clock.now())
    async with sessionmaker() as session:  # ids that exist: some cases aim at them (a random id is a 404)
        known: dict[str, list[Any]] = {
            name: list(await session.scalars(select(model.id).order_by(model.id).limit(5)))
            for name, model in (
                ("outage_id", Outage),
                ("escalation_id", Escalation),
                ("ticket_id", FaultTicket),
                ("staff_id", StaffUser),
            )
        }
    app = create_app(notice_settings(database_url), clock=clock, nlu=FakeNlu())
    # schemathesis drives an ASGI app from its own event loop thread; the app's lifespan (engine, services)
    # runs there, so the blocking run goes to a worker thread of ours.
    try:
        report = await asyncio.wait_for(asyncio.to_thread(fuzz, app, known), timeout=BUDGET + 60)
    finally:
        await asyncio.to_thread(asgi.shutdown_lifespans)
    with capsys.disabled():
        print("\n" + report.summary())
    assert not report.failures, "\n\n".join(report.failures[:10]) + f"\n\n{len(report.failures)} operation(s) failed"
    assert report.total >= MIN_CASES, report.summary()
    for role, statuses in report.statuses.items():
        assert sum(statuses.values()) >= MIN_CASES // (2 * len(ROLES)), (role, statuses)  # a fair share each
        if role == "anonymous":
            assert statuses[401] > 0, statuses
        else:
            assert sum(n for status, n in statuses.items() if status < 300) > 0, (role, statuses)  # signed in


# Requests that once answered 500 (ids beyond 32 or 64 bits reached the database), now a 422 in the error shape.
ONCE_500 = [
    ("GET", "/api/v1/chat/sessions/{session}/messages?after=17087778048002512896"),
    ("GET", "/api/v1/chat/sessions/{session}/messages?after=2147483648"),
    ("POST", "/api/v1/outages/258477970009809780736/cancel"),
    ("GET", "/api/v1/outages/4294967297"),
    ("POST", "/api/v1/escalations/4294967297/claim"),
    ("POST", "/api/v1/tickets/26725284722/status"),
    ("GET", "/api/v1/staff?offset=9223372036854775808"),
    ("GET", "/api/v1/audit?since=9999-12-31T23:59:59-23:59"),
]


# Button payloads naming a record beyond the id columns: once a 500, now simply not a known button.
PAYLOADS_ONCE_500 = ["notice:ack:3000000000", "notice:problem:9223372036854775807", "account:2147483648"]


async def test_ids_beyond_the_columns_are_refused_not_500(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, database_url: str
) -> None:
    async with session_scope(sessionmaker) as session:
        await load_demo(session, clock.now())
    app = create_app(notice_settings(database_url), clock=clock, nlu=FakeNlu())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=30) as http,
    ):
        token = await http.post("/api/v1/auth/token", data={"username": "admin", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        session_id = (await http.post("/api/v1/chat/sessions", json={})).json()["session_id"]
        for method, path in ONCE_500:
            response = await http.request(method, path.format(session=session_id), headers=headers, json={})
            assert response.status_code == 422, (method, path, response.text)
            item = response.json()["detail"][0]
            assert item["type"] and item["loc"] and item["msg"], (path, item)
        for payload in PAYLOADS_ONCE_500:
            response = await http.post(f"/api/v1/chat/sessions/{session_id}/messages", json={"payload": payload})
            assert response.status_code == 200 and response.json()["replies"], (payload, response.text)


class Report:
    def __init__(self) -> None:
        self.statuses: dict[str, Counter[int]] = {role: Counter() for role in ROLES}
        self.failures: list[str] = []
        self.seconds: dict[str, float] = {}

    @property
    def total(self) -> int:
        return sum(sum(counter.values()) for counter in self.statuses.values())

    def summary(self) -> str:
        lines = [f"api fuzz: {self.total} cases in {sum(self.seconds.values()):.1f}s"]
        for role, counter in self.statuses.items():
            codes = ", ".join(f"{status}: {n}" for status, n in sorted(counter.items()))
            lines.append(f"  {role:<16} {sum(counter.values()):>5} cases {self.seconds.get(role, 0):6.1f}s  ({codes})")
        return "\n".join(lines)


def fuzz(app: Any, known: dict[str, list[Any]]) -> Report:
    report = Report()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    started = time.monotonic()
    with asgi.get_client(app) as client:
        headers = {role: sign_in(client, user) for role, user in ROLES.items()}  # before any failed sign-in
        chats = [client.post("/api/v1/chat/sessions", json={}).json()["session_id"] for _ in range(2)]
        known = {**known, "session_id": chats}  # before the cases use up the sessions allowed per address
        for role in ROLES:
            role_started = time.monotonic()
            for result in schema.get_all_operations():
                if isinstance(result, Err):
                    report.failures.append(f"an operation of the OpenAPI is invalid: {result.err()}")
                    continue
                operation = result.ok()
                for mode in MODES:
                    if time.monotonic() - started > BUDGET:
                        report.failures.append(f"over the budget of {BUDGET}s; stopped at {role} {operation.label}")
                        return report
                    strategy = strategy_for(operation, mode, known)
                    run_operation(operation, mode, strategy, client, headers[role], report, role)
            report.seconds[role] = time.monotonic() - role_started
    return report


def sign_in(client: Any, username: str | None) -> dict[str, str]:
    if username is None:
        return {}
    response = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def strategy_for(operation: Any, mode: schemathesis.GenerationMode, known: dict[str, list[Any]]) -> Any:
    """Generated cases, and as many again with a path id of a record that exists (the rest of the case
    generated): a random id rarely names one, and a route's work happens past its 404."""
    generated = operation.as_strategy(generation_mode=mode)
    names = [p.name for p in operation.path_parameters if known.get(p.name)]
    if not names:
        return generated
    aimed = [
        operation.as_strategy(generation_mode=mode, path_parameters={name: value})
        for name in names
        for value in known[name]
    ]
    return st.one_of(generated, st.one_of(*aimed))


def run_operation(
    operation: Any,
    mode: schemathesis.GenerationMode,
    strategy: Any,
    client: Any,
    headers: dict[str, str],
    report: Report,
    role: str,
) -> None:
    count = report.statuses[role].update

    # A seed of its own per role, operation and mode: each role gets other cases, and every run the same ones.
    @seed(zlib.crc32(f"{role} {operation.label} {mode.value}".encode()))
    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def send(case: schemathesis.Case[Any]) -> None:
        response = case.call(session=client, headers=headers, timeout=REQUEST_TIMEOUT)
        count([response.status_code])
        case.validate_response(response, checks=CHECKS, headers=headers)

    try:
        send()
    except Unsatisfiable:
        pass  # nothing to negate (an operation without parameters or body): its valid cases ran
    # A failed check (schemathesis's FailureGroup: the request as curl, the answer) or the app raising.
    except (Exception, BaseExceptionGroup) as exc:
        report.failures.append(f"[{role}, {mode.value}] {operation.label}\n{exc}")
