"""The async work behind one-shot CLI commands; each opens its own engine and unit of work."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import IO, Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import SystemClock
from core.config import Settings
from core.db import make_engine, make_sessionmaker, session_scope


@asynccontextmanager
async def unit_of_work(settings: Settings) -> AsyncIterator[AsyncSession]:
    engine = make_engine(settings.database_url)
    try:
        async with session_scope(make_sessionmaker(engine)) as session:
            yield session
    finally:
        await engine.dispose()


async def load_demo_data(settings: Settings, *, force: bool = False) -> Any:
    from core.demo import load_demo
    from core.services import CoreServices

    statements = CoreServices.build(settings, SystemClock()).statements  # the key accounts' latest bills mailed
    async with unit_of_work(settings) as session:
        return await load_demo(session, SystemClock().now(), force=force, history=True, statements=statements)


async def database_is_empty(settings: Settings) -> bool:
    from core.demo import database_is_empty as is_empty

    async with unit_of_work(settings) as session:
        return await is_empty(session)


async def demo_accounts(settings: Settings) -> list[dict[str, Any]]:
    from core.demo import list_demo_accounts

    async with unit_of_work(settings) as session:
        return await list_demo_accounts(session)


def _staff_service(settings: Settings) -> Any:
    from core.services import CoreServices

    return CoreServices.build(settings, SystemClock()).staff


async def create_staff_user(settings: Settings, username: str, password: str, role: str, name: str) -> int:
    """`gridtalk staff create`: audited as done from the command line (no staff actor, client "cli")."""
    staff = _staff_service(settings)
    async with unit_of_work(settings) as session:
        user = await staff.create(
            session, username=username, password=password, role=role, display_name=name, client="cli"
        )
        return int(user.id)


async def disable_staff_user(settings: Settings, username: str) -> None:
    """`gridtalk staff disable`: the user can no longer sign in; their sessions end."""
    staff = _staff_service(settings)
    async with unit_of_work(settings) as session:
        user = await staff.by_username(session, username)
        await staff.disable(session, user.id, client="cli")


async def reset_staff_password(settings: Settings, username: str, password: str) -> None:
    """`gridtalk staff reset-password`: a new password; the user's console sessions end."""
    staff = _staff_service(settings)
    async with unit_of_work(settings) as session:
        user = await staff.by_username(session, username)
        await staff.reset_password(session, user.id, password, client="cli")


async def parse_lines(settings: Settings, stdin: IO[str], stdout: IO[str], progress: Callable[[str], None]) -> None:
    """`gridtalk nlu parse`: the configured Rasa when it answers, else a temporary one on a free port."""
    import asyncio

    from nlu.client import RasaNluClient
    from nlu.normalize import as_typed
    from nlu.project import NluError, RasaServer, current_model, free_port, latest_model

    server: RasaServer | None = None
    url = settings.rasa_url or f"http://127.0.0.1:{settings.rasa_port}"
    client = RasaNluClient(
        url,
        timeout=settings.nlu_timeout,
        threshold=settings.nlu_confidence_threshold,
        max_chars=settings.nlu_max_chars,
    )
    try:
        if not await client.ready():
            await client.aclose()
            model = current_model(settings.rasa_model_dir) or latest_model(settings.rasa_model_dir)
            if model is None:
                raise RuntimeError("no trained NLU model: run `gridtalk nlu train` first")
            server = RasaServer(model, free_port(), settings.rasa_venv)
            progress(f"[nlu] no Rasa at {url}; starting one from {model.name} for this command")
            server.start()
            try:
                await asyncio.to_thread(server.wait_ready, 180.0, progress)
            except NluError as exc:
                raise RuntimeError(str(exc)) from None
            client = RasaNluClient(
                server.url,
                timeout=10.0,
                threshold=settings.nlu_confidence_threshold,
                max_chars=settings.nlu_max_chars,
            )
        for line in stdin:
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            result = await client.parse(text)
            stdout.write(json.dumps(as_typed(result.to_dict(), text), ensure_ascii=False) + "\n")
            stdout.flush()
    finally:
        await client.aclose()
        if server is not None:
            server.stop()


def _privacy_service() -> Any:
    from core.privacy import PrivacyService
    from core.staff.audit import AuditService

    clock = SystemClock()
    return PrivacyService(clock, AuditService(clock))


async def purge_transcripts(settings: Settings, *, dry_run: bool = False) -> Any:
    """`gridtalk db purge-transcripts`: GRIDTALK_RETENTION_DAYS applied now (audited as done from the command line)."""
    async with unit_of_work(settings) as session:
        return await _privacy_service().purge_transcripts(
            session, settings.retention_days, dry_run=dry_run, client="cli"
        )


async def export_customer(settings: Settings, subject: Any) -> dict[str, Any]:
    """`gridtalk customer export`: everything held about one person (audited, actor None = command line)."""
    async with unit_of_work(settings) as session:
        data: dict[str, Any] = await _privacy_service().export(session, subject, client="cli")
        return data


async def erase_customer(settings: Settings, subject: Any) -> Any:
    """`gridtalk customer erase`: one person's personal fields cleared (audited, actor None = command line)."""
    async with unit_of_work(settings) as session:
        return await _privacy_service().erase(session, subject, client="cli")


# ------------------------------------------------------------------------------------- fault outages


async def outage_action(
    settings: Settings, username: str, action: str, outage_id: int | None, **values: Any
) -> dict[str, Any]:
    """`gridtalk outage …`: one action on a fault outage done as a staff user (their role must allow it, as
    in the API; audited with client "cli"); the outage as the API shows it."""
    from dataclasses import asdict

    from core.errors import PermissionDenied
    from core.models.enums import OutageKind
    from core.outages import service
    from core.services import CoreServices
    from core.staff.permissions import Permission, access

    needs = {
        "create": Permission.FAULT_OUTAGES_DRAFT,
        "estimate": Permission.FAULT_OUTAGES_DRAFT,
        "publish": Permission.FAULT_OUTAGES_PUBLISH,
        "restore": Permission.FAULT_OUTAGES_PUBLISH,
    }
    core = CoreServices.build(settings, SystemClock())
    async with unit_of_work(settings) as session:
        user = await core.staff.by_username(session, username)
        wanted = [needs[action]] + ([Permission.FAULT_OUTAGES_PUBLISH] if values.get("publish") else [])
        for permission in wanted:
            if access(user.role, permission) is None:
                raise PermissionDenied(f"the {user.role} role may not do this ({permission})")
        who: dict[str, Any] = {"actor_id": user.id, "client": "cli"}
        if action == "create":
            data = service.OutageInput(
                kind=OutageKind.UNPLANNED,
                starts_at=values["starts_at"],
                ends_at=None,
                estimated_restoration_at=values["estimate"],
                reason=values["reason"],
                contact=values["contact"],
                areas=values["areas"],
                feeders=values["feeders"],
            )
            outage_id = (await core.outages.create(session, data, **who)).id
            if values["publish"]:
                await core.outages.publish(session, outage_id, **who)
        else:
            assert outage_id is not None
            if (await service.get_outage(session, outage_id)).kind != OutageKind.UNPLANNED:
                raise PermissionDenied("this command manages fault outages; planned ones are managed in the API")
            if action == "estimate":
                changes = service.OutageChanges(estimated_restoration_at=values["estimate"])
                await core.outages.update(session, outage_id, changes, **who)
            elif action == "publish":
                await core.outages.publish(session, outage_id, **who)
            else:
                await core.outages.complete(session, outage_id, feeders=values["feeders"] or None, **who)
        view = await core.outage_views.outage(session, outage_id)
    shown: dict[str, Any] = json.loads(json.dumps(asdict(view), default=str))
    return shown


# ------------------------------------------------------------------------------------------ applications


async def application_action(settings: Settings, username: str, action: str, **values: Any) -> dict[str, Any]:
    """`gridtalk application …`: create, advance (or reopen) or list applications as a staff user (their role must
    allow it, as in the API: an account manager only their own key accounts'; audited with client "cli"); the
    application, or the list, as the API shows it."""
    from dataclasses import asdict

    from core.applications.views import NewApplication
    from core.errors import PermissionDenied
    from core.services import CoreServices
    from core.staff.permissions import Access, Permission, access

    core = CoreServices.build(settings, SystemClock())
    async with unit_of_work(settings) as session:
        user = await core.staff.by_username(session, username)
        allowed = access(user.role, Permission.APPLICATIONS_MANAGE)
        if allowed is None:
            raise PermissionDenied(f"the {user.role} role may not do this ({Permission.APPLICATIONS_MANAGE})")
        who: dict[str, Any] = {"manager_id": user.id if allowed is Access.OWN else None}
        if action == "list":
            items, total = await core.applications.page(session, **values, **who)
            shown: Any = {"items": [asdict(item) for item in items], "total": total}
        elif action == "create":
            data = NewApplication(**values)
            shown = asdict(await core.applications.create(session, data, actor=user, client="cli", **who))
        else:
            shown = asdict(await core.applications.advance(session, **values, actor=user, client="cli", **who))
    found: dict[str, Any] = json.loads(json.dumps(shown, default=str, ensure_ascii=False))
    return found
