from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum, IntEnum, StrEnum
from typing import Any, ClassVar

from sqlalchemy import CheckConstraint, DateTime, MetaData, SmallInteger, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite hands back naive values: they are UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a timezone-aware one is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class EnumString(TypeDecorator[StrEnum]):
    """A closed set of strings stored as their values in a VARCHAR(length), handed back as enum members.

    enum_cls is one StrEnum or a tuple of them whose values do not overlap (a column that may hold either).
    A member, or a str equal to one of the values, binds; anything else raises ValueError before it reaches
    the database. The column's CHECK constraint (enum_check) makes the database refuse the rest.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum_cls: type[StrEnum] | tuple[type[StrEnum], ...], length: int) -> None:
        super().__init__(length)
        self.enum_cls = enum_cls
        self.length = length
        self._members: dict[str, StrEnum] = {}
        for enum in enum_cls if isinstance(enum_cls, tuple) else (enum_cls,):
            for member in enum:
                if member.value in self._members:
                    raise ValueError(f"{member.value!r} is a value of two enums of one column")
                if len(member.value) > length:
                    raise ValueError(f"{member.value!r} does not fit in String({length})")
                self._members[member.value] = member

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, str) and value in self._members:
            return self._members[value].value
        raise ValueError(f"{value!r} is not one of {', '.join(self._members)}")

    def process_result_value(self, value: Any, dialect: Dialect) -> StrEnum | None:
        if value is None:
            return None
        try:
            return self._members[value]
        except KeyError:
            raise ValueError(f"the database holds {value!r}, not one of {', '.join(self._members)}") from None

    def __repr__(self) -> str:
        names = self.enum_cls if isinstance(self.enum_cls, tuple) else (self.enum_cls,)
        return f"EnumString({', '.join(e.__name__ for e in names)}, length={self.length})"


class IntEnumType(TypeDecorator[IntEnum]):
    """An IntEnum stored as a SMALLINT, handed back as members; other numbers raise ValueError on bind."""

    impl = SmallInteger
    cache_ok = True

    def __init__(self, enum_cls: type[IntEnum]) -> None:
        super().__init__()
        self.enum_cls = enum_cls

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return int(self.enum_cls(value))
            except ValueError:
                pass
        raise ValueError(f"{value!r} is not one of {', '.join(str(int(m)) for m in self.enum_cls)}")

    def process_result_value(self, value: Any, dialect: Dialect) -> IntEnum | None:
        return None if value is None else self.enum_cls(value)

    def __repr__(self) -> str:
        return f"IntEnumType({self.enum_cls.__name__})"


def enum_check(column: str, *enums: type[Enum]) -> CheckConstraint:
    """CHECK (column IN (the values of enums)), named so that the naming convention makes it ck_<table>_<column>.

    Put it in the model's __table_args__; the migration that adds it spells the full name out.
    """
    return CheckConstraint(enum_check_sql(column, *enums), name=column)


def enum_check_sql(column: str, *enums: type[Enum]) -> str:
    """The condition of enum_check. Migrations spell their values out instead: an enum may change later."""
    if not enums:
        raise ValueError("enum_check needs at least one enum")
    literals = [str(int(m)) if isinstance(m, IntEnum) else "'" + str(m.value) + "'" for e in enums for m in e]
    return f"{column} IN ({', '.join(literals)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class CreatedAt:
    """created_at, set by the code that creates the row (from the injectable clock)."""

    created_at: Mapped[datetime] = mapped_column(nullable=False)
