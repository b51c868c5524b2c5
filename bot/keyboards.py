"""Replies' buttons as Telegram inline keyboards."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from core.ports import Button

LONG_TITLE = 14  # characters: a longer title gets a row of its own


def keyboard(buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
    """Two buttons a row (one when a title is long); None when there are no buttons."""
    if not buttons:
        return None
    builder = InlineKeyboardBuilder()
    sizes: list[int] = []
    row = 0
    for button in buttons:
        builder.button(text=button.title, callback_data=button.payload)
        if len(button.title) > LONG_TITLE:
            if row:
                sizes.append(row)
                row = 0
            sizes.append(1)
            continue
        row += 1
        if row == 2:
            sizes.append(2)
            row = 0
    if row:
        sizes.append(row)
    builder.adjust(*sizes)
    return builder.as_markup()
