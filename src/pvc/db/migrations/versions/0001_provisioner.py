"""The provisioner's tables, and the built-in `empty` userdata.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("id", sa.Integer, primary_key=True)


def _name() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("name", sa.Text, nullable=False, unique=True)


def _ova() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("ova", sa.Integer, sa.ForeignKey("ova.id", ondelete="RESTRICT"))


def upgrade() -> None:
    op.create_table("ova", _id(), _name(),
                    sa.Column("ovf", sa.Text, nullable=False))
    op.create_table(
        "ova_volume", _id(),
        sa.Column("ova", sa.Integer, sa.ForeignKey("ova.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("pool", sa.Text, nullable=False),
        sa.Column("volume_name", sa.Text, nullable=False),
        sa.Column("volume_format", sa.Text, nullable=False),
        sa.Column("disk_id", sa.Text, nullable=False),
        sa.Column("disk_size_gb", sa.Integer, nullable=False))
    op.create_table(
        "system_template", _id(), _name(),
        sa.Column("vcpu_count", sa.Integer, nullable=False),
        sa.Column("vram_mb", sa.Integer, nullable=False),
        sa.Column("serial", sa.Boolean, nullable=False),
        sa.Column("vnc", sa.Boolean, nullable=False),
        sa.Column("vnc_bind", sa.Text),
        sa.Column("node_limit", sa.Text),
        sa.Column("node_selector", sa.Text),
        sa.Column("node_autostart", sa.Boolean, nullable=False),
        sa.Column("migration_method", sa.Text),
        sa.Column("migration_max_downtime", sa.Integer, nullable=False),
        _ova())
    op.create_table("network_template", _id(), _name(),
                    sa.Column("mac_template", sa.Text), _ova())
    op.create_table(
        "network", _id(),
        sa.Column("network_template", sa.Integer,
                  sa.ForeignKey("network_template.id", ondelete="CASCADE"), nullable=False),
        sa.Column("vni", sa.String(16), nullable=False))
    op.create_table("storage_template", _id(), _name(), _ova())
    op.create_table(
        "storage", _id(),
        sa.Column("storage_template", sa.Integer,
                  sa.ForeignKey("storage_template.id", ondelete="CASCADE"), nullable=False),
        sa.Column("pool", sa.Text, nullable=False),
        sa.Column("disk_id", sa.Text, nullable=False),
        sa.Column("source_volume", sa.Text),
        sa.Column("disk_size_gb", sa.Integer),
        sa.Column("mountpoint", sa.Text),
        sa.Column("filesystem", sa.Text),
        sa.Column("filesystem_args", sa.Text),
        sa.UniqueConstraint("storage_template", "disk_id"))
    op.create_table("userdata", _id(), _name(),
                    sa.Column("userdata", sa.Text, nullable=False))
    op.create_table("script", _id(), _name(),
                    sa.Column("script", sa.Text, nullable=False))
    refs = ("system_template", "network_template", "storage_template", "userdata", "script",
            "ova")
    op.create_table(
        "profile", _id(), _name(),
        sa.Column("profile_type", sa.Text, nullable=False),
        *(sa.Column(ref, sa.Integer, sa.ForeignKey(f"{ref}.id", ondelete="RESTRICT"))
          for ref in refs),
        sa.Column("arguments", sa.Text))
    userdata = sa.table("userdata", sa.column("name", sa.Text), sa.column("userdata", sa.Text))
    op.bulk_insert(userdata, [{"name": "empty", "userdata": ""}])


def downgrade() -> None:
    for table in ("profile", "script", "userdata", "storage", "storage_template", "network",
                  "network_template", "system_template", "ova_volume", "ova"):
        op.drop_table(table)
