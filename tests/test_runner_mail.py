"""How `gridtalk run` decides on its children and the mail catcher (unit level, no process started): embedded (the
default) one `gridtalk app`, which serves the catcher too; with GRIDTALK_RUN_MODE=processes one process each.
Without GRIDTALK_SMTP_HOST the catcher runs and the children's SMTP settings point at it; a real SMTP server or
GRIDTALK_MAIL_CATCHER=false leaves it out and the environment as it was."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from core.config import Settings
from gridtalk.cli import app
from gridtalk.runner import catches_mail, child_args, child_env, gridtalk_children, mail_folder
from nlu.project import ROOT

ENVIRON = {"PATH": "/usr/bin", "GRIDTALK_SMTP_USERNAME": "stale", "GRIDTALK_SMTP_PASSWORD": "stale"}


def test_embedded_one_app_child_serves_the_catcher_and_the_bot() -> None:
    settings = Settings(env="test", telegram_token="1:x")
    assert settings.run_mode == "embedded"
    assert gridtalk_children(settings) == ["app"]
    assert child_args("app", settings) == ["app", "--mail-catcher", str(ROOT / "var" / "mail")]
    smtp = Settings(env="test", smtp_host="smtp.example.com", telegram_token="1:x")
    assert gridtalk_children(smtp) == ["app"] and child_args("app", smtp) == ["app"]
    assert child_env(settings, ENVIRON)["GRIDTALK_REQUIRE_WORKER"] == "true"


def test_without_an_smtp_host_the_catcher_starts_first_and_the_children_send_to_it() -> None:
    settings = Settings(env="test", mail_catcher_port=2525, run_mode="processes")
    assert catches_mail(settings)
    assert gridtalk_children(settings) == ["mailcatcher", "api", "worker"]
    assert [child_args(name, settings) for name in ("mailcatcher", "api")] == [["mailcatcher"], ["api"]]
    env = child_env(settings, ENVIRON)
    assert env["GRIDTALK_SMTP_HOST"] == "127.0.0.1" and env["GRIDTALK_SMTP_PORT"] == "2525"
    assert env["GRIDTALK_SMTP_SECURITY"] == "none"
    assert env["GRIDTALK_MAIL_CATCHER_DIR"] == str(ROOT / "var" / "mail")
    assert "GRIDTALK_SMTP_USERNAME" not in env and "GRIDTALK_SMTP_PASSWORD" not in env
    assert env["GRIDTALK_REQUIRE_WORKER"] == "true" and env["PATH"] == "/usr/bin"
    children = Settings(**{k.removeprefix("GRIDTALK_").lower(): v for k, v in env.items() if k.startswith("GRIDTALK_")})
    assert children.smtp_host == "127.0.0.1" and children.mail_catcher_dir == ROOT / "var" / "mail"


def test_a_real_smtp_server_replaces_the_catcher() -> None:
    settings = Settings(env="test", smtp_host="smtp.example.com", telegram_token="1:x", run_mode="processes")
    assert not catches_mail(settings)
    assert gridtalk_children(settings) == ["api", "worker", "bot"]
    env = child_env(settings, ENVIRON)
    assert "GRIDTALK_SMTP_HOST" not in env and "GRIDTALK_MAIL_CATCHER_DIR" not in env
    assert env["GRIDTALK_SMTP_USERNAME"] == "stale"  # the environment's own SMTP settings pass through


def test_the_catcher_can_be_turned_off_and_its_folder_chosen(tmp_path: Path) -> None:
    off = Settings(env="test", mail_catcher=False, run_mode="processes")
    assert gridtalk_children(off) == ["api", "worker"] and "GRIDTALK_SMTP_HOST" not in child_env(off, ENVIRON)
    assert mail_folder(Settings(env="test", mail_catcher_dir=tmp_path)) == tmp_path
    assert mail_folder(Settings(env="test", mail_catcher_dir=Path("var/x"))) == ROOT / "var" / "x"


def test_the_mailcatcher_command_has_help() -> None:
    result = CliRunner().invoke(app, ["mailcatcher", "--help"])
    assert result.exit_code == 0 and "--port" in result.output and "--keep" in result.output
