"""the outbox claim's index, and escalations by identity

ix_notice_deliveries_queue (partial: the rows still to send) is the claim's order (tier, priority DESC, due_at,
id): a claim of 500 reads them off the index instead of sorting every due row (bench/sizing.py: 332 ms a claim
with 1 000 000 rows due, 0.29 ms with it). ix_escalations_identity_id serves "was this customer ever handed to
staff" on every chat turn, and the privacy export and erase.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 10:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUE = "status IN ('pending', 'sending')"


def upgrade() -> None:
    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notice_deliveries_queue",
            ["tier", sa.text("priority DESC"), "due_at", "id"],
            unique=False,
            postgresql_where=sa.text(QUEUE),
            sqlite_where=sa.text(QUEUE),
        )

    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_escalations_identity_id"), ["identity_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_escalations_identity_id"))

    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_notice_deliveries_queue")
