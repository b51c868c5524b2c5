"""typed closed sets (CHECK constraints) and outbox subjects and tiers

Every column holding a closed set gets a CHECK constraint ck_<table>_<column>. notice_deliveries gets
subject_kind / subject_id (what a row is about; outage_id becomes nullable), tier (0 staff alerts, 1 key
accounts, 2 everybody else: staff alert rows lose their segment 'staff' and carry 'key_account') and
deadline_at; its round is unique per subject and its claim index leads with status, tier. Fault tickets
that were 'open' become 'received'.

The allowed values are spelled out here as they are at this revision (not read from core.models.enums),
so that a later change of an enum comes with a migration of its own.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.models.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LANGUAGES = ("zh", "en")
CHAT_CHANNELS = ("telegram", "web")
SEGMENTS = ("residential", "commercial", "industrial", "public", "key_account")
STAGES = ("15d", "7d", "30m", "initial", "change", "cancel", "restored")
ALERT_KINDS = ("alert", "problem")

CHECKS: dict[str, dict[str, tuple[str, ...] | tuple[int, ...]]] = {
    "identities": {"channel": CHAT_CHANNELS, "language": LANGUAGES},
    "customers": {"segment": SEGMENTS, "language": LANGUAGES},
    "key_account_contacts": {"language": LANGUAGES},
    "conversations": {"channel": CHAT_CHANNELS, "state": ("open", "closed")},
    "messages": {"channel": CHAT_CHANNELS, "direction": ("in", "out")},
    "escalations": {"priority": ("normal", "high"), "state": ("pending", "assigned", "resolved")},
    "staff_users": {"role": ("admin", "supervisor", "agent", "account_manager")},
    "outages": {"kind": ("planned", "unplanned"), "status": ("draft", "published", "cancelled", "completed")},
    "notice_stages": {
        "stage": STAGES,
        "audience": ("key_account", "residential"),
        "status": ("planned", "resolved", "cancelled"),
    },
    "notice_deliveries": {
        "subject_kind": ("outage",),
        "tier": (0, 1, 2),
        "segment": SEGMENTS,
        "stage": STAGES + ALERT_KINDS,
        "channel": ("telegram", "email", "sms"),
        "language": LANGUAGES,
        "status": ("pending", "sending", "sent", "failed", "blocked", "acked", "cancelled", "skipped"),
    },
    "fault_tickets": {"status": ("received", "assigned", "on_site", "fixed", "closed")},
}


def _condition(column: str, allowed: tuple[str, ...] | tuple[int, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) if isinstance(v, str) else str(v) for v in allowed)})"


def _sqlite_foreign_keys(on: bool) -> None:
    """SQLite rebuilds a table to add a CHECK: with foreign keys on, dropping the old copy would cascade
    (outage_areas) or fail on the rows that refer to it, so they are off while the tables are rebuilt.

    The pragma takes effect only outside a transaction: it does at the start (no row has been written yet on
    this connection); switching back on at the end may be a no-op, which is harmless as the migration's
    connection is closed afterwards and every new one gets foreign_keys=ON from core.db.make_engine."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def upgrade() -> None:
    _sqlite_foreign_keys(False)

    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_kind", sa.String(length=20), server_default="outage", nullable=True))
        batch_op.add_column(sa.Column("subject_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("tier", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("deadline_at", core.models.base.UTCDateTime(timezone=True), nullable=True))

    op.execute("UPDATE notice_deliveries SET subject_kind = 'outage', subject_id = outage_id")
    op.execute("UPDATE notice_deliveries SET tier = 0, segment = 'key_account' WHERE segment = 'staff'")
    op.execute("UPDATE notice_deliveries SET tier = 1 WHERE tier IS NULL AND segment = 'key_account'")
    op.execute("UPDATE notice_deliveries SET tier = 2 WHERE tier IS NULL")
    op.execute("UPDATE fault_tickets SET status = 'received' WHERE status = 'open'")

    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        batch_op.alter_column(
            "subject_kind", existing_type=sa.String(length=20), existing_server_default="outage", nullable=False
        )
        batch_op.alter_column("subject_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("tier", existing_type=sa.SmallInteger(), nullable=False)
        batch_op.alter_column("outage_id", existing_type=sa.Integer(), nullable=True)
        batch_op.drop_constraint("uq_notice_deliveries_round", type_="unique")
        batch_op.create_unique_constraint(
            "uq_notice_deliveries_round",
            ["subject_kind", "subject_id", "contact_key", "stage", "channel", "revision"],
        )
        batch_op.drop_index("ix_notice_deliveries_claim")
        batch_op.create_index("ix_notice_deliveries_claim", ["status", "tier", "next_attempt_at"], unique=False)
        for column, allowed in CHECKS["notice_deliveries"].items():
            batch_op.create_check_constraint(op.f(f"ck_notice_deliveries_{column}"), _condition(column, allowed))

    for table, columns in CHECKS.items():
        if table == "notice_deliveries":
            continue
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, allowed in columns.items():
                batch_op.create_check_constraint(op.f(f"ck_{table}_{column}"), _condition(column, allowed))

    _sqlite_foreign_keys(True)


def downgrade() -> None:
    _sqlite_foreign_keys(False)

    for table, columns in CHECKS.items():
        if table == "notice_deliveries":
            continue
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")

    op.execute("UPDATE fault_tickets SET status = 'open' WHERE status = 'received'")

    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        for column in CHECKS["notice_deliveries"]:
            batch_op.drop_constraint(op.f(f"ck_notice_deliveries_{column}"), type_="check")

    op.execute(
        "UPDATE notice_deliveries SET outage_id = subject_id WHERE outage_id IS NULL AND subject_kind = 'outage'"
    )
    op.execute("UPDATE notice_deliveries SET segment = 'staff' WHERE tier = 0")

    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_notice_deliveries_claim")
        batch_op.create_index("ix_notice_deliveries_claim", ["status", "next_attempt_at"], unique=False)
        batch_op.drop_constraint("uq_notice_deliveries_round", type_="unique")
        batch_op.create_unique_constraint(
            "uq_notice_deliveries_round", ["outage_id", "contact_key", "stage", "channel", "revision"]
        )
        batch_op.alter_column("outage_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("deadline_at")
        batch_op.drop_column("tier")
        batch_op.drop_column("subject_id")
        batch_op.drop_column("subject_kind")

    _sqlite_foreign_keys(True)
