"""README.md documents every setting, and only real ones."""

from __future__ import annotations

import re
from pathlib import Path

from core.config import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_the_two_commands_are_there() -> None:
    assert "make run" in README
    assert "make test" in README


def test_every_setting_is_in_the_table_and_every_row_is_a_setting() -> None:
    documented = set(re.findall(r"^\| `(GRIDTALK_[A-Z_]+)` \|", README, flags=re.MULTILINE))
    real = {f"GRIDTALK_{name.upper()}" for name in Settings.model_fields}
    assert documented == real
