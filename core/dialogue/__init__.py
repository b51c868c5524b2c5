"""(identity, text or button payload, NluResult) → replies (text + buttons): one dialogue for every channel."""

from core.dialogue.context import DialogueConfig, DialogueServices, Turn
from core.dialogue.engine import DialogueEngine
from core.dialogue.notices import NOTICE_PAYLOAD_PREFIX, NoticeResponder
from core.dialogue.service import ConversationService, Incoming, TurnResult, WebChat, build_conversations
from core.dialogue.state import (
    DialogueState,
    KeyValueStateStore,
    MemoryStateBackend,
    RedisStateBackend,
    StateBackend,
    StateStore,
)

__all__ = [
    "NOTICE_PAYLOAD_PREFIX",
    "ConversationService",
    "DialogueConfig",
    "DialogueEngine",
    "DialogueServices",
    "DialogueState",
    "Incoming",
    "KeyValueStateStore",
    "MemoryStateBackend",
    "NoticeResponder",
    "RedisStateBackend",
    "StateBackend",
    "StateStore",
    "Turn",
    "TurnResult",
    "WebChat",
    "build_conversations",
]
