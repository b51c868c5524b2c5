"""Load the demo data set into the caller's session (flushes, never commits) and list its accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from core.billing.calc import LineSpec
from core.billing.statements import BillStatements
from core.demo.applications import load_applications
from core.demo.data import (
    DEFAULT_TIMEZONE,
    DEMO_PASSWORD,
    AccountSpec,
    BillSpec,
    DemoDataset,
    TicketSpec,
    build_dataset,
)
from core.demo.history import HISTORY_AGENT, load_history
from core.demo.repository import DemoRepository
from core.errors import Conflict
from core.models import (
    Area,
    Base,
    Customer,
    FaultTicket,
    Feeder,
    Identity,
    IdentityAccount,
    KeyAccountContact,
    KeyAccountProfile,
    Outage,
    OutageArea,
    OutageEstimate,
    OutageFeeder,
    OutageReport,
    StaffUser,
    Tariff,
    UtilityAccount,
)
from core.security import hash_password


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What load_demo created, for the CLI to print."""

    customers: int
    residential: int
    key_accounts: int
    bills: int
    identities: int
    outages: int
    staff: int
    tickets: int
    outage_reports: int
    past_conversations: int = 0
    applications: int = 0
    statements: int = 0  # bill statements queued to the key accounts' contacts (their latest month)


async def database_is_empty(session: AsyncSession) -> bool:
    """True when the database holds no customers (the demo may be loaded without --force)."""
    return await DemoRepository(session).customer_count() == 0


async def load_demo(
    session: AsyncSession,
    now: datetime,
    *,
    force: bool = False,
    tz: ZoneInfo | None = None,
    history: bool = False,
    statements: BillStatements | None = None,
) -> DemoSummary:
    """Load the deterministic demo data set, with dates relative to `now` (bills in `tz`, default Shanghai);
    with `history`, also a few weeks of past conversations, surveys, follow-ups and notices (core.demo.history);
    with `statements`, the key accounts' latest bills are mailed to their contacts (queued in the outbox).

    Refuses (Conflict) when customers exist, unless `force`: then every row of every table is deleted
    first. Staff users, tariffs, areas and feeders that already exist under a demo name are kept as they
    are. Flushes but never commits: the caller owns the transaction.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    repo = DemoRepository(session)
    if force:
        await repo.delete_everything()
    elif await repo.customer_count():
        raise Conflict(
            "the database already holds customers; the demo data loads only into an empty database "
            "(use --force to delete ALL data and load the demo again)"
        )
    data = build_dataset(now, tz)

    # 1. reference rows: tariffs, staff, areas, then feeders (reusing any that exist under the same name)
    staff_ids = await repo.staff_ids(s.username for s in data.staff)
    tariff_ids = await repo.tariff_ids(t.code for t in data.tariffs)
    have_areas = await repo.area_codes(a.code for a in data.areas)
    have_feeders = await repo.feeder_codes(f.code for f in data.feeders)
    password_hash = hash_password(DEMO_PASSWORD)  # scrypt is slow: once for every demo user
    new_staff = [
        StaffUser(
            username=s.username,
            password_hash=password_hash,
            role=s.role,
            display_name=s.display_name,
            phone=s.phone,
            email=s.email,
            telegram_chat_id=s.telegram_chat_id,
            is_active=True,
            created_at=now,
        )
        for s in data.staff
        if s.username not in staff_ids
    ]
    new_tariffs = [
        Tariff(
            code=t.code,
            name=t.name,
            tier1_limit_kwh=t.terms.tier1_limit_kwh,
            tier2_limit_kwh=t.terms.tier2_limit_kwh,
            tier2_surcharge=t.terms.tier2_surcharge,
            tier3_surcharge=t.terms.tier3_surcharge,
            peak_price=t.terms.peak_price,
            valley_price=t.terms.valley_price,
            peak_starts=t.peak_starts,
            valley_starts=t.valley_starts,
        )
        for t in data.tariffs
        if t.code not in tariff_ids
    ]
    areas = [Area(code=a.code, name=a.name, name_en=a.name_en) for a in data.areas if a.code not in have_areas]
    await repo.add_all([*new_staff, *new_tariffs, *areas])
    staff_ids.update({s.username: s.id for s in new_staff})
    tariff_ids.update({t.code: t.id for t in new_tariffs})
    await repo.add_all(
        [
            Feeder(code=f.code, area_code=f.area_code, name=f.name, lines=f.lines)
            for f in data.feeders
            if f.code not in have_feeders
        ]
    )

    # 2. customers and their accounts
    accounts: list[tuple[AccountSpec, UtilityAccount]] = []
    customers: list[Customer] = []
    for spec in data.accounts:
        customer = Customer(name=spec.customer_name, segment=spec.segment, language=spec.language, created_at=now)
        account = UtilityAccount(
            account_number=spec.account_number,
            customer=customer,
            address=spec.address,
            area_code=spec.area_code,
            feeder_code=spec.feeder_code,
            phone=spec.phone,
            tariff_id=tariff_ids[spec.tariff_code],
            created_at=now,
        )
        customers.append(customer)
        accounts.append((spec, account))
    await repo.add_all(customers)

    # 3. bills and their lines, key-account profiles and contacts, identities, outages
    # (bills and their lines are many: bulk-inserted, without the unit of work's row-by-row RETURNING)
    bill_ids = await repo.insert_bills(
        [_bill_row(bill, account.id) for spec, account in accounts for bill in spec.bills]
    )
    await repo.insert_bill_lines(
        [
            {**_line_row(line, position), "bill_id": bill_ids[(account.id, bill.period)]}
            for spec, account in accounts
            for bill in spec.bills
            for position, line in enumerate(bill.lines, start=1)
        ]
    )
    rows: list[Base] = []
    identities: list[tuple[Identity, int]] = []
    for spec, account in accounts:
        if spec.key_account is not None:
            key = spec.key_account
            rows.append(
                KeyAccountProfile(
                    account_id=account.id,
                    account_manager_id=staff_ids[key.manager_username],
                    priority=key.priority,
                    category=key.category,
                )
            )
            rows.extend(
                KeyAccountContact(
                    account_id=account.id,
                    name=c.name,
                    title=c.title,
                    telegram_chat_id=c.telegram_chat_id,
                    email=c.email,
                    phone=c.phone,
                    language=c.language,
                    created_at=now,
                )
                for c in key.contacts
            )
        if spec.identity is not None:
            ident = spec.identity
            identity = Identity(
                channel="telegram",
                external_id=str(ident.telegram_user_id),
                telegram_chat_id=ident.telegram_user_id,
                language=ident.language,
                subscribed_notices=True,
                last_seen_at=ident.last_seen_at,
                created_at=ident.verified_at,
            )
            identities.append((identity, account.id))
            rows.append(identity)
    creator_id = staff_ids[data.outage_creator]
    outages = _outages(data, creator_id, now)
    rows.extend(outages)
    await repo.add_all(rows)

    # 4. identity ↔ account bindings (verified when the identity was created)
    await repo.add_all(
        [
            IdentityAccount(identity_id=identity.id, account_id=account_id, verified_at=identity.created_at)
            for identity, account_id in identities
        ]
    )

    # 5. the storm: the faults' estimates, the customers' fault tickets and their "no power here" reports
    outage_ids = {spec.key: outage.id for spec, outage in zip(data.outages, outages, strict=True)}
    account_ids = {spec.account_number: account.id for spec, account in accounts}
    identity_ids = {account_id: identity.id for identity, account_id in identities}
    await repo.add_all(
        [
            OutageEstimate(
                outage_id=outage_ids[spec.key],
                estimated_restoration_at=e.estimated_restoration_at,
                changed_by_id=creator_id,
                changed_at=e.changed_at,
            )
            for spec in data.outages
            for e in spec.estimates
        ]
    )
    tickets = [_ticket(t, account_ids, identity_ids, outage_ids) for t in data.tickets]
    await repo.add_all(tickets)
    ticket_ids = {ticket.reference: ticket.id for ticket in tickets}
    await repo.add_all(
        [
            OutageReport(
                outage_id=outage_ids[r.outage_key],
                feeder_code=r.feeder_code,
                account_id=account_ids[r.account_number],
                identity_id=identity_ids.get(account_ids[r.account_number]),
                ticket_id=ticket_ids[r.ticket_reference] if r.ticket_reference else None,
                created_at=r.created_at,
            )
            for r in data.reports
        ]
    )
    # 6. applications (业扩) at several stages, with their history
    applications = await load_applications(
        repo,
        data,
        now,
        tz or ZoneInfo(DEFAULT_TIMEZONE),
        account_ids=account_ids,
        staff_ids=staff_ids,
        outage_ids=outage_ids,
    )
    conversations = 0
    if history:
        conversations = await load_history(
            repo, now, tz or ZoneInfo(DEFAULT_TIMEZONE), creator_id, staff_ids[HISTORY_AGENT]
        )
    queued = await statements.queue_latest(session) if statements is not None else 0
    return DemoSummary(
        customers=len(data.accounts),
        residential=len(data.residential),
        key_accounts=len(data.key_accounts),
        bills=data.bill_count,
        identities=data.identity_count,
        outages=len(data.outages),
        staff=len(data.staff),
        tickets=len(data.tickets),
        outage_reports=len(data.reports),
        past_conversations=conversations,
        applications=applications,
        statements=queued,
    )


def _bill_row(bill: BillSpec, account_id: int) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "period": bill.period,
        "period_start": bill.period_start,
        "period_end": bill.period_end,
        "days": bill.days,
        "kwh": bill.kwh,
        "kwh_peak": bill.breakdown.kwh_peak,
        "kwh_valley": bill.breakdown.kwh_valley,
        "amount": bill.amount,
        "issued_at": bill.issued_at,
        "due_date": bill.due_date,
        "paid_at": bill.paid_at,
    }


def _line_row(line: LineSpec, position: int) -> dict[str, Any]:
    return {
        "position": position,
        "kind": line.kind,
        "kwh": line.kwh,
        "unit_price": line.unit_price,
        "amount": line.amount,
    }


def _outages(data: DemoDataset, created_by_id: int, now: datetime) -> list[Outage]:
    return [
        Outage(
            kind=o.kind,
            status=o.status,
            starts_at=o.starts_at,
            ends_at=o.ends_at,
            estimated_restoration_at=o.estimated_restoration_at,
            reason=o.reason,
            contact=o.contact,
            created_by_id=created_by_id,
            published_at=o.published_at,
            completed_at=o.completed_at,
            created_at=min(now, o.published_at or now),
            updated_at=o.updated_at,
            areas=[OutageArea(area_code=code) for code in o.area_codes],
            feeders=[OutageFeeder(feeder_code=code) for code in o.feeder_codes],
        )
        for o in data.outages
    ]


def _ticket(
    spec: TicketSpec, account_ids: dict[str, int], identity_ids: dict[int, int], outage_ids: dict[str, int]
) -> FaultTicket:
    """A ticket as the chat files it (hazards are urgent), by the identity bound to its account."""
    account_id = account_ids[spec.account_number]
    return FaultTicket(
        reference=spec.reference,
        identity_id=identity_ids.get(account_id),
        account_id=account_id,
        location=spec.location,
        description=spec.description,
        hazard=spec.hazard,
        urgent=spec.hazard,
        status=spec.status,
        outage_id=outage_ids[spec.outage_key] if spec.outage_key else None,
        created_at=spec.created_at,
        updated_at=spec.updated_at,
    )


async def list_demo_accounts(session: AsyncSession) -> list[dict[str, str]]:
    """`gridtalk demo accounts --json`: every account, key accounts first, then by account number."""
    return [
        {
            "account_number": row.account_number,
            "phone_last4": row.phone[-4:],
            "segment": row.segment,
            "area": row.area_code,
            "customer_name": row.customer_name,
        }
        for row in await DemoRepository(session).accounts()
    ]
