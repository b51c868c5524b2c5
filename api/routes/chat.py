"""Web chat API (the contract in DESIGN.md) and the /chat page to try it.

The client address of a request (`chat_client`) is the peer's, or — only when the peer is a proxy named in
GRIDTALK_TRUSTED_PROXY — the last X-Forwarded-For entry that is not one of those proxies. It is what binding
attempts are counted per (core.customers.binding) and what starting sessions is limited per: more than
GRIDTALK_CHAT_SESSION_RATE_LIMIT new sessions from one address within a GRIDTALK_CHAT_SESSION_RATE_WINDOW
(a fixed window, core.dialogue.throttle) answer 429 with Retry-After. The counters are the bot's throttle
counters (bot.throttling): in the api's memory, in Redis when GRIDTALK_REDIS_URL is set (shared by replicas).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Cookie, Depends, FastAPI, HTTPException, Path, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, model_validator

from api import errors
from api.deps import ServicesDep, SessionDep, SettingsDep, client_address
from api.schemas import Cursor, text_field
from bot.throttling import MemoryThrottleCounter, RedisThrottleCounter, ThrottleCounter
from core.clock import Clock
from core.config import Settings
from core.customers.account_binding import attempts_from
from core.dialogue import Incoming, TurnResult, WebChat
from core.dialogue.service import MAX_PAYLOAD, MAX_TEXT, run_after_commit
from core.dialogue.throttle import verdict, window_index
from core.models.enums import Language
from core.templating import Renderer

log = logging.getLogger("gridtalk.api")

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_proxies(setting: str | None) -> tuple[IpNetwork, ...]:
    """GRIDTALK_TRUSTED_PROXY: addresses or networks, comma-separated."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in (setting or "").split(",") if part.strip()
    )


def _is_trusted(address: str, proxies: tuple[IpNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def chat_client(request: Request, proxies: tuple[IpNetwork, ...]) -> str | None:
    """The web chat's client address: the peer, or behind a trusted proxy the address it forwarded for."""
    peer = client_address(request)
    if peer is None or not proxies or not _is_trusted(peer, proxies):
        return peer
    hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    for hop in reversed(hops):  # the proxy appends; entries to the left of an untrusted one are the client's say
        if not _is_trusted(hop, proxies):
            return hop[:64]
    return peer


class SessionLimiter:
    """New web chat sessions per client address per fixed window, on a ThrottleCounter (memory or Redis)."""

    def __init__(self, counter: ThrottleCounter, clock: Clock, limit: int, window: int) -> None:
        self.counter = counter
        self.clock = clock
        self.limit = limit
        self.window = window

    @staticmethod
    def key(client: str | None) -> int:
        """The counter's integer key: the address itself as a number (a hash for anything else)."""
        if not client:
            return 0
        try:
            return int(ipaddress.ip_address(client))
        except ValueError:
            return int.from_bytes(hashlib.sha256(client.encode()).digest()[:8], "big")

    async def retry_after(self, client: str | None) -> int | None:
        """Count one more session from the address: None when allowed, else seconds until its window ends."""
        now = self.clock.now()
        count = await self.counter.hit(self.key(client), window_index(now, self.window), self.window * 2)
        if verdict(count, self.limit) == "allow":
            return None
        return max(1, self.window - int(now.timestamp()) % self.window)


@asynccontextmanager
async def chat_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Built with the app (merged into its lifespan): the session limiter and the trusted proxies."""
    settings: Settings = app.state.settings
    counter: ThrottleCounter = (
        RedisThrottleCounter(settings.redis_url, prefix="gridtalk:chat-sessions:")
        if settings.redis_url
        else MemoryThrottleCounter()
    )
    app.state.chat_session_limiter = SessionLimiter(
        counter, app.state.clock, settings.chat_session_rate_limit, settings.chat_session_rate_window
    )
    app.state.trusted_proxies = trusted_proxies(settings.trusted_proxy)
    try:
        yield
    finally:
        await counter.aclose()


router = APIRouter(prefix="/api/v1/chat", tags=["web chat"], lifespan=chat_lifespan)
page_router = APIRouter(tags=["web chat"])


async def get_chat_client(request: Request) -> str | None:
    proxies: tuple[IpNetwork, ...] = request.app.state.trusted_proxies
    return chat_client(request, proxies)


ChatClientDep = Annotated[str | None, Depends(get_chat_client)]


async def get_webchat(request: Request) -> WebChat:
    webchat: WebChat = request.app.state.webchat
    return webchat


WebChatDep = Annotated[WebChat, Depends(get_webchat)]


class NewSession(BaseModel):
    language: Language = Language.ZH


class SessionCreated(BaseModel):
    session_id: str


class MessageIn(BaseModel):
    """A typed message ({"text"}) or a pressed button ({"payload"}): exactly one of the two. The text is kept
    as written (the transcript gives it back byte for byte), only the whitespace around it trimmed."""

    text: str | None = text_field(MAX_TEXT, None)
    payload: str | None = text_field(MAX_PAYLOAD, None)

    @model_validator(mode="after")
    def _one_of_text_or_payload(self) -> MessageIn:
        if bool(self.text and self.text.strip()) == bool(self.payload):
            raise ValueError("send either a non-empty text or a payload")
        return self


class ButtonOut(BaseModel):
    title: str
    payload: str


class ReplyOut(BaseModel):
    text: str
    buttons: list[ButtonOut]


class Replies(BaseModel):
    replies: list[ReplyOut]

    @classmethod
    def of(cls, result: TurnResult) -> Replies:
        return cls(
            replies=[
                ReplyOut(text=r.text, buttons=[ButtonOut(title=b.title, payload=b.payload) for b in r.buttons])
                for r in result.replies
            ]
        )


class MessageOut(BaseModel):
    id: int
    direction: Literal["in", "out"]
    text: str
    buttons: list[ButtonOut]
    created_at: datetime


class Messages(BaseModel):
    messages: list[MessageOut]


# A session id as the API hands it out (a hex string); anything else of this shape is simply not found.
SessionId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$", description="a session_id")]


@router.post("/sessions", status_code=201, responses=errors.responses(400, 422, 429, 503))
async def create_session(
    request: Request, session: SessionDep, services: ServicesDep, client: ChatClientDep, body: NewSession | None = None
) -> SessionCreated:
    limiter: SessionLimiter = request.app.state.chat_session_limiter
    wait = await limiter.retry_after(client)
    if wait is not None:
        log.info("web chat sessions from %s over the limit; retry after %ss", client, wait)
        raise HTTPException(429, "too many new chat sessions from this address", headers={"Retry-After": str(wait)})
    identity = await services.identities.start_web_session(session, (body or NewSession()).language)
    return SessionCreated(session_id=identity.external_id)


@router.post("/sessions/{session_id}/messages", responses=errors.responses(400, 404, 422, 503))
async def post_message(
    session_id: SessionId,
    body: MessageIn,
    session: SessionDep,
    webchat: WebChatDep,
    client: ChatClientDep,
    after_commit: BackgroundTasks,
) -> Replies:
    with attempts_from(client):  # binding attempts in this turn are counted per this address too
        result = await webchat.post(session, session_id, Incoming(text=body.text, payload=body.payload))
    after_commit.add_task(run_after_commit, result.after_commit)  # the session commits before the response
    return Replies.of(result)


@router.get("/sessions/{session_id}/messages", responses=errors.responses(404, 422, 503))
async def list_messages(
    session_id: SessionId,
    session: SessionDep,
    webchat: WebChatDep,
    after: Cursor = 0,
) -> Messages:
    rows = await webchat.history(session, session_id, after)
    return Messages(
        messages=[
            MessageOut(
                id=m.id,
                direction="in" if m.direction == "in" else "out",
                text=m.text,
                buttons=[ButtonOut(title=b["title"], payload=b["payload"]) for b in m.buttons or []],
                created_at=m.created_at,
            )
            for m in rows
        ]
    )


LANGUAGE_COOKIE = "gridtalk_lang"
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600
RememberedLanguage = Annotated[str | None, Cookie(alias=LANGUAGE_COOKIE)]


def page_language(lang: Language | None, remembered: str | None) -> Language:
    """A public page's language: `?lang=`, else the one remembered in the cookie, else Chinese."""
    return lang or (Language(remembered) if remembered in set(Language) else Language.ZH)


def remember_language(response: HTMLResponse, lang: Language | None) -> HTMLResponse:
    if lang is not None:
        response.set_cookie(LANGUAGE_COOKIE, lang.value, max_age=LANGUAGE_COOKIE_SECONDS, samesite="lax")
    return response


@page_router.get("/chat", response_class=HTMLResponse, include_in_schema=False)
async def chat_page(
    request: Request,
    settings: SettingsDep,
    lang: Language | None = None,
    remembered: RememberedLanguage = None,
) -> HTMLResponse:
    """A plain HTML + JS page to try the web chat (no build step). `?lang=` picks the language and is
    remembered in a cookie; without it the remembered one is used, else Chinese."""
    renderer: Renderer = request.app.state.renderer
    chosen = page_language(lang, remembered)
    page = renderer.render("chat/page", chosen, html=True, lang=chosen, hotline=settings.service_hotline)
    return remember_language(HTMLResponse(page), lang)
