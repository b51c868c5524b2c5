"""The console's strings: templates/console/locale/<lang>.yml (zh and en, the same keys), nested YAML read
as dotted keys ("nav.audit"). Templates call t("key") (or t("key", name=...) for `{name}` placeholders); a
key a language lacks comes back as the key itself (or `default`), so a missing string shows and a test
(tests/api/console/test_console.py) keeps the two files' keys the same.

The language of a request: `?lang=zh|en` (remembered in the gridtalk_lang cookie, shared with /chat), else the
cookie, else Chinese.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from fastapi import Request

from core.models.enums import Language
from core.templating import TEMPLATES_DIR

LOCALE_DIR = TEMPLATES_DIR / "console" / "locale"
LANGUAGE_COOKIE = "gridtalk_lang"
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600
DEFAULT = Language.ZH


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


class Translations:
    """Every language's strings, read once (the api builds one at start-up)."""

    def __init__(self, directory: Path = LOCALE_DIR) -> None:
        self.strings: dict[str, dict[str, str]] = {}
        for language in Language:
            with (directory / f"{language.value}.yml").open(encoding="utf-8") as handle:
                self.strings[language.value] = flatten(yaml.safe_load(handle) or {})

    def get(self, language: str, key: str, default: str | None = None, **params: Any) -> str:
        text = self.strings.get(language, {}).get(key)
        if text is None:
            return key if default is None else default
        return text.format(**params) if params else text

    def bound(self, language: str) -> Callable[..., str]:
        """t(key, default=None, **params) for one language (what the templates call)."""

        def t(key: str, default: str | None = None, **params: Any) -> str:
            return self.get(language, key, default, **params)

        return t


def request_language(request: Request) -> tuple[str, bool]:
    """(the language, whether `?lang=` chose it now and it should be remembered)."""
    asked = request.query_params.get("lang")
    if asked in {lang.value for lang in Language}:
        return str(asked), True
    remembered = request.cookies.get(LANGUAGE_COOKIE)
    if remembered in {lang.value for lang in Language}:
        return str(remembered), False
    return DEFAULT.value, False
