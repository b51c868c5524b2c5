"""feedback: satisfaction surveys, follow-ups (回访) of low scores, and the sentiment of comments

surveys keeps one survey per conversation (1-5 stars as buttons), with what reports group by as it was when
it was sent (channel, language, segment, agent, intent, why it was sent), its expiry and answer; a feedback
row is an answer's score and comment (survey_id) or a free-text comment, with the sentiment of its words;
followups is the return visit a low score starts: its owner, due time, state and closing note.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 02:25:29.087852
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.models.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("segment", sa.String(length=20), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("intent", sa.String(length=60), nullable=True),
        sa.Column("trigger", sa.String(length=10), nullable=False),
        sa.Column("sent_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("aspect", sa.String(length=10), nullable=True),
        sa.Column("created_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("aspect IN ('supply', 'service', 'complaint')", name=op.f("ck_surveys_aspect")),
        sa.CheckConstraint("channel IN ('telegram', 'web')", name=op.f("ck_surveys_channel")),
        sa.CheckConstraint("trigger IN ('resolved', 'thanked', 'quiet')", name=op.f("ck_surveys_trigger")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["utility_accounts.id"], name=op.f("fk_surveys_account_id_utility_accounts")
        ),
        sa.ForeignKeyConstraint(["agent_id"], ["staff_users.id"], name=op.f("fk_surveys_agent_id_staff_users")),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name=op.f("fk_surveys_conversation_id_conversations")
        ),
        sa.ForeignKeyConstraint(["identity_id"], ["identities.id"], name=op.f("fk_surveys_identity_id_identities")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
        sa.UniqueConstraint("conversation_id", name=op.f("uq_surveys_conversation_id")),
    )
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_surveys_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_surveys_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_surveys_identity_id"), ["identity_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_surveys_sent_at"), ["sent_at"], unique=False)

    op.create_table(
        "followups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("due_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("closed_at", core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('open', 'closed')", name=op.f("ck_followups_state")),
        sa.ForeignKeyConstraint(
            ["closed_by_id"], ["staff_users.id"], name=op.f("fk_followups_closed_by_id_staff_users")
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["staff_users.id"], name=op.f("fk_followups_owner_id_staff_users")),
        sa.ForeignKeyConstraint(["survey_id"], ["surveys.id"], name=op.f("fk_followups_survey_id_surveys")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followups")),
        sa.UniqueConstraint("survey_id", name=op.f("uq_followups_survey_id")),
    )
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_followups_due_at"), ["due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_followups_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_followups_state"), ["state"], unique=False)

    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sentiment", sa.String(length=10), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_feedback_sentiment"), "sentiment IN ('positive', 'neutral', 'negative')"
        )
        batch_op.add_column(sa.Column("survey_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_feedback_survey_id"), ["survey_id"], unique=False)
        batch_op.create_index("ix_feedback_created_at", ["created_at"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_feedback_survey_id_surveys"), "surveys", ["survey_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_feedback_survey_id_surveys"), type_="foreignkey")
        batch_op.drop_index("ix_feedback_created_at")
        batch_op.drop_index(batch_op.f("ix_feedback_survey_id"))
        batch_op.drop_column("survey_id")
        batch_op.drop_constraint(op.f("ck_feedback_sentiment"), type_="check")
        batch_op.drop_column("sentiment")

    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_followups_state"))
        batch_op.drop_index(batch_op.f("ix_followups_owner_id"))
        batch_op.drop_index(batch_op.f("ix_followups_due_at"))

    op.drop_table("followups")
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_surveys_sent_at"))
        batch_op.drop_index(batch_op.f("ix_surveys_identity_id"))
        batch_op.drop_index(batch_op.f("ix_surveys_agent_id"))
        batch_op.drop_index(batch_op.f("ix_surveys_account_id"))

    op.drop_table("surveys")
