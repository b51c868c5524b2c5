"""The `gridtalk` command line. Each command builds Settings once and hands them down."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from core.config import Settings, SettingsError, load_settings
from core.imports import ImportKind

T = TypeVar("T")


def run_service(main: Coroutine[Any, Any, T]) -> T:
    """Run a long-lived process's coroutine (api, bot, worker, all in one) on uvloop where it is installed: libuv's
    sockets and callbacks cost less CPU per chat turn and per notice than asyncio's own loop. One-off commands
    keep asyncio.run."""
    try:
        import uvloop
    except ImportError:  # not on Windows
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


app = typer.Typer(help="gridtalk: chatbot and messaging service for electric power utilities.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data to try gridtalk with.", no_args_is_help=True)
nlu_app = typer.Typer(help="The Rasa NLU model: train, serve, parse, evaluate.", no_args_is_help=True)
staff_app = typer.Typer(help="Staff users of the console and API.", no_args_is_help=True)
customer_app = typer.Typer(help="One customer's personal data: export it, erase it.", no_args_is_help=True)
outage_app = typer.Typer(
    help="Fault outages: record one, move its estimate, publish it, restore it (as a staff user).",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(nlu_app, name="nlu")
app.add_typer(staff_app, name="staff")
app.add_typer(customer_app, name="customer")
app.add_typer(outage_app, name="outage")
application_app = typer.Typer(
    help="Applications (业扩): create one, move it to another stage, list them (as a staff user).",
    no_args_is_help=True,
)
app.add_typer(application_app, name="application")


@app.callback()
def _logging() -> None:
    """Every command's log records go through the personal-data mask (core.logs)."""
    from core.logs import install_masking

    install_masking()


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"gridtalk: {message}", err=True)
    return typer.Exit(code)


def settings() -> Settings:
    try:
        cfg = load_settings()
    except SettingsError as exc:
        raise fail(f"invalid setting: {exc}") from None
    from core.logs import configure_logging

    configure_logging(cfg.log_level)
    return cfg


def progress(line: str) -> None:
    typer.echo(line, err=True)


@app.command()
def run() -> None:
    """Start everything on this machine: database, demo data, Rasa, api, worker (and the bot with a token)."""
    from gridtalk.runner import RunError, run_all

    try:
        raise typer.Exit(run_all(settings()))
    except RunError as exc:
        raise fail(str(exc)) from None


@app.command()
def api() -> None:
    """Serve the api (web chat, staff API and console, health checks) with uvicorn."""
    from gridtalk.lean_imports import defer_aiogram_types

    defer_aiogram_types()  # before anything imports aiogram: ≈ 100 MB less
    import uvicorn

    from api.app import create_app
    from nlu.project import port_in_use

    cfg = settings()
    if port_in_use(cfg.api_host, cfg.api_port):
        raise fail(f"port {cfg.api_port} is already in use; set GRIDTALK_API_PORT to another port")
    from core.logs import uvicorn_log_config

    uvicorn.run(
        create_app(cfg),
        host=cfg.api_host,
        port=cfg.api_port,
        log_level=cfg.log_level.lower(),
        log_config=uvicorn_log_config(cfg.log_level),
    )


@app.command()
def bot() -> None:
    """Run the Telegram bot: long polling, or with GRIDTALK_TELEGRAM_WEBHOOK_SECRET register the api's webhook.

    Needs GRIDTALK_TELEGRAM_TOKEN.
    """
    from gridtalk.lean_imports import defer_aiogram_types

    defer_aiogram_types()  # before anything imports aiogram: ≈ 100 MB less
    from bot.app import run_bot

    cfg = settings()
    if cfg.telegram_token is None:
        raise fail("GRIDTALK_TELEGRAM_TOKEN is not set: the Telegram bot needs a bot token")
    with contextlib.suppress(KeyboardInterrupt):
        run_service(run_bot(cfg))


@app.command("app")
def app_(
    mail_catcher: Annotated[
        Path | None,
        typer.Option("--mail-catcher", help="Also serve the mail catcher, keeping its messages in this folder."),
    ] = None,
) -> None:
    """Serve the api, the worker and (with a token) the bot in one process: what `gridtalk run` starts by default."""
    from gridtalk.embedded import run_app
    from nlu.project import port_in_use

    cfg = settings()
    if port_in_use(cfg.api_host, cfg.api_port):
        raise fail(f"port {cfg.api_port} is already in use; set GRIDTALK_API_PORT to another port")
    raise typer.Exit(run_service(run_app(cfg, mail_catcher=mail_catcher)))


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="Run one tick of every job, then exit.")] = False,
    at: Annotated[
        str | None,
        typer.Option("--at", help="With --once: run the tick as if it were this time (ISO 8601 with offset)."),
    ] = None,
) -> None:
    """Run the background jobs: notice planning and sending, timers."""
    from datetime import datetime

    from core.clock import FrozenClock
    from gridtalk.worker import run_worker

    clock = None
    if at is not None:
        if not once:
            raise fail("--at replays one tick: use it with --once")
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            raise fail(f"--at: not an ISO 8601 time: {at!r}") from None
        if moment.tzinfo is None:
            raise fail("--at: give the UTC offset, e.g. 2026-12-10T07:30:00+08:00")
        clock = FrozenClock(moment)
    run_service(run_worker(settings(), once=once, clock=clock))


@app.command()
def mailcatcher(
    port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1 (default GRIDTALK_MAIL_CATCHER_PORT).")] = None,
    folder: Annotated[
        Path | None, typer.Option("--dir", help="Where messages are kept (default GRIDTALK_MAIL_CATCHER_DIR).")
    ] = None,
    keep: Annotated[int, typer.Option(min=1, help="How many of the last messages are kept.")] = 200,
) -> None:
    """Serve the mail catcher: an SMTP server on 127.0.0.1 that delivers nothing and keeps the last messages
    (`gridtalk run` starts it when GRIDTALK_SMTP_HOST is unset; the console shows them at /console/mail)."""
    from core.clock import SystemClock
    from core.notices.mailcatcher import MailFolder, serve_catcher
    from gridtalk.runner import mail_folder
    from nlu.project import port_in_use

    cfg = settings()
    port = port or cfg.mail_catcher_port
    if port_in_use("127.0.0.1", port):
        raise fail(f"port {port} is already in use; set GRIDTALK_MAIL_CATCHER_PORT to another port")
    path = folder or mail_folder(cfg)
    typer.echo(f"[mail] catching email on 127.0.0.1:{port}, keeping the last {keep} in {path}", err=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_catcher(MailFolder(path, keep), SystemClock(), port))


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Create or migrate the database schema (alembic upgrade)."""
    from core.db.migrate import upgrade

    cfg = settings()
    upgrade(cfg.database_url, revision)
    progress(f"[gridtalk] database at {revision}")


@db_app.command("purge-transcripts")
def db_purge_transcripts(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be purged; change nothing.")] = False,
) -> None:
    """Purge the text of chat messages older than GRIDTALK_RETENTION_DAYS (audited); the worker does it daily."""
    from gridtalk.tasks import purge_transcripts

    cfg = settings()
    if not cfg.retention_days:
        progress("[gridtalk] GRIDTALK_RETENTION_DAYS is 0 (unset): transcripts are kept, nothing purged")
        return
    report = asyncio.run(purge_transcripts(cfg, dry_run=dry_run))
    verb = "would purge" if dry_run else "purged"
    progress(
        f"[gridtalk] {verb} the text of {report.messages} messages and {report.comments} feedback comments "
        f"older than {report.cutoff.isoformat()} ({cfg.retention_days} days)"
    )


@db_app.command("backup")
def db_backup(
    file: Annotated[Path, typer.Argument(help="The backup file to write (it holds personal data: mode 600).")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Back up the SQLite database with SQLite's online backup API (PostgreSQL: use pg_dump)."""
    from core.errors import DomainError
    from core.privacy.backup import backup

    cfg = settings()
    try:
        pages = backup(cfg.database_url, file, overwrite=force)
    except DomainError as exc:
        raise fail(exc.message) from None
    progress(f"[gridtalk] database backed up to {file} ({pages} pages)")


@db_app.command("restore")
def db_restore(
    file: Annotated[Path, typer.Argument(help="A backup file made by `gridtalk db backup`.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Replace the SQLite database's contents with a backup (stop the api and worker first; PostgreSQL: pg_restore)."""
    from core.errors import DomainError
    from core.privacy.backup import restore, sqlite_path

    cfg = settings()
    try:
        target = sqlite_path(cfg.database_url)
    except DomainError as exc:
        raise fail(exc.message) from None
    if not yes:
        typer.confirm(f"Replace everything in {target} with {file}?", abort=True)
    try:
        restore(cfg.database_url, file)
    except DomainError as exc:
        raise fail(exc.message) from None
    progress(f"[gridtalk] database {target} restored from {file}")


AccountOption = Annotated[str | None, typer.Option("--account", help="A 10-digit account number.")]
TelegramOption = Annotated[str | None, typer.Option("--telegram-user", help="A Telegram user id.")]
WebSessionOption = Annotated[str | None, typer.Option("--web-session", help="A web chat session id.")]


@customer_app.command("export")
def customer_export(
    account: AccountOption = None, telegram_user: TelegramOption = None, web_session: WebSessionOption = None
) -> None:
    """Print as JSON everything held about one person (audited)."""
    from core.privacy import Subject
    from gridtalk.tasks import export_customer

    subject = Subject(account=account, telegram_user=telegram_user, web_session=web_session)
    data = _staff_task(lambda cfg: export_customer(cfg, subject))
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


@customer_app.command("erase")
def customer_erase(
    account: AccountOption = None,
    telegram_user: TelegramOption = None,
    web_session: WebSessionOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase one person's personal data (names, phones, addresses, message text, ids); statistics stay (audited)."""
    from core.errors import DomainError
    from core.privacy import Subject
    from gridtalk.tasks import erase_customer

    subject = Subject(account=account, telegram_user=telegram_user, web_session=web_session)
    try:
        subject.kind()
    except DomainError as exc:
        raise fail(exc.message) from None
    if not yes:
        typer.confirm("Erase this person's personal data? This cannot be undone", abort=True)
    report = _staff_task(lambda cfg: erase_customer(cfg, subject))
    progress(
        f"[gridtalk] erased: {report.customers} customers, {report.accounts} accounts, {report.identities} "
        f"identities, {report.messages} messages, {report.tickets} tickets, {report.deliveries} deliveries"
    )


@demo_app.command("load")
def demo_load(
    force: Annotated[bool, typer.Option("--force", help="Wipe a non-empty database first.")] = False,
) -> None:
    """Load the deterministic demo data (customers, bills, key accounts, outages). Refuses a non-empty database."""
    from core.errors import Conflict
    from gridtalk.tasks import load_demo_data

    try:
        summary = asyncio.run(load_demo_data(settings(), force=force))
    except Conflict as exc:
        raise fail(exc.message) from None
    progress(f"[gridtalk] demo data loaded: {summary}")


@demo_app.command("accounts")
def demo_accounts(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the demo accounts to try (account number and the last 4 digits of the registered phone)."""
    from gridtalk.tasks import demo_accounts as fetch

    rows = asyncio.run(fetch(settings()))
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        typer.echo(
            f"{row['account_number']}  {row['phone_last4']}  {row['segment']:<12} {row['area']:<4} "
            f"{row['customer_name']}"
        )


@nlu_app.command("train")
def nlu_train(
    force: Annotated[bool, typer.Option("--force", help="Train even when nlu/ is unchanged.")] = False,
) -> None:
    """Train the NLU model from nlu/ (skipped when nothing changed since the last model)."""
    from nlu.project import NluError, train

    cfg = settings()
    try:
        train(cfg.rasa_model_dir, cfg.rasa_venv, force=force, progress=progress)
    except NluError as exc:
        raise fail(str(exc), 1) from None


@nlu_app.command("serve")
def nlu_serve(
    port: Annotated[int | None, typer.Option(help="Port (default GRIDTALK_RASA_PORT).")] = None,
) -> None:
    """Serve the trained model with Rasa on 127.0.0.1 until interrupted."""
    from gridtalk.runner import RunError, serve_rasa_forever

    cfg = settings()
    try:
        raise typer.Exit(serve_rasa_forever(cfg, port or cfg.rasa_port))
    except RunError as exc:
        raise fail(str(exc)) from None


@nlu_app.command("parse")
def nlu_parse() -> None:
    """Read one message per line on stdin; print one JSON object per line (Rasa's /model/parse shape)."""
    from gridtalk.tasks import parse_lines

    try:
        asyncio.run(parse_lines(settings(), sys.stdin, sys.stdout, progress))
    except RuntimeError as exc:
        raise fail(str(exc), 1) from None


@nlu_app.command("eval")
def nlu_eval(
    folds: Annotated[int, typer.Option(help="Cross-validation folds (0 skips cross-validation).")] = 5,
    gate: Annotated[bool, typer.Option("--gate", help="Exit 1 when the held-out figures are under the bar.")] = False,
    reports: Annotated[Path, typer.Option(help="Where the reports go.")] = Path("reports/nlu"),
    config: Annotated[
        Path | None,
        typer.Option(help="Another pipeline to measure (trained into a temporary model); default nlu/config.yml."),
    ] = None,
    apply_calibration: Annotated[
        bool,
        typer.Option(
            "--apply-calibration",
            help="Write the calibrated threshold and ambiguity margin into the config's FallbackClassifier.",
        ),
    ] = False,
) -> None:
    """Evaluate the model on the held-out files normalised as the client does (per language, out-of-scope
    false accept, keyword rules on their own, PNGs), and k-fold cross-validation with the decision calibrated
    on its out-of-fold predictions; reports under reports/nlu/."""
    from nlu.crossval import cross_validate
    from nlu.evaluate import configured_decision, evaluate_heldout, evaluate_two_questions
    from nlu.project import NLU_DIR, NluError, rasa_train, train, write_decision

    cfg = settings()
    pipeline = (config or NLU_DIR / "config.yml").resolve()
    if not pipeline.is_file():
        raise fail(f"no pipeline config at {pipeline}", 2)
    if apply_calibration and not folds:
        raise fail("--apply-calibration needs cross-validation (--folds 2 or more)", 2)
    decision = configured_decision(cfg.nlu_confidence_threshold, pipeline)
    try:
        with tempfile.TemporaryDirectory(prefix="gridtalk-eval-") as tmp:
            if config is None:
                model, _ = train(cfg.rasa_model_dir, cfg.rasa_venv, progress=progress)
            else:
                model = rasa_train(cfg.rasa_venv, pipeline, NLU_DIR / "data", Path(tmp), pipeline.stem, progress)
            results = evaluate_heldout(model, cfg.rasa_venv, reports.resolve(), progress, decision)
            doubles = evaluate_two_questions(model, cfg.rasa_venv, reports.resolve(), progress, decision)
        for result in results:
            typer.echo(result.table())
            typer.echo(
                f"  pictures: {result.report_dir / 'confusion_matrix.png'}, {result.report_dir / 'threshold_curve.png'}"
            )
        typer.echo("\n".join(doubles.lines()))
        if folds:
            cv = cross_validate(cfg.rasa_venv, reports.resolve(), folds, decision, progress, config=pipeline)
            typer.echo("\n".join(cv.lines()))
            if apply_calibration:
                write_decision(pipeline, cv.calibration.chosen.decision)
                progress(f"[nlu] {pipeline} now decides at the calibrated point; retrain with `gridtalk nlu train`")
    except NluError as exc:
        raise fail(str(exc), 1) from None
    failures = [failure for result in results for failure in result.gate_failures()]
    if gate and failures:
        raise fail("NLU gate failed (floors in nlu/evaluate.py):\n" + "\n".join(failures), 1)


@nlu_app.command("export-annotations")
def nlu_export_annotations(
    out: Annotated[Path, typer.Option("--out", help="The training file to write (merged with what it holds).")] = Path(
        "nlu/data/nlu/annotations.yml"
    ),
    everything: Annotated[
        bool, typer.Option("--all", help="Every annotated message, also those exported before.")
    ] = False,
) -> None:
    """Write the messages staff annotated in the console's "not understood" inbox as Rasa NLU training data
    (numbers, emails and names replaced; audited); the next `gridtalk nlu train` learns from them."""
    from core.nlu_review.training import read_examples
    from gridtalk.tasks import unit_of_work
    from nlu.project import NLU_DIR

    target = out.resolve()
    known = frozenset(
        example
        for path in sorted([*(NLU_DIR / "data").rglob("*.yml"), *(NLU_DIR / "tests").rglob("*.yml")])
        if path.resolve() != target
        for examples in read_examples(path).values()
        for example in examples
    )

    async def export(cfg: Settings) -> Any:
        from core.clock import SystemClock
        from core.services import CoreServices

        async with unit_of_work(cfg) as session:
            review = CoreServices.build(cfg, SystemClock()).nlu_review
            return await review.export(session, out, everything=everything, known=known, client="cli")

    report = _staff_task(export)
    for intent, count in report.per_intent.items():
        typer.echo(f"{intent}\t{count}")
    progress(
        f"[gridtalk] {report.written} examples written to {out} ({report.skipped} left out: no text left, or "
        "already in the training data or the held-out test)"
    )


ROLE_HELP = "admin, supervisor, agent or account_manager."


@staff_app.command("create")
def staff_create(
    username: Annotated[str, typer.Option(help="Login name: 3–64 letters, digits, '.', '_' or '-'.")],
    role: Annotated[str, typer.Option(help=ROLE_HELP)],
    password: Annotated[
        str,
        typer.Option(
            help="At least 8 characters (asked for when left out).",
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
        ),
    ],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
) -> None:
    """Create a staff user who can sign in to the console and the API (audited)."""
    from gridtalk.tasks import create_staff_user

    user_id = _staff_task(lambda cfg: create_staff_user(cfg, username, password, role, name))
    progress(f"[gridtalk] staff user {username} ({role}) created with id {user_id}")


@staff_app.command("disable")
def staff_disable(username: Annotated[str, typer.Option(help="The staff user to disable.")]) -> None:
    """Disable a staff user: they can no longer sign in, and their tokens and console sessions stop working."""
    from gridtalk.tasks import disable_staff_user

    _staff_task(lambda cfg: disable_staff_user(cfg, username))
    progress(f"[gridtalk] staff user {username} disabled")


@staff_app.command("reset-password")
def staff_reset_password(
    username: Annotated[str, typer.Option(help="The staff user whose password to set.")],
    password: Annotated[
        str,
        typer.Option(
            help="At least 8 characters (asked for when left out).",
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
        ),
    ],
) -> None:
    """Set a staff user's password (stored as an argon2 hash); their console sessions end."""
    from gridtalk.tasks import reset_staff_password

    _staff_task(lambda cfg: reset_staff_password(cfg, username, password))
    progress(f"[gridtalk] password of staff user {username} reset")


StaffOption = Annotated[str, typer.Option("--staff", help="The staff user doing it (their role must allow it).")]
TimeHelp = "ISO 8601 with its UTC offset, e.g. 2026-12-10T18:30:00+08:00"
FeedersOption = Annotated[list[str] | None, typer.Option("--feeder", help="A feeder code (repeat for more).")]


def _time(value: str | None, name: str) -> Any:
    """An ISO 8601 time with its offset, or a one-line refusal naming the option."""
    from datetime import datetime

    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"--{name}: not a time ({TimeHelp})") from None
    if parsed.tzinfo is None:
        raise fail(f"--{name}: give the UTC offset ({TimeHelp})")
    return parsed


def _outage_task(username: str, action: str, outage_id: int | None = None, **values: Any) -> None:
    from gridtalk.tasks import outage_action

    view = _staff_task(lambda cfg: outage_action(cfg, username, action, outage_id, **values))
    typer.echo(json.dumps(view, ensure_ascii=False, indent=2))


@outage_app.command("fault")
def outage_fault(
    staff: StaffOption,
    estimate: Annotated[str, typer.Option(help=f"When power is expected back: {TimeHelp}.")],
    reason: Annotated[str, typer.Option(help="What happened (shown to customers).")],
    area: Annotated[list[str] | None, typer.Option("--area", help="A district code (repeat for more).")] = None,
    feeder: FeedersOption = None,
    starts_at: Annotated[str | None, typer.Option(help=f"When the power went off (default now): {TimeHelp}.")] = None,
    contact: Annotated[str, typer.Option(help="Phone in the messages (default the service hotline).")] = "",
    publish: Annotated[bool, typer.Option("--publish", help="Publish at once: customers are told now.")] = False,
) -> None:
    """Record a fault outage as a draft (or --publish it at once); prints it as JSON."""
    _outage_task(
        staff,
        "create",
        estimate=_time(estimate, "estimate"),
        starts_at=_time(starts_at, "starts-at"),
        reason=reason,
        contact=contact,
        areas=tuple(area or ()),
        feeders=tuple(feeder or ()),
        publish=publish,
    )


@outage_app.command("estimate")
def outage_estimate(
    outage_id: Annotated[int, typer.Argument(help="The outage's id.")],
    staff: StaffOption,
    at: Annotated[str, typer.Option("--at", help=f"The new estimated restoration: {TimeHelp}.")],
) -> None:
    """Move a fault outage's estimate (kept in its history; customers told when it moves enough)."""
    _outage_task(staff, "estimate", outage_id, estimate=_time(at, "at"))


@outage_app.command("publish")
def outage_publish(outage_id: Annotated[int, typer.Argument(help="The outage's id.")], staff: StaffOption) -> None:
    """Publish a draft fault outage: "we know" goes to the customers in its scope now."""
    _outage_task(staff, "publish", outage_id)


@outage_app.command("restore")
def outage_restore(
    outage_id: Annotated[int, typer.Argument(help="The outage's id.")], staff: StaffOption, feeder: FeedersOption = None
) -> None:
    """Power is back: on all of it, or only on the --feeder(s) named; their customers are told."""
    _outage_task(staff, "restore", outage_id, feeders=tuple(feeder or ()))


SHOWN_ERRORS = 100  # errors printed; --errors-csv writes them all


@app.command("import")
def import_file(
    kind: Annotated[
        ImportKind,
        typer.Argument(
            help="What the file holds: topology, tariffs, accounts, contacts or bills (a new database takes them in "
            "this order).",
            show_default=False,
        ),
    ],
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A CSV file in UTF-8 (columns: README).")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the file and count what would change; write nothing.")
    ] = False,
    errors_csv: Annotated[
        Path | None, typer.Option("--errors-csv", help="Write every error (line, column, message) to this CSV file.")
    ] = None,
    progress_every: Annotated[
        int, typer.Option("--progress-every", min=1, help="A progress line every N rows.")
    ] = 1000,
) -> None:
    """Load the utility's own data from a CSV file: all of it, or nothing when a row is bad (every error is
    reported, exit code 1). Importing the same file again changes nothing. Audited."""
    from sqlalchemy.exc import IntegrityError

    from core.imports import messages
    from core.security import mask_digits

    async def task(cfg: Settings) -> Any:
        from core.clock import SystemClock
        from core.services import CoreServices
        from gridtalk.tasks import unit_of_work

        imports = CoreServices.build(cfg, SystemClock()).imports
        async with unit_of_work(cfg) as session:
            return await imports.run(
                session,
                kind,
                file.read_bytes(),
                source=file.name,
                dry_run=dry_run,
                client="cli",
                progress=progress,
                progress_every=progress_every,
            )

    try:
        report = _staff_task(task)
    except IntegrityError as exc:
        raise fail(messages.DATABASE_REFUSED.format(reason=mask_digits(str(exc.orig))), 1) from None
    if errors_csv is not None:
        _write_errors(errors_csv, report.errors)
        progress(messages.ERRORS_CSV.format(path=errors_csv))
    for error in report.errors[:SHOWN_ERRORS]:
        progress(messages.error_line(error))
    if len(report.errors) > SHOWN_ERRORS:
        progress(messages.MORE_ERRORS.format(more=len(report.errors) - SHOWN_ERRORS))
    for line in messages.report_lines(report):
        typer.echo(line, err=report.refused)
    if kind == ImportKind.BILLS and report.written:
        typer.echo(messages.STATEMENTS_QUEUED.format(count=report.statements))
    if report.refused:
        raise typer.Exit(1)


def _write_errors(path: Path, errors: list[Any]) -> None:
    """The errors as CSV (UTF-8 with a BOM, so that Excel shows Chinese text right)."""
    import csv

    from core.imports.messages import ERRORS_HEADER

    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(ERRORS_HEADER)
        writer.writerows((error.line, error.column, error.message) for error in errors)


def _application_task(username: str, action: str, **values: Any) -> None:
    from gridtalk.tasks import application_action

    shown = _staff_task(lambda cfg: application_action(cfg, username, action, **values))
    typer.echo(json.dumps(shown, ensure_ascii=False, indent=2))


AccountNumberOption = Annotated[str, typer.Option("--account", help="The account's number (10 digits).")]


@application_app.command("create")
def application_create(
    staff: StaffOption,
    account: AccountNumberOption,
    kind: Annotated[
        str,
        typer.Option(help="new_connection, capacity_increase, capacity_decrease, ev_charger or rooftop_solar."),
    ],
    description: Annotated[str, typer.Option(help="What is applied for (for staff).")] = "",
    owner: Annotated[
        str | None, typer.Option(help="The staff member responsible (default: the key account's manager).")
    ] = None,
    outage: Annotated[int | None, typer.Option(help="The id of the planned outage connecting it needs.")] = None,
) -> None:
    """Record an application at its first stage (accepted); its people are told. Prints it as JSON."""
    from core.models.enums import ApplicationKind, values

    if kind not in values(ApplicationKind):
        raise fail(f"--kind: one of {', '.join(values(ApplicationKind))}")
    _application_task(
        staff,
        "create",
        account_number=account,
        kind=ApplicationKind(kind),
        description=description,
        owner=owner,
        outage_id=outage,
    )


@application_app.command("advance")
def application_advance(
    application_id: Annotated[int, typer.Argument(help="The application's id.")],
    staff: StaffOption,
    stage: Annotated[
        str, typer.Option(help="A later stage of its kind (advance), or an earlier one (reopen: --note required).")
    ],
    note: Annotated[str, typer.Option(help="Why (required to go back to an earlier stage).")] = "",
) -> None:
    """Move an application to another stage; its people are told. Prints it as JSON."""
    from core.models.enums import ApplicationStage, values

    if stage not in values(ApplicationStage):
        raise fail(f"--stage: one of {', '.join(values(ApplicationStage))}")
    _application_task(staff, "advance", application_id=application_id, stage=ApplicationStage(stage), note=note)


@application_app.command("list")
def application_list(
    staff: StaffOption,
    account: Annotated[str | None, typer.Option("--account", help="Only this account's.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only those past their stage's due time.")] = False,
    open_only: Annotated[bool, typer.Option("--open", help="Only those not connected yet.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 100,
) -> None:
    """The applications the staff member may see, the most urgent first, as JSON ({"items", "total"})."""
    _application_task(staff, "list", account_number=account, overdue=overdue, open_only=open_only, limit=limit)


def _staff_task(task: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    """Run one staff command; refused input (a bad name, role or password, an unknown or taken user) is one
    line on stderr and exit code 2."""
    from core.errors import DomainError

    try:
        return asyncio.run(task(settings()))
    except DomainError as exc:
        raise fail(exc.message) from None


def main() -> None:
    app()
