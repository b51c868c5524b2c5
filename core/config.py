"""One typed Settings object, read from GRIDTALK_* environment variables (and .env), built at start-up. The
checks of single values are core.config_checks; the rules across settings are here."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.applications.stages import DEFAULT_DAYS, DEFAULT_ROUTES
from core.config_checks import CHECKS
from core.models.enums import ApplicationKind

PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "dev-insecure-secret", "secret"})
DEV_SECRET = "dev-insecure-secret"


class SettingsError(Exception):
    """A setting is missing or invalid; the message names the environment variable."""


class Settings(BaseSettings):
    """Every setting of gridtalk. Documented in README.md (a test keeps that table complete)."""

    model_config = SettingsConfigDict(
        env_prefix="GRIDTALK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Literal["dev", "test", "prod"] = Field(
        "dev", description="dev, test or prod; prod refuses placeholder secrets"
    )
    database_url: str = Field(
        "sqlite+aiosqlite:///./var/gridtalk.db",
        description="SQLAlchemy async URL (sqlite+aiosqlite or postgresql+asyncpg)",
    )
    api_host: str = Field("127.0.0.1", description="address the api binds to")
    api_port: int = Field(8000, ge=1, le=65535, description="port of the api (web chat, console, staff API)")
    worker_metrics_port: int = Field(
        9108, ge=0, le=65535, description="port the worker serves /metrics on (at GRIDTALK_API_HOST); 0: off"
    )
    public_url: str = Field(
        "", description="URL customers and staff reach the api at; default http://API_HOST:API_PORT"
    )
    rasa_url: str | None = Field(None, description="an external Rasa server; unset: `gridtalk run` starts one")
    rasa_port: int = Field(5005, ge=1, le=65535, description="port of the Rasa server `gridtalk run` starts")
    rasa_model_dir: Path = Field(Path("nlu/models"), description="where trained NLU models are kept")
    rasa_venv: Path = Field(Path(".venv-rasa"), description="the virtual environment Rasa runs from")
    nlu_timeout: float = Field(2.0, gt=0, description="seconds to wait for one Rasa parse")
    nlu_confidence_threshold: float = Field(
        0.5, ge=0, le=1, description="below this confidence an intent becomes nlu_fallback"
    )
    nlu_max_chars: int = Field(500, ge=10, description="longer customer messages are cut before NLU")
    nlu_review_confidence: float | None = Field(
        None,
        ge=0,
        le=1,
        description='the console\'s "not understood" inbox lists messages below this confidence; unset: '
        "GRIDTALK_NLU_CONFIDENCE_THRESHOLD",
    )
    telegram_token: SecretStr | None = Field(None, description="Telegram bot token; unset: the bot does not start")
    telegram_api_base: str | None = Field(
        None, description="a local Telegram Bot API server, e.g. http://127.0.0.1:8081"
    )
    telegram_webhook_secret: SecretStr | None = Field(
        None, description="webhook mode: the secret-token header Telegram sends; unset: long polling"
    )
    redis_url: str | None = Field(None, description="Redis for bot FSM and rate-limit state; unset: in memory")
    secret_key: SecretStr = Field(SecretStr(DEV_SECRET), description="signs staff tokens; must be set outside dev")
    timezone: str = Field("Asia/Shanghai", description="the utility's timezone; times are shown in it")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="log level")
    retention_days: int = Field(
        0, ge=0, description="transcript text (and feedback comments) older than this many days is purged; 0: kept"
    )
    test_database_url: str | None = Field(None, description="tests only: a PostgreSQL URL; the suite runs again on it")

    # --- conversations: dialogue, account binding, Telegram bot, web chat ---
    service_hotline: str = Field("95598", min_length=3, description="the service hotline customers are told to call")
    payment_methods: str = Field(
        "app,wechat,alipay,bank_autodebit,service_hall,prepaid",
        description="payment methods the bot lists, in order, comma-separated: "
        "app, wechat, alipay, bank_autodebit, online_banking, service_hall, prepaid",
    )
    public_tariff_code: str = Field(
        "RES-TIERED-TOU",
        min_length=1,
        description="the tariff (its code) the bot quotes to a customer who has not bound an account "
        "(the residential one)",
    )
    binding_max_failures: int = Field(5, ge=1, description="failed account verifications that lock an identity")
    binding_window_minutes: int = Field(60, ge=1, description="the window those failures are counted in")
    binding_lock_minutes: int = Field(60, ge=1, description="how long a locked identity cannot try to bind")
    binding_account_max_failures: int = Field(
        10,
        ge=1,
        description="failed verifications of one account number (any identity, any channel) that lock it: "
        "no new identity may bind it (those already bound keep it; the customer is sent to the hotline)",
    )
    binding_account_window_minutes: int = Field(1440, ge=1, description="the window those failures are counted in")
    binding_account_lock_minutes: int = Field(1440, ge=1, description="how long a locked account cannot be bound")
    binding_client_max_failures: int = Field(
        20, ge=1, description="failed verifications from one web chat address that lock binding from it"
    )
    binding_client_window_minutes: int = Field(60, ge=1, description="the window those failures are counted in")
    binding_client_lock_minutes: int = Field(60, ge=1, description="how long a locked address cannot try to bind")
    trusted_proxy: str | None = Field(
        None,
        description="address(es) of the reverse proxy in front of the api, comma-separated: from them the "
        "X-Forwarded-For header gives the web chat's client address; unset: the peer address, no header believed",
    )
    chat_session_rate_limit: int = Field(
        20, ge=1, description="web chat sessions one address may start per window; then 429 with Retry-After"
    )
    chat_session_rate_window: int = Field(600, ge=1, description="seconds of that window (counters in memory or Redis)")
    chat_turns_in_flight: int = Field(
        8,
        ge=1,
        description="customer messages (web chat, Telegram webhook) one api process answers at once; more wait in "
        "line, so a storm of questions queues instead of overrunning Rasa and the database pool",
    )
    fallbacks_before_handoff: int = Field(
        2, ge=1, description="messages in a row the bot did not understand before it hands over to a person"
    )
    conversation_idle_minutes: int = Field(
        30,
        ge=1,
        description="after this long without a message a half-filled form is dropped and a new conversation starts",
    )
    usage_trend_months: int = Field(6, ge=2, le=12, description="months shown when a customer asks for usage")
    chat_rate_limit: int = Field(20, ge=1, description="messages one Telegram user may send per window")
    chat_rate_window: int = Field(60, ge=1, description="seconds of that window; more get one polite notice")

    # --- handoff to a person: the escalation queue ---
    escalation_first_response_minutes: int = Field(
        5, ge=1, description="an escalation without a staff reply this long is overdue: supervisors are told"
    )
    escalation_reopen_minutes: int = Field(
        30, ge=0, description="a customer writing again this soon after a resolved escalation reopens it"
    )
    duty_start: dt.time = Field(dt.time(8, 0), description="on-duty hours start (local): people answer the queue")
    duty_end: dt.time = Field(dt.time(20, 0), description="on-duty hours end (local); equal to start: always on duty")

    # --- applications (业扩报装): stages per kind, time limits in working days (core.applications.stages) ---
    application_stage_days: str = Field(
        DEFAULT_DAYS,
        description="working days each stage of an application may take, stage=days comma-separated (stages left "
        "out keep their default; 0: no limit); the current stage's due time counts from when it began",
    )
    application_holidays: str = Field(
        "", description="days off besides Saturday and Sunday (YYYY-MM-DD, comma-separated): not working days"
    )
    application_stages_new_connection: str = Field(
        DEFAULT_ROUTES[ApplicationKind.NEW_CONNECTION],
        description="the stages a new connection goes through, in order (from accepted to connected)",
    )
    application_stages_capacity_increase: str = Field(
        DEFAULT_ROUTES[ApplicationKind.CAPACITY_INCREASE],
        description="the stages a capacity increase goes through",
    )
    application_stages_capacity_decrease: str = Field(
        DEFAULT_ROUTES[ApplicationKind.CAPACITY_DECREASE],
        description="the stages a capacity decrease goes through",
    )
    application_stages_ev_charger: str = Field(
        DEFAULT_ROUTES[ApplicationKind.EV_CHARGER],
        description="the stages an EV charger goes through (a home charger: no design review, no interim inspection)",
    )
    application_stages_rooftop_solar: str = Field(
        DEFAULT_ROUTES[ApplicationKind.ROOFTOP_SOLAR],
        description="the stages a rooftop solar connection goes through",
    )

    @property
    def payment_method_keys(self) -> tuple[str, ...]:
        return tuple(self.payment_methods.split(","))

    # --- notices: planner, outbox dispatcher, channels (Telegram, email, SMS) ---
    notice_first_days: int = Field(15, ge=1, description="days before a planned outage the first notice is due")
    notice_second_days: int = Field(7, ge=1, description="days before a planned outage the second notice is due")
    notice_final_minutes: int = Field(
        30, ge=1, description="minutes before a planned outage the final confirmation is due"
    )
    notice_min_gap_minutes: int = Field(
        60, ge=0, description="two notices to one person are at least this far apart (the final confirmation aside)"
    )
    notice_quiet_start: dt.time = Field(
        dt.time(22, 0), description="quiet hours start (local time): residential notices wait until they end"
    )
    notice_quiet_end: dt.time = Field(dt.time(7, 0), description="quiet hours end (local time); equal to start: none")
    notice_confirm_minutes: int = Field(
        10, ge=1, description="a final confirmation unanswered this long alerts the key account's manager"
    )
    notice_estimate_change_minutes: int = Field(
        30, ge=1, description="a fault outage's estimate moved by more than this tells those already told"
    )
    fault_cluster_reports: int = Field(
        3, ge=2, description="this many no-power reports on one feeder, outside any known outage, flag a fault"
    )
    fault_cluster_minutes: int = Field(30, ge=1, description="within this many minutes (see fault_cluster_reports)")
    survey_quiet_minutes: int = Field(
        10, ge=1, description="a customer quiet this long after the bot answered them gets the satisfaction survey"
    )
    survey_per_day: int = Field(1, ge=1, description="satisfaction surveys one customer gets a day at most")
    bill_due_reminder_days: int = Field(
        3, ge=1, le=28, description="an unpaid bill's reminder goes this many days before its due date (opted in)"
    )
    arrears_reminder_days: int = Field(
        3, ge=1, le=60, description="and told of its arrears this many days after its due date, still unpaid"
    )
    survey_expiry_hours: int = Field(24, ge=1, description="an unanswered survey expires after this many hours")
    survey_low_score: int = Field(2, ge=1, le=4, description="a score at or under this starts a follow-up (回访)")
    followup_due_hours: int = Field(24, ge=1, description="a follow-up is due this many hours after the low score")
    notice_rate_limit: float = Field(
        30, gt=0, le=1000, description="Telegram messages a second over all chats (above 30 needs paid broadcast)"
    )
    notice_allow_paid_broadcast: bool = Field(
        False, description="send with Telegram's allow_paid_broadcast (paid, up to 1000 messages/s)"
    )
    notice_chat_interval: float = Field(1.0, ge=0, description="seconds between two Telegram messages to one chat")
    notice_fanout_margin_minutes: int = Field(
        10, ge=0, description="a stage starts this much earlier than audience ÷ rate needs, to finish by its time"
    )
    notice_batch_size: int = Field(500, ge=1, le=5000, description="deliveries the dispatcher claims at once")
    notice_concurrency: int = Field(100, ge=1, le=2000, description="sends in flight at once per worker")
    notice_max_attempts: int = Field(
        6,
        ge=1,
        description="attempts of a delivery without a deadline before it is marked failed (one with a deadline "
        "is retried until the deadline)",
    )
    notice_retry_base_seconds: float = Field(
        5.0, gt=0, description="first retry delay; doubled each attempt, with jitter"
    )
    notice_retry_max_seconds: float = Field(600.0, gt=0, description="longest retry delay")
    notice_send_timeout: float = Field(15.0, gt=0, description="seconds one send may take before it counts as failed")
    notice_lease_seconds: int = Field(
        300, ge=10, description="a claimed delivery whose result was not recorded this long is claimed again"
    )
    notice_channel_pause_seconds: float = Field(
        60.0, gt=0, description="a channel that cannot send at all (Telegram 401, network down) pauses this long"
    )
    notice_email_key_accounts: bool = Field(
        True, description="key-account contacts get every notice by email too (off: only when Telegram cannot reach)"
    )
    smtp_host: str | None = Field(None, description="SMTP server for notice emails; unset: no email is sent")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port")
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        "starttls", description="none, starttls or tls (implicit TLS, usually port 465)"
    )
    smtp_username: str | None = Field(None, description="SMTP login; unset: no authentication")
    smtp_password: SecretStr | None = Field(None, description="SMTP password")
    smtp_from: str = Field("gridtalk@localhost", description="From: address of notice emails")
    mail_catcher: bool = Field(
        True,
        description="`gridtalk run` without GRIDTALK_SMTP_HOST starts a mail catcher (an SMTP server on 127.0.0.1 "
        "that delivers nothing and keeps the last messages, shown at /console/mail); false: no email at all",
    )
    mail_catcher_port: int = Field(1025, ge=1, le=65535, description="port of the mail catcher `gridtalk run` starts")
    mail_catcher_dir: Path | None = Field(
        None,
        description="the folder the mail catcher keeps its messages in (`gridtalk run` sets it to var/mail for "
        "its children when it starts one); set: the console shows them at /console/mail",
    )
    sms_webhook_url: str | None = Field(
        None,
        description="SMS gateway webhook (HTTP POST); set: binding verifies with a code sent to the registered "
        "phone, and a key-account contact no other route reached gets the notice by SMS",
    )
    sms_webhook_body: str = Field(
        '{"to": "{to}", "text": "{text}"}',
        description="JSON body posted to the SMS webhook; {to} and {text} inside its strings are filled in",
    )
    sms_webhook_token: SecretStr | None = Field(None, description="bearer token sent to the SMS webhook")
    staff_token_minutes: int = Field(480, ge=1, description="lifetime of a staff API token")

    # --- staff: console sessions, sign-in throttling ---
    staff_session_minutes: int = Field(
        480, ge=1, description="lifetime of a console session (signed in at /console/login); then sign in again"
    )
    staff_login_max_failures: int = Field(
        5, ge=1, description="failed sign-ins of one username within the window before it is refused for a while"
    )
    staff_login_max_failures_per_client: int = Field(
        20, ge=1, description="failed sign-ins from one address within the window before it is refused for a while"
    )
    staff_login_window_minutes: int = Field(
        15, ge=1, description="the window failed sign-ins are counted in (a refused sign-in waits until they age out)"
    )

    # --- supervision: `gridtalk run` restarts what crashes; the worker's heartbeat in /readyz ---
    supervisor_backoff_seconds: float = Field(
        1.0, gt=0, description="`gridtalk run`: wait before restarting a crashed process; doubled per recent crash"
    )
    supervisor_backoff_max_seconds: float = Field(30.0, gt=0, description="`gridtalk run`: the longest such wait")
    supervisor_max_crashes: int = Field(
        5, ge=1, description="`gridtalk run` gives up (stops everything, exits 1) at this many crashes of one process…"
    )
    supervisor_crash_window_seconds: float = Field(300.0, gt=0, description="…within this many seconds")
    run_mode: Literal["embedded", "processes"] = Field(
        "embedded",
        description="`gridtalk run`: api, worker and bot in one child process (embedded) or one process each",
    )
    worker_stale_seconds: float = Field(
        60.0, gt=0, description="a worker whose last heartbeat (written each tick) is older than this is stale"
    )
    require_worker: bool = Field(
        False,
        description="/readyz answers 503 while no worker heartbeat is fresh; `gridtalk run` sets it for its api",
    )

    @field_validator(*CHECKS)
    @classmethod
    def _checked(cls, value: Any, info: ValidationInfo) -> Any:
        """Each setting named in core.config_checks.CHECKS passes its check (which may also tidy the value)."""
        return CHECKS[str(info.field_name)](value)

    @model_validator(mode="after")
    def _paid_broadcast_for_high_rates(self) -> Settings:
        if self.notice_rate_limit > 30 and not self.notice_allow_paid_broadcast:
            raise ValueError("notice_rate_limit: above 30 messages/s needs GRIDTALK_NOTICE_ALLOW_PAID_BROADCAST=true")
        if self.notice_second_days >= self.notice_first_days:
            raise ValueError("notice_second_days: must be fewer than GRIDTALK_NOTICE_FIRST_DAYS")
        return self

    @model_validator(mode="after")
    def _no_placeholder_secrets_outside_dev(self) -> Settings:
        if self.env == "prod" and self.secret_key.get_secret_value().lower() in PLACEHOLDER_SECRETS | {DEV_SECRET}:
            raise ValueError("secret_key: a placeholder secret is not allowed when GRIDTALK_ENV=prod")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.api_host}:{self.api_port}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    """Build Settings, turning pydantic's report into one line per bad setting, named as in the environment."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else ""
            message = str(err["msg"])
            if not field and ":" in message:  # model-level check: "field: reason"
                field, _, message = message.removeprefix("Value error, ").partition(": ")
            name = f"GRIDTALK_{field.upper()}" if field else "settings"
            lines.append(f"{name}: {message.removeprefix('Value error, ')}")
        raise SettingsError("; ".join(lines)) from None
