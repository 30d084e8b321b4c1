"""The steps of one Maildir account: the directory, its write permission, each folder.

Folders follow Maildir++: ``INBOX`` is the directory itself, any other folder ``Name`` is
the subdirectory ``.Name`` (``A/B`` is ``.A.B``). Nothing is changed, except creating a
missing ``processed_folder`` when asked to (``--fix``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bouncer.check.result import Outcome, StepFailed, TargetRun
from bouncer.config import AccountConfig
from bouncer.hints import missing_folder_hint, missing_processed_folder_hint
from bouncer.sources.maildir import folder_path

SUBDIRS = ("cur", "new", "tmp")


def existing_folders(root: Path) -> list[str]:
    names = ["INBOX"] if all((root / sub).is_dir() for sub in SUBDIRS) else []
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return names
    for entry in entries:
        is_folder = entry.name.startswith(".") and entry.name not in (".", "..") and entry.is_dir()
        if is_folder and all((Path(entry.path) / sub).is_dir() for sub in SUBDIRS):
            names.append(entry.name[1:].replace(".", "/"))
    return names


def _count(path: Path, sub: str) -> int:
    with os.scandir(path / sub) as entries:
        return sum(1 for entry in entries if entry.is_file())


def _check_directory(root: Path) -> Outcome:
    if not root.exists():
        raise StepFailed(f"{root} does not exist")
    if not root.is_dir():
        raise StepFailed(f"{root} is not a directory")
    missing = [sub for sub in SUBDIRS if not (root / sub).is_dir()]
    if missing:
        raise StepFailed(f"{root} is not a Maildir: it has no {', '.join(missing)} subdirectory")
    return Outcome(f"{root} is a Maildir")


def _check_writable(root: Path) -> Outcome:
    # os.access rather than writing a probe file: check never changes a mailbox.
    denied = [sub for sub in SUBDIRS if not os.access(root / sub, os.W_OK | os.X_OK)]
    if denied:
        raise StepFailed(
            f"this user (uid {os.geteuid()}) cannot write to {', '.join(str(root / d) for d in denied)}; "
            "bouncer must move and delete messages there"
        )
    return Outcome(f"writable by uid {os.geteuid()}")


def _check_folder(root: Path, folder: str) -> Outcome:
    path = folder_path(root, folder)
    if not all((path / sub).is_dir() for sub in SUBDIRS):
        raise StepFailed(f"no folder {folder!r} ({path})", missing_folder_hint(folder, existing_folders(root)))
    new, cur = _count(path, "new"), _count(path, "cur")
    return Outcome(f"{new + cur} messages ({new} new)")


def _check_processed(root: Path, folder: str, fix: bool) -> Outcome:
    path = folder_path(root, folder)
    if all((path / sub).is_dir() for sub in SUBDIRS):
        return Outcome(f"{folder!r} exists")
    if not fix:
        raise StepFailed(f"no folder {folder!r} ({path})", missing_processed_folder_hint(folder))
    for sub in SUBDIRS:
        (path / sub).mkdir(parents=True, exist_ok=True)
    return Outcome(f"created {folder!r} ({path})")


async def _in_thread(function: Callable[..., Outcome], *args: Any) -> Outcome:
    """File system calls run in a thread: a slow NFS mount must not stall the event loop."""
    return await asyncio.to_thread(function, *args)


async def check_maildir(account: AccountConfig, fix: bool = False) -> TargetRun:
    assert account.maildir is not None
    root = account.maildir
    run = TargetRun(f"account {account.name} (maildir {root})")

    await run.step("directory", partial(_in_thread, _check_directory, root))
    await run.step("writable", partial(_in_thread, _check_writable, root))
    for folder in account.folders:
        await run.step(f"folder {folder}", partial(_in_thread, _check_folder, root, folder))
    if account.dispose == "move":
        await run.step("processed folder", partial(_in_thread, _check_processed, root, account.processed_folder, fix))
    return run
