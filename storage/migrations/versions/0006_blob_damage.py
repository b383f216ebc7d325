"""blobs.damaged_at: a stored file found not to match its hash

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("blobs") as batch:
        batch.add_column(sa.Column("damaged_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("blobs") as batch:
        batch.drop_column("damaged_at")
