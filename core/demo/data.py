"""The demo data set: generated deterministically from a fixed seed and `now`, in memory (no database).

Everything a demo needs: two tariffs, five districts of Hangzhou with two 10 kV feeders each, 240
residential households with a year of bills, six key accounts with their account managers and contacts,
64 households bound to a demo Telegram identity, two planned outages, and a storm: two fault outages under
repair now (each with its history of restoration estimates), one restored an hour ago, the fault tickets
customers filed (received, crew assigned, on site, fixed, closed; some part of the faults) and their "no power
here" reports counted on a fault.

Who the customers are (names, account numbers, phones, addresses) depends only on the seed; bills, dates
and outages are placed relative to `now`, in the utility's local time.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from core.billing.calc import BillBreakdown, LineSpec, TariffTerms, compute_bill
from core.faults.service import REFERENCE_ALPHABET

SEED = 20261123
DEMO_PASSWORD = "gridtalk-demo"
DEFAULT_TIMEZONE = "Asia/Shanghai"
SERVICE_HOTLINE = "95598"

RESIDENTIAL_TARIFF = "RES-TIERED-TOU"
KEY_ACCOUNT_TARIFF = "CI-TOU"
RESIDENTIAL_PER_AREA = 48
TELEGRAM_IDENTITIES = 64
BILL_MONTHS = 12

# Demo Telegram ids (private chats: chat id == user id). Nine digits, so that they also fit
# staff_users.telegram_chat_id (a 32-bit INTEGER column).
RESIDENTIAL_TELEGRAM_BASE = 710_000_000
CONTACT_TELEGRAM_BASE = 720_000_000
STAFF_TELEGRAM_BASE = 730_000_000

# How much a household uses in each calendar month relative to its average (air conditioning in
# July/August, heating in December–February).
SEASON = {
    1: 1.30,
    2: 1.20,
    3: 0.95,
    4: 0.82,
    5: 0.85,
    6: 1.00,
    7: 1.45,
    8: 1.55,
    9: 1.15,
    10: 0.88,
    11: 0.92,
    12: 1.20,
}


# --------------------------------------------------------------------------------------------- specs


@dataclass(frozen=True, slots=True)
class TariffSpec:
    code: str
    name: str
    terms: TariffTerms
    peak_starts: time
    valley_starts: time


@dataclass(frozen=True, slots=True)
class AreaSpec:
    code: str
    name: str
    name_en: str


@dataclass(frozen=True, slots=True)
class FeederSpec:
    code: str
    area_code: str
    name: str
    lines: str


@dataclass(frozen=True, slots=True)
class StaffSpec:
    username: str
    role: str
    display_name: str
    phone: str | None
    email: str | None
    telegram_chat_id: int | None


@dataclass(frozen=True, slots=True)
class BillSpec:
    period: str  # YYYY-MM
    period_start: date
    period_end: date
    days: int
    breakdown: BillBreakdown
    issued_at: datetime
    due_date: date
    paid_at: datetime | None

    @property
    def kwh(self) -> Decimal:
        return self.breakdown.kwh

    @property
    def amount(self) -> Decimal:
        return self.breakdown.amount

    @property
    def lines(self) -> tuple[LineSpec, ...]:
        return self.breakdown.lines


@dataclass(frozen=True, slots=True)
class ContactSpec:
    name: str
    title: str
    telegram_chat_id: int
    email: str
    phone: str
    language: str


@dataclass(frozen=True, slots=True)
class KeyAccountSpec:
    """What makes an account a key account: its manager, priority (1 = most critical) and contacts."""

    manager_username: str
    priority: int
    category: str
    contacts: tuple[ContactSpec, ...]


@dataclass(frozen=True, slots=True)
class IdentitySpec:
    """A demo Telegram user bound to the account, subscribed to outage notices."""

    telegram_user_id: int
    language: str
    verified_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class AccountSpec:
    customer_name: str
    segment: str
    language: str
    account_number: str
    address: str
    area_code: str
    feeder_code: str
    phone: str
    tariff_code: str
    bills: tuple[BillSpec, ...]
    key_account: KeyAccountSpec | None = None
    identity: IdentitySpec | None = None


@dataclass(frozen=True, slots=True)
class EstimateSpec:
    """One estimate of a fault's restoration as staff set it (an OutageEstimate row, by the outage creator)."""

    estimated_restoration_at: datetime
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class OutageSpec:
    """An outage. A fault's ends_at is its current estimate until it is restored, then its completed_at."""

    kind: str
    status: str
    starts_at: datetime
    ends_at: datetime
    estimated_restoration_at: datetime | None
    reason: str
    contact: str
    published_at: datetime | None
    area_codes: tuple[str, ...] = ()
    feeder_codes: tuple[str, ...] = ()
    key: str = ""  # how tickets and reports of the data set name it
    completed_at: datetime | None = None
    updated_at: datetime | None = None  # the last change: an estimate moved, the restoration
    estimates: tuple[EstimateSpec, ...] = ()  # oldest first; the last one is estimated_restoration_at


@dataclass(frozen=True, slots=True)
class TicketSpec:
    """A fault ticket (报修) a demo customer filed through the Telegram identity bound to the account."""

    reference: str
    account_number: str
    location: str
    description: str
    hazard: bool  # then it is urgent too, as the chat makes it
    status: str
    created_at: datetime
    updated_at: datetime | None  # the last change of status (None: still as received)
    outage_key: str | None  # the outage it is part of


@dataclass(frozen=True, slots=True)
class ReportSpec:
    """A customer's "no power here", counted on the outage it falls in (an OutageReport row)."""

    outage_key: str
    feeder_code: str
    account_number: str
    created_at: datetime
    ticket_reference: str | None = None  # the ticket filed with it, if any


@dataclass(frozen=True, slots=True)
class DemoDataset:
    tariffs: tuple[TariffSpec, ...]
    areas: tuple[AreaSpec, ...]
    feeders: tuple[FeederSpec, ...]
    staff: tuple[StaffSpec, ...]
    accounts: tuple[AccountSpec, ...]
    outages: tuple[OutageSpec, ...]
    outage_creator: str  # username of the staff user recorded as having created the outages (and estimates)
    tickets: tuple[TicketSpec, ...] = ()
    reports: tuple[ReportSpec, ...] = ()

    @property
    def residential(self) -> tuple[AccountSpec, ...]:
        return tuple(a for a in self.accounts if a.segment == "residential")

    @property
    def key_accounts(self) -> tuple[AccountSpec, ...]:
        return tuple(a for a in self.accounts if a.segment == "key_account")

    @property
    def bill_count(self) -> int:
        return sum(len(a.bills) for a in self.accounts)

    @property
    def identity_count(self) -> int:
        return sum(1 for a in self.accounts if a.identity is not None)


# ------------------------------------------------------------------------------------ reference data

TARIFFS = (
    TariffSpec(
        code=RESIDENTIAL_TARIFF,
        name="居民阶梯分时电价",
        terms=TariffTerms(
            tier1_limit_kwh=Decimal("230"),
            tier2_limit_kwh=Decimal("400"),
            tier2_surcharge=Decimal("0.05"),
            tier3_surcharge=Decimal("0.30"),
            peak_price=Decimal("0.568"),
            valley_price=Decimal("0.288"),
        ),
        peak_starts=time(8, 0),
        valley_starts=time(22, 0),
    ),
    TariffSpec(
        code=KEY_ACCOUNT_TARIFF,
        name="工商业分时电价（10kV）",
        # Not tiered: the tier limits are far beyond any month's use and the surcharges are zero.
        terms=TariffTerms(
            tier1_limit_kwh=Decimal("99999999.0"),
            tier2_limit_kwh=Decimal("99999999.0"),
            tier2_surcharge=Decimal("0"),
            tier3_surcharge=Decimal("0"),
            peak_price=Decimal("0.9132"),
            valley_price=Decimal("0.3805"),
        ),
        peak_starts=time(8, 0),
        valley_starts=time(22, 0),
    ),
)

AREAS = (
    AreaSpec("XH", "西湖区", "Xihu District"),
    AreaSpec("GS", "拱墅区", "Gongshu District"),
    AreaSpec("SC", "上城区", "Shangcheng District"),
    AreaSpec("BJ", "滨江区", "Binjiang District"),
    AreaSpec("YH", "余杭区", "Yuhang District"),
)

FEEDERS = (
    FeederSpec("XH-F01", "XH", "文三线", "10kV 文三线（文三路开闭所—学院路环网柜）"),
    FeederSpec("XH-F02", "XH", "古荡线", "10kV 古荡线（古荡变—天目山路环网柜）"),
    FeederSpec("GS-F01", "GS", "湖墅线", "10kV 湖墅线（湖墅变—莫干山路分支箱）"),
    FeederSpec("GS-F02", "GS", "大关线", "10kV 大关线（大关变—上塘路环网柜）"),
    FeederSpec("SC-F01", "SC", "清波线", "10kV 清波线（清波变—延安南路开闭所）"),
    FeederSpec("SC-F02", "SC", "望江线", "10kV 望江线（望江变—秋涛路环网柜）"),
    FeederSpec("BJ-F01", "BJ", "江南线", "10kV 江南线（江南变—长河路环网柜）"),
    FeederSpec("BJ-F02", "BJ", "浦沿线", "10kV 浦沿线（浦沿变—东信大道开闭所）"),
    FeederSpec("YH-F01", "YH", "五常线", "10kV 五常线（五常变—文一西路环网柜）"),
    FeederSpec("YH-F02", "YH", "良渚线", "10kV 良渚线（良渚变—玉鸟路分支箱）"),
)


@dataclass(frozen=True, slots=True)
class _Community:
    feeder_code: str
    street: str
    number: int
    name: str
    buildings: int
    floors: int


COMMUNITIES: dict[str, tuple[_Community, ...]] = {
    "XH": (
        _Community("XH-F01", "文三路", 158, "文华苑", 18, 6),
        _Community("XH-F01", "学院路", 77, "翠苑一区", 32, 6),
        _Community("XH-F02", "古墩路", 388, "古荡新村", 24, 7),
        _Community("XH-F02", "天目山路", 516, "西溪花园", 12, 18),
    ),
    "GS": (
        _Community("GS-F01", "湖墅南路", 202, "湖墅嘉园", 10, 26),
        _Community("GS-F01", "莫干山路", 95, "信义坊", 15, 11),
        _Community("GS-F02", "大关路", 66, "大关西苑", 28, 6),
        _Community("GS-F02", "上塘路", 312, "和睦新村", 20, 7),
    ),
    "SC": (
        _Community("SC-F01", "延安南路", 45, "清泰花苑", 9, 12),
        _Community("SC-F01", "南山路", 218, "清波小区", 14, 6),
        _Community("SC-F02", "望江路", 600, "望江家园", 16, 28),
        _Community("SC-F02", "秋涛路", 175, "近江东园", 22, 7),
    ),
    "BJ": (
        _Community("BJ-F01", "江南大道", 1088, "江南春城", 20, 18),
        _Community("BJ-F01", "长河路", 351, "春波南苑", 12, 11),
        _Community("BJ-F02", "浦沿路", 420, "浦沿新村", 26, 6),
        _Community("BJ-F02", "东信大道", 866, "东方郡", 15, 33),
    ),
    "YH": (
        _Community("YH-F01", "五常大道", 1999, "五常港湾", 18, 18),
        _Community("YH-F01", "文一西路", 1218, "西溪诚园", 24, 11),
        _Community("YH-F02", "良渚路", 88, "良渚文化村", 30, 6),
        _Community("YH-F02", "玉鸟路", 16, "玉鸟苑", 14, 15),
    ),
}

STAFF = (
    # username, role, display name, email
    ("admin", "admin", "系统管理员", "admin@example.com"),
    ("supervisor.zhou", "supervisor", "周慧", "supervisor.zhou@example.com"),
    ("agent.li", "agent", "李娜", "agent.li@example.com"),
    ("manager.wang", "account_manager", "王建国", "manager.wang@example.com"),
    ("manager.chen", "account_manager", "陈思远", "manager.chen@example.com"),
    ("manager.zhao", "account_manager", "赵敏", "manager.zhao@example.com"),
)


@dataclass(frozen=True, slots=True)
class _KeyAccount:
    name: str
    category: str
    priority: int
    feeder_code: str
    address: str
    manager: str
    monthly_kwh: int
    season_amplitude: float  # 0: flat all year, 1: as seasonal as a household
    peak_share: float
    contacts: tuple[tuple[str, str, str, str], ...]  # name, title, email local part, language


KEY_ACCOUNTS = (
    _KeyAccount(
        name="市第一人民医院",
        category="hospital",
        priority=1,
        feeder_code="SC-F01",
        address="杭州市上城区浣纱路261号",
        manager="manager.wang",
        monthly_kwh=520_000,
        season_amplitude=0.5,
        peak_share=0.62,
        contacts=(
            ("张立新", "电气主管", "zhang.lixin", "zh"),
            ("刘海", "值班长", "liu.hai", "zh"),
            ("孙倩", "行政主管", "sun.qian", "zh"),
        ),
    ),
    _KeyAccount(
        name="华东精密机械厂",
        category="factory",
        priority=3,
        feeder_code="GS-F01",
        address="杭州市拱墅区莫干山路1418号",
        manager="manager.chen",
        monthly_kwh=1_150_000,
        season_amplitude=0.3,
        peak_share=0.70,
        contacts=(
            ("黄志强", "动力科科长", "huang.zhiqiang", "zh"),
            ("David Miller", "Plant Facilities Manager", "david.miller", "en"),
        ),
    ),
    _KeyAccount(
        name="云谷数据中心",
        category="data_centre",
        priority=2,
        feeder_code="YH-F01",
        address="杭州市余杭区五常大道168号",
        manager="manager.chen",
        monthly_kwh=3_400_000,
        season_amplitude=0.25,
        peak_share=0.585,
        contacts=(
            ("吴昊", "运维值班长", "wu.hao", "zh"),
            ("钱晓东", "电气主管", "qian.xiaodong", "zh"),
            ("Priya Nair", "Site Reliability Lead", "priya.nair", "en"),
        ),
    ),
    _KeyAccount(
        name="城西自来水厂",
        category="utility",
        priority=1,
        feeder_code="XH-F02",
        address="杭州市西湖区留和路88号",
        manager="manager.wang",
        monthly_kwh=880_000,
        season_amplitude=0.2,
        peak_share=0.55,
        contacts=(
            ("郑国华", "电气主管", "zheng.guohua", "zh"),
            ("冯涛", "值班长", "feng.tao", "zh"),
        ),
    ),
    _KeyAccount(
        name="市政务服务中心",
        category="government",
        priority=2,
        feeder_code="SC-F02",
        address="杭州市上城区解放东路18号",
        manager="manager.zhao",
        monthly_kwh=160_000,
        season_amplitude=0.6,
        peak_share=0.80,
        contacts=(
            ("何静", "行政主管", "he.jing", "zh"),
            ("许斌", "后勤保障科科长", "xu.bin", "zh"),
        ),
    ),
    _KeyAccount(
        name="中国电信滨江通信枢纽楼",
        category="telecom",
        priority=2,
        feeder_code="BJ-F02",
        address="杭州市滨江区浦沿路88号",
        manager="manager.zhao",
        monthly_kwh=760_000,
        season_amplitude=0.25,
        peak_share=0.585,
        contacts=(
            ("林峰", "电源维护主管", "lin.feng", "zh"),
            ("韩雪", "值班长", "han.xue", "zh"),
        ),
    ),
)

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严戴莫孔向汤"
)
# The most common surnames come up more often, as they do.
SURNAME_WEIGHTS = tuple(max(1, 30 - i) for i in range(len(SURNAMES)))
GIVEN_M = "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆旭宁龙林阳建国志文海峰晨博思毅斌成康"
GIVEN_F = "芳娜敏静丽艳娟霞燕玲婷雪慧莹倩琳颖洁萍红梅兰秀英佳欣怡璐蕾薇晓月悦雯瑶琪楠萱诗雨"
MOBILE_PREFIXES = tuple(f"{p}{d}" for p in ("13", "15", "18") for d in range(10) if f"{p}{d}" != "154")


# ------------------------------------------------------------------------------------------ helpers


def _person_name(rng: random.Random) -> str:
    surname = rng.choices(SURNAMES, weights=SURNAME_WEIGHTS)[0]
    pool = GIVEN_M if rng.random() < 0.5 else GIVEN_F
    roll = rng.random()
    if roll < 0.25:
        given = rng.choice(pool)
    elif roll < 0.32:
        given = rng.choice(pool) * 2  # 婷婷, 晨晨
    else:
        given = "".join(rng.sample(pool, 2))
    return surname + given


def _unique(rng: random.Random, make: Callable[[random.Random], str], seen: set[str]) -> str:
    while True:
        value = make(rng)
        if value not in seen:
            seen.add(value)
            return value


def _account_number(rng: random.Random, prefix: str, seen: set[str]) -> str:
    """A 10-digit account number starting with `prefix` (4 digits), unique within `seen`."""
    while True:
        value = f"{prefix}{rng.randrange(10**6):06d}"
        if value not in seen:
            seen.add(value)
            return value


def _mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def _address(rng: random.Random, area_name: str, community: _Community) -> str:
    building = rng.randint(1, community.buildings)
    unit = rng.randint(1, 4 if community.floors <= 7 else 2)
    room = rng.randint(1, community.floors) * 100 + rng.randint(1, 4 if community.floors <= 7 else 2)
    return f"杭州市{area_name}{community.street}{community.number}号{community.name}{building}幢{unit}单元{room}室"


def bill_periods(now: datetime, tz: ZoneInfo) -> list[tuple[int, int]]:
    """The BILL_MONTHS full calendar months before now's month (local time), oldest first."""
    local = now.astimezone(tz)
    year, month = local.year, local.month
    periods: list[tuple[int, int]] = []
    for _ in range(BILL_MONTHS):
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        periods.append((year, month))
    return periods[::-1]


def _at_local(day: date, hour: int, minute: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=tz).astimezone(UTC)


def _bills(
    rng: random.Random,
    *,
    terms: TariffTerms,
    monthly_kwh: Sequence[int],
    periods: Sequence[tuple[int, int]],
    peak_share: float,
    unpaid_months: int,
    now: datetime,
    tz: ZoneInfo,
) -> tuple[BillSpec, ...]:
    bills: list[BillSpec] = []
    for index, ((year, month), kwh) in enumerate(zip(periods, monthly_kwh, strict=True)):
        start = date(year, month, 1)
        days = calendar.monthrange(year, month)[1]
        end = start + timedelta(days=days - 1)
        share = min(0.8, max(0.4, rng.gauss(peak_share, 0.04)))
        kwh_peak = round(kwh * share)
        breakdown = compute_bill(terms, Decimal(kwh_peak), Decimal(kwh - kwh_peak))
        issue_day = end + timedelta(days=1 + rng.randint(0, 2))
        issued_at = min(now, _at_local(issue_day, 9, 0, tz) + timedelta(minutes=rng.randint(0, 480)))
        paid_after = timedelta(minutes=rng.randint(60, 13 * 24 * 60))
        paid_at: datetime | None = issued_at + paid_after
        if index >= len(periods) - unpaid_months or (paid_at is not None and paid_at > now):
            paid_at = None
        bills.append(
            BillSpec(
                period=f"{year:04d}-{month:02d}",
                period_start=start,
                period_end=end,
                days=days,
                breakdown=breakdown,
                issued_at=issued_at,
                due_date=issue_day + timedelta(days=15),
                paid_at=paid_at,
            )
        )
    return tuple(bills)


# ------------------------------------------------------------------------------------------ dataset


def build_dataset(now: datetime, tz: ZoneInfo | None = None) -> DemoDataset:
    """The whole demo data set for `now` (timezone-aware), deterministic: same input, same output."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    tz = tz or ZoneInfo(DEFAULT_TIMEZONE)
    rng = random.Random(SEED)  # who the customers are: independent of `now`
    usage = random.Random(SEED + 1)  # how much they use and when they pay
    periods = bill_periods(now, tz)
    terms = {t.code: t.terms for t in TARIFFS}
    area_names = {a.code: a.name for a in AREAS}
    phones: set[str] = set()
    numbers: set[str] = set()
    names: set[str] = set()

    staff = tuple(
        StaffSpec(
            username=username,
            role=role,
            display_name=display,
            phone=_unique(rng, _mobile, phones),
            email=email,
            telegram_chat_id=STAFF_TELEGRAM_BASE + i,
        )
        for i, (username, role, display, email) in enumerate(STAFF, start=1)
    )

    accounts: list[AccountSpec] = []
    contact_seq = 0
    for key in KEY_ACCOUNTS:
        contacts = []
        for name, title, local_part, language in key.contacts:
            contact_seq += 1
            contacts.append(
                ContactSpec(
                    name=name,
                    title=title,
                    telegram_chat_id=CONTACT_TELEGRAM_BASE + contact_seq,
                    email=f"{local_part}@example.com",
                    phone=_unique(rng, _mobile, phones),
                    language=language,
                )
            )
        number = _account_number(rng, "3390", numbers)
        kwh = []
        for _, month in periods:
            factor = 1 + key.season_amplitude * (SEASON[month] - 1)
            if key.category == "factory" and month == 2:
                factor *= 0.65  # the Spring Festival shutdown
            kwh.append(round(key.monthly_kwh * factor * usage.uniform(0.95, 1.05)))
        accounts.append(
            AccountSpec(
                customer_name=key.name,
                segment="key_account",
                language="zh",
                account_number=number,
                address=key.address,
                area_code=key.feeder_code[:2],
                feeder_code=key.feeder_code,
                phone=_unique(rng, _mobile, phones),
                tariff_code=KEY_ACCOUNT_TARIFF,
                bills=_bills(
                    usage,
                    terms=terms[KEY_ACCOUNT_TARIFF],
                    monthly_kwh=kwh,
                    periods=periods,
                    peak_share=key.peak_share,
                    unpaid_months=1 if usage.random() < 0.2 else 0,
                    now=now,
                    tz=tz,
                ),
                key_account=KeyAccountSpec(
                    manager_username=key.manager,
                    priority=key.priority,
                    category=key.category,
                    contacts=tuple(contacts),
                ),
            )
        )

    residential: list[AccountSpec] = []
    for area_index, area in enumerate(AREAS, start=1):
        communities = COMMUNITIES[area.code]
        for i in range(RESIDENTIAL_PER_AREA):
            community = communities[i % len(communities)]
            name = _unique(rng, _person_name, names)
            number = _account_number(rng, f"33{area_index:02d}", numbers)
            address = _address(rng, area_names[area.code], community)
            phone = _unique(rng, _mobile, phones)
            household = usage.choice((usage.uniform(80, 140), usage.uniform(150, 220), usage.uniform(230, 320)))
            kwh = [max(15, round(household * SEASON[m] * usage.uniform(0.9, 1.1))) for _, m in periods]
            unpaid = usage.choices((0, 1, 2), weights=(78, 14, 8))[0]
            residential.append(
                AccountSpec(
                    customer_name=name,
                    segment="residential",
                    language="zh",
                    account_number=number,
                    address=address,
                    area_code=area.code,
                    feeder_code=community.feeder_code,
                    phone=phone,
                    tariff_code=RESIDENTIAL_TARIFF,
                    bills=_bills(
                        usage,
                        terms=terms[RESIDENTIAL_TARIFF],
                        monthly_kwh=kwh,
                        periods=periods,
                        peak_share=0.60,
                        unpaid_months=unpaid,
                        now=now,
                        tz=tz,
                    ),
                )
            )

    # Telegram identities, spread over every feeder so that each outage reaches somebody.
    by_feeder: dict[str, list[int]] = {}
    for index, account in enumerate(residential):
        by_feeder.setdefault(account.feeder_code, []).append(index)
    chosen: list[int] = []
    for f, feeder in enumerate(FEEDERS):
        share = TELEGRAM_IDENTITIES // len(FEEDERS) + (1 if f < TELEGRAM_IDENTITIES % len(FEEDERS) else 0)
        chosen.extend(rng.sample(by_feeder[feeder.code], share))
    for seq, index in enumerate(sorted(chosen), start=1):
        language = "en" if rng.random() < 0.15 else "zh"
        verified_at = now - timedelta(days=rng.randint(3, 240), minutes=rng.randint(0, 1439))
        last_seen_at = min(now, verified_at + timedelta(days=rng.randint(0, 60), minutes=rng.randint(0, 1439)))
        identity = IdentitySpec(
            telegram_user_id=RESIDENTIAL_TELEGRAM_BASE + seq,
            language=language,
            verified_at=verified_at,
            last_seen_at=last_seen_at,
        )
        residential[index] = replace(residential[index], identity=identity, language=language)
    accounts.extend(residential)
    tickets, reports = _storm_tickets(now, tz, residential)

    return DemoDataset(
        tariffs=TARIFFS,
        areas=AREAS,
        feeders=FEEDERS,
        staff=staff,
        accounts=tuple(accounts),
        outages=_outages(now, tz),
        outage_creator="admin",
        tickets=tickets,
        reports=reports,
    )


# The storm: which outages it has, by the key tickets and reports name them with.
FAULT_BJ = "fault-BJ-F01"
FAULT_SC = "fault-SC-F02"
RESTORED_YH = "restored-YH-F02"


def _fault(
    key: str,
    feeder: str,
    reason: str,
    *,
    started: datetime,
    published: datetime,
    estimates: tuple[EstimateSpec, ...],
    completed: datetime | None = None,
) -> OutageSpec:
    """A fault outage on one feeder, published after it started, with its estimates (the last is current);
    restored at `completed` (its end then), or still under repair (its end is the current estimate)."""
    estimate = estimates[-1].estimated_restoration_at
    return OutageSpec(
        kind="unplanned",
        status="completed" if completed else "published",
        starts_at=started,
        ends_at=completed or estimate,
        estimated_restoration_at=estimate,
        reason=reason,
        contact=SERVICE_HOTLINE,
        published_at=published,
        feeder_codes=(feeder,),
        key=key,
        completed_at=completed,
        updated_at=completed or (estimates[-1].changed_at if len(estimates) > 1 else None),
        estimates=estimates,
    )


def _outages(now: datetime, tz: ZoneInfo) -> tuple[OutageSpec, ...]:
    today = now.astimezone(tz).date()
    far_start = _at_local(today + timedelta(days=18), 8, 0, tz)
    near_start = _at_local(today + timedelta(days=3), 9, 0, tz)

    def minutes(m: int) -> datetime:  # the storm reads best in minutes from now
        return now + timedelta(minutes=m)

    return (
        OutageSpec(
            kind="planned",
            status="published",
            starts_at=far_start,
            ends_at=far_start + timedelta(hours=6),
            estimated_restoration_at=None,
            reason="10kV线路检修",
            contact=SERVICE_HOTLINE,
            published_at=now,
            area_codes=("XH",),
            key="planned-XH",
        ),
        OutageSpec(
            kind="planned",
            status="published",
            starts_at=near_start,
            ends_at=near_start + timedelta(hours=4),
            estimated_restoration_at=None,
            reason="10kV湖墅线开关柜更换",
            contact=SERVICE_HOTLINE,
            published_at=now,
            feeder_codes=("GS-F01",),
            key="planned-GS-F01",
        ),
        # The fault first loaded (the first unplanned row): under repair for an hour, back in 2½ hours.
        _fault(
            FAULT_BJ,
            "BJ-F01",
            "线路故障抢修",
            started=minutes(-60),
            published=minutes(-50),
            estimates=(EstimateSpec(minutes(90), minutes(-50)), EstimateSpec(minutes(150), minutes(-20))),
        ),
        _fault(
            FAULT_SC,
            "SC-F02",
            "10kV望江线电缆故障抢修",
            started=minutes(-40),
            published=minutes(-30),
            estimates=(EstimateSpec(minutes(60), minutes(-30)), EstimateSpec(minutes(105), minutes(-10))),
        ),
        _fault(
            RESTORED_YH,
            "YH-F02",
            "10kV良渚线树障跳闸抢修",
            started=minutes(-180),
            published=minutes(-170),
            estimates=(EstimateSpec(minutes(-50), minutes(-170)),),
            completed=minutes(-60),
        ),
    )


@dataclass(frozen=True, slots=True)
class _Ticket:
    feeder_code: str
    status: str
    created: int  # minutes from now
    updated: int | None
    outage_key: str | None
    hazard: bool
    zh: str
    en: str
    reported: bool = False  # counted on its outage as a "no power here" report too


# Who filed which ticket: the Telegram customers of the feeders, in the order the data set made them.
STORM_TICKETS = (
    _Ticket(
        feeder_code="SC-F02",
        status="on_site",
        created=-38,
        updated=-15,
        outage_key=FAULT_SC,
        hazard=True,
        zh="小区配电房里冒烟，有焦糊味，整个小区都停电了",
        en="Smoke is coming out of our estate's substation room, it smells burnt and the whole estate is dark",
    ),
    _Ticket(
        feeder_code="SC-F02",
        status="assigned",
        created=-28,
        updated=-20,
        outage_key=FAULT_SC,
        hazard=False,
        zh="家里突然停电了，整栋楼都没电",
        en="The power went off suddenly, the whole building is out",
        reported=True,
    ),
    _Ticket(
        feeder_code="SC-F02",
        status="received",
        created=-12,
        updated=None,
        outage_key=FAULT_SC,
        hazard=False,
        zh="停电快一个小时了，冰箱里的东西怎么办，什么时候来电",
        en="No power for almost an hour now, when will it be back?",
        reported=True,
    ),
    _Ticket(
        feeder_code="YH-F02",
        status="fixed",
        created=-165,
        updated=-60,
        outage_key=RESTORED_YH,
        hazard=False,
        zh="整个小区停电了，路灯也不亮",
        en="The whole neighbourhood is out, the street lights too",
    ),
    _Ticket(
        feeder_code="YH-F02",
        status="closed",
        created=-150,
        updated=-40,
        outage_key=RESTORED_YH,
        hazard=False,
        zh="家里没电了，邻居家也没电",
        en="No power at home, and the neighbours have none either",
    ),
    _Ticket(
        feeder_code="GS-F02",
        status="received",
        created=-20,
        updated=None,
        outage_key=None,
        hazard=False,
        zh="楼道里的电表箱嗡嗡响，总闸一推就跳",
        en="The meter box in the stairwell is buzzing and my main switch trips as soon as I push it up",
    ),
    _Ticket(
        feeder_code="YH-F01",
        status="received",
        created=-8,
        updated=None,
        outage_key=None,
        hazard=True,
        zh="路边电线杆歪了，电线垂得很低，快碰到行人了",
        en="A pole by the road is leaning and its wire hangs very low, almost touching people walking by",
    ),
)
# More customers of the fault on SC-F02 who only said "no power here" (minutes from now).
STORM_REPORTS_ONLY = (-22, -6)


def _reference(rng: random.Random, created_at: datetime, tz: ZoneInfo, seen: set[str]) -> str:
    """The usual reference (core.faults.service.new_reference: F + local date + 4 characters), from the seed."""
    day = created_at.astimezone(tz).strftime("%y%m%d")
    return _unique(rng, lambda r: f"F{day}-{''.join(r.choice(REFERENCE_ALPHABET) for _ in range(4))}", seen)


def _storm_tickets(
    now: datetime, tz: ZoneInfo, residential: Sequence[AccountSpec]
) -> tuple[tuple[TicketSpec, ...], tuple[ReportSpec, ...]]:
    """The storm's fault tickets, and the "no power here" reports on the fault of SC-F02, each by a demo
    Telegram customer of the feeder (one customer, one ticket)."""
    rng = random.Random(SEED + 2)  # not the customers' generator: who the customers are stays as it was
    bound: dict[str, list[AccountSpec]] = {}
    for account in residential:
        if account.identity is not None:
            bound.setdefault(account.feeder_code, []).append(account)  # its language is the identity's
    references: set[str] = set()
    tickets: list[TicketSpec] = []
    reports: list[ReportSpec] = []
    for spec in STORM_TICKETS:
        account = bound[spec.feeder_code].pop(0)
        created_at = now + timedelta(minutes=spec.created)
        ticket = TicketSpec(
            reference=_reference(rng, created_at, tz, references),
            account_number=account.account_number,
            location=account.address,
            description=spec.en if account.language == "en" else spec.zh,
            hazard=spec.hazard,
            status=spec.status,
            created_at=created_at,
            updated_at=None if spec.updated is None else now + timedelta(minutes=spec.updated),
            outage_key=spec.outage_key,
        )
        tickets.append(ticket)
        if spec.reported and spec.outage_key is not None:
            reports.append(
                ReportSpec(spec.outage_key, spec.feeder_code, account.account_number, created_at, ticket.reference)
            )
    for minutes in STORM_REPORTS_ONLY:
        account = bound["SC-F02"].pop(0)
        reports.append(ReportSpec(FAULT_SC, "SC-F02", account.account_number, now + timedelta(minutes=minutes)))
    reports.sort(key=lambda r: r.created_at)
    return tuple(tickets), tuple(reports)
