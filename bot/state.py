"""The dialogue's StateStore on aiogram's FSM: the form is the FSM state, the rest is the FSM data.

So Telegram conversation state lives where aiogram keeps it: MemoryStorage by default, RedisStorage when
GRIDTALK_REDIS_URL is set (shared by the bot process and, in webhook mode, every api replica).

`save` only records the new state; `write` puts it into the FSMContext. The handlers queue `write` to run
after the update's transaction has committed and the replies are sent (bot/middlewares.py AfterCommit), so
the FSM state never moves on when the turn's database writes roll back.
"""

from __future__ import annotations

from aiogram.fsm.context import FSMContext

from core.dialogue.state import DialogueState

DATA_KEY = "dialogue"


class FsmStateStore:
    def __init__(self, context: FSMContext) -> None:
        self.context = context
        self.pending: DialogueState | None = None

    async def load(self) -> DialogueState:
        data = await self.context.get_data()
        return DialogueState.from_dict(data.get(DATA_KEY))

    async def save(self, state: DialogueState) -> None:
        """Record the turn's new state; nothing is written until `write` (after the commit)."""
        self.pending = state

    async def write(self) -> None:
        """Write the recorded state into the FSMContext (nothing if the turn saved none)."""
        if self.pending is None:
            return
        state, self.pending = self.pending, None
        await self.context.set_state(state.fsm_state)
        await self.context.set_data({DATA_KEY: state.to_dict()})
