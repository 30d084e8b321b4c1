"""Alert mails when a folder stops working, and when it works again.

``alerts: {to: [ops@example.org], after: 15m}``: one mail through ``smtp.system`` when a
folder has been failing for longer than ``after`` (with the last error and its hint), and
one when it recovers. Never more than one mail per folder per hour: a flapping folder
produces at most one mail an hour, and what the operator last heard converges on the
truth (a recovery that comes within the hour is told at the end of that hour, unless the
folder has failed again meanwhile, in which case there is nothing new to tell).

:class:`FolderAlerts` is a state machine: the daemon feeds it folder events with the
plain methods :meth:`~FolderAlerts.failed` and :meth:`~FolderAlerts.ok` (e.g. from its
``Pipeline.folder_failed``/``folder_ok``; they only record, so a watcher never waits for
SMTP), and runs :meth:`~FolderAlerts.run` in its TaskGroup, which calls
:meth:`~FolderAlerts.tick` every 30 s to send whatever is due. The clock and the sender are
injected; :func:`smtp_sender` is the real sender. A mail that cannot be sent is retried
after ``retry_after`` seconds, and never raises into the daemon.

Wiring in the daemon: ``alerts = alerts_for(config)``; when not None, run ``alerts.run()``
in the TaskGroup, call ``alerts.failed(account, folder, str(error), hint_for_error(error,
account.imap))`` where a folder's watcher fails and ``alerts.ok(account, folder)`` where it
succeeds again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid

from bouncer.config import AlertsConfig, Config, ImapConfig, SmtpAccountConfig
from bouncer.hints import Hint
from bouncer.logs import get_logger
from bouncer.smtp import send_message
from bouncer.sources.imap.connection import ImapError
from bouncer.sources.imap.hints import imap_error_hint

MIN_INTERVAL = 3600.0  # at most one mail per folder per hour
RETRY_AFTER = 300.0  # a mail that could not be sent is tried again after this


@dataclass(frozen=True, slots=True)
class AlertMail:
    account: str
    folder: str
    kind: str  # "failing" or "recovered"
    subject: str
    body: str


Sender = Callable[[AlertMail], Awaitable[None]]


@dataclass
class _FolderState:
    failing_since: float | None = None  # monotonic time of the first failure in this run of failures
    failing_since_wall: datetime | None = None
    last_error: str = ""
    last_hint: str | None = None
    reported_failing: bool = False  # what the operator was last told
    last_sent: float | None = None
    last_attempt: float | None = None  # the last send that failed


@dataclass
class FolderAlerts:
    config: AlertsConfig
    send: Sender
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    min_interval: float = MIN_INTERVAL
    retry_after: float = RETRY_AFTER
    # One small entry per folder that ever failed, kept so that the hourly limit holds.
    _folders: dict[tuple[str, str], _FolderState] = field(default_factory=dict)

    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def failed(self, account: str, folder: str, error: str, hint: str | None = None) -> None:
        """The folder's watcher failed (again) with ``error``; ``hint`` is the hint's sentence, if any.

        Only records: mails go out from :meth:`tick`, so a watcher never waits for SMTP.
        """
        state = self._folders.setdefault((account, folder), _FolderState())
        if state.failing_since is None:
            state.failing_since = self.clock()
            state.failing_since_wall = self.wall_clock()
        state.last_error, state.last_hint = error, hint

    def ok(self, account: str, folder: str) -> None:
        """The folder works (a successful connect, fetch or IDLE round). Only records."""
        state = self._folders.get((account, folder))
        if state is not None:
            state.failing_since = state.failing_since_wall = None

    async def tick(self) -> None:
        """Send what is due: a failure that has now lasted ``after``, a recovery (within the hourly limit)."""
        async with self._lock:  # one tick at a time: two ticks must not both send a folder's mail
            for (account, folder), state in list(self._folders.items()):
                await self._evaluate(account, folder, state)

    async def run(self, interval: float = 30.0) -> None:
        """Tick every ``interval`` seconds until cancelled (the daemon runs this in its TaskGroup)."""
        while True:
            await self.tick()
            await asyncio.sleep(interval)

    def _should_report_failing(self, state: _FolderState, now: float) -> bool:
        return state.failing_since is not None and now - state.failing_since >= self.config.after

    async def _evaluate(self, account: str, folder: str, state: _FolderState) -> None:
        now = self.clock()
        failing = self._should_report_failing(state, now)
        if failing == state.reported_failing:
            return
        if state.last_sent is not None and now - state.last_sent < self.min_interval:
            return  # told something within the hour: the next tick after it will tell the rest
        if state.last_attempt is not None and now - state.last_attempt < self.retry_after:
            return
        mail = self._failing_mail(account, folder, state) if failing else self._recovered_mail(account, folder)
        try:
            await self.send(mail)
        except Exception as exc:  # the alert path must never take the daemon down
            state.last_attempt = now
            get_logger(account=account, folder=folder).warning("alert_not_sent", kind=mail.kind, error=str(exc))
            return
        state.reported_failing = failing
        state.last_sent = now
        state.last_attempt = None

    def _failing_mail(self, account: str, folder: str, state: _FolderState) -> AlertMail:
        since = state.failing_since_wall or self.wall_clock()
        minutes = max(1, round((self.wall_clock() - since).total_seconds() / 60))
        lines = [
            f"bouncer cannot process the folder {folder} of the account {account}: it has been failing "
            f"since {since:%Y-%m-%d %H:%M} UTC ({minutes} minutes).",
            "",
            f"Last error: {state.last_error}",
        ]
        if state.last_hint:
            lines += ["", f"What to do: {state.last_hint}"]
        lines += [
            "",
            "Bounces stay in the folder and are processed when it works again; run `bouncer check --account "
            f"{account}` to test the account step by step. You will get one more mail when it recovers.",
        ]
        return AlertMail(
            account, folder, "failing", f"[bouncer] {account}/{folder} is failing", "\n".join(lines) + "\n"
        )

    def _recovered_mail(self, account: str, folder: str) -> AlertMail:
        body = (
            f"The folder {folder} of the account {account} works again "
            f"(as of {self.wall_clock():%Y-%m-%d %H:%M} UTC); bouncer is processing it.\n"
        )
        return AlertMail(account, folder, "recovered", f"[bouncer] {account}/{folder} recovered", body)


def alert_message(smtp: SmtpAccountConfig, to: tuple[str, ...], mail: AlertMail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((smtp.from_name or "bouncer", smtp.from_address))
    message["To"] = ", ".join(to)
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid("bouncer-alert", domain=smtp.from_address.rsplit("@", 1)[1])
    message["Auto-Submitted"] = "auto-generated"
    message["X-Bouncer-Alert"] = f"{mail.kind}; account={mail.account}; folder={mail.folder}"
    message.set_content(mail.body)
    return message


def smtp_sender(smtp: SmtpAccountConfig, config: AlertsConfig) -> Sender:
    """The real sender: one message to every ``alerts.to`` address through ``smtp`` (smtp.system)."""

    async def send(mail: AlertMail) -> None:
        await send_message(smtp, alert_message(smtp, config.to, mail), list(config.to))

    return send


def alerts_for(config: Config) -> FolderAlerts | None:
    """The daemon's alert machine for a configuration, or None when it has no ``alerts``."""
    if config.alerts is None:
        return None
    return FolderAlerts(config.alerts, smtp_sender(config.smtp["system"], config.alerts))


def hint_for_error(error: BaseException, server: ImapConfig | SmtpAccountConfig | None = None) -> str | None:
    """The one-sentence hint for a failure of the IMAP client or of the SMTP side, if one is known.

    For the ``hint`` argument of :meth:`FolderAlerts.failed` (and for log lines).
    """
    hint = getattr(error, "hint", None)  # SmtpError carries its own
    if isinstance(hint, Hint):
        return hint.text
    if isinstance(error, ImapError) and isinstance(server, ImapConfig):
        found = imap_error_hint(error, server)
        return found.text if found is not None else None
    return None
