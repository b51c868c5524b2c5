from __future__ import annotations

import pytest

from core.config import Settings, SettingsError, load_settings


def test_defaults_are_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GRIDTALK_DATABASE_URL", "GRIDTALK_API_PORT", "GRIDTALK_RASA_URL", "GRIDTALK_RASA_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url == "sqlite+aiosqlite:///./var/gridtalk.db"
    assert settings.api_port == 8000
    assert settings.rasa_url is None
    assert settings.rasa_port == 5005
    assert settings.timezone == "Asia/Shanghai"


def test_bad_port_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDTALK_API_PORT", "eighty")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value).startswith("GRIDTALK_API_PORT: ")
    assert "integer" in str(err.value)


def test_sync_database_driver_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDTALK_DATABASE_URL", "postgresql://postgres@localhost/x")
    with pytest.raises(SettingsError, match=r"^GRIDTALK_DATABASE_URL: must start with"):
        load_settings()


def test_unknown_timezone_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDTALK_TIMEZONE", "Mars/Olympus")
    with pytest.raises(SettingsError, match="GRIDTALK_TIMEZONE: unknown timezone"):
        load_settings()


def test_prod_refuses_the_placeholder_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDTALK_ENV", "prod")
    monkeypatch.delenv("GRIDTALK_SECRET_KEY", raising=False)
    with pytest.raises(SettingsError, match="GRIDTALK_SECRET_KEY: a placeholder secret"):
        load_settings()
    monkeypatch.setenv("GRIDTALK_SECRET_KEY", "change-me")
    with pytest.raises(SettingsError, match="GRIDTALK_SECRET_KEY"):
        load_settings()
    monkeypatch.setenv("GRIDTALK_SECRET_KEY", "s3cr3t-that-is-long-enough-0123456789")
    assert load_settings().env == "prod"
