"""text signatures (near-duplicate fingerprints kept between audits)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 23:59:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "text_signatures",
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("pages_key", sa.Integer(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_text_signatures_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("document_id", name=op.f("pk_text_signatures")),
    )


def downgrade() -> None:
    op.drop_table("text_signatures")
