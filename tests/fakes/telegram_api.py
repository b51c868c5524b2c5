"""A fake Telegram Bot API server on 127.0.0.1, for aiogram to talk to over real HTTP.

It records every call (method, params) and answers like Telegram. Failures can be scripted per method:
`server.fail_next("sendMessage", status=429, retry_after=2)`, `status=500`, or `status=403` (the user blocked
the bot); `server.fail_chat(chat_id, status=500, times=2)` fails the next sends to one chat only;
`server.block_chat(chat_id)` makes every send to that chat answer 403. `server.on_call("sendMessage", hook)`
awaits `hook(call)` when such a call arrives, before it is answered (to look at the world at that moment).

For fault injection: `fail_chat(chat_id, 429, retry_after=2)` scripts a 429 for one chat; `stall_chat(chat_id,
seconds)` holds the next answer to that chat for `seconds` (longer than the client's timeout: a timeout; the
message counts as not delivered); `clear_failures()` drops everything scripted. Each call records the status it
was answered with (`call.status`), so a test can read the whole exchange back from `server.calls`.

Files (a photo the customer sent): `server.add_file(file_id, content)` makes `getFile` answer a file path for it
and `GET /file/bot<token>/<path>` serve its bytes (each download is recorded as a call of method "downloadFile");
a file id nobody added is served as a small JPEG (PLACEHOLDER_JPEG), as Telegram would serve some photo.

Telegram's flood limit: `FakeTelegramApi(rate_cap=30)` (or `server.rate_cap = 30`) answers a send with 429 and
retry_after=1 when `rate_cap` sends were already answered within the last second (a sliding window): a client
pacing itself right never sees one.

    async with FakeTelegramApi() as api:
        bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_USER = {"id": 42, "is_bot": True, "first_name": "gridtalk", "username": "gridtalk_bot"}
# The smallest JPEG worth the name: its signature, a comment, and the end-of-image marker.
PLACEHOLDER_JPEG = b"\xff\xd8\xff\xfe\x00\x0dfake telegram\xff\xd9"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    status: int = 200  # what it was answered (200, or the scripted failure's status)

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def buttons(self) -> list[dict[str, Any]]:
        markup = self.params.get("reply_markup") or {}
        return [button for row in markup.get("inline_keyboard", []) for button in row]


@dataclass
class Failure:
    status: int
    retry_after: int | None = None
    description: str = ""
    delay: float = 0.0  # seconds before the answer goes out


DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    429: "Too Many Requests: retry after",
    500: "Internal Server Error",
    502: "Bad Gateway",
    504: "Gateway Timeout",
}


class FakeTelegramApi:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, rate_cap: int | None = None) -> None:
        self.host = host
        self.port = port
        self.rate_cap = rate_cap  # sends answered in any second, at most (None: no flood limit)
        self._answered: deque[float] = deque()  # when the sends of the last second were answered
        self.calls: list[Call] = []
        self._failures: dict[str, list[Failure]] = {}
        self._blocked: set[int] = set()
        self._chat_failures: dict[tuple[str, int], list[Failure]] = {}
        self._hooks: dict[str, list[Callable[[Call], Awaitable[None]]]] = {}
        self._message_ids = itertools.count(1000)
        self._runner: web.AppRunner | None = None
        self.files: dict[str, bytes] = {}  # file_id → content (add_file)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def sent(self, method: str = "sendMessage") -> list[Call]:
        """Calls that succeeded, of one method."""
        return [c for c in self.calls if c.method == method and c.params.get("_ok")]

    def fail_next(self, method: str, status: int, *, retry_after: int | None = None, times: int = 1) -> None:
        failure = Failure(status, retry_after, DESCRIPTIONS.get(status, "Error"))
        self._failures.setdefault(method, []).extend([failure] * times)

    def fail_chat(
        self,
        chat_id: int,
        status: int,
        *,
        method: str = "sendMessage",
        times: int = 1,
        retry_after: int | None = None,
        delay: float = 0.0,
    ) -> None:
        """The next `times` calls of `method` to this chat fail with `status` (other chats are answered),
        each answered after `delay` seconds."""
        failure = Failure(status, retry_after, DESCRIPTIONS.get(status, "Error"), delay)
        self._chat_failures.setdefault((method, int(chat_id)), []).extend([failure] * times)

    def stall_chat(self, chat_id: int, seconds: float, *, method: str = "sendMessage", times: int = 1) -> None:
        """The next `times` calls of `method` to this chat are answered only after `seconds` (then with a 504):
        a client with a shorter timeout has given up by then; the message was not delivered."""
        self.fail_chat(chat_id, 504, method=method, times=times, delay=seconds)

    def clear_failures(self) -> None:
        """Forget every scripted failure (fail_next, fail_chat, stall_chat); blocked chats stay blocked."""
        self._failures.clear()
        self._chat_failures.clear()

    def on_call(self, method: str, hook: Callable[[Call], Awaitable[None]]) -> None:
        """Await `hook(call)` whenever `method` is called, before the call is answered."""
        self._hooks.setdefault(method, []).append(hook)

    def block_chat(self, chat_id: int) -> None:
        self._blocked.add(int(chat_id))

    def add_file(self, file_id: str, content: bytes) -> None:
        """A file the bot may fetch: getFile gives its path, the download path serves `content`."""
        self.files[file_id] = content

    @staticmethod
    def file_path(file_id: str) -> str:
        return f"photos/{file_id}.jpg"

    async def __aenter__(self) -> FakeTelegramApi:
        app = web.Application()
        app.router.add_route("POST", "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        params: dict[str, Any] = {}
        for key, value in (await request.post()).items():
            text = value if isinstance(value, str) else str(value)
            try:
                params[key] = json.loads(text) if key in {"reply_markup", "entities", "allowed_updates"} else text
            except json.JSONDecodeError:
                params[key] = text
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()  # (before the body is read: what Telegram's flood limit counts)
        method = request.match_info["method"]
        params = await self._params(request)
        call = Call(method, params, at=arrived)
        self.calls.append(call)
        for hook in self._hooks.get(method, []):
            await hook(call)
        failures = self._failures.get(method) or []
        if failures:
            return await self._answer_error(call, failures.pop(0))
        chat_failures = self._chat_failures.get((method, call.chat_id)) if call.chat_id is not None else None
        if chat_failures:
            return await self._answer_error(call, chat_failures.pop(0))
        if call.chat_id is not None and call.chat_id in self._blocked and method.startswith("send"):
            return await self._answer_error(call, Failure(403, description=DESCRIPTIONS[403]))
        if self.rate_cap is not None and method.startswith("send") and self._flooded(call.at):
            return await self._answer_error(call, Failure(429, retry_after=1, description=DESCRIPTIONS[429]))
        params["_ok"] = True
        return web.json_response({"ok": True, "result": self._result(method, params)})

    def _flooded(self, now: float) -> bool:
        """Whether a send arriving `now` would be one too many in the last second (else it is counted)."""
        assert self.rate_cap is not None
        while self._answered and self._answered[0] <= now - 1.0:
            self._answered.popleft()
        if len(self._answered) >= self.rate_cap:
            return True
        self._answered.append(now)
        return False

    async def _download(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        call = Call("downloadFile", {"file_path": path})
        self.calls.append(call)
        failures = self._failures.get("downloadFile") or []
        if failures:
            failure = failures.pop(0)
            call.status = failure.status
            return web.Response(status=failure.status, text=failure.description)
        file_id = path.removeprefix("photos/").removesuffix(".jpg")
        return web.Response(body=self.files.get(file_id, PLACEHOLDER_JPEG), content_type="image/jpeg")

    async def _answer_error(self, call: Call, failure: Failure) -> web.Response:
        call.status = failure.status
        if failure.delay:
            await asyncio.sleep(failure.delay)
        return self._error(failure)

    def _error(self, failure: Failure) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": failure.status, "description": failure.description}
        if failure.retry_after is not None:
            body["parameters"] = {"retry_after": failure.retry_after}
            body["description"] = f"Too Many Requests: retry after {failure.retry_after}"
        return web.json_response(body, status=failure.status)

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method == "getFile":
            file_id = str(params.get("file_id", ""))
            content = self.files.get(file_id, PLACEHOLDER_JPEG)
            return {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "file_size": len(content),
                "file_path": self.file_path(file_id),
            }
        if method in {"sendMessage", "editMessageText", "editMessageReplyMarkup"}:
            chat_id = int(params.get("chat_id", 0))
            message: dict[str, Any] = {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": BOT_USER,
                "text": params.get("text", ""),
            }
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            return message
        return True  # setMyCommands, answerCallbackQuery, deleteWebhook, setWebhook, ...
