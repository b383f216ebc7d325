"""document_versions: signatures and file metadata; frameworks.archived_at

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 10:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("document_versions") as batch:
        batch.add_column(
            sa.Column("signature_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("signatures", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("file_metadata", sa.JSON(), nullable=True))
    with op.batch_alter_table("frameworks") as batch:
        batch.add_column(sa.Column("archived_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("frameworks") as batch:
        batch.drop_column("archived_at")
    with op.batch_alter_table("document_versions") as batch:
        batch.drop_column("file_metadata")
        batch.drop_column("signatures")
        batch.drop_column("signature_count")
