"""The demo's applications (业扩): a few for the key accounts and a few residents, at several stages, one of them
overdue, one needing the planned outage of its feeder, one done; each with its history (created, then advanced
stage by stage) as staff would have made it. Dates relative to `now`, due times from the settings' default rules.

Pure planning (build_applications) and writing through the demo repository (load_applications)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.applications.stages import FIRST, StageRules
from core.demo.data import DemoDataset
from core.demo.repository import DemoRepository
from core.models import Application, ApplicationEvent
from core.models.enums import ApplicationEventKind, ApplicationKind, ApplicationStage

RESIDENT_OWNER = "supervisor.zhou"  # residents' applications: a supervisor's (agents do not handle them)


@dataclass(frozen=True, slots=True)
class ApplicationSpec:
    account_number: str
    kind: ApplicationKind
    stage: ApplicationStage
    created_at: datetime
    stage_started_at: datetime
    owner: str  # a staff username
    description: str
    outage_key: str | None = None  # the planned outage (by the data set's key) connecting it needs


# key account (by name), kind, stage, days since created, days in the current stage, description, outage
KEY_ACCOUNT_APPLICATIONS = (
    (
        "华东精密机械厂",
        ApplicationKind.CAPACITY_INCREASE,
        ApplicationStage.COMPLETION_INSPECTION,
        40,
        1,
        "新增两台数控加工中心，申请增容至 2500 kVA",
        "planned-GS-F01",
    ),
    (
        "云谷数据中心",
        ApplicationKind.CAPACITY_INCREASE,
        ApplicationStage.DESIGN_REVIEW,  # 10 calendar days in a stage of 5 working days: overdue
        30,
        10,
        "二期机房扩容，申请增加一路 10kV 供电（4000 kVA）",
        None,
    ),
    ("市第一人民医院", ApplicationKind.NEW_CONNECTION, ApplicationStage.SUPPLY_PLAN, 5, 3, "新建住院楼用电报装", None),
    ("市政务服务中心", ApplicationKind.EV_CHARGER, ApplicationStage.SITE_SURVEY, 2, 1, "停车场 20 个充电桩", None),
)
# residents (the first bound ones, by account number): kind, stage, hours since created, hours in the stage
RESIDENT_APPLICATIONS = (
    (ApplicationKind.EV_CHARGER, ApplicationStage.ACCEPTED, 3, 3, "小区车位安装 7kW 家用充电桩"),
    (ApplicationKind.ROOFTOP_SOLAR, ApplicationStage.SUPPLY_PLAN, 24 * 9, 24 * 4, "屋顶分布式光伏 8 kW 并网"),
    (ApplicationKind.CAPACITY_INCREASE, ApplicationStage.SITE_SURVEY, 48, 20, "加装空调，申请由 8 kW 增至 12 kW"),
    (ApplicationKind.CAPACITY_INCREASE, ApplicationStage.CONNECTED, 24 * 20, 24 * 3, "电表由单相改三相"),
)


def build_applications(data: DemoDataset, now: datetime) -> list[ApplicationSpec]:
    managers = {a.customer_name: a.key_account.manager_username for a in data.key_accounts if a.key_account}
    numbers = {a.customer_name: a.account_number for a in data.key_accounts}
    specs = [
        ApplicationSpec(
            account_number=numbers[name],
            kind=kind,
            stage=stage,
            created_at=now - timedelta(days=created),
            stage_started_at=now - timedelta(days=in_stage),
            owner=managers[name],
            description=description,
            outage_key=outage,
        )
        for name, kind, stage, created, in_stage, description, outage in KEY_ACCOUNT_APPLICATIONS
    ]
    residents = sorted(a.account_number for a in data.residential if a.identity is not None)
    specs.extend(
        ApplicationSpec(
            account_number=number,
            kind=kind,
            stage=stage,
            created_at=now - timedelta(hours=created),
            stage_started_at=now - timedelta(hours=in_stage),
            owner=RESIDENT_OWNER,
            description=description,
        )
        for number, (kind, stage, created, in_stage, description) in zip(residents, RESIDENT_APPLICATIONS, strict=False)
    )
    return specs


Step = tuple[ApplicationStage | None, ApplicationStage, datetime]  # from, to, at


def _history(spec: ApplicationSpec, rules: StageRules) -> list[Step]:
    """(from, to, at) of every step: created at the first stage, then one advance per stage of the route up to
    the current one, evenly spread until the current stage began."""
    route = rules.route(spec.kind)
    passed = route[: route.index(spec.stage) + 1]
    gap = (spec.stage_started_at - spec.created_at) / max(len(passed) - 1, 1)
    steps: list[Step] = [(None, FIRST, spec.created_at)]
    for i, stage in enumerate(passed[1:], start=1):
        at = spec.stage_started_at if stage == spec.stage else spec.created_at + gap * i
        steps.append((passed[i - 1], stage, at))
    return steps


async def load_applications(
    repo: DemoRepository,
    data: DemoDataset,
    now: datetime,
    tz: ZoneInfo,
    *,
    account_ids: dict[str, int],
    staff_ids: dict[str, int],
    outage_ids: dict[str, int],
) -> int:
    rules = StageRules.default(tz)
    specs = build_applications(data, now)
    applications = [
        Application(
            account_id=account_ids[spec.account_number],
            kind=spec.kind,
            stage=spec.stage,
            description=spec.description,
            owner_id=staff_ids[spec.owner],
            outage_id=outage_ids.get(spec.outage_key) if spec.outage_key else None,
            stage_started_at=spec.stage_started_at,
            due_at=rules.due(spec.stage, spec.stage_started_at),
            created_by_id=staff_ids[spec.owner],
            updated_at=spec.stage_started_at,
            created_at=spec.created_at,
        )
        for spec in specs
    ]
    await repo.add_all(applications)
    await repo.add_all(
        [
            ApplicationEvent(
                application_id=application.id,
                kind=ApplicationEventKind.CREATED if before is None else ApplicationEventKind.ADVANCED,
                from_stage=before,
                to_stage=stage,
                staff_id=staff_ids[spec.owner],
                note="",
                due_at=rules.due(stage, at),
                at=at,
            )
            for spec, application in zip(specs, applications, strict=True)
            for before, stage, at in _history(spec, rules)
        ]
    )
    return len(applications)
