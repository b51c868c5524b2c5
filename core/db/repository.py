from __future__ import annotations

from typing import Any, Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models.base import Base

ModelT = TypeVar("ModelT", bound=Base)


class RepositoryBase(Generic[ModelT]):
    """All SQL lives in repositories. A repository works inside the caller's session and never commits."""

    model: type[ModelT]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, ident: Any) -> ModelT | None:
        return await self.session.get(self.model, ident)

    def add(self, obj: ModelT) -> ModelT:
        self.session.add(obj)
        return obj

    async def count(self) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(self.model)) or 0)
