"""One typed Settings object, read from GRIDTALK_* environment variables (and .env), built at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    test_database_url: str | None = Field(None, description="tests only: a PostgreSQL URL; the suite runs again on it")

    # --- conversations: dialogue, account binding, Telegram bot, web chat ---

    # --- notices: planner, outbox dispatcher, channels (Telegram, email, SMS) ---

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

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
