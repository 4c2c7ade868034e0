"""tenants, api_keys, datasets, jobs, models

Revision ID: 0001
Revises:
Create Date: 2025-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("blob_key", sa.String(300), nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("n_columns", sa.Integer, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("encoding", sa.String(40), nullable=False),
        sa.Column("delimiter", sa.String(4), nullable=False),
        sa.Column("column_kinds", sa.JSON, nullable=False),
        sa.Column("schema", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_datasets_tenant_id", "datasets", ["tenant_id"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("dataset_id", sa.String(36), sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("epochs", sa.Integer, nullable=False),
        sa.Column("losses", sa.JSON, nullable=True),
        sa.Column("eta_seconds", sa.Float, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("worker_id", sa.String(200), nullable=True),
        sa.Column("lease_expires_at", TS, nullable=True),
        sa.Column("checkpoint_key", sa.String(300), nullable=True),
        sa.Column("checkpoint_epoch", sa.Integer, nullable=True),
        sa.Column("resumed_from_epoch", sa.Integer, nullable=True),
        sa.Column("device", sa.String(40), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
                           name="ck_jobs_status"),
    )
    op.create_index("ix_jobs_tenant_id", "jobs", ["tenant_id"])
    op.create_index("ix_jobs_dataset_id", "jobs", ["dataset_id"])
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.create_index("ix_jobs_lease_expires_at", "jobs", ["lease_expires_at"])
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"])
    op.create_table(
        "models",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("dataset_id", sa.String(36), sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("blob_key", sa.String(300), nullable=False),
        sa.Column("schema", sa.JSON, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("train_rows", sa.BigInteger, nullable=False),
        sa.Column("holdout_rows", sa.BigInteger, nullable=False),
        sa.Column("epochs_trained", sa.Integer, nullable=False),
        sa.Column("train_seconds", sa.Float, nullable=False),
        sa.Column("report", sa.JSON, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("job_id", name="uq_models_job_id"),
    )
    op.create_index("ix_models_tenant_id", "models", ["tenant_id"])
    op.create_index("ix_models_dataset_id", "models", ["dataset_id"])
    op.create_index("ix_models_created_at", "models", ["created_at"])


def downgrade() -> None:
    for table in ("models", "jobs", "datasets", "api_keys", "tenants"):
        op.drop_table(table)
