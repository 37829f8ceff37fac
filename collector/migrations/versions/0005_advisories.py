"""Security advisories (CSAF 2.0), their matches to assets, and the assets' CPE names (issue 18).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "advisories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tracking_id", sa.String(length=128), nullable=False),
        sa.Column("revision", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column("publisher", sa.String(length=256), nullable=False),
        sa.Column("initial_release", sa.String(length=40), nullable=True),
        sa.Column("current_release", sa.String(length=40), nullable=True),
        sa.Column("source", sa.String(length=512), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("schema_checked", sa.Boolean(), nullable=False),
        sa.Column("latest", sa.Boolean(), nullable=False),
        sa.Column("products", sa.Integer(), nullable=False),
        sa.Column("cves", sa.JSON(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("imported_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tracking_id", "revision"),
    )
    with op.batch_alter_table("advisories") as batch:
        batch.create_index(batch.f("ix_advisories_tracking_id"), ["tracking_id"], unique=False)
    op.create_table(
        "vulnerability_matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("advisory_id", sa.Integer(), nullable=False),
        sa.Column("tracking_id", sa.String(length=128), nullable=False),
        sa.Column("cve", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("confidence", sa.String(length=16), nullable=False),
        sa.Column("product_id", sa.String(length=128), nullable=False),
        sa.Column("product", sa.String(length=512), nullable=False),
        sa.Column("version_range", sa.String(length=256), nullable=True),
        sa.Column("reason", sa.String(length=512), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("remediation", sa.String(length=512), nullable=True),
        sa.Column("first_matched", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["asset_id"], ["assets.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["advisory_id"], ["advisories.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("asset_id", "tracking_id", "cve"),
    )
    with op.batch_alter_table("vulnerability_matches") as batch:
        batch.create_index("ix_vulnerability_matches_cve", ["cve"], unique=False)
        batch.create_index(batch.f("ix_vulnerability_matches_asset_id"), ["asset_id"], unique=False)
        batch.create_index(batch.f("ix_vulnerability_matches_advisory_id"), ["advisory_id"], unique=False)
        batch.create_index(batch.f("ix_vulnerability_matches_tracking_id"), ["tracking_id"], unique=False)
    op.create_table(
        "asset_cpes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("part", sa.String(length=1), nullable=False),
        sa.Column("cpe", sa.String(length=512), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["asset_id"], ["assets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("asset_id", "cpe"),
    )
    with op.batch_alter_table("asset_cpes") as batch:
        batch.create_index(batch.f("ix_asset_cpes_asset_id"), ["asset_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("asset_cpes") as batch:
        batch.drop_index(batch.f("ix_asset_cpes_asset_id"))
    op.drop_table("asset_cpes")
    with op.batch_alter_table("vulnerability_matches") as batch:
        batch.drop_index(batch.f("ix_vulnerability_matches_tracking_id"))
        batch.drop_index(batch.f("ix_vulnerability_matches_advisory_id"))
        batch.drop_index(batch.f("ix_vulnerability_matches_asset_id"))
        batch.drop_index("ix_vulnerability_matches_cve")
    op.drop_table("vulnerability_matches")
    with op.batch_alter_table("advisories") as batch:
        batch.drop_index(batch.f("ix_advisories_tracking_id"))
    op.drop_table("advisories")
