"""pytest fixtures for the private servers of ``tests/servers.py`` (registered in conftest.py).

The servers start once per session (a few seconds) and are torn down, by pid file, when the
session ends, even when a test failed. Per-test users keep tests independent.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import pytest
from servers import (
    Dovecot,
    MailUser,
    Postfix,
    PrivatePostgres,
    ServerError,
    TlsFiles,
    make_tls_files,
    make_workdir,
)


class _Startable(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


S = TypeVar("S", bound=_Startable)


def _subdir(parent: Path, name: str) -> Path:
    path = parent / name
    path.mkdir(mode=0o755)
    return path


def _started(make: Callable[[int], S], attempts: int = 3) -> S:
    """Start a server on free ports; if another process took a port meanwhile, try new ones."""
    for attempt in range(attempts):
        server = make(attempt)
        try:
            server.start()
            return server
        except ServerError as exc:
            with contextlib.suppress(Exception):
                server.stop()  # whatever part of it did start
            if "in use" not in str(exc) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class MailServers:
    dovecot: Dovecot
    postfix: Postfix


@pytest.fixture(scope="session", autouse=True)
def _sigterm_cleans_up() -> None:
    """SIGTERM (``timeout``, CI cancelling a job) ends the session like Ctrl-C: teardown still
    runs, so no private server outlives the tests."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, signal.default_int_handler)


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
    server = _started(lambda n: Dovecot(_subdir(mail_workdir, f"dovecot{n}"), tls_files))
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
    server = _started(lambda n: Postfix(_subdir(mail_workdir, f"postfix{n}"), dovecot.lmtp_port))
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
