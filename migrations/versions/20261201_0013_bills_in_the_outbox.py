"""bills in the outbox (statements and reminders); customers opt in to bill reminders

The outbox gets a subject kind 'bill' with the purposes 'statement' (the month's statement by email), 'due' (a
reminder before the due date) and 'arrears' (a reminder after it, while unpaid); each is sent once per bill and
person (the round's unique key). identities.bill_reminders records a customer's opt-in to the reminders.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 06:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUBJECTS_BEFORE = ("outage", "message", "escalation", "application")
SUBJECTS = (*SUBJECTS_BEFORE, "bill")
OUTAGE_STAGES = ("15d", "7d", "30m", "initial", "change", "cancel", "restored")
PURPOSES_BEFORE = (*OUTAGE_STAGES, "alert", "problem", "overdue", "reply", "progress")
PURPOSES = (*PURPOSES_BEFORE, "statement", "due", "arrears")
CHECKED = ("subject_kind", "stage")


def _condition(column: str, allowed: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in allowed)})"


def _sqlite_foreign_keys(on: bool) -> None:
    """SQLite rebuilds a table to change a CHECK: foreign keys are off meanwhile (see revision 0003)."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _outbox_checks(subjects: tuple[str, ...], purposes: tuple[str, ...]) -> None:
    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        for column in CHECKED:
            batch_op.drop_constraint(op.f(f"ck_notice_deliveries_{column}"), type_="check")
    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        for column, allowed in zip(CHECKED, (subjects, purposes), strict=True):
            batch_op.create_check_constraint(op.f(f"ck_notice_deliveries_{column}"), _condition(column, allowed))


def upgrade() -> None:
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bill_reminders", sa.Boolean(), server_default=sa.false(), nullable=False))
    _sqlite_foreign_keys(False)
    _outbox_checks(SUBJECTS, PURPOSES)
    _sqlite_foreign_keys(True)


def downgrade() -> None:
    _sqlite_foreign_keys(False)
    op.execute("DELETE FROM notice_deliveries WHERE subject_kind = 'bill'")
    _outbox_checks(SUBJECTS_BEFORE, PURPOSES_BEFORE)
    _sqlite_foreign_keys(True)
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_column("bill_reminders")
