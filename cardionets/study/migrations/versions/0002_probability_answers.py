"""Answers may carry a 0-100 probability that the case is abnormal (studies whose design asks for it), and then
no confidence. Earlier answers keep their confidence; their suspicion score is derived at analysis time.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite cannot alter a column in place, so Alembic copies the table; PostgreSQL alters it.
    with op.batch_alter_table("answers") as batch:
        batch.add_column(sa.Column("probability", sa.Integer(), nullable=True))
        batch.alter_column("confidence", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("answers") as batch:
        batch.alter_column("confidence", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("probability")
