"""The reporting views' answers on a hand-built history, identical on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from store_helpers import analysis, fetched, item, recipient

from bouncer.analysis.result import Recipient
from bouncer.analysis.taxonomy import Kind, Reason
from bouncer.store import Store, ToRecord
from bouncer.store.schema import SENDER_SIDE_REASONS, campaign_failures, recipient_status

DAY0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def failure(
    address: str,
    when: datetime,
    reason: Reason = Reason.MAILBOXFULL,
    *,
    kind: Kind = Kind.BOUNCE,
    status: str | None = None,
    tracker_key: str | None = None,
    tenant: str = "acme",
) -> ToRecord:
    if status is None:
        status = "5.1.1" if reason is Reason.USERUNKNOWN else "4.2.2"
    if kind is Kind.COMPLAINT:
        found = Recipient(address, action="", reason=Reason.FEEDBACK, arrival_date=when)
    else:
        found = recipient(address, reason, status=status, arrival_date=when)
    return item(fetched(tenant=tenant), analysis(kind, found, tracker_key=tracker_key))


async def view(store: Store, table: Any, **where: str) -> dict[tuple[str, str], dict[str, Any]]:
    statement = select(table)
    for column, value in where.items():
        statement = statement.where(table.c[column] == value)
    async with store.engine.connect() as connection:
        rows = [dict(row._mapping) for row in await connection.execute(statement)]
    key = "tracker_key" if table is campaign_failures else "recipient"
    return {(row["tenant"], row[key]): row for row in rows}


async def test_campaign_failures_keeps_the_worst_outcome(store: Store) -> None:
    await store.record(
        [
            # soft first, hard later: hard wins
            failure("a@x.org", DAY0, Reason.MAILBOXFULL, tracker_key="k-soft-then-hard"),
            failure("a@x.org", DAY0 + timedelta(days=2), Reason.USERUNKNOWN, tracker_key="k-soft-then-hard"),
            # hard first, soft later: hard still wins (the CRM never downgrades)
            failure("b@x.org", DAY0, Reason.HOSTUNKNOWN, status="5.1.2", tracker_key="k-hard-then-soft"),
            failure("b@x.org", DAY0 + timedelta(days=1), Reason.MAILBOXFULL, tracker_key="k-hard-then-soft"),
            # only a delay: no CRM activity yet
            failure("c@x.org", DAY0, Reason.EXPIRED, kind=Kind.DELAY, status="4.4.7", tracker_key="k-delay"),
            # a delay, then the final bounce: a send error
            failure("d@x.org", DAY0, Reason.EXPIRED, kind=Kind.DELAY, status="4.4.7", tracker_key="k-delay-soft"),
            failure("d@x.org", DAY0 + timedelta(days=5), Reason.EXPIRED, status="5.4.7", tracker_key="k-delay-soft"),
            # a sender-side failure is still a failed campaign mail
            failure("e@x.org", DAY0, Reason.BLOCKED, status="5.7.1", tracker_key="k-blocked"),
            failure("f@x.org", DAY0, kind=Kind.COMPLAINT, tracker_key="k-complaint"),
            failure("g@x.org", DAY0, Reason.USERUNKNOWN),  # no tracker key: not a campaign mail
            failure("a@x.org", DAY0, Reason.MAILBOXFULL, tracker_key="k-soft-then-hard", tenant="other"),
        ]
    )
    rows = await view(store, campaign_failures)
    assert set(rows) == {
        ("acme", "k-soft-then-hard"),
        ("acme", "k-hard-then-soft"),
        ("acme", "k-delay"),
        ("acme", "k-delay-soft"),
        ("acme", "k-blocked"),
        ("acme", "k-complaint"),
        ("other", "k-soft-then-hard"),
    }
    outcome = {key: (row["outcome"], row["crm_activity"], row["reason"], row["failures"]) for key, row in rows.items()}
    assert outcome[("acme", "k-soft-then-hard")] == ("hard", "invalid email", "userunknown", 2)
    assert outcome[("acme", "k-hard-then-soft")] == ("hard", "invalid email", "hostunknown", 2)
    assert outcome[("acme", "k-delay")] == ("delay", None, "expired", 1)
    assert outcome[("acme", "k-delay-soft")] == ("soft", "send error", "expired", 2)
    assert outcome[("acme", "k-blocked")] == ("soft", "send error", "blocked", 1)
    assert outcome[("acme", "k-complaint")] == ("complaint", None, "feedback", 1)
    assert outcome[("other", "k-soft-then-hard")] == ("soft", "send error", "mailboxfull", 1)

    worst = rows[("acme", "k-soft-then-hard")]
    assert worst["first_failure_at"] == DAY0
    assert worst["last_failure_at"] == DAY0 + timedelta(days=2)
    assert worst["recipient"] == "a@x.org"
    assert worst["complained"] is False
    assert rows[("acme", "k-complaint")]["complained"] is True


async def test_recipient_status_and_the_suppression_rule(store: Store) -> None:
    history = [
        failure("hard@x.org", DAY0, Reason.USERUNKNOWN),
        failure("complained@x.org", DAY0, kind=Kind.COMPLAINT),
        # three soft failures on three different days within 30 days: suppress
        *(failure("soft3@x.org", DAY0 + timedelta(days=d)) for d in (0, 10, 20)),
        # five soft failures but on two days only: not yet
        *(failure("sameday@x.org", DAY0 + timedelta(hours=h)) for h in (0, 1, 2, 3)),
        failure("sameday@x.org", DAY0 + timedelta(days=1)),
        # three days spread over more than 30 days, never three inside one 30-day window
        *(failure("spread@x.org", DAY0 + timedelta(days=d)) for d in (0, 20, 40, 60)),
        # the edges: first and third day 29 days apart count, 30 days apart do not
        *(failure("edge29@x.org", DAY0 + timedelta(days=d)) for d in (0, 15, 29)),
        *(failure("edge30@x.org", DAY0 + timedelta(days=d)) for d in (0, 15, 30)),
        # sender-side reasons say nothing about the address
        *(failure("blocked@x.org", DAY0 + timedelta(days=d), Reason.BLOCKED, status="5.7.1") for d in (0, 1, 2)),
        *(failure("mixed@x.org", DAY0 + timedelta(days=d), Reason.SPAMDETECTED, status="5.7.1") for d in (0, 1)),
        failure("mixed@x.org", DAY0 + timedelta(days=2)),
        # delays are not failures yet
        *(failure("slow@x.org", DAY0 + timedelta(days=d), Reason.EXPIRED, kind=Kind.DELAY) for d in (0, 1, 2)),
        # the same address in two tenants is two recipients
        *(failure("shared@x.org", DAY0 + timedelta(days=d)) for d in (0, 1)),
        failure("shared@x.org", DAY0 + timedelta(days=2), tenant="other"),
    ]
    await store.record(history)
    rows = await view(store, recipient_status)

    def status(address: str, tenant: str = "acme") -> tuple[bool, str | None]:
        row = rows[(tenant, address)]
        return row["suppress"], row["suppress_reason"]

    assert status("hard@x.org") == (True, "hard")
    assert status("complained@x.org") == (True, "complaint")
    assert status("soft3@x.org") == (True, "soft")
    assert status("sameday@x.org") == (False, None)
    assert status("spread@x.org") == (False, None)
    assert status("edge29@x.org") == (True, "soft")
    assert status("edge30@x.org") == (False, None)
    assert status("blocked@x.org") == (False, None)
    assert status("mixed@x.org") == (False, None)
    assert status("slow@x.org") == (False, None)
    assert status("shared@x.org") == (False, None)
    assert status("shared@x.org", "other") == (False, None)

    hard = rows[("acme", "hard@x.org")]
    assert (hard["hard_count"], hard["soft_count"], hard["complaints"], hard["last_reason"]) == (1, 0, 0, "userunknown")
    blocked = rows[("acme", "blocked@x.org")]
    assert (blocked["hard_count"], blocked["soft_count"], blocked["sender_side_count"]) == (0, 0, 3)
    assert blocked["last_reason"] == "blocked"
    sameday = rows[("acme", "sameday@x.org")]
    assert sameday["soft_count"] == 5
    assert (sameday["first_failure_at"], sameday["last_failure_at"]) == (DAY0, DAY0 + timedelta(days=1))
    slow = rows[("acme", "slow@x.org")]
    assert (slow["delays"], slow["first_failure_at"], slow["last_failure_at"]) == (3, None, None)
    assert rows[("acme", "complained@x.org")]["last_reason"] == "feedback"


async def test_soft_count_in_the_last_30_days(store: Store) -> None:
    now = datetime.now(UTC)
    await store.record(
        [
            failure("r@x.org", now - timedelta(days=75)),
            failure("r@x.org", now - timedelta(days=40)),
            failure("r@x.org", now - timedelta(days=29)),
            failure("r@x.org", now - timedelta(hours=1), Reason.SYSTEMFULL),
            failure("r@x.org", now - timedelta(hours=2), Reason.BLOCKED, status="5.7.1"),
        ]
    )
    row = (await view(store, recipient_status))[("acme", "r@x.org")]
    assert (row["soft_count"], row["soft_count_30d"], row["sender_side_count"]) == (4, 2, 1)
    assert row["last_reason"] == "systemfull"  # the latest failure
    assert row["suppress"] is False  # no three of the days -75, -40, -29, 0 fit in 30 days


def test_the_sender_side_list_names_only_known_reasons() -> None:
    assert set(SENDER_SIDE_REASONS) <= set(Reason)
    assert Reason.USERUNKNOWN not in SENDER_SIDE_REASONS and Reason.MAILBOXFULL not in SENDER_SIDE_REASONS
