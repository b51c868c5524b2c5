"""fault outages: estimates, reports, feeder alerts, ticket attachments

outage_estimates keeps every "expected back by" staff set on a fault outage (who, when); outage_reports
counts customers' "no power here" on a known outage, or by feeder outside any (feeder_alerts: several on one
feeder within minutes, a probable fault for staff); ticket_attachments holds the photos and locations sent
with a fault report.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 01:30:10.759985
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.models.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feeder_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feeder_code", sa.String(length=20), nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("first_report_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outage_id", sa.Integer(), nullable=True),
        sa.Column("closed_at", core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["feeder_code"], ["feeders.code"], name=op.f("fk_feeder_alerts_feeder_code_feeders")),
        sa.ForeignKeyConstraint(["outage_id"], ["outages.id"], name=op.f("fk_feeder_alerts_outage_id_outages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feeder_alerts")),
    )
    with op.batch_alter_table("feeder_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feeder_alerts_feeder_code"), ["feeder_code"], unique=False)

    op.create_table(
        "outage_estimates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outage_id", sa.Integer(), nullable=False),
        sa.Column("estimated_restoration_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("changed_by_id", sa.Integer(), nullable=True),
        sa.Column("changed_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["changed_by_id"], ["staff_users.id"], name=op.f("fk_outage_estimates_changed_by_id_staff_users")
        ),
        sa.ForeignKeyConstraint(
            ["outage_id"], ["outages.id"], name=op.f("fk_outage_estimates_outage_id_outages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outage_estimates")),
    )
    with op.batch_alter_table("outage_estimates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outage_estimates_outage_id"), ["outage_id"], unique=False)

    op.create_table(
        "outage_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outage_id", sa.Integer(), nullable=True),
        sa.Column("feeder_code", sa.String(length=20), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("identity_id", sa.Integer(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("created_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["utility_accounts.id"], name=op.f("fk_outage_reports_account_id_utility_accounts")
        ),
        sa.ForeignKeyConstraint(["feeder_code"], ["feeders.code"], name=op.f("fk_outage_reports_feeder_code_feeders")),
        sa.ForeignKeyConstraint(
            ["identity_id"], ["identities.id"], name=op.f("fk_outage_reports_identity_id_identities")
        ),
        sa.ForeignKeyConstraint(
            ["outage_id"], ["outages.id"], name=op.f("fk_outage_reports_outage_id_outages"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["fault_tickets.id"], name=op.f("fk_outage_reports_ticket_id_fault_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outage_reports")),
    )
    with op.batch_alter_table("outage_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outage_reports_feeder_code"), ["feeder_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_outage_reports_outage_id"), ["outage_id"], unique=False)

    op.create_table(
        "ticket_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("file_id", sa.String(length=200), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("content_type", sa.String(length=50), nullable=True),
        sa.Column("latitude", sa.Double(), nullable=True),
        sa.Column("longitude", sa.Double(), nullable=True),
        sa.Column("created_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('photo', 'location')", name=op.f("ck_ticket_attachments_kind")),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["fault_tickets.id"],
            name=op.f("fk_ticket_attachments_ticket_id_fault_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_attachments")),
    )
    with op.batch_alter_table("ticket_attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_attachments_ticket_id"), ["ticket_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ticket_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_attachments_ticket_id"))

    op.drop_table("ticket_attachments")
    with op.batch_alter_table("outage_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outage_reports_outage_id"))
        batch_op.drop_index(batch_op.f("ix_outage_reports_feeder_code"))

    op.drop_table("outage_reports")
    with op.batch_alter_table("outage_estimates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outage_estimates_outage_id"))

    op.drop_table("outage_estimates")
    with op.batch_alter_table("feeder_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feeder_alerts_feeder_code"))

    op.drop_table("feeder_alerts")
