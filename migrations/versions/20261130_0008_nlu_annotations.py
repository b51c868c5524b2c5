"""nlu annotations: the right intent of a customer message, chosen by staff in the "not understood" inbox

nlu_annotations keeps one row per message (annotating again replaces the intent), who chose it and when, and
when `gridtalk nlu export-annotations` wrote it to the training data.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 17:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.models.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nlu_annotations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("intent", sa.String(length=60), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("annotated_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("exported_at", core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name=op.f("fk_nlu_annotations_message_id_messages")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_users.id"], name=op.f("fk_nlu_annotations_staff_id_staff_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nlu_annotations")),
        sa.UniqueConstraint("message_id", name=op.f("uq_nlu_annotations_message_id")),
    )
    op.create_index(op.f("ix_nlu_annotations_exported_at"), "nlu_annotations", ["exported_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_nlu_annotations_exported_at"), table_name="nlu_annotations")
    op.drop_table("nlu_annotations")
