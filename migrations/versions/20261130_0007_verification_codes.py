"""verification codes: a customer's email for notices, and binding by a code sent to the registered phone

identities get an email address and when it was verified (web chat customers who subscribe to notices);
verification_codes keeps one-time codes (hashed) for an email address or an account's phone.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 16:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.models.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("email_verified_at", core.models.base.UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        "verification_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=10), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("purpose IN ('email', 'binding')", name=op.f("ck_verification_codes_purpose")),
        sa.ForeignKeyConstraint(
            ["identity_id"], ["identities.id"], name=op.f("fk_verification_codes_identity_id_identities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_codes")),
    )
    op.create_index("ix_verification_codes_identity", "verification_codes", ["identity_id", "purpose"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_verification_codes_identity", table_name="verification_codes")
    op.drop_table("verification_codes")
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_column("email_verified_at")
        batch_op.drop_column("email")
