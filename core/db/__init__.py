"""Async engine, sessions and the repository base class."""

from core.db.engine import database_unreachable, make_engine, make_sessionmaker, session_scope
from core.db.repository import RepositoryBase

__all__ = ["RepositoryBase", "database_unreachable", "make_engine", "make_sessionmaker", "session_scope"]
