from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import Base, CreatedAt, EnumString, enum_check
from core.models.enums import ChatChannel, CodePurpose, Language, Segment


class Area(Base):
    __tablename__ = "areas"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100), default="")


class Feeder(Base):
    __tablename__ = "feeders"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    area_code: Mapped[str] = mapped_column(ForeignKey("areas.code"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    lines: Mapped[str] = mapped_column(String(200), default="")


class Customer(CreatedAt, Base):
    __tablename__ = "customers"
    __table_args__ = (enum_check("segment", Segment), enum_check("language", Language))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    segment: Mapped[Segment] = mapped_column(EnumString(Segment, 20), index=True)
    language: Mapped[Language] = mapped_column(EnumString(Language, 2), default=Language.ZH)

    accounts: Mapped[list[UtilityAccount]] = relationship(back_populates="customer")


class UtilityAccount(CreatedAt, Base):
    __tablename__ = "utility_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_number: Mapped[str] = mapped_column(String(10), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    address: Mapped[str] = mapped_column(String(300))
    area_code: Mapped[str] = mapped_column(ForeignKey("areas.code"), index=True)
    feeder_code: Mapped[str] = mapped_column(ForeignKey("feeders.code"), index=True)
    phone: Mapped[str] = mapped_column(String(20))
    tariff_id: Mapped[int] = mapped_column(ForeignKey("tariffs.id"))

    customer: Mapped[Customer] = relationship(back_populates="accounts")


class KeyAccountProfile(Base):
    """What a key account has beyond an ordinary one: its named account manager and priority."""

    __tablename__ = "key_account_profiles"

    account_id: Mapped[int] = mapped_column(ForeignKey("utility_accounts.id"), primary_key=True)
    account_manager_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    priority: Mapped[int] = mapped_column(default=1)
    category: Mapped[str] = mapped_column(String(40), default="")


class KeyAccountContact(CreatedAt, Base):
    __tablename__ = "key_account_contacts"
    __table_args__ = (enum_check("language", Language),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("utility_accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(100), default="")
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(20))
    language: Mapped[Language] = mapped_column(EnumString(Language, 2), default=Language.ZH)
    telegram_blocked_at: Mapped[datetime | None]  # the contact blocked the bot: notices go by email instead


class Identity(CreatedAt, Base):
    """Someone talking to gridtalk: a Telegram user or a web chat session."""

    __tablename__ = "identities"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        enum_check("channel", ChatChannel),
        enum_check("language", Language),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[ChatChannel] = mapped_column(EnumString(ChatChannel, 10))
    external_id: Mapped[str] = mapped_column(String(64))
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    language: Mapped[Language] = mapped_column(EnumString(Language, 2), default=Language.ZH)
    subscribed_notices: Mapped[bool] = mapped_column(default=False)
    bill_reminders: Mapped[bool] = mapped_column(default=False, server_default=false())  # due / arrears, opted in
    blocked_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    email: Mapped[str | None] = mapped_column(String(255))  # where notices go when not by Telegram
    email_verified_at: Mapped[datetime | None]  # set once the customer typed the code sent to `email`


class IdentityAccount(Base):
    """An identity bound to a utility account: only ever written after verification."""

    __tablename__ = "identity_accounts"

    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("utility_accounts.id"), primary_key=True, index=True)
    verified_at: Mapped[datetime]
    is_current: Mapped[bool] = mapped_column(default=True)


class BindingAttempt(Base):
    """Each verification attempt, kept to lock out guessing (several failures within an hour)."""

    __tablename__ = "binding_attempts"
    __table_args__ = (
        Index("ix_binding_attempts_account", "account_number", "at"),
        Index("ix_binding_attempts_client", "client", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"), index=True)
    account_number: Mapped[str] = mapped_column(String(10))
    succeeded: Mapped[bool]
    at: Mapped[datetime]
    client: Mapped[str | None] = mapped_column(String(64))  # the address the attempt came from


class VerificationCode(CreatedAt, Base):
    """A one-time code sent to `target` (an email address, or the phone of the account numbered `target`),
    kept as a hash; it proves `purpose` for its identity once, before `expires_at`, within a few attempts."""

    __tablename__ = "verification_codes"
    __table_args__ = (
        Index("ix_verification_codes_identity", "identity_id", "purpose"),
        enum_check("purpose", CodePurpose),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"))
    purpose: Mapped[CodePurpose] = mapped_column(EnumString(CodePurpose, 10))
    target: Mapped[str] = mapped_column(String(255))
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    used_at: Mapped[datetime | None]
