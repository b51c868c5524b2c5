"""The SQL of outages: their scope, the facts every answer and notice is rendered from, and every query
about outages (going on now, coming, near an account). Works inside the caller's session; never commits."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    String,
    bindparam,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import selectinload

from core.db.repository import RepositoryBase
from core.models import (
    Area,
    Feeder,
    FeederAlert,
    Outage,
    OutageAccount,
    OutageArea,
    OutageEstimate,
    OutageFeeder,
    StaffUser,
    UtilityAccount,
)
from core.models.enums import OutageKind, OutageStatus
from core.outages.facts import AreaFacts, FeederFacts, OutageFacts, Places, Scope


def _touches() -> ColumnElement[bool]:
    """An outage touches an account through its area, its feeder or the account itself (the account's values
    are bound parameters: `_at(account)`)."""
    return or_(
        Outage.areas.any(OutageArea.area_code == bindparam("area_code")),
        Outage.feeders.any(OutageFeeder.feeder_code == bindparam("feeder_code")),
        Outage.accounts.any(OutageAccount.account_id == bindparam("account_id")),
    )


def _at(account: UtilityAccount) -> dict[str, Any]:
    """The parameters of `_touches()` for this account."""
    return {"area_code": account.area_code, "feeder_code": account.feeder_code, "account_id": account.id}


def _public() -> ColumnElement[bool]:
    """Scoped to areas or feeders: an outage of named accounts only is never shown to others."""
    return or_(Outage.areas.any(), Outage.feeders.any())


def _current() -> tuple[ColumnElement[bool], ...]:
    """Going on now (the bound parameter `now`): published, started, and (unplanned: until restored) or (planned:
    until its end)."""
    now: BindParameter[datetime] = bindparam("now")
    return (
        Outage.status == OutageStatus.PUBLISHED,
        Outage.starts_at <= now,
        or_(Outage.kind == OutageKind.UNPLANNED, Outage.ends_at > now),
    )


@cache
def _now_queries() -> dict[str, Select[Outage]]:
    """The queries of outages going on now, built once: every chat turn asks one of them (the outages at the
    customer's account are read while the NLU parses), and a statement built afresh each time cost more of the
    api's CPU (its construction and its cache key) than its execution. Their values are bound parameters."""
    order = (Outage.kind.desc(), Outage.starts_at)
    other_feeders = select(Feeder.code).where(
        Feeder.area_code == bindparam("area_code"), Feeder.code != bindparam("feeder_code")
    )
    return {
        "at_account": select(Outage).where(*_current(), _touches()).order_by(*order),
        "public": select(Outage).where(*_current(), _public()).order_by(*order),
        "near": select(Outage)
        .where(*_current(), Outage.feeders.any(OutageFeeder.feeder_code.in_(other_feeders)), ~_touches())
        .order_by(*order),
    }


class OutageRepository(RepositoryBase[Outage]):
    model = Outage

    async def get_full(self, outage_id: int) -> Outage | None:
        """The outage with its areas, feeders and accounts loaded (fresh from the database)."""
        return await self.session.scalar(
            select(Outage)
            .where(Outage.id == outage_id)
            .options(selectinload(Outage.areas), selectinload(Outage.feeders), selectinload(Outage.accounts))
            .execution_options(populate_existing=True)
        )

    # ------------------------------------------------------------------------------------ the scope

    async def scope(self, outage_id: int) -> Scope:
        areas = await self.session.scalars(select(OutageArea.area_code).where(OutageArea.outage_id == outage_id))
        feeders = await self.session.scalars(
            select(OutageFeeder.feeder_code).where(OutageFeeder.outage_id == outage_id)
        )
        accounts = await self.session.scalars(
            select(OutageAccount.account_id).where(OutageAccount.outage_id == outage_id)
        )
        return Scope.of(tuple(areas), tuple(feeders), tuple(accounts))

    async def existing_areas(self, codes: Collection[str]) -> set[str]:
        return set(await self.session.scalars(select(Area.code).where(Area.code.in_(list(codes)))))

    async def existing_feeders(self, codes: Collection[str]) -> set[str]:
        return set(await self.session.scalars(select(Feeder.code).where(Feeder.code.in_(list(codes)))))

    async def account_ids(self, numbers: Collection[str]) -> dict[str, int]:
        rows = await self.session.execute(
            select(UtilityAccount.account_number, UtilityAccount.id).where(
                UtilityAccount.account_number.in_(list(numbers))
            )
        )
        return {number: ident for number, ident in rows}

    async def account_numbers(self, ids: Collection[int]) -> dict[int, str]:
        rows = await self.session.execute(
            select(UtilityAccount.id, UtilityAccount.account_number).where(UtilityAccount.id.in_(list(ids)))
        )
        return {ident: number for ident, number in rows}

    async def close_alerts(self, scope: Scope, outage_id: int, now: datetime) -> int:
        """Open probable-fault alerts of the scope's feeders (named, or in its districts) become this outage."""
        feeders = select(Feeder.code).where(
            or_(Feeder.code.in_(list(scope.feeder_codes)), Feeder.area_code.in_(list(scope.area_codes)))
        )
        result = await self.session.execute(
            update(FeederAlert)
            .where(FeederAlert.closed_at.is_(None), FeederAlert.feeder_code.in_(feeders))
            .values(outage_id=outage_id, closed_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def estimates(self, outage_id: int) -> list[tuple[OutageEstimate, str | None]]:
        """A fault outage's estimates of its restoration, oldest first, with the username of who set each."""
        query = (
            select(OutageEstimate, StaffUser.username)
            .outerjoin(StaffUser, StaffUser.id == OutageEstimate.changed_by_id)
            .where(OutageEstimate.outage_id == outage_id)
            .order_by(OutageEstimate.changed_at, OutageEstimate.id)
        )
        return [(estimate, username) for estimate, username in await self.session.execute(query)]

    # ------------------------------------------------------------------------------------ the facts

    async def places(self) -> Places:
        """Every district and feeder, to find the place a customer names (core.outages.places)."""
        # plain rows, not ORM objects: a utility has tens of thousands of feeders
        area_rows = await self.session.execute(select(Area.code, Area.name, Area.name_en).order_by(Area.code))
        areas = [AreaFacts(code, name, name_en) for code, name, name_en in area_rows]
        feeder_rows = await self.session.execute(
            select(Feeder.code, Feeder.name, Feeder.lines, Feeder.area_code).order_by(Feeder.code)
        )
        feeders = [FeederFacts(code, name, lines, area_code) for code, name, lines, area_code in feeder_rows]
        return Places.of(areas, feeders)

    async def facts(self, outages: Sequence[Outage], places: Places | None = None) -> list[OutageFacts]:
        """The facts of each outage (core.outages.facts: which areas and feeders it names), in one go: one
        query for what the outages name, and one each for the areas and feeders concerned — none when
        `places` (every district and feeder, as `places()` reads them, maybe kept from earlier) is given and
        knows every one the outages name."""
        if not outages:
            return []
        ids = [o.id for o in outages]
        none = null().cast(String)
        named = union_all(
            select(OutageArea.outage_id, literal("area"), OutageArea.area_code, none).where(
                OutageArea.outage_id.in_(ids)
            ),
            select(OutageFeeder.outage_id, literal("feeder"), none, OutageFeeder.feeder_code).where(
                OutageFeeder.outage_id.in_(ids)
            ),
            select(OutageAccount.outage_id, literal("account"), UtilityAccount.area_code, UtilityAccount.feeder_code)
            .join(UtilityAccount, UtilityAccount.id == OutageAccount.account_id)
            .where(OutageAccount.outage_id.in_(ids)),
        )
        named_areas: dict[int, list[str]] = {}
        named_feeders: dict[int, list[str]] = {}
        account_places: dict[int, list[tuple[str, str]]] = {}
        for outage_id, what, area_code, feeder_code in await self.session.execute(named):
            if what == "area":
                named_areas.setdefault(outage_id, []).append(area_code)
            elif what == "feeder":
                named_feeders.setdefault(outage_id, []).append(feeder_code)
            else:
                account_places.setdefault(outage_id, []).append((area_code, feeder_code))
        all_areas = {code for codes in named_areas.values() for code in codes}
        all_feeders = {code for codes in named_feeders.values() for code in codes}
        all_feeders |= {feeder for places_ in account_places.values() for _, feeder in places_}
        account_areas = {area for places_ in account_places.values() for area, _ in places_}
        if places is not None and not places.knows(all_areas | account_areas, all_feeders):
            places = None  # places read before these were imported (by another process): read them here
        feeders: dict[str, Feeder | FeederFacts]
        if places is None:
            feeders = {
                f.code: f
                for f in await self.session.scalars(
                    select(Feeder).where(or_(Feeder.code.in_(all_feeders), Feeder.area_code.in_(all_areas)))
                )
            }
        else:
            feeders = {code: places.feeder[code] for code in all_feeders}
            feeders |= {f.code: f for code in all_areas for f in places.in_area.get(code, ())}
        all_areas |= {f.area_code for f in feeders.values()}
        all_areas |= account_areas
        areas: dict[str, Area | AreaFacts]
        if places is None:
            areas = {a.code: a for a in await self.session.scalars(select(Area).where(Area.code.in_(all_areas)))}
        else:
            areas = {code: places.area[code] for code in all_areas if code in places.area}

        found = []
        for outage in outages:
            area_codes = set(named_areas.get(outage.id, ()))
            feeder_codes = set(named_feeders.get(outage.id, ()))
            feeder_codes |= {f.code for f in feeders.values() if f.area_code in area_codes}
            for area_code, feeder_code in account_places.get(outage.id, ()):
                area_codes.add(area_code)
                feeder_codes.add(feeder_code)
            area_codes |= {feeders[code].area_code for code in feeder_codes if code in feeders}
            found.append(
                OutageFacts(
                    id=outage.id,
                    kind=OutageKind(outage.kind),
                    status=OutageStatus(outage.status),
                    starts_at=outage.starts_at,
                    ends_at=outage.ends_at,
                    reason=outage.reason,
                    contact=outage.contact,
                    areas=tuple(
                        AreaFacts(a.code, a.name, a.name_en) for code in sorted(area_codes) if (a := areas.get(code))
                    ),
                    feeders=tuple(
                        FeederFacts(f.code, f.name, f.lines, f.area_code)
                        for code in sorted(feeder_codes)
                        if (f := feeders.get(code))
                    ),
                    estimated_restoration_at=outage.estimated_restoration_at,
                    changed_at=outage.updated_at or outage.published_at,
                    completed_at=outage.completed_at,
                    cancelled_at=outage.cancelled_at,
                )
            )
        return found

    # ---------------------------------------------------------------------------------- the queries

    async def current(self, now: datetime, account: UtilityAccount | None = None) -> list[Outage]:
        """Going on now, faults first: those touching the account, or (no account) every public one."""
        if account is None:
            return list(await self.session.scalars(_now_queries()["public"], {"now": now}))
        return list(await self.session.scalars(_now_queries()["at_account"], {"now": now, **_at(account)}))

    async def current_near(self, now: datetime, account: UtilityAccount) -> list[Outage]:
        """Going on now on another feeder of the account's area, not touching the account itself."""
        return list(await self.session.scalars(_now_queries()["near"], {"now": now, **_at(account)}))

    async def upcoming(
        self,
        now: datetime,
        account: UtilityAccount | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 10,
    ) -> list[Outage]:
        """Planned outages not started yet (starting within since..until, when given), soonest first:
        those touching the account, or (no account) every public one."""
        query = (
            select(Outage)
            .where(
                Outage.kind == OutageKind.PLANNED,
                Outage.status == OutageStatus.PUBLISHED,
                Outage.starts_at > now,
                _touches() if account is not None else _public(),
            )
            .order_by(Outage.starts_at)
            .limit(limit)
        )
        if since is not None:
            query = query.where(Outage.starts_at >= since)
        if until is not None:
            query = query.where(Outage.starts_at < until)
        return list(await self.session.scalars(query, _at(account) if account is not None else None))
