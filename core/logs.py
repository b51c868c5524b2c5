"""Logging for every gridtalk process (api, bot, worker, run, the command line): one format, and personal data
masked in every record before any handler sees it.

`configure_logging(level)` sets the root logger up and installs the mask; `uvicorn_log_config(level)` is the
dictConfig uvicorn is started with, so that its error and access logs go through the same mask.

The mask (core.security.mask_digits, the rule staff screens follow too): phone numbers in any common format
become 138******** (the last four digits are the binding secret), 10-digit account numbers 33******67; the
web chat session id in a path (/api/v1/chat/sessions/<id>/…) is the key to a conversation and becomes `***`.
It is applied by a LogRecord factory, so it holds for records of every logger, whichever handler (a test's
capture included) receives them; MaskingFilter does the same on handlers for records made elsewhere.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from core.security import mask_digits

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_SESSION_PATH = re.compile(r"(/chat/sessions/)[^/?#\s\"']+")
_MASKED = "_gridtalk_masked"


def mask_text(text: str) -> str:
    """A log line with phone and account numbers masked and web chat session ids in paths redacted."""
    return mask_digits(_SESSION_PATH.sub(r"\1***", text))


def _mask_arg(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, bool | int | float) or value is None:
        return value  # kept for %d / %f; the message as a whole is checked again below
    text = str(value)
    masked = mask_text(text)
    return value if masked == text else masked


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask a record in place (idempotent): its message, its arguments (uvicorn's access formatter reads them
    one by one), its traceback and stack."""
    if getattr(record, _MASKED, False):
        return record
    setattr(record, _MASKED, True)
    if isinstance(record.msg, str):
        record.msg = mask_text(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_mask_arg(a) for a in record.args)
    elif isinstance(record.args, dict):
        record.args = {k: _mask_arg(v) for k, v in record.args.items()}
    if record.args:
        try:
            message = record.msg % record.args if isinstance(record.msg, str) else None
        except (TypeError, ValueError, KeyError):
            message = None
        if message is not None and mask_text(message) != message:
            # a number argument that is a phone or an account once formatted: keep the masked text only
            record.msg, record.args = mask_text(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = mask_text(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info)
    return record


class MaskingFilter(logging.Filter):
    """A handler filter that masks personal data (it never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


_installed_factory: Any = None


def install_masking() -> None:
    """Mask every LogRecord this process makes, whatever logger and handler (idempotent)."""
    global _installed_factory
    current = logging.getLogRecordFactory()
    if current is _installed_factory:
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return mask_record(current(*args, **kwargs))

    _installed_factory = factory
    logging.setLogRecordFactory(factory)


# Libraries whose DEBUG lines carry SQL parameters (chat text, session ids): never below INFO.
QUIET_LOGGERS = ("aiosqlite", "asyncpg")


def quiet_libraries() -> None:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)


def configure_logging(level: str = "INFO") -> None:
    """Set up logging for a gridtalk process: masked records, one line each on stderr at `level`."""
    install_masking()
    quiet_libraries()
    logging.basicConfig(level=level, format=FORMAT)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())


def uvicorn_log_config(level: str = "INFO") -> dict[str, Any]:
    """uvicorn's own logging configuration with the mask on its handlers (the access log's request lines
    carry chat session ids and whatever a client put in the query)."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = {
        **LOGGING_CONFIG,
        "filters": {"mask": {"()": "core.logs.MaskingFilter"}},
        "handlers": {name: {**h, "filters": ["mask"]} for name, h in LOGGING_CONFIG["handlers"].items()},
        "loggers": {name: dict(lg) for name, lg in LOGGING_CONFIG["loggers"].items()},
    }
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        config["loggers"].setdefault(name, {})["level"] = level
    return config
