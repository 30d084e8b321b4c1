"""The first schema: inbound_messages, delivery_failures, mailbox_state, the views.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None

# Frozen copy of bouncer.store.schema.SENDER_SIDE_REASONS as of this revision: a later
# change to the list is a new migration, never an edit here.
SENDER_SIDE_REASONS = {
    "authfailure": "the sending domain failed SPF, DKIM or DMARC",
    "badreputation": "the sending IP or domain has a poor reputation",
    "blocked": "the sending IP or domain is blocked or listed",
    "contenterror": "the message content was refused",
    "failedstarttls": "the sending server could not negotiate TLS",
    "mesgtoobig": "the message was too big",
    "norelaying": "the sending server used a relay that refuses it",
    "notcompliantrfc": "the message does not comply with the RFCs",
    "policyviolation": "the message or sender broke a receiving-site policy",
    "rejected": "the envelope sender was rejected",
    "requireptr": "the sending IP has no reverse DNS",
    "securityerror": "the sender failed the receiving site's security checks",
    "spamdetected": "the message was judged to be spam",
    "speeding": "the sender sent too fast (rate limited)",
    "syntaxerror": "the sending server made an SMTP syntax error",
    "toomanyconn": "the sender opened too many connections",
    "virusdetected": "the message was judged to carry a virus",
}

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PENDING = "disposed_at IS NULL AND disposition IN ('move', 'delete', 'seen')"

# The two dialects differ only in date arithmetic; the views are written once with these holes.
DIALECT_SQL = {
    "postgresql": {
        "day": "CAST((occurred_at AT TIME ZONE 'UTC') AS date)",
        "days_between": "({later} - {earlier})",
        "thirty_days_ago": "(now() - interval '30 days')",
        # Referenced three times, the CTE would be computed for the whole table before any
        # WHERE tenant/recipient applies; inlined, those conditions reach the index.
        "inline": "NOT MATERIALIZED",
    },
    "sqlite": {
        "day": "date(occurred_at)",
        "days_between": "(julianday({later}) - julianday({earlier}))",
        "thirty_days_ago": "strftime('%Y-%m-%d %H:%M:%f', 'now', '-30 days')",
        "inline": "",  # the hint needs SQLite 3.35; older ones must still run this
    },
}

CAMPAIGN_FAILURES = """
CREATE VIEW campaign_failures AS
WITH ranked AS (
    SELECT f.*,
           CASE WHEN f.kind = 'bounce' AND f.hard THEN 4
                WHEN f.kind = 'bounce' THEN 3
                WHEN f.kind = 'complaint' THEN 2
                ELSE 1 END AS severity
      FROM delivery_failures f
     WHERE f.tracker_key IS NOT NULL
),
ordered AS (
    SELECT ranked.*,
           ROW_NUMBER() OVER (PARTITION BY tenant, tracker_key
                              ORDER BY severity DESC, occurred_at DESC, id DESC) AS position,
           COUNT(*) OVER (PARTITION BY tenant, tracker_key) AS all_failures,
           MIN(occurred_at) OVER (PARTITION BY tenant, tracker_key) AS first_at,
           MAX(occurred_at) OVER (PARTITION BY tenant, tracker_key) AS last_at,
           MAX(CASE WHEN kind = 'complaint' THEN 1 ELSE 0 END)
               OVER (PARTITION BY tenant, tracker_key) AS any_complaint
      FROM ranked
)
SELECT tenant,
       tracker_key,
       CASE severity WHEN 4 THEN 'hard' WHEN 3 THEN 'soft' WHEN 2 THEN 'complaint' ELSE 'delay' END
           AS outcome,
       CASE severity WHEN 4 THEN 'invalid email' WHEN 3 THEN 'send error' END AS crm_activity,
       recipient,
       reason,
       status,
       diagnostic,
       original_message_id,
       inbound_message_id,
       all_failures AS failures,
       (any_complaint = 1) AS complained,
       first_at AS first_failure_at,
       last_at AS last_failure_at
  FROM ordered
 WHERE position = 1
"""

RECIPIENT_STATUS = """
CREATE VIEW recipient_status AS
WITH classified AS {inline} (
    SELECT d.*,
           CASE WHEN s.reason IS NULL THEN 0 ELSE 1 END AS sender_side
      FROM delivery_failures d
      LEFT JOIN sender_side_reasons s ON s.reason = d.reason
),
soft_days AS (
    SELECT DISTINCT tenant, recipient, {day} AS day
      FROM classified
     WHERE kind = 'bounce' AND NOT hard AND sender_side = 0
),
soft_runs AS (
    SELECT tenant, recipient, day,
           LAG(day, 2) OVER (PARTITION BY tenant, recipient ORDER BY day) AS day_two_before
      FROM soft_days
),
soft_suppressed AS (
    SELECT DISTINCT tenant, recipient
      FROM soft_runs
     WHERE day_two_before IS NOT NULL AND {days_between_runs} <= 29
),
latest AS (
    SELECT tenant, recipient, reason,
           ROW_NUMBER() OVER (PARTITION BY tenant, recipient
                              ORDER BY CASE WHEN kind = 'delay' THEN 1 ELSE 0 END,
                                       occurred_at DESC, id DESC) AS position
      FROM classified
),
totals AS (
    SELECT tenant, recipient,
           MIN(CASE WHEN kind <> 'delay' THEN occurred_at END) AS first_failure_at,
           MAX(CASE WHEN kind <> 'delay' THEN occurred_at END) AS last_failure_at,
           SUM(CASE WHEN kind = 'bounce' AND hard AND sender_side = 0 THEN 1 ELSE 0 END) AS hard_count,
           SUM(CASE WHEN kind = 'bounce' AND NOT hard AND sender_side = 0 THEN 1 ELSE 0 END) AS soft_count,
           SUM(CASE WHEN kind = 'bounce' AND NOT hard AND sender_side = 0
                     AND occurred_at >= {thirty_days_ago} THEN 1 ELSE 0 END) AS soft_count_30d,
           SUM(CASE WHEN kind = 'bounce' AND sender_side = 1 THEN 1 ELSE 0 END) AS sender_side_count,
           SUM(CASE WHEN kind = 'delay' THEN 1 ELSE 0 END) AS delays,
           SUM(CASE WHEN kind = 'complaint' THEN 1 ELSE 0 END) AS complaints
      FROM classified
     GROUP BY tenant, recipient
)
SELECT t.tenant,
       t.recipient,
       t.first_failure_at,
       t.last_failure_at,
       t.hard_count,
       t.soft_count,
       t.soft_count_30d,
       t.sender_side_count,
       t.delays,
       t.complaints,
       l.reason AS last_reason,
       (t.hard_count > 0 OR t.complaints > 0 OR s.recipient IS NOT NULL) AS suppress,
       CASE WHEN t.hard_count > 0 THEN 'hard'
            WHEN t.complaints > 0 THEN 'complaint'
            WHEN s.recipient IS NOT NULL THEN 'soft' END AS suppress_reason
  FROM totals t
  JOIN latest l ON l.tenant = t.tenant AND l.recipient = t.recipient AND l.position = 1
  LEFT JOIN soft_suppressed s ON s.tenant = t.tenant AND s.recipient = t.recipient
"""


def _views(dialect: str) -> list[str]:
    sql = DIALECT_SQL[dialect]
    days_between_runs = sql["days_between"].format(later="day", earlier="day_two_before")
    return [
        CAMPAIGN_FAILURES,
        RECIPIENT_STATUS.format(
            day=sql["day"],
            days_between_runs=days_between_runs,
            thirty_days_ago=sql["thirty_days_ago"],
            inline=sql["inline"],
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("folder", sa.Text, nullable=False),
        sa.Column("uidvalidity", sa.BigInteger),
        sa.Column("uid", sa.BigInteger),
        sa.Column("source_name", sa.Text, nullable=False),
        sa.Column("message_id", sa.Text),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("truncated", sa.Boolean, nullable=False),
        sa.Column("from_address", sa.Text),
        sa.Column("subject", sa.Text),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("feedback_type", sa.Text),
        sa.Column("mail_system", sa.Text),
        sa.Column("tracker_key", sa.Text),
        sa.Column("original_message_id", sa.Text),
        sa.Column("received_at", sa.DateTime(timezone=True)),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("parser_version", sa.String(32), nullable=False),
        sa.Column("raw", sa.LargeBinary),
        sa.Column("error", sa.Text),
        sa.Column("disposition", sa.String(8), nullable=False),
        sa.Column("disposed_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_inbound_messages"),
        sa.UniqueConstraint("account", "sha256", name="uq_inbound_messages_account_sha256"),
        sa.CheckConstraint(
            "kind IN ('bounce', 'delay', 'complaint', 'autoreply', 'delivered', 'not_bounce')",
            name="ck_inbound_messages_kind",
        ),
        sa.CheckConstraint(
            "disposition IN ('move', 'delete', 'seen', 'keep', 'none')", name="ck_inbound_messages_disposition"
        ),
    )
    op.create_index("ix_inbound_messages_tenant_processed_at", "inbound_messages", ["tenant", "processed_at"])
    op.create_index("ix_inbound_messages_tracker_key", "inbound_messages", ["tracker_key"])
    op.create_index(
        "ix_inbound_messages_pending",
        "inbound_messages",
        ["account", "folder"],
        postgresql_where=sa.text(PENDING),
        sqlite_where=sa.text(PENDING),
    )

    op.create_table(
        "delivery_failures",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("inbound_message_id", Id, nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reply_code", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("hard", sa.Boolean, nullable=False),
        sa.Column("crm_activity", sa.String(16)),
        sa.Column("diagnostic", sa.Text, nullable=False),
        sa.Column("remote_mta", sa.Text, nullable=False),
        sa.Column("tracker_key", sa.Text),
        sa.Column("original_message_id", sa.Text),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_delivery_failures"),
        sa.ForeignKeyConstraint(
            ["inbound_message_id"],
            ["inbound_messages.id"],
            name="fk_delivery_failures_inbound_message_id_inbound_messages",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "inbound_message_id", "recipient", name="uq_delivery_failures_inbound_message_id_recipient"
        ),
        sa.CheckConstraint("kind IN ('bounce', 'delay', 'complaint')", name="ck_delivery_failures_kind"),
        sa.CheckConstraint("crm_activity IN ('invalid email', 'send error')", name="ck_delivery_failures_crm_activity"),
    )
    op.create_index("ix_delivery_failures_tenant_recipient", "delivery_failures", ["tenant", "recipient"])
    op.create_index("ix_delivery_failures_tenant_tracker_key", "delivery_failures", ["tenant", "tracker_key"])
    op.create_index("ix_delivery_failures_recorded_at", "delivery_failures", ["recorded_at"])

    op.create_table(
        "mailbox_state",
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("folder", sa.Text, nullable=False),
        sa.Column("tenant", sa.String(64)),
        sa.Column("uidvalidity", sa.BigInteger),
        sa.Column("last_uid", sa.BigInteger),
        sa.Column("messages_seen", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("last_ok_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("account", "folder", name="pk_mailbox_state"),
    )

    reasons = op.create_table(
        "sender_side_reasons",
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("why", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("reason", name="pk_sender_side_reasons"),
    )
    op.bulk_insert(reasons, [{"reason": reason, "why": why} for reason, why in SENDER_SIDE_REASONS.items()])

    for statement in _views(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP VIEW recipient_status")
    op.execute("DROP VIEW campaign_failures")
    op.drop_table("sender_side_reasons")
    op.drop_table("mailbox_state")
    op.drop_table("delivery_failures")
    op.drop_table("inbound_messages")
