"""The reader-study tables: studies, cases, readers, answers (one answer per study, reader, case and arm).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("design", sa.String(2000), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_studies_code", "studies", ["code"], unique=True)
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("study_id", sa.Integer(), sa.ForeignKey("studies.id"), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("truth", sa.String(20), nullable=False),
        sa.Column("material", sa.JSON(), nullable=False),
        sa.UniqueConstraint("study_id", "key"),
    )
    op.create_index("ix_cases_study_id", "cases", ["study_id"])
    op.create_table(
        "readers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("study_id", sa.Integer(), sa.ForeignKey("studies.id"), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("experience_years", sa.Float(), nullable=True),
        sa.Column("specialty", sa.String(100), nullable=True),
        sa.Column("joined", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_readers_study_id", "readers", ["study_id"])
    op.create_index("ix_readers_token", "readers", ["token"], unique=True)
    op.create_table(
        "answers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("study_id", sa.Integer(), sa.ForeignKey("studies.id"), nullable=False),
        sa.Column("reader_id", sa.Integer(), sa.ForeignKey("readers.id"), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("arm", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("diagnosis", sa.String(20), nullable=False),
        sa.Column("confidence", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("study_id", "reader_id", "case_id", "arm", name="one_answer_per_read"),
    )
    op.create_index("ix_answers_study_id", "answers", ["study_id"])
    op.create_index("ix_answers_reader_id", "answers", ["reader_id"])


def downgrade() -> None:
    for table in ("answers", "readers", "cases", "studies"):
        op.drop_table(table)
