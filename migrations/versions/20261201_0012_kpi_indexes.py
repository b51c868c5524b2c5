"""the KPI dashboard's indexes: conversations by when they started, the customers' messages by when they came

ix_conversations_created_at finds the conversations started in a period; ix_messages_inbound (partial: direction
'in') finds the customers' messages of a period, and on PostgreSQL also carries their conversation, intent and
NLU confidence so that the NLU fallback rate and "did the customer write in this conversation" are answered from
the index alone (bench/kpi.py measures the dashboard at a million conversations).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 05:54:11.110594
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INBOUND = "direction = 'in'"


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index("ix_conversations_created_at", ["created_at"], unique=False)

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_inbound",
            ["created_at"],
            unique=False,
            postgresql_include=["conversation_id", "intent", "confidence"],
            postgresql_where=sa.text(INBOUND),
            sqlite_where=sa.text(INBOUND),
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_inbound")

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_created_at")
