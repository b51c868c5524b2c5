"""aiogram imported with its Bot API types built on first use (gridtalk.lean_imports): every deferred type builds,
each into the same schema as when aiogram builds them all at import, and an update and a method call go through.
Each side runs in a fresh interpreter, since a process imports aiogram once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCHEMAS = """
import json, warnings
{prelude}
import aiogram.types as types
from pydantic import BaseModel, PydanticInvalidForJsonSchema
warnings.simplefilter("ignore")
schemas = {{}}
for name in types.__all__:
    cls = getattr(types, name)
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        try:
            schemas[name] = cls.model_json_schema()
        except PydanticInvalidForJsonSchema as exc:  # a field of Python's own type (InputFile): no JSON schema
            schemas[name] = str(exc)
print(json.dumps(schemas, sort_keys=True))
"""

LAZY = "from gridtalk.lean_imports import defer_aiogram_types\nassert len(defer_aiogram_types()) > 300"


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_deferred_type_builds_into_the_schema_aiogram_builds_at_import() -> None:
    eager = json.loads(_python(SCHEMAS.format(prelude="")))
    lazy = json.loads(_python(SCHEMAS.format(prelude=LAZY)))
    assert len(eager) > 300
    assert lazy == eager


def test_an_update_and_a_method_go_through_deferred_types() -> None:
    code = (
        LAZY
        + """
from aiogram.methods import SendMessage
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Update
person = {"id": 5, "is_bot": False, "first_name": "x"}
update = Update.model_validate({"update_id": 1, "message": {"message_id": 1, "date": 0,
    "chat": {"id": 5, "type": "private"}, "from": person, "text": "hi"}})
assert update.message is not None and update.message.text == "hi" and update.event_type == "message"
keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="a", callback_data="b")]])
sent = SendMessage(chat_id=5, text="hello", reply_markup=keyboard).model_dump(exclude_none=True)
assert sent["reply_markup"] == {"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]}
print("ok")
"""
    )
    assert _python(code).strip() == "ok"


def test_nothing_is_deferred_once_aiogram_is_imported() -> None:
    assert _python("import aiogram\n" + LAZY.replace("> 300", "== 0") + "\nprint('ok')").strip() == "ok"
