"""docker-compose.yml, Dockerfile and .env.example, checked by reading them (no Docker engine needed)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.config import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

SERVICES = {"postgres", "redis", "rasa", "migrate", "api", "worker", "bot"}
HEALTHCHECKED = {"postgres", "redis", "rasa", "api"}
APP_SERVICES = {"migrate", "api", "worker", "bot"}
LONG_RUNNING_APP = {"api", "worker", "bot"}
SETTING_NAMES = {f"GRIDTALK_{name.upper()}" for name in Settings.model_fields}

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}, ${VAR:+alt}, and bare $VAR.
# `$$` is Compose's escape for a literal `$` (left to the container's shell), so it is removed first.
_BRACED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(?::?[-?+])[^}]*)?\}")
_BARE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_ENV_LINE = re.compile(r"^(#\s*)?([A-Z_][A-Z0-9_]*)=(.*)$")


def compose_variables(text: str) -> set[str]:
    """Names of the variables Compose interpolates in `text`."""
    text = text.replace("$$", "")
    return set(_BRACED.findall(text)) | set(_BARE.findall(text))


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def _as_argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _env_map(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return {k: (v if sep else None) for k, sep, v in (item.partition("=") for item in env)}
    return dict(env)


def _depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on") or {}
    assert isinstance(deps, dict), "use the long depends_on form, with a condition per dependency"
    return deps


def _dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


@pytest.fixture(scope="module")
def env_example() -> dict[str, str | None]:
    """Names in .env.example -> value (None when the line is a commented-out optional example)."""
    names: dict[str, str | None] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = _ENV_LINE.match(line.strip())
        if match:
            commented, name, value = match.groups()
            names[name] = None if commented else value
    return names


# --- helpers --------------------------------------------------------------------------------------


def test_variable_regex_handles_compose_forms() -> None:
    text = "${A} ${B:-x} ${C-y} ${D:?set D in .env} ${E?m} ${F:+z} $G $${NOT_ME} $$H x${I}y"
    assert compose_variables(text) == {"A", "B", "C", "D", "E", "F", "G", "I"}


# --- compose file ---------------------------------------------------------------------------------


def test_all_services_present_and_no_version_key(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) >= SERVICES
    assert "version" not in compose  # Compose spec: the key is obsolete


@pytest.mark.parametrize("name", sorted(HEALTHCHECKED))
def test_healthchecks(services: dict[str, dict[str, Any]], name: str) -> None:
    check = services[name].get("healthcheck")
    assert check, f"{name} needs a healthcheck"
    assert not check.get("disable", False)
    assert check.get("test"), f"{name}: healthcheck without a test"


def test_healthcheck_targets(services: dict[str, dict[str, Any]]) -> None:
    pg = " ".join(_as_argv(services["postgres"]["healthcheck"]["test"]))
    assert "pg_isready" in pg and "-U" in pg and "-d" in pg
    assert "redis-cli" in " ".join(_as_argv(services["redis"]["healthcheck"]["test"]))
    rasa = " ".join(_as_argv(services["rasa"]["healthcheck"]["test"]))
    assert ":5005/" in rasa
    api = " ".join(_as_argv(services["api"]["healthcheck"]["test"]))
    assert ":8000/healthz" in api


def test_postgres_keeps_data_in_named_volume(compose: dict[str, Any], services: dict[str, Any]) -> None:
    mounts = [str(v) for v in services["postgres"].get("volumes", [])]
    named = [m.split(":")[0] for m in mounts if m.split(":")[1:2] == ["/var/lib/postgresql/data"]]
    assert named, "postgres data must live in a volume"
    assert named[0] in (compose.get("volumes") or {}), "declare the postgres volume at top level"
    env = _env_map(services["postgres"])
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} <= set(env)


def test_rasa_official_full_image_with_mounted_model(services: dict[str, dict[str, Any]]) -> None:
    rasa = services["rasa"]
    assert re.fullmatch(r"rasa/rasa:3\.6\.\d+-full", rasa["image"]), rasa["image"]
    argv = _as_argv(rasa["command"])
    assert argv[0] == "run" and "--enable-api" in argv  # the image's entrypoint is `rasa`
    assert argv[argv.index("-m") + 1] == "/app/models"
    mounts = [str(v).split(":") for v in rasa.get("volumes", [])]
    assert any(
        m[0].rstrip("/") in ("./nlu/models", "nlu/models") and m[1] == "/app/models" and m[2:] == ["ro"] for m in mounts
    ), mounts
    assert str(_env_map(rasa).get("RASA_TELEMETRY_ENABLED")).lower() == "false"
    assert str(rasa.get("user")) == "1001"
    assert "ports" not in rasa, "the Rasa API has no auth token: keep it off the host"


def test_migrate_is_one_shot_db_upgrade(services: dict[str, dict[str, Any]]) -> None:
    migrate = services["migrate"]
    assert _as_argv(migrate["command"]) == ["gridtalk", "db", "upgrade"]
    assert migrate.get("restart") == "no"
    assert _depends_on(migrate)["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", sorted(LONG_RUNNING_APP))
def test_app_services_wait_for_migrations_and_backends(services: dict[str, Any], name: str) -> None:
    deps = _depends_on(services[name])
    assert deps["migrate"]["condition"] == "service_completed_successfully"
    assert deps["postgres"]["condition"] == "service_healthy"
    assert deps["redis"]["condition"] == "service_healthy"
    if name in ("api", "bot"):
        assert deps["rasa"]["condition"] == "service_healthy"


def test_every_dependency_condition_matches_its_target(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for target, spec in _depends_on(service).items():
            assert target in services, f"{name} depends on unknown service {target}"
            expected = (
                "service_completed_successfully"
                if services[target].get("restart") == "no"
                else "service_healthy"
                if services[target].get("healthcheck")
                else "service_started"
            )
            assert spec.get("condition") == expected, f"{name} -> {target}"


def test_app_services_run_the_app_image(services: dict[str, dict[str, Any]]) -> None:
    commands = {"migrate": "gridtalk db upgrade", "api": "gridtalk api", "worker": "gridtalk worker"}
    commands["bot"] = "gridtalk bot"
    for name, command in commands.items():
        assert services[name].get("build") in (".", {"context": "."}), name
        assert _as_argv(services[name]["command"]) == command.split()


def test_scalable_services(services: dict[str, dict[str, Any]]) -> None:
    for name in ("api", "worker"):
        assert "container_name" not in services[name], f"{name} must stay scalable"
    assert "ports" not in services["worker"]
    ports = [str(p) for p in services["api"].get("ports", [])]
    assert ports and all(p.rsplit(":", 1)[-1] == "8000" for p in ports), ports


def test_app_services_share_one_environment(services: dict[str, dict[str, Any]]) -> None:
    envs = {name: _env_map(services[name]) for name in APP_SERVICES}
    first = envs["api"]
    assert all(env == first for env in envs.values()), "api, worker, bot and migrate share x-gridtalk-env"
    assert first["GRIDTALK_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert "@postgres:5432/" in first["GRIDTALK_DATABASE_URL"]
    assert first["GRIDTALK_RASA_URL"] == "http://rasa:5005"
    assert first["GRIDTALK_REDIS_URL"].startswith("redis://redis:6379")
    assert first["GRIDTALK_API_HOST"] == "0.0.0.0"
    assert str(first["GRIDTALK_API_PORT"]) == "8000"  # the container port the api publishes
    assert re.fullmatch(r"\$\{GRIDTALK_SECRET_KEY:\?[^}]+\}", first["GRIDTALK_SECRET_KEY"])
    # the api's /readyz reports a silent worker (the healthcheck uses /healthz: a worker down restarts nothing)
    assert str(first["GRIDTALK_REQUIRE_WORKER"]).lower() == "true"
    assert "/healthz" in " ".join(services["api"]["healthcheck"]["test"])


def test_compose_settings_are_real_settings(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        unknown = {k for k in _env_map(services[name]) if k.startswith("GRIDTALK_")} - SETTING_NAMES
        assert not unknown, f"{name}: not in core.config.Settings: {sorted(unknown)}"


def test_every_compose_variable_is_in_env_example(
    compose: dict[str, Any], services: dict[str, dict[str, Any]], env_example: dict[str, str | None]
) -> None:
    used = set()
    for text in _strings(compose):
        used |= compose_variables(text)
    # `KEY:` with no value passes KEY through from .env / the shell: document those too.
    for service in services.values():
        used |= {k for k, v in _env_map(service).items() if v is None}
    missing = used - set(env_example)
    assert not missing, f"add to .env.example: {sorted(missing)}"


# --- .env.example ---------------------------------------------------------------------------------


def test_env_example_documents_every_variable() -> None:
    previous = ""
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        match = _ENV_LINE.match(line)
        if match:
            assert previous.startswith("#"), f".env.example: {match.group(2)} needs a comment line above it"
        previous = line


def test_env_example_names_are_real_settings(env_example: dict[str, str | None]) -> None:
    gridtalk = {name for name in env_example if name.startswith("GRIDTALK_")}
    assert gridtalk, ".env.example lists no GRIDTALK_* settings"
    unknown = gridtalk - SETTING_NAMES
    assert not unknown, f"not in core.config.Settings: {sorted(unknown)}"
    assert set(env_example) - gridtalk <= {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}


def test_env_example_values_are_valid_and_the_placeholder_is_refused(
    env_example: dict[str, str | None],
) -> None:
    values = {
        name.removeprefix("GRIDTALK_").lower(): value
        for name, value in env_example.items()
        if name.startswith("GRIDTALK_") and value is not None
    }
    assert values.get("env") == "prod"
    assert values.get("secret_key") == "change-me"
    with pytest.raises(ValueError, match="placeholder"):
        Settings.model_validate(values)
    settings = Settings.model_validate({**values, "secret_key": "x" * 48})
    assert settings.env == "prod"


# --- Dockerfile -----------------------------------------------------------------------------------


def test_dockerfile_builds_the_app_image() -> None:
    instructions = _dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))
    ops = [op for op, _ in instructions]
    args = {op: [rest for o, rest in instructions if o == op] for op in ops}
    assert args["FROM"] == ["python:3.11-slim"]
    assert any("uv==0.13.8" in run for run in args["RUN"])
    assert any(re.search(r"\buv sync --frozen --no-dev\b(?! --no-install-project)", r) for r in args["RUN"])
    assert args["WORKDIR"][-1] == "/app"
    assert any("/app/.venv/bin" in env for env in args["ENV"])
    user = args["USER"][-1].split(":")[0]
    assert user not in ("root", "0"), "run as a non-root user"
    assert ops.index("USER") > max(i for i, op in enumerate(ops) if op == "RUN"), "USER after the RUNs"
    assert shlex.split(args["CMD"][-1].replace(",", " ").strip("[]")) == ["gridtalk", "api"]

    copied: set[str] = set()
    for rest in args["COPY"]:
        parts = [p for p in rest.split() if not p.startswith("--")]
        copied |= {p.rstrip("/") for p in parts[:-1]}
    needed = {"pyproject.toml", "uv.lock", "README.md", "alembic.ini", "migrations", "templates"}
    needed |= {"core", "api", "bot", "nlu", "gridtalk"}
    assert needed <= copied, f"Dockerfile does not copy {sorted(needed - copied)}"

    ignored = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert not (needed & ignored), f".dockerignore hides {sorted(needed & ignored)}"
    assert {".env", ".venv", ".venv-rasa"} <= ignored
