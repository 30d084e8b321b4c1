"""The daemon's forwarding loop: people's mail recorded with a forward pending is sent on.

The pipeline records a person's mail with ``forward_to`` (see :mod:`bouncer.forward`), which
holds its disposition back. One :class:`Forwarder` per daemon then, for every folder of every
account with ``forward_other_to``:

    pending_forwards -> claim_forward (commit) -> forward_message -> finish_forward (commit)

and tells the folder's watcher (``on_forwarded``) that a disposition is ready, so the message
leaves the inbox within seconds instead of at the next reconnect.

It runs when woken (the pipeline recorded a batch with forwards: :meth:`Forwarder.wake`) and
on a slow timer that retries refused forwards with a backoff. An :class:`~bouncer.smtp.SmtpError`
means the server did not take the message: the claim is released with the error (the
record's ``forward_error``), and the forward is retried later. Anything else during the send
leaves the claim in place: the forward may have happened, so it is never resent
automatically (``bouncer report`` lists it; :func:`warn_stuck_forwards` logs it at start-up).

Forwarding needs the message's bytes: with ``database.store_raw: false`` the store has none
and the forward waits (logged once per message) until store_raw is switched on; the message
stays in its folder, untouched, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Protocol

from bouncer.alerts import hint_for_error
from bouncer.config import AccountConfig, Config
from bouncer.forward import forward_message
from bouncer.logs import get_logger
from bouncer.smtp import SmtpError
from bouncer.store.store import ForwardInDoubt, PendingForward

__all__ = ["ForwardStore", "Forwarder", "warn_stuck_forwards"]

RETRY_FIRST, RETRY_MAX = 30.0, 900.0  # after an SMTP refusal: 30 s, doubling, at most 15 min
IDLE_CHECK = 600.0  # without a wake-up, look for pending forwards this often anyway
BATCH = 50  # forwards taken per folder per pass


class ForwardStore(Protocol):
    """What the forwarder needs of :class:`bouncer.store.Store`."""

    async def pending_forwards(
        self, account: str, folder: str, *, limit: int | None = None
    ) -> list[PendingForward]: ...

    async def claim_forward(self, inbound_id: int) -> bool: ...

    async def finish_forward(self, inbound_id: int) -> bool: ...

    async def release_forward(self, inbound_id: int, error: str) -> bool: ...


class Forwarder:
    """Sends pending forwards of every forwarding account; one per daemon process."""

    def __init__(
        self,
        store: ForwardStore,
        config: Config,
        *,
        on_forwarded: Callable[[str, str], None] = lambda account, folder: None,
        retry_first: float = RETRY_FIRST,
        retry_max: float = RETRY_MAX,
    ) -> None:
        self.store = store
        self.config = config
        self.on_forwarded = on_forwarded
        self.retry_first, self.retry_max = retry_first, retry_max
        self._wake = asyncio.Event()
        self._failures = 0  # consecutive passes in which SMTP refused something
        self.forwarded = 0  # forwards sent by this process
        self._stopping = False
        self._no_raw_logged: set[int] = set()
        self._log = get_logger()

    def wake(self) -> None:
        """A batch with forwards was recorded: forward now (called from the pipeline; never blocks)."""
        self._wake.set()

    def request_stop(self) -> None:
        """Shutdown: finish the forward in hand (so it is not left in doubt), start no other."""
        self._stopping = True
        self._wake.set()

    def reconfigure(self, config: Config) -> None:
        """SIGHUP: new accounts, addresses or SMTP settings apply from the next pass."""
        self.config = config
        self._failures = 0
        self._wake.set()

    def _accounts(self) -> list[AccountConfig]:
        return [a for a in self.config.accounts if a.forward_other_to is not None]

    async def run(self) -> None:
        """Forward until :meth:`request_stop` or cancellation (the daemon runs this in its TaskGroup).

        Never raises otherwise. Cancelled in the middle of a send, the forward stays claimed:
        in doubt, never resent."""
        while not self._stopping:
            self._wake.clear()
            try:
                refused = await self.forward_pending()
            except Exception as exc:  # the database may be down: try again later
                self._log.warning("forwarding_failed", error=f"{type(exc).__name__}: {exc}")
                refused = True
            self._failures = self._failures + 1 if refused else 0
            delay = min(self.retry_max, self.retry_first * 2 ** (self._failures - 1)) if self._failures else IDLE_CHECK
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def forward_pending(self) -> bool:
        """One pass over every forwarding folder. Returns whether something is left to retry."""
        left = False
        for account in self._accounts():
            for folder in account.folders:
                left |= await self._folder(account, folder)
        return left

    async def _folder(self, account: AccountConfig, folder: str) -> bool:
        pending: Sequence[PendingForward] = await self.store.pending_forwards(account.name, folder, limit=BATCH)
        smtp = self.config.smtp["system"]
        log = get_logger(account=account.name, folder=folder)
        forwarded = False
        left = len(pending) == BATCH  # more behind this batch: come back soon
        for item in pending:
            if item.raw is None:
                if item.inbound_id not in self._no_raw_logged:
                    self._no_raw_logged.add(item.inbound_id)
                    log.warning(
                        "forward_needs_raw",
                        inbound_id=item.inbound_id,
                        message=item.name,
                        action="set database.store_raw: true; the message stays in its folder until then",
                    )
                continue
            if self._stopping:
                break
            if not await self.store.claim_forward(item.inbound_id):
                continue  # another process has it, or it is done
            try:
                await forward_message(smtp, item.forward_to, item.raw, account.name, truncated=item.truncated)
            except SmtpError as exc:  # not taken: give the claim back and try again later
                await self.store.release_forward(item.inbound_id, str(exc))
                hint = hint_for_error(exc, smtp)
                log.warning(
                    "forward_refused",
                    inbound_id=item.inbound_id,
                    message=item.name,
                    error=str(exc),
                    **({"hint": hint} if hint else {}),
                )
                return True  # the server will refuse the rest too: stop this folder's pass
            except Exception as exc:
                # It may or may not have been sent: the claim stays (in doubt, never resent).
                log.error(
                    "forward_in_doubt", inbound_id=item.inbound_id, error=f"{type(exc).__name__}: {exc}", exc_info=True
                )
                continue
            await self.store.finish_forward(item.inbound_id)
            forwarded = True
            self.forwarded += 1
            log.info("message_forwarded", inbound_id=item.inbound_id, message=item.name, to=item.forward_to)
        if forwarded:
            self.on_forwarded(account.name, folder)
        return left


async def warn_stuck_forwards(stuck: Sequence[ForwardInDoubt]) -> None:
    """Start-up: forwards claimed by an earlier process that never finished are left alone (they
    may have been sent); say so once, so an operator can decide (``bouncer report`` lists them)."""
    log = get_logger()
    for item in stuck:
        log.warning(
            "forward_in_doubt",
            account=item.account,
            folder=item.folder,
            inbound_id=item.inbound_id,
            message=item.name,
            forward_to=item.forward_to,
            started_at=item.started_at.isoformat(),
            action="not resent automatically; the message stays in its folder; see `bouncer report`",
        )
