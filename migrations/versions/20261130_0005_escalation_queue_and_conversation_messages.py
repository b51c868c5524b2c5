"""escalation queue, and conversation messages in the outbox

Escalations get the account they concern (account managers see their own key accounts'), the first staff
reply, a reopening, and the two marks of an overdue one (supervisors alerted, the customer told again); the
reason becomes a closed set. Fault tickets get the outage they are part of and the time of their last
change. The outbox gets two more subjects — a message of a conversation sent out of turn (a staff reply to a
Telegram customer) and an alert about an escalation — with the stages 'reply' and 'overdue', and a tier
for the first (tiers become 0 staff alerts, 1 conversation, 2 key accounts, 3 everybody else).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.models.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REASONS = ("human_handoff", "complaint", "repeated_fallback", "hazard", "notice_problem")
SUBJECTS_BEFORE, SUBJECTS = ("outage",), ("outage", "message", "escalation")
TIERS_BEFORE, TIERS = (0, 1, 2), (0, 1, 2, 3)
STAGES = ("15d", "7d", "30m", "initial", "change", "cancel", "restored", "alert", "problem")
STAGES_NOW = (*STAGES, "overdue", "reply")


def _condition(column: str, allowed: tuple[str, ...] | tuple[int, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) if isinstance(v, str) else str(v) for v in allowed)})"


def _sqlite_foreign_keys(on: bool) -> None:
    """SQLite rebuilds a table to change a CHECK: foreign keys are off meanwhile (see revision 0003)."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


CHECKED = ("subject_kind", "tier", "stage")


def _drop_checks() -> None:
    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        for column in CHECKED:
            batch_op.drop_constraint(op.f(f"ck_notice_deliveries_{column}"), type_="check")


def _create_checks(subjects: tuple[str, ...], tiers: tuple[int, ...], stages: tuple[str, ...]) -> None:
    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        for column, allowed in zip(CHECKED, (subjects, tiers, stages), strict=True):
            batch_op.create_check_constraint(op.f(f"ck_notice_deliveries_{column}"), _condition(column, allowed))


def upgrade() -> None:
    _sqlite_foreign_keys(False)
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("first_response_at", core.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reopened_at", core.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("overdue_alerted_at", core.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("waiting_told_at", core.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_escalations_account_id"), ["account_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_escalations_account_id_utility_accounts"), "utility_accounts", ["account_id"], ["id"]
        )
        batch_op.create_check_constraint(op.f("ck_escalations_reason"), _condition("reason", REASONS))

    with op.batch_alter_table("fault_tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outage_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", core.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_fault_tickets_outage_id"), ["outage_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_fault_tickets_outage_id_outages"), "outages", ["outage_id"], ["id"])

    # tiers 1 (key accounts) and 2 (everybody else) move down one for the conversation tier
    _drop_checks()
    op.execute("UPDATE notice_deliveries SET tier = tier + 1 WHERE tier > 0")
    _create_checks(SUBJECTS, TIERS, STAGES_NOW)
    _sqlite_foreign_keys(True)


def downgrade() -> None:
    _sqlite_foreign_keys(False)
    op.execute("DELETE FROM notice_deliveries WHERE subject_kind <> 'outage'")
    _drop_checks()
    op.execute("UPDATE notice_deliveries SET tier = tier - 1 WHERE tier > 1")
    _create_checks(SUBJECTS_BEFORE, TIERS_BEFORE, STAGES)
    with op.batch_alter_table("fault_tickets", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_fault_tickets_outage_id_outages"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_fault_tickets_outage_id"))
        batch_op.drop_column("updated_at")
        batch_op.drop_column("outage_id")
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_escalations_reason"), type_="check")
        batch_op.drop_constraint(batch_op.f("fk_escalations_account_id_utility_accounts"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_escalations_account_id"))
        batch_op.drop_column("waiting_told_at")
        batch_op.drop_column("overdue_alerted_at")
        batch_op.drop_column("reopened_at")
        batch_op.drop_column("first_response_at")
        batch_op.drop_column("account_id")
    _sqlite_foreign_keys(True)
