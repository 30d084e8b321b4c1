"""`bouncer check`: test the configuration, then every account, step by step."""

from __future__ import annotations

import argparse
from pathlib import Path

from bouncer.check.database_checks import check_database
from bouncer.check.imap_checks import check_imap
from bouncer.check.maildir_checks import check_maildir
from bouncer.check.result import Report, TargetRun
from bouncer.check.smtp_checks import check_smtp
from bouncer.config import Config, resolve_config_path
from bouncer.errors import BouncerError


def describe_config(config: Config) -> str:
    """What a configuration sets up, without touching the network (and without secrets)."""
    lines = [f"database: {config.database.kind} ({config.database.safe_url})"]
    lines.append(f"accounts: {len(config.accounts)}")
    for account in config.accounts:
        if account.imap is not None:
            imap = account.imap
            where = f"imap {imap.security} {imap.host}:{imap.port} as {imap.username}"
        else:
            where = f"maildir {account.maildir}"
        folders = ", ".join(account.folders)
        lines.append(
            f"  {account.name} (tenant {account.tenant}, {account.role}): {where}; "
            f"folders {folders}; dispose {account.dispose}"
            + (f" to {account.processed_folder}" if account.dispose == "move" else "")
        )
    for name, smtp in config.smtp.items():
        login = f" as {smtp.username}" if smtp.username else ""
        lines.append(f"smtp {name}: {smtp.security} {smtp.host}:{smtp.port}{login}, from {smtp.from_address}")
    if config.tracker.patterns:
        lines.append(f"tracker patterns: {len(config.tracker.patterns)}")
    if config.alerts is not None:
        lines.append(f"alerts: to {', '.join(config.alerts.to)} after {config.alerts.after:.0f}s")
    lines.append("configuration OK")
    return "\n".join(lines)


async def collect(
    config: Config,
    account: str | None = None,
    send_test: str | None = None,
    fix: bool = False,
    database: bool = False,
    config_path: Path | None = None,
) -> Report:
    """Run every check (or those of one account or SMTP server) and return the report.

    Targets are checked one after the other, so the timings mean something and a
    provider does not see a burst of parallel logins from one host. ``database`` adds
    the database (reachable, schema current) first; the command line does that unless
    ``--account`` narrows the check.
    """
    accounts = list(config.accounts)
    smtp_servers = list(config.smtp.items())
    if account is not None:
        accounts = [a for a in accounts if a.name == account]
        smtp_servers = [(n, s) for n, s in smtp_servers if account in (n, f"smtp.{n}")]
        if not accounts and not smtp_servers:
            known = [a.name for a in config.accounts] + [f"smtp.{n}" for n in config.smtp]
            raise BouncerError(f"no account or SMTP server named {account!r}; there are: {', '.join(known) or 'none'}")
    runs: list[TargetRun] = []
    if database and account is None:
        runs.append(await check_database(config.database, config_path))
    for bounce_account in accounts:
        if bounce_account.maildir is not None:
            runs.append(await check_maildir(bounce_account, fix=fix))
        else:
            runs.append(await check_imap(bounce_account, fix=fix))
    for name, server in smtp_servers:
        runs.append(await check_smtp(name, server, send_test))
    return Report.of(runs)


async def run_checks(config: Config, args: argparse.Namespace) -> int:
    """`bouncer check`: print the table (or JSON) and return 0 only when no step failed."""
    report = await collect(
        config,
        account=args.account,
        send_test=args.send_test,
        fix=args.fix,
        database=True,
        config_path=resolve_config_path(args.config),
    )
    print(report.to_json() if args.json else report.to_table())
    return report.exit_code
