"""Web chat API (the contract in DESIGN.md)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import ClockDep, SessionDep
from core.customers.service import start_web_session

router = APIRouter(prefix="/api/v1/chat", tags=["web chat"])


class NewSession(BaseModel):
    language: Literal["zh", "en"] = "zh"


class SessionCreated(BaseModel):
    session_id: str


@router.post("/sessions", status_code=201)
async def create_session(session: SessionDep, clock: ClockDep, body: NewSession | None = None) -> SessionCreated:
    identity = await start_web_session(session, clock, (body or NewSession()).language)
    return SessionCreated(session_id=identity.external_id)
