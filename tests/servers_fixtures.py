"""pytest fixtures for the private servers of ``tests/servers.py`` (registered in conftest.py).

The servers start once per session (a few seconds) and are torn down, by pid file, when the
session ends, even when a test failed. Per-test users keep tests independent.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from servers import (
    Dovecot,
    MailUser,
    Postfix,
    PrivatePostgres,
    TlsFiles,
    make_tls_files,
    make_workdir,
)


@dataclass(frozen=True)
class MailServers:
    dovecot: Dovecot
    postfix: Postfix


@pytest.fixture(scope="session")
def mail_workdir() -> Iterator[Path]:
    root = make_workdir("bouncer-mail-")
    yield root
    if os.environ.get("BOUNCER_KEEP_SERVER_LOGS"):  # for debugging: keep the logs and mail
        print(f"server files kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def tls_files(mail_workdir: Path) -> TlsFiles:
    return make_tls_files(mail_workdir / "tls")


@pytest.fixture(scope="session")
def dovecot(mail_workdir: Path, tls_files: TlsFiles) -> Iterator[Dovecot]:
    root = mail_workdir / "dovecot"
    root.mkdir(mode=0o755)
    server = Dovecot(root, tls_files)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def running_dovecot(dovecot: Dovecot) -> Iterator[Dovecot]:
    """The session Dovecot, restarted after the test if the test stopped it."""
    yield dovecot
    if not dovecot.is_running():
        dovecot.start()


@pytest.fixture(scope="session")
def postfix(mail_workdir: Path, dovecot: Dovecot) -> Iterator[Postfix]:
    root = mail_workdir / "postfix"
    root.mkdir(mode=0o755)
    server = Postfix(root, dovecot.lmtp_port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mail_servers(dovecot: Dovecot, postfix: Postfix) -> MailServers:
    return MailServers(dovecot=dovecot, postfix=postfix)


@pytest.fixture
def new_mail_user(dovecot: Dovecot) -> Callable[..., MailUser]:
    """A factory of fresh mail users (``new_mail_user(quota="1K")``), unique to the test."""
    return dovecot.add_user


@pytest.fixture
def mail_user(dovecot: Dovecot) -> MailUser:
    return dovecot.add_user()


@pytest.fixture(scope="session")
def private_pg() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL cluster that tests may stop and start (never the system one)."""
    root = make_workdir("bouncer-pg-")
    cluster = PrivatePostgres(root)
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.stop("immediate")
        cluster.kill()
        shutil.rmtree(root, ignore_errors=True)
