"""`bouncer report`: what has been recorded, per tenant, as a table, CSV or JSON.

Per tenant: messages processed by kind, failures by CRM activity and by reason, the top
reasons, the recipients to suppress (``recipient_status.suppress``), per account the
mailbox state (last success, last error), and the forwards in doubt (claimed, never
confirmed: an operator must decide whether they were sent).
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bouncer.config import Config
from bouncer.errors import BouncerError
from bouncer.store.schema import delivery_failures, inbound_messages, recipient_status
from bouncer.store.store import ForwardInDoubt, MailboxState, Store, forwards_in_doubt, mailbox_states

TOP_REASONS = 5
TABLE_SUPPRESS_LIMIT = 50  # a terminal shows this many; csv and json list them all
NO_ACTIVITY = "none"  # delays and complaints have no CRM activity


@dataclass(frozen=True, slots=True)
class SuppressedRecipient:
    recipient: str
    why: str  # hard | complaint | soft
    last_reason: str
    last_failure_at: datetime | None
    hard_count: int
    soft_count: int
    complaints: int


@dataclass(frozen=True, slots=True)
class TenantReport:
    tenant: str
    messages_by_kind: dict[str, int] = field(default_factory=dict)
    analysis_errors: int = 0
    failures_by_reason: list[tuple[str, str, int]] = field(default_factory=list)  # (activity, reason, count)
    suppress: list[SuppressedRecipient] = field(default_factory=list)
    mailboxes: list[MailboxState] = field(default_factory=list)
    forwards_in_doubt: list[ForwardInDoubt] = field(default_factory=list)  # never limited by --since

    @property
    def failures_by_activity(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for activity, _, count in self.failures_by_reason:
            totals[activity] = totals.get(activity, 0) + count
        return dict(sorted(totals.items()))

    @property
    def top_reasons(self) -> list[tuple[str, int]]:
        """The commonest reasons of failed mail (delays and complaints have no activity: left out)."""
        totals: dict[str, int] = {}
        for activity, reason, count in self.failures_by_reason:
            if activity != NO_ACTIVITY:
                totals[reason] = totals.get(reason, 0) + count
        return sorted(totals.items(), key=lambda pair: (-pair[1], pair[0]))[:TOP_REASONS]


def parse_since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise BouncerError(f"--since {text!r} is not a date like 2026-11-01") from None
    return day.replace(tzinfo=UTC)


async def build_reports(
    connection: AsyncConnection, config: Config, *, tenant: str | None, since: datetime | None
) -> list[TenantReport]:
    """One report per tenant known to the database or the configuration (or just ``tenant``)."""
    account_tenants = {account.name: account.tenant for account in config.accounts}
    states = await mailbox_states(connection)
    tenants = set(account_tenants.values())
    tenants.update((await connection.execute(select(inbound_messages.c.tenant).distinct())).scalars())
    tenants.update(state.tenant for state in states if state.tenant)
    if tenant is not None:
        tenants = {tenant}

    reports = []
    for name in sorted(tenants):
        messages = select(inbound_messages.c.kind, func.count()).where(inbound_messages.c.tenant == name)
        errors = select(func.count()).where(inbound_messages.c.tenant == name, inbound_messages.c.error.is_not(None))
        failures = select(delivery_failures.c.crm_activity, delivery_failures.c.reason, func.count()).where(
            delivery_failures.c.tenant == name
        )
        suppress = select(recipient_status).where(recipient_status.c.tenant == name, recipient_status.c.suppress)
        if since is not None:
            messages = messages.where(inbound_messages.c.processed_at >= since)
            errors = errors.where(inbound_messages.c.processed_at >= since)
            failures = failures.where(delivery_failures.c.recorded_at >= since)
            suppress = suppress.where(recipient_status.c.last_failure_at >= since)

        by_kind = {kind: count for kind, count in await connection.execute(messages.group_by(inbound_messages.c.kind))}
        by_reason = [
            (activity or NO_ACTIVITY, reason, count)
            for activity, reason, count in await connection.execute(
                failures.group_by(delivery_failures.c.crm_activity, delivery_failures.c.reason)
            )
        ]
        by_reason.sort(key=lambda row: (-row[2], row[0], row[1]))
        suppressed = [
            SuppressedRecipient(
                recipient=row.recipient,
                why=row.suppress_reason,
                last_reason=row.last_reason,
                last_failure_at=row.last_failure_at,
                hard_count=row.hard_count,
                soft_count=row.soft_count,
                complaints=row.complaints,
            )
            for row in await connection.execute(
                suppress.order_by(recipient_status.c.last_failure_at.desc(), recipient_status.c.recipient)
            )
        ]
        reports.append(
            TenantReport(
                tenant=name,
                messages_by_kind=dict(sorted(by_kind.items())),
                analysis_errors=(await connection.execute(errors)).scalar_one(),
                failures_by_reason=by_reason,
                suppress=suppressed,
                mailboxes=[state for state in states if (state.tenant or account_tenants.get(state.account)) == name],
                forwards_in_doubt=await forwards_in_doubt(connection, tenant=name),
            )
        )
    return reports


async def print_report(config: Config, args: argparse.Namespace, out: TextIO) -> int:
    since = parse_since(args.since)
    store = await Store.open(config.database, config_path=getattr(args, "config", None))
    try:
        async with store.engine.connect() as connection:
            reports = await build_reports(connection, config, tenant=args.tenant, since=since)
    finally:
        await store.close()
    if args.format == "json":
        write_json(reports, since, out)
    elif args.format == "csv":
        write_csv(reports, out)
    else:
        write_table(reports, since, out)
    return 0


# --- output ------------------------------------------------------------------------------------


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") + " UTC" if value is not None else "-"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def write_json(reports: list[TenantReport], since: datetime | None, out: TextIO) -> None:
    document: dict[str, Any] = {
        "generated_at": _iso(datetime.now(UTC)),
        "since": _iso(since),
        "tenants": [
            {
                "tenant": report.tenant,
                "messages_by_kind": report.messages_by_kind,
                "analysis_errors": report.analysis_errors,
                "failures_by_activity": report.failures_by_activity,
                "failures_by_reason": [
                    {"crm_activity": activity, "reason": reason, "count": count}
                    for activity, reason, count in report.failures_by_reason
                ],
                "top_reasons": [{"reason": reason, "count": count} for reason, count in report.top_reasons],
                "suppress": [
                    {
                        "recipient": row.recipient,
                        "why": row.why,
                        "last_reason": row.last_reason,
                        "last_failure_at": _iso(row.last_failure_at),
                        "hard_count": row.hard_count,
                        "soft_count": row.soft_count,
                        "complaints": row.complaints,
                    }
                    for row in report.suppress
                ],
                "mailboxes": [
                    {
                        "account": state.account,
                        "folder": state.folder,
                        "uidvalidity": state.uidvalidity,
                        "last_uid": state.last_uid,
                        "messages_seen": state.messages_seen,
                        "last_ok_at": _iso(state.last_ok_at),
                        "last_error": state.last_error,
                        "last_error_at": _iso(state.last_error_at),
                    }
                    for state in report.mailboxes
                ],
                "forwards_in_doubt": [
                    {
                        "inbound_id": doubt.inbound_id,
                        "account": doubt.account,
                        "folder": doubt.folder,
                        "name": doubt.name,
                        "forward_to": doubt.forward_to,
                        "from_address": doubt.from_address,
                        "subject": doubt.subject,
                        "started_at": _iso(doubt.started_at),
                    }
                    for doubt in report.forwards_in_doubt
                ],
            }
            for report in reports
        ],
    }
    json.dump(document, out, ensure_ascii=False, indent=2)
    out.write("\n")


CSV_COLUMNS = ("tenant", "section", "key", "detail", "count", "at")


def write_csv(reports: list[TenantReport], out: TextIO) -> None:
    """One tidy table: a row per fact, the ``section`` column says which kind of fact."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for report in reports:
        tenant = report.tenant
        for kind, count in report.messages_by_kind.items():
            writer.writerow((tenant, "messages_by_kind", kind, "", count, ""))
        writer.writerow((tenant, "analysis_errors", "", "", report.analysis_errors, ""))
        for activity, count in report.failures_by_activity.items():
            writer.writerow((tenant, "failures_by_activity", activity, "", count, ""))
        for activity, reason, count in report.failures_by_reason:
            writer.writerow((tenant, "failures_by_reason", reason, activity, count, ""))
        for reason, count in report.top_reasons:
            writer.writerow((tenant, "top_reasons", reason, "", count, ""))
        for row in report.suppress:
            count = row.hard_count + row.soft_count + row.complaints
            writer.writerow(
                (tenant, "suppress", row.recipient, f"{row.why}: {row.last_reason}", count, _iso(row.last_failure_at))
            )
        for state in report.mailboxes:
            detail = "ok" if state.last_error is None else f"error at {_iso(state.last_error_at)}: {state.last_error}"
            writer.writerow(
                (
                    tenant,
                    "mailbox",
                    f"{state.account}/{state.folder}",
                    detail,
                    state.messages_seen,
                    _iso(state.last_ok_at),
                )
            )
        for doubt in report.forwards_in_doubt:
            writer.writerow(
                (
                    tenant,
                    "forward_in_doubt",
                    f"{doubt.account}/{doubt.folder}/{doubt.name}",
                    f"#{doubt.inbound_id} to {doubt.forward_to}",
                    1,
                    _iso(doubt.started_at),
                )
            )


def _grid(headers: tuple[str, ...], rows: list[tuple[Any, ...]], indent: str = "    ") -> list[str]:
    cells = [tuple(str(value) for value in row) for row in rows]
    widths = [max(len(headers[i]), *(len(row[i]) for row in cells)) for i in range(len(headers))]

    def line(values: tuple[str, ...]) -> str:
        return (
            indent
            + "  ".join(
                value.rjust(width) if value.isdigit() else value.ljust(width)
                for value, width in zip(values, widths, strict=True)
            ).rstrip()
        )

    return [line(headers), line(tuple("-" * width for width in widths)), *(line(row) for row in cells)]


def write_table(reports: list[TenantReport], since: datetime | None, out: TextIO) -> None:
    lines: list[str] = []
    scope = f"since {since:%Y-%m-%d}" if since is not None else "all time"
    if not reports:
        lines.append(f"Nothing recorded ({scope}).")
    for report in reports:
        lines += ["", f"Tenant {report.tenant} ({scope})", ""]
        total = sum(report.messages_by_kind.values())
        lines.append(f"  Messages processed: {total}, analysis errors: {report.analysis_errors}")
        if report.messages_by_kind:
            lines += _grid(("kind", "messages"), list(report.messages_by_kind.items()))
        lines += ["", "  Failures by CRM activity"]
        if report.failures_by_activity:
            lines += _grid(("activity", "recipients"), list(report.failures_by_activity.items()))
            lines += ["", "  Failures by reason"]
            lines += _grid(("activity", "reason", "recipients"), report.failures_by_reason)
            lines += ["", f"  Top {TOP_REASONS} reasons"]
            lines += _grid(("reason", "recipients"), report.top_reasons) if report.top_reasons else ["    none"]
        else:
            lines.append("    none")
        lines += ["", f"  Recipients to suppress: {len(report.suppress)}"]
        if report.suppress:
            shown = report.suppress[:TABLE_SUPPRESS_LIMIT]
            lines += _grid(
                ("recipient", "why", "last reason", "last failure"),
                [(row.recipient, row.why, row.last_reason, _when(row.last_failure_at)) for row in shown],
            )
            if len(report.suppress) > len(shown):
                lines.append(f"    ... and {len(report.suppress) - len(shown)} more (use --format csv for all)")
        lines += ["", "  Mailboxes"]
        if report.mailboxes:
            lines += _grid(
                ("account", "folder", "messages", "last ok", "last error", "error"),
                [
                    (
                        state.account,
                        state.folder,
                        state.messages_seen,
                        _when(state.last_ok_at),
                        _when(state.last_error_at),
                        (state.last_error or "-")[:60],
                    )
                    for state in report.mailboxes
                ],
            )
        else:
            lines.append("    none yet")
        if report.forwards_in_doubt:
            lines += [
                "",
                f"  Forwards in doubt: {len(report.forwards_in_doubt)}"
                " (claimed but never confirmed; not resent, left in the inbox: check the recipient's mailbox)",
            ]
            lines += _grid(
                ("id", "account", "folder", "message", "forward to", "started", "subject"),
                [
                    (
                        doubt.inbound_id,
                        doubt.account,
                        doubt.folder,
                        doubt.name,
                        doubt.forward_to,
                        _when(doubt.started_at),
                        (doubt.subject or "-")[:40],
                    )
                    for doubt in report.forwards_in_doubt
                ],
            )
    out.write("\n".join(lines).lstrip("\n") + "\n")
