"""Forwarding people's mail, exactly once: forward_to, forward_started_at, forwarded_at, forward_error.

Revision ID: 0002
Revises: 0001

All four columns are nullable and new, so existing rows read as "nothing to forward";
no data is rewritten. A partial index finds the forwards still to do (or in doubt) per
folder without scanning the messages already disposed of.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

# Frozen copy of the predicate in bouncer.store.schema as of this revision.
UNFINISHED_FORWARD = "forward_to IS NOT NULL AND forwarded_at IS NULL"


def upgrade() -> None:
    op.add_column("inbound_messages", sa.Column("forward_to", sa.Text, nullable=True))
    op.add_column("inbound_messages", sa.Column("forward_started_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("inbound_messages", sa.Column("forwarded_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("inbound_messages", sa.Column("forward_error", sa.Text, nullable=True))
    op.create_index(
        "ix_inbound_messages_unfinished_forwards",
        "inbound_messages",
        ["account", "folder"],
        postgresql_where=sa.text(UNFINISHED_FORWARD),
        sqlite_where=sa.text(UNFINISHED_FORWARD),
    )


def downgrade() -> None:
    # SQLite (3.35+) drops a column only once no index mentions it.
    op.drop_index("ix_inbound_messages_unfinished_forwards", table_name="inbound_messages")
    op.drop_column("inbound_messages", "forward_error")
    op.drop_column("inbound_messages", "forwarded_at")
    op.drop_column("inbound_messages", "forward_started_at")
    op.drop_column("inbound_messages", "forward_to")
