"""applications (业扩报装) and their events; application updates in the outbox

applications keeps each customer application (new connection, capacity increase / decrease, EV charger, rooftop
solar) with its current stage, when that stage began and is due, the staff member responsible and the planned
outage connecting it needs; application_events keeps every creation, advance and reopening (from / to stage,
who, note, the due time set). The outbox gets a subject kind 'application' with the purpose 'progress' (a stage
change told to the account's contacts or bound customers; the row's revision is the event's id).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 05:25:30.385756
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.models.base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("new_connection", "capacity_increase", "capacity_decrease", "ev_charger", "rooftop_solar")
STAGES = (
    "accepted",
    "site_survey",
    "supply_plan",
    "design_review",
    "interim_inspection",
    "completion_inspection",
    "connected",
)
EVENTS = ("created", "advanced", "reopened")
SUBJECTS_BEFORE = ("outage", "message", "escalation")
SUBJECTS = (*SUBJECTS_BEFORE, "application")
OUTAGE_STAGES = ("15d", "7d", "30m", "initial", "change", "cancel", "restored")
PURPOSES_BEFORE = (*OUTAGE_STAGES, "alert", "problem", "overdue", "reply")
PURPOSES = (*PURPOSES_BEFORE, "progress")
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
    op.create_table(
        "applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("stage", sa.String(length=24), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("outage_id", sa.Integer(), nullable=True),
        sa.Column("stage_started_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_condition("kind", KINDS), name=op.f("ck_applications_kind")),
        sa.CheckConstraint(_condition("stage", STAGES), name=op.f("ck_applications_stage")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["utility_accounts.id"], name=op.f("fk_applications_account_id_utility_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["staff_users.id"], name=op.f("fk_applications_created_by_id_staff_users")
        ),
        sa.ForeignKeyConstraint(
            ["outage_id"], ["outages.id"], name=op.f("fk_applications_outage_id_outages"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["staff_users.id"], name=op.f("fk_applications_owner_id_staff_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
    )
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_applications_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_applications_outage_id"), ["outage_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_applications_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index("ix_applications_stage_due", ["stage", "due_at"], unique=False)

    op.create_table(
        "application_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("from_stage", sa.String(length=24), nullable=True),
        sa.Column("to_stage", sa.String(length=24), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("due_at", core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_condition("from_stage", STAGES), name=op.f("ck_application_events_from_stage")),
        sa.CheckConstraint(_condition("kind", EVENTS), name=op.f("ck_application_events_kind")),
        sa.CheckConstraint(_condition("to_stage", STAGES), name=op.f("ck_application_events_to_stage")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_application_events_application_id_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_users.id"], name=op.f("fk_application_events_staff_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_events")),
    )
    with op.batch_alter_table("application_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_application_events_application_id"), ["application_id"], unique=False)

    _sqlite_foreign_keys(False)
    _outbox_checks(SUBJECTS, PURPOSES)
    _sqlite_foreign_keys(True)


def downgrade() -> None:
    _sqlite_foreign_keys(False)
    op.execute("DELETE FROM notice_deliveries WHERE subject_kind = 'application'")
    _outbox_checks(SUBJECTS_BEFORE, PURPOSES_BEFORE)
    _sqlite_foreign_keys(True)

    with op.batch_alter_table("application_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_application_events_application_id"))
    op.drop_table("application_events")
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_index("ix_applications_stage_due")
        batch_op.drop_index(batch_op.f("ix_applications_owner_id"))
        batch_op.drop_index(batch_op.f("ix_applications_outage_id"))
        batch_op.drop_index(batch_op.f("ix_applications_account_id"))
    op.drop_table("applications")
