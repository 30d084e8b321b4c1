"""The steps of one IMAP account, through the project's one IMAP client (bouncer.sources.imap).

DNS, TCP, TLS (with the certificate's expiry), greeting, STARTTLS, login come from
:func:`open_imap` as it connects; then capabilities, each configured folder (read-only
EXAMINE, with its message count) and the ``processed_folder``. Nothing on the server is
changed, except creating a missing ``processed_folder`` with ``--fix``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import partial

from bouncer.check.net import certificate_outcome
from bouncer.check.result import Outcome, Status, StepFailed, TargetRun
from bouncer.config import AccountConfig
from bouncer.hints import Hint, missing_processed_folder_hint
from bouncer.sources.imap.connection import (
    FolderInfo,
    FolderNotFound,
    ImapError,
    ImapSession,
    Step,
    open_imap,
)
from bouncer.sources.imap.hints import imap_error_hint
from bouncer.tls import certificate_info

# What bouncer uses each capability for, and what it does without it.
CAPABILITIES = {
    "IDLE": "without IDLE new mail is found by polling every poll_interval",
    "MOVE": "without MOVE a move is COPY + delete",
    "UIDPLUS": "without UIDPLUS a delete also expunges messages others marked deleted",
    "SPECIAL-USE": "without SPECIAL-USE folders such as \\Junk must be named, not given by use",
}


def _record_connection(run: TargetRun, steps: list[Step], session: ImapSession | None, host: str) -> None:
    for step in steps:
        outcome = Outcome(step.detail)
        if step.name in ("tls", "starttls") and session is not None:
            ssl_object = session.client.protocol.transport.get_extra_info("ssl_object")
            if ssl_object is not None:
                outcome = certificate_outcome(host, certificate_info(ssl_object))
        detail = outcome.detail if step.name != "login" else f"logged in as {step.detail}"
        run.record(step.name, outcome.status, step.seconds * 1000, detail, outcome.hint)


async def check_imap(account: AccountConfig, fix: bool = False) -> TargetRun:
    server = account.imap
    assert server is not None
    run = TargetRun(f"account {account.name} (imap {server.host}:{server.port}, {server.security})")
    steps: list[Step] = []
    started = time.perf_counter()
    try:
        session = await open_imap(server, on_step=steps.append)
    except Exception as error:  # ImapError, classified; anything else is still one failed step
        _record_connection(run, steps, None, server.host)
        spent = (time.perf_counter() - started) * 1000 - sum(s.seconds * 1000 for s in steps)
        if isinstance(error, ImapError):
            run.record(error.step, Status.FAIL, max(spent, 0.0), str(error), imap_error_hint(error, server))
        else:
            run.record("connect", Status.FAIL, max(spent, 0.0), f"{type(error).__name__}: {error}")
        return run
    try:
        _record_connection(run, steps, session, server.host)
        await _check_mailbox(run, session, account, fix)
    finally:
        await session.logout()
    return run


async def _check_mailbox(run: TargetRun, session: ImapSession, account: AccountConfig, fix: bool) -> None:
    server = account.imap
    assert server is not None
    folders: list[FolderInfo] = []

    async def capabilities() -> Outcome:
        missing = [name for name in CAPABILITIES if not session.has(name)]
        present = [name for name in CAPABILITIES if session.has(name)]
        detail = f"has {', '.join(present) or 'none of IDLE, MOVE, UIDPLUS, SPECIAL-USE'}"
        if not missing:
            return Outcome(detail)
        consequences = "; ".join(CAPABILITIES[name] for name in missing)
        return Outcome(
            f"{detail}; lacks {', '.join(missing)}",
            Status.WARN,
            Hint("imap-capabilities", f"bouncer works without them, but {consequences}."),
        )

    async def listing() -> Outcome:
        folders.extend(await session.list_folders())
        special = [f"{f.name} ({' '.join(f.special_use)})" for f in folders if f.special_use]
        detail = f"{len(folders)} folders" + (f"; special-use: {', '.join(special)}" if special else "")
        return Outcome(detail)

    async def folder(spec: str) -> Outcome:
        try:
            name = await session.resolve_folder(spec, folders)
            selected = await session.select(name, read_only=True)  # EXAMINE: changes nothing
        except FolderNotFound as error:
            raise StepFailed(str(error), imap_error_hint(error, server)) from None
        shown = f"{spec} is {name}: " if name != spec else ""
        return Outcome(f"{shown}{selected.exists} messages, UIDVALIDITY {selected.uidvalidity}")

    async def processed() -> Outcome:
        try:
            name = await session.resolve_folder(account.processed_folder, folders)
        except FolderNotFound:
            if not fix:
                raise StepFailed(
                    f"folder {account.processed_folder!r} does not exist",
                    missing_processed_folder_hint(account.processed_folder),
                ) from None
            await session.create_folder(account.processed_folder)
            return Outcome(f"created {account.processed_folder!r}")
        return Outcome(f"{name!r} exists")

    def hinted(body: Callable[[], Awaitable[Outcome]]) -> Callable[[], Awaitable[Outcome]]:
        """A lost connection or a refused command fails the step with the matching hint."""

        async def run_body() -> Outcome:
            try:
                return await body()
            except ImapError as error:
                raise StepFailed(str(error), imap_error_hint(error, server)) from None

        return run_body

    # Every ImapSession call has the server's timeout, so no step can hang.
    await run.step("capabilities", hinted(capabilities))
    await run.step("folders", hinted(listing))
    for spec in account.folders:
        await run.step(f"folder {spec}", hinted(partial(folder, spec)), independent=True)
    if account.dispose == "move":
        await run.step("processed folder", hinted(processed))
