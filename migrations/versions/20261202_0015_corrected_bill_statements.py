"""corrected bill statements in the outbox

A bill imported again with other figures after its statement was mailed is mailed again as a correction: the
outbox gets the purpose 'correction' (subject kind 'bill'), one round (revision) per correction.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 00:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTAGE_STAGES = ("15d", "7d", "30m", "initial", "change", "cancel", "restored")
PURPOSES_BEFORE = (*OUTAGE_STAGES, "alert", "problem", "overdue", "reply", "progress", "statement", "due", "arrears")
PURPOSES = (*PURPOSES_BEFORE, "correction")


def _sqlite_foreign_keys(on: bool) -> None:
    """SQLite rebuilds a table to change a CHECK: foreign keys are off meanwhile (see revision 0003)."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _purposes(allowed: tuple[str, ...]) -> None:
    name = op.f("ck_notice_deliveries_stage")
    condition = f"stage IN ({', '.join(repr(v) for v in allowed)})"
    if op.get_bind().dialect.name == "postgresql":
        # The outbox may hold millions of rows: the new CHECK is added NOT VALID (no scan under the table's
        # exclusive lock, which would hold up every send meanwhile), then validated after a commit, which scans
        # without blocking reads or writes.
        op.drop_constraint(name, "notice_deliveries", type_="check")
        op.execute(f"ALTER TABLE notice_deliveries ADD CONSTRAINT {name} CHECK ({condition}) NOT VALID")
        with op.get_context().autocommit_block():
            op.execute(f"ALTER TABLE notice_deliveries VALIDATE CONSTRAINT {name}")
        return
    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(name, type_="check")
    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        batch_op.create_check_constraint(name, condition)


def upgrade() -> None:
    _sqlite_foreign_keys(False)
    _purposes(PURPOSES)
    _sqlite_foreign_keys(True)


def downgrade() -> None:
    _sqlite_foreign_keys(False)
    op.execute("DELETE FROM notice_deliveries WHERE stage = 'correction'")
    _purposes(PURPOSES_BEFORE)
    _sqlite_foreign_keys(True)
