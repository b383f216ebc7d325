"""Online expert review: expert accounts (period, framework, download, lead), expiring
tokens and sign-in links, settings, marks, 调阅 requests

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 08:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("expert_framework_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("can_download", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(
            sa.Column("is_lead", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_foreign_key(
            "fk_users_expert_framework_id_frameworks",
            "frameworks",
            ["expert_framework_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("purpose", sa.String(10), nullable=False, server_default="api"))
        batch.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))
    op.create_table(
        "settings",
        sa.Column("key", sa.String(60), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_settings"),
    )
    op.create_table(
        "expert_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("framework_id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("mark", sa.String(10), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["framework_id"],
            ["frameworks.id"],
            name="fk_expert_marks_framework_id_frameworks",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name="fk_expert_marks_indicator_id_indicators",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["expert_id"], ["users.id"], name="fk_expert_marks_expert_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_expert_marks"),
        sa.UniqueConstraint(
            "indicator_id",
            "expert_id",
            "final",
            name="uq_expert_marks_indicator_id_expert_id_final",
        ),
    )
    op.create_index("ix_expert_marks_framework_id", "expert_marks", ["framework_id"])
    op.create_index("ix_expert_marks_expert_id", "expert_marks", ["expert_id"])
    op.create_table(
        "material_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("framework_id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("answered_by_id", sa.Integer(), nullable=True),
        sa.Column("answer_note", sa.Text(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["framework_id"],
            ["frameworks.id"],
            name="fk_material_requests_framework_id_frameworks",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name="fk_material_requests_indicator_id_indicators",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["expert_id"],
            ["users.id"],
            name="fk_material_requests_expert_id_users",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["answered_by_id"],
            ["users.id"],
            name="fk_material_requests_answered_by_id_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_material_requests"),
    )
    op.create_index("ix_material_requests_framework_id", "material_requests", ["framework_id"])
    op.create_table(
        "material_request_documents",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["material_requests.id"],
            name="fk_material_request_documents_request_id_material_requests",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name="fk_material_request_documents_document_id_documents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", "document_id", name="pk_material_request_documents"),
    )


def downgrade() -> None:
    op.drop_table("material_request_documents")
    op.drop_index("ix_material_requests_framework_id", "material_requests")
    op.drop_table("material_requests")
    op.drop_index("ix_expert_marks_expert_id", "expert_marks")
    op.drop_index("ix_expert_marks_framework_id", "expert_marks")
    op.drop_table("expert_marks")
    op.drop_table("settings")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("purpose")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("fk_users_expert_framework_id_frameworks", type_="foreignkey")
        batch.drop_column("is_lead")
        batch.drop_column("can_download")
        batch.drop_column("expert_framework_id")
        batch.drop_column("expires_at")
