"""Every customer-facing template exists in Chinese and in English."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.templating import TEMPLATES_DIR, Renderer


@pytest.mark.parametrize("folder", ["dialogue", "faq", "bot", "chat"])
def test_every_template_has_both_languages(folder: str) -> None:
    names = {p.name for p in (TEMPLATES_DIR / folder).glob("*.j2")}
    for name in names:
        for lang in ("zh", "en"):
            if f".{lang}.j2" in name:
                other = "en" if lang == "zh" else "zh"
                assert name.replace(f".{lang}.j2", f".{other}.j2") in names, f"{folder}/{name} has no {other} twin"


def test_button_titles_and_commands_render() -> None:
    renderer = Renderer()
    for key in ("bill_amount", "cancel", "lang_zh", "lang_en", "fault_home"):
        assert renderer.render("dialogue/buttons", "zh", key=key, arg="")
        assert renderer.render("dialogue/buttons", "en", key=key, arg="")
    assert renderer.render("dialogue/buttons", "en", key="use_account", arg="3301234567") == "Use 3301234567"
    assert renderer.render("bot/commands", "zh", key="bind") == "绑定户号"


def test_user_text_is_not_in_the_dialogue_code() -> None:
    """Rule of the house: what customers read comes from templates/, not from Python strings."""
    import re

    root = Path(__file__).resolve().parents[3]
    cjk_string = re.compile(r"""["'][^"'\n]*[\u4e00-\u9fff][^"'\n]*["']""")
    for path in [*(root / "core" / "dialogue").rglob("*.py"), *(root / "bot").glob("*.py")]:
        if path.name in {"keywords.py", "periods.py"}:  # what customers write, not what they read
            continue
        code = "\n".join(line for line in path.read_text().splitlines() if not line.strip().startswith(("#", '"""')))
        assert not cjk_string.search(code.replace('Incoming(text="我家这个月电费多少")', "")), path
