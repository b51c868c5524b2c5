"""The dialogue's StateStore on aiogram's FSM: the form is the FSM state, the rest is the FSM data.

So Telegram conversation state lives where aiogram keeps it: MemoryStorage by default, RedisStorage when
GRIDTALK_REDIS_URL is set (shared by the bot process and, in webhook mode, every api replica).
"""

from __future__ import annotations

from aiogram.fsm.context import FSMContext

from core.dialogue.state import DialogueState

DATA_KEY = "dialogue"


class FsmStateStore:
    def __init__(self, context: FSMContext) -> None:
        self.context = context

    async def load(self) -> DialogueState:
        data = await self.context.get_data()
        return DialogueState.from_dict(data.get(DATA_KEY))

    async def save(self, state: DialogueState) -> None:
        await self.context.set_state(state.fsm_state)
        await self.context.set_data({DATA_KEY: state.to_dict()})
