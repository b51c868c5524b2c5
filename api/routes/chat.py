"""Web chat API (the contract in DESIGN.md) and the /chat page to try it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Cookie, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, model_validator

from api.deps import ServicesDep, SessionDep, SettingsDep
from core.dialogue import Incoming, TurnResult, WebChat
from core.dialogue.service import MAX_PAYLOAD, MAX_TEXT
from core.models.enums import Language
from core.templating import Renderer

router = APIRouter(prefix="/api/v1/chat", tags=["web chat"])
page_router = APIRouter(tags=["web chat"])


def get_webchat(request: Request) -> WebChat:
    webchat: WebChat = request.app.state.webchat
    return webchat


WebChatDep = Annotated[WebChat, Depends(get_webchat)]


class NewSession(BaseModel):
    language: Language = Language.ZH


class SessionCreated(BaseModel):
    session_id: str


class MessageIn(BaseModel):
    """A typed message ({"text"}) or a pressed button ({"payload"}): exactly one of the two."""

    text: str | None = Field(None, max_length=MAX_TEXT)
    payload: str | None = Field(None, max_length=MAX_PAYLOAD)

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


@router.post("/sessions", status_code=201)
async def create_session(session: SessionDep, services: ServicesDep, body: NewSession | None = None) -> SessionCreated:
    identity = await services.identities.start_web_session(session, (body or NewSession()).language)
    return SessionCreated(session_id=identity.external_id)


@router.post("/sessions/{session_id}/messages")
async def post_message(session_id: str, body: MessageIn, session: SessionDep, webchat: WebChatDep) -> Replies:
    result = await webchat.post(session, session_id, Incoming(text=body.text, payload=body.payload))
    return Replies.of(result)


@router.get("/sessions/{session_id}/messages")
async def list_messages(
    session_id: str,
    session: SessionDep,
    webchat: WebChatDep,
    after: Annotated[int, Query(ge=0, description="only messages with an id above this one")] = 0,
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


@page_router.get("/chat", response_class=HTMLResponse, include_in_schema=False)
async def chat_page(
    request: Request,
    settings: SettingsDep,
    lang: Language | None = None,
    remembered: Annotated[str | None, Cookie(alias=LANGUAGE_COOKIE)] = None,
) -> HTMLResponse:
    """A plain HTML + JS page to try the web chat (no build step). `?lang=` picks the language and is
    remembered in a cookie; without it the remembered one is used, else Chinese."""
    renderer: Renderer = request.app.state.renderer
    chosen = lang or (Language(remembered) if remembered in set(Language) else Language.ZH)
    page = renderer.render("chat/page", chosen, html=True, lang=chosen, hotline=settings.service_hotline)
    response = HTMLResponse(page)
    if lang is not None:
        response.set_cookie(LANGUAGE_COOKIE, lang.value, max_age=LANGUAGE_COOKIE_SECONDS, samesite="lax")
    return response
