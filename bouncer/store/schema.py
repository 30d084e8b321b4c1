"""The tables: a published contract (docs/reporting.md), changed only through migrations.

These definitions are what the code writes and reads; the migrations in
``bouncer/store/migrations/versions`` create the same schema on their own (a migration is
frozen in time, these models move on). ``tests/store/test_migrations.py`` compares the two.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from bouncer.analysis.taxonomy import Reason


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on both PostgreSQL and SQLite.

    SQLite has no time zones: values are stored as UTC text and come back with
    ``tzinfo=UTC`` attached. A naive datetime handed in is taken to be UTC already (a
    Date header of ``-0000`` parses to one).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite makes only an INTEGER PRIMARY KEY an alias of the rowid (auto-numbered).
Id = BigInteger().with_variant(Integer(), "sqlite")

DISPOSITIONS = ("move", "delete", "seen", "keep", "none")
UNFINISHED_FORWARD = "forward_to IS NOT NULL AND forwarded_at IS NULL"
KINDS = ("bounce", "delay", "complaint", "autoreply", "delivered", "not_bounce")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("account", String(64), nullable=False),
    Column("folder", Text, nullable=False),
    Column("uidvalidity", BigInteger),
    Column("uid", BigInteger),
    Column("source_name", Text, nullable=False),
    Column("message_id", Text),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("truncated", Boolean, nullable=False),
    Column("from_address", Text),
    Column("subject", Text),
    Column("kind", String(16), nullable=False),
    Column("feedback_type", Text),
    Column("mail_system", Text),
    Column("tracker_key", Text),
    Column("original_message_id", Text),
    Column("received_at", UtcDateTime),
    Column("processed_at", UtcDateTime, nullable=False),
    Column("parser_version", String(32), nullable=False),
    Column("raw", LargeBinary),
    Column("error", Text),
    Column("disposition", String(8), nullable=False),
    Column("disposed_at", UtcDateTime),
    # Forwarding a person's mail (``forward_other_to``), exactly once: the address it goes
    # to (set when recorded), when a sender claimed it, when the SMTP server took it, and
    # why the last attempt failed. Claimed but never finished means "in doubt": never resent.
    Column("forward_to", Text),
    Column("forward_started_at", UtcDateTime),
    Column("forwarded_at", UtcDateTime),
    Column("forward_error", Text),
    UniqueConstraint("account", "sha256"),
    CheckConstraint(f"kind IN {KINDS!r}", name="kind"),
    CheckConstraint(f"disposition IN {DISPOSITIONS!r}", name="disposition"),
    Index(None, "tenant", "processed_at"),
    Index(None, "tracker_key"),
    # What a watcher looks for after a crash: recorded, not yet acknowledged on the server.
    Index(
        "ix_inbound_messages_pending",
        "account",
        "folder",
        postgresql_where=text("disposed_at IS NULL AND disposition IN ('move', 'delete', 'seen')"),
        sqlite_where=text("disposed_at IS NULL AND disposition IN ('move', 'delete', 'seen')"),
    ),
    # Forwards to send, and forwards in doubt, per folder.
    Index(
        "ix_inbound_messages_unfinished_forwards",
        "account",
        "folder",
        postgresql_where=text(UNFINISHED_FORWARD),
        sqlite_where=text(UNFINISHED_FORWARD),
    ),
)

delivery_failures = Table(
    "delivery_failures",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "inbound_message_id",
        Id,
        ForeignKey("inbound_messages.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("tenant", String(64), nullable=False),
    Column("account", String(64), nullable=False),
    Column("recipient", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("action", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reply_code", String(8), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("hard", Boolean, nullable=False),
    Column("crm_activity", String(16)),
    Column("diagnostic", Text, nullable=False),
    Column("remote_mta", Text, nullable=False),
    Column("tracker_key", Text),
    Column("original_message_id", Text),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    UniqueConstraint("inbound_message_id", "recipient"),
    CheckConstraint("kind IN ('bounce', 'delay', 'complaint')", name="kind"),
    CheckConstraint("crm_activity IN ('invalid email', 'send error')", name="crm_activity"),
    Index(None, "tenant", "recipient"),
    Index(None, "tenant", "tracker_key"),
    Index(None, "recorded_at"),
)

mailbox_state = Table(
    "mailbox_state",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("folder", Text, primary_key=True),
    Column("tenant", String(64)),
    Column("uidvalidity", BigInteger),
    Column("last_uid", BigInteger),
    Column("messages_seen", BigInteger, nullable=False, server_default=text("0")),
    Column("last_ok_at", UtcDateTime),
    Column("last_error", Text),
    Column("last_error_at", UtcDateTime),
)

sender_side_reasons = Table(
    "sender_side_reasons",
    metadata,
    Column("reason", String(32), primary_key=True),
    Column("why", Text, nullable=False),
)

SENDER_SIDE_REASONS: dict[Reason, str] = {
    Reason.AUTHFAILURE: "the sending domain failed SPF, DKIM or DMARC",
    Reason.BADREPUTATION: "the sending IP or domain has a poor reputation",
    Reason.BLOCKED: "the sending IP or domain is blocked or listed",
    Reason.CONTENTERROR: "the message content was refused",
    Reason.FAILEDSTARTTLS: "the sending server could not negotiate TLS",
    Reason.MESGTOOBIG: "the message was too big",
    Reason.NORELAYING: "the sending server used a relay that refuses it",
    Reason.NOTCOMPLIANTRFC: "the message does not comply with the RFCs",
    Reason.POLICYVIOLATION: "the message or sender broke a receiving-site policy",
    Reason.REJECTED: "the envelope sender was rejected",
    Reason.REQUIREPTR: "the sending IP has no reverse DNS",
    Reason.SECURITYERROR: "the sender failed the receiving site's security checks",
    Reason.SPAMDETECTED: "the message was judged to be spam",
    Reason.SPEEDING: "the sender sent too fast (rate limited)",
    Reason.SYNTAXERROR: "the sending server made an SMTP syntax error",
    Reason.TOOMANYCONN: "the sender opened too many connections",
    Reason.VIRUSDETECTED: "the message was judged to carry a virus",
}
"""Failures for these reasons say nothing about the recipient's address: they never count
towards ``recipient_status`` (hard count, soft count, suppression). They still appear in
``delivery_failures`` and ``campaign_failures``, because that mail was not delivered."""


# The views, described for reading (the migrations create them). Kept out of ``metadata``
# so that nothing ever tries to create them as tables.
views = MetaData()

campaign_failures = Table(
    "campaign_failures",
    views,
    Column("tenant", String(64)),
    Column("tracker_key", Text),
    Column("outcome", String(16)),
    Column("crm_activity", String(16)),
    Column("recipient", Text),
    Column("reason", String(32)),
    Column("status", String(16)),
    Column("diagnostic", Text),
    Column("original_message_id", Text),
    Column("inbound_message_id", BigInteger),
    Column("failures", BigInteger),
    Column("complained", Boolean),
    Column("first_failure_at", UtcDateTime),
    Column("last_failure_at", UtcDateTime),
)

recipient_status = Table(
    "recipient_status",
    views,
    Column("tenant", String(64)),
    Column("recipient", Text),
    Column("first_failure_at", UtcDateTime),
    Column("last_failure_at", UtcDateTime),
    Column("hard_count", BigInteger),
    Column("soft_count", BigInteger),
    Column("soft_count_30d", BigInteger),
    Column("sender_side_count", BigInteger),
    Column("delays", BigInteger),
    Column("complaints", BigInteger),
    Column("last_reason", String(32)),
    Column("suppress", Boolean),
    Column("suppress_reason", String(16)),
)
