"""reliability: where binding attempts come from, claim tokens, worker heartbeats

binding_attempts gets the client address and indexes to count failures per account number and per address
(guessing is refused across identities, not only per identity); notice_deliveries gets the token of the claim
that holds a 'sending' row (only its owner records the result); worker_heartbeats keeps each worker's last
tick (readiness, the supervisor).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.models.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("binding_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_binding_attempts_account", ["account_number", "at"], unique=False)
        batch_op.create_index("ix_binding_attempts_client", ["client", "at"], unique=False)
    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
    op.create_table(
        "worker_heartbeats",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("beat_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_worker_heartbeats")),
    )


def downgrade() -> None:
    op.drop_table("worker_heartbeats")
    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        batch_op.drop_column("claim_token")
    with op.batch_alter_table("binding_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_binding_attempts_client")
        batch_op.drop_index("ix_binding_attempts_account")
        batch_op.drop_column("client")
