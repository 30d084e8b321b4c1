"""Private mail and database servers for the integration tests, on loopback.

Everything runs from a temporary directory with free ports, so several test sessions (other
engineers, CI) can run side by side without touching system-wide state:

* :class:`Dovecot`: IMAP (plain + STARTTLS, and implicit TLS with a self-signed CA), LMTP, a
  quota plugin, IDLE, MOVE, UIDPLUS, SPECIAL-USE (``Junk`` is ``\\Junk``), passwd-file users
  stored as Maildir under an unprivileged user.
* :class:`Postfix`: an extra instance that accepts mail for the virtual domain on a loopback
  SMTP port and delivers it to Dovecot over LMTP; mail to an unknown user or a full mailbox
  comes back as a real RFC 3464 DSN to the envelope sender (the bounce mailbox).
* :class:`PrivatePostgres`: a throw-away cluster (initdb) that tests may stop and start.

The servers are started once per session by the fixtures in ``tests/servers_fixtures.py``;
the helpers here (users, APPEND, campaign mails) keep each test independent. Test-side
IMAP access uses the standard library's ``imaplib``, deliberately not the code under test.

Fixtures: ``dovecot`` (session), ``running_dovecot`` (restarted after the test if it stopped
it), ``postfix`` (session, delivers to ``dovecot``), ``mail_servers`` (both), ``mail_user`` /
``new_mail_user(quota="1K")`` (fresh users per test), ``private_pg`` (a cluster to stop and
start), ``tls_files``. Typical use::

    bounce = dovecot.add_user()                      # the campaign's envelope sender
    full = dovecot.add_user(quota="1K")              # -> 552 5.2.2 DSN
    send_campaign_mail(postfix.smtp_port, "gone@" + postfix.domain, key, bounce.address)
    account = account_config(dovecot, bounce)        # AccountConfig over verified TLS
    dovecot.fill_maildir(bounce, raws)               # a backlog, without IMAP
    dovecot.stop(); dovecot.start()                  # a server restart mid-test

Set ``BOUNCER_KEEP_SERVER_LOGS=1`` to keep the servers' directories (logs, mail) after the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import imaplib
import inspect
import os
import pwd
import secrets
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import psutil

DOMAIN = "bouncer.test"
TEST_USER = "bouncertest"  # unprivileged OS user that owns the mail and the private PostgreSQL
HOST = "127.0.0.1"
_MISSING_HINT = "run scripts/test.sh, which installs Dovecot, Postfix, PostgreSQL and openssl"


class ServerError(RuntimeError):
    """A test server could not be started; the message carries its log."""


# --- small utilities -------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nobody listens on right now (bind to port 0 and let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def require_binary(path: str) -> str:
    found = shutil.which(path) if "/" not in path else (path if os.access(path, os.X_OK) else None)
    if found is None:
        raise ServerError(f"{path} is not installed; {_MISSING_HINT}")
    return found


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text[-lines:]) or f"(empty log at {path})"


def _wait_port(port: int, timeout: float, what: str, log: Path, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServerError(f"{what} exited with status {proc.returncode}; log {log}:\n{_tail(log)}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise ServerError(f"{what} did not listen on {HOST}:{port} within {timeout:.0f} s; log {log}:\n{_tail(log)}")


def _run(args: list[str], log: Path, what: str, timeout: float = 60, **kwargs: Any) -> None:
    """Run a command with its output in ``log`` (daemons that inherit a pipe make waits hang)."""
    with log.open("ab") as out:
        result = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=timeout, **kwargs)
    if result.returncode != 0:
        raise ServerError(f"{what} failed ({' '.join(args)}), status {result.returncode}; log {log}:\n{_tail(log)}")


def _kill_pidfile(pidfile: Path, timeout: float = 10.0) -> None:
    """SIGTERM the process named in a pid file, then SIGKILL if it lingers."""
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _process_tree(pidfile: Path) -> list[psutil.Process]:
    try:
        master = psutil.Process(int(pidfile.read_text().split()[0]))
        return [master, *master.children(recursive=True)]
    except (OSError, ValueError, IndexError, psutil.Error):
        return []


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def ensure_test_user() -> pwd.struct_passwd:
    """The unprivileged OS user for mail storage and PostgreSQL; created when running as root."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        pass
    with contextlib.suppress(subprocess.CalledProcessError):  # a parallel session may create it first
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER],
            check=True,
            capture_output=True,
        )
    return pwd.getpwnam(TEST_USER)


def make_workdir(prefix: str) -> Path:
    """A temp dir that the servers' unprivileged users can traverse (pytest's are 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


async def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.05) -> Any:  # noqa: ASYNC109
    """Poll ``predicate`` (sync or async) until it returns something truthy; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.05) -> Any:
    """The synchronous twin of :func:`wait_for`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)


# --- TLS material ----------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path


def make_tls_files(directory: Path, days: int = 2) -> TlsFiles:
    """A private CA and a server certificate for localhost (not 127.0.0.1), made with openssl."""
    openssl = require_binary("openssl")
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = directory / "ca.key", directory / "ca.crt"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "server.ext"
    ext.write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName=DNS:localhost,DNS:mx.{DOMAIN}\n"  # not 127.0.0.1: tests need a name mismatch
    )
    log = directory / "openssl.log"
    steps = [
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(ca_key),
            "-out",
            str(ca_cert),
            "-days",
            str(days),
            "-subj",
            "/CN=bouncer test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        [
            openssl,
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(csr),
            "-subj",
            "/CN=localhost",
        ],
        [
            openssl,
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(ca_cert),
            "-CAkey",
            str(ca_key),
            "-CAcreateserial",
            "-out",
            str(cert),
            "-days",
            str(days),
            "-extfile",
            str(ext),
        ],
    ]
    for step in steps:
        _run(step, log, "openssl")
    for path in (ca_cert, cert, key):
        path.chmod(0o644)
    return TlsFiles(ca_cert=ca_cert, server_cert=cert, server_key=key)


# --- Dovecot ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MailUser:
    address: str
    password: str
    maildir: Path  # the user's Maildir root (INBOX); sub-folders are ".Name"


class Dovecot:
    """A private Dovecot: ``start()``/``stop()`` may be called repeatedly (restart tests)."""

    def __init__(self, root: Path, tls: TlsFiles) -> None:
        self.root = root
        self.tls = tls
        self.host = HOST
        self.tls_host = "localhost"  # the name in the certificate (127.0.0.1 is deliberately not in it)
        self.imap_port = free_port()
        self.imaps_port = free_port()
        self.lmtp_port = free_port()
        self.owner = ensure_test_user()
        self.users_dir = root / "users"
        self.mail_root = root / "mail"
        self.log = root / "dovecot.log"
        self.config = root / "dovecot.conf"
        self.base_dir = root / "run"
        self._binary = require_binary("dovecot")
        for needed in ("/usr/lib/dovecot/imap", "/usr/lib/dovecot/lmtp"):
            require_binary(needed)
        self._users: dict[str, MailUser] = {}
        self.mail_root.mkdir(mode=0o755)
        os.chown(self.mail_root, self.owner.pw_uid, self.owner.pw_gid)
        # One passwd-file per user (the path has %u): Dovecot re-reads a changed file at most once
        # a second, so a user added to a shared file could stay unknown for a moment.
        self.users_dir.mkdir(mode=0o755)
        self._write_config()

    @property
    def ca_file(self) -> Path:
        return self.tls.ca_cert

    def _write_config(self) -> None:
        user = self.owner.pw_name
        running_as_root = os.geteuid() == 0
        internal = "dovecot" if running_as_root else user
        login = "dovenull" if running_as_root else user
        self.config.write_text(
            f"""# generated by tests/servers.py
instance_name = bouncer-test-{secrets.token_hex(4)}
base_dir = {self.base_dir}
state_dir = {self.root}/state
log_path = {self.log}
info_log_path = {self.log}
protocols = imap lmtp
listen = {HOST}
default_internal_user = {internal}
default_login_user = {login}
mail_uid = {user}
mail_gid = {self.owner.pw_gid}
first_valid_uid = {self.owner.pw_uid}
first_valid_gid = 0
ssl = yes
ssl_cert = <{self.tls.server_cert}
ssl_key = <{self.tls.server_key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_cache_size = 0
auth_failure_delay = 0
mail_location = maildir:{self.mail_root}/%d/%n/Maildir
mail_plugins = quota
mail_fsync = never
verbose_proctitle = yes
mail_max_userip_connections = 10000
imap_idle_notify_interval = 2 mins
mailbox_idle_check_interval = 1 secs
lmtp_save_to_detail_mailbox = no
recipient_delimiter =
quota_full_tempfail = no
shutdown_clients = yes
default_process_limit = 2000
default_client_limit = 10000

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.users_dir}/%u
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.users_dir}/%u
  default_fields = uid={user} gid={self.owner.pw_gid} home={self.mail_root}/%d/%n
}}

namespace inbox {{
  inbox = yes
  separator = /
  mailbox Junk {{
    special_use = \\Junk
    auto = create
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
  }}
}}

plugin {{
  quota = maildir:User quota
  quota_rule = *:storage=0
}}

protocol imap {{
  mail_plugins = $mail_plugins imap_quota
}}

service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {self.imaps_port}
    ssl = yes
  }}
  service_count = 0
  process_min_avail = 1
  chroot =
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {HOST}
    port = {self.lmtp_port}
  }}
}}
service imap {{
  process_limit = 2000
}}
# No brute-force penalty: wrong-password tests must not slow down the logins after them.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""
        )
        (self.root / "state").mkdir(exist_ok=True)

    # lifecycle

    def start(self) -> None:
        with self.log.open("ab") as out:
            proc = subprocess.Popen(
                [self._binary, "-c", str(self.config)], stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )
        # `dovecot` forks into the background and its first process exits 0 on success.
        try:
            status = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise ServerError(f"dovecot did not start; log {self.log}:\n{_tail(self.log)}") from None
        if status != 0:
            raise ServerError(f"dovecot failed to start (status {status}); log {self.log}:\n{_tail(self.log)}")
        for port in (self.imap_port, self.imaps_port, self.lmtp_port):
            _wait_port(port, 15, "dovecot", self.log)

    def stop(self) -> None:
        """Stop Dovecot and every process it started; connected clients see their connection drop."""
        pidfile = self.base_dir / "master.pid"
        processes = _process_tree(pidfile)
        # Login proxies (TLS) and IMAP processes may outlive the master for a while: a restart
        # must drop every client connection at once, as a crashing or restarted server does.
        for process in processes:
            with contextlib.suppress(psutil.Error):
                process.kill()
        wait_until(lambda: not any(_alive(p) for p in processes), timeout=10, interval=0.01)
        pidfile.unlink(missing_ok=True)
        for port in (self.imap_port, self.imaps_port, self.lmtp_port):
            wait_until(lambda port=port: not _listening(port), timeout=10)

    def imap_processes(self, user: MailUser) -> list[psutil.Process]:
        """The IMAP processes serving ``user`` (to freeze one with SIGSTOP, say)."""
        found = []
        for process in _process_tree(self.base_dir / "master.pid"):
            with contextlib.suppress(psutil.Error):
                if f"[{user.address} " in " ".join(process.cmdline()):
                    found.append(process)
        return found

    def is_running(self) -> bool:
        return _listening(self.imap_port)

    def restart(self) -> None:
        self.stop()
        self.start()

    # users and mail

    def add_user(self, local: str | None = None, *, quota: str | None = None, password: str | None = None) -> MailUser:
        """A new mail user in the virtual domain; ``quota`` like ``1K`` sets a storage limit."""
        local = local or f"u{secrets.token_hex(5)}"
        address = f"{local}@{DOMAIN}"
        password = password or secrets.token_urlsafe(12)
        extra = f"userdb_quota_rule=*:storage={quota}" if quota else ""
        staging = self.users_dir / f".{address}.tmp"
        staging.write_text(f"{address}:{{PLAIN}}{password}::::::{extra}\n")
        staging.chmod(0o644)
        staging.rename(self.users_dir / address)  # atomic: Dovecot never reads half a file
        user = MailUser(address=address, password=password, maildir=self.mail_root / DOMAIN / local / "Maildir")
        self._users[address] = user
        return user

    def imap(self, user: MailUser) -> imaplib.IMAP4:
        """A logged-in stdlib IMAP client for test set-up and inspection (not the code under test)."""
        client = imaplib.IMAP4(self.host, self.imap_port, timeout=10)
        client.login(user.address, user.password)
        return client

    @contextlib.contextmanager
    def session(self, user: MailUser) -> Iterator[imaplib.IMAP4]:
        client = self.imap(user)
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def create_folder(self, user: MailUser, folder: str) -> None:
        with self.session(user) as client:
            typ, data = client.create(_quote(folder))
            if typ != "OK" and b"ALREADYEXISTS" not in b" ".join(d for d in data if isinstance(d, bytes)):
                raise ServerError(f"CREATE {folder} failed: {data!r}")

    def append(self, user: MailUser, folder: str, raw: bytes, flags: str = "") -> int:
        """APPEND a message; returns its UID (UIDPLUS APPENDUID)."""
        with self.session(user) as client:
            typ, data = client.append(_quote(folder), flags or None, None, raw)
            if typ != "OK":
                raise ServerError(f"APPEND to {folder} failed: {data!r}")
            text = data[0].decode() if data and isinstance(data[0], bytes) else ""
            # "[APPENDUID <uidvalidity> <uid>] Append completed."
            marker = text.find("APPENDUID")
            return int(text[marker:].split()[2].rstrip("]")) if marker >= 0 else 0

    def drop_into_maildir(self, user: MailUser, raw: bytes, folder: str = "INBOX") -> Path:
        """Deliver by writing the Maildir directly, as an MDA would; works while Dovecot is stopped."""
        return self.fill_maildir(user, [raw], folder)[0]

    def fill_maildir(self, user: MailUser, raws: Iterable[bytes], folder: str = "INBOX") -> list[Path]:
        """Many messages at once into ``new/`` (a backlog of thousands in a second), oldest first."""
        base = user.maildir if folder == "INBOX" else user.maildir / f".{folder.replace('/', '.')}"
        for sub in ("tmp", "new", "cur"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        # The domain directory too: created here by root when this is the first user to get
        # mail, it would otherwise keep Dovecot from creating any later user's Maildir.
        domain = user.maildir.parent.parent
        owned = (domain, user.maildir.parent, user.maildir, base, base / "tmp", base / "new", base / "cur")
        root = os.geteuid() == 0
        if root:
            for path in owned:
                os.chown(path, self.owner.pw_uid, self.owner.pw_gid)
        paths = []
        stamp = time.time()
        for index, raw in enumerate(raws):
            # Dovecot orders new mail by file name: a growing time stamp keeps the given order.
            name = f"{stamp + index / 1e6:.6f}.{secrets.token_hex(6)}.bouncer-test"
            staging = base / "tmp" / name
            staging.write_bytes(raw)
            if root:
                os.chown(staging, self.owner.pw_uid, self.owner.pw_gid)
            final = base / "new" / name
            staging.rename(final)
            paths.append(final)
        return paths

    def messages(self, user: MailUser, folder: str) -> dict[int, tuple[set[str], bytes]]:
        """UID -> (flags, raw) of every message in a folder, read without setting \\Seen."""
        with self.session(user) as client:
            typ, data = client.select(_quote(folder), readonly=True)
            if typ != "OK":
                raise ServerError(f"SELECT {folder} failed: {data!r}")
            typ, data = client.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
            result: dict[int, tuple[set[str], bytes]] = {}
            for item in data:
                if not isinstance(item, tuple):
                    continue
                meta = item[0].decode()
                uid = int(meta.split("UID ")[1].split()[0])
                flags = set(meta.split("FLAGS (")[1].split(")")[0].split()) if "FLAGS (" in meta else set()
                result[uid] = (flags, item[1])
            return result

    def folders(self, user: MailUser) -> list[str]:
        with self.session(user) as client:
            _, data = client.list()
            return [_list_name(line) for line in data if isinstance(line, bytes)]

    def uidvalidity(self, user: MailUser, folder: str) -> int:
        with self.session(user) as client:
            _, data = client.status(_quote(folder), "(UIDVALIDITY)")
            return int(data[0].decode().split("UIDVALIDITY ")[1].rstrip(")"))


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((HOST, port)) == 0


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _list_name(line: bytes) -> str:
    text = line.decode()
    name = text.rsplit(" ", 1)[1] if not text.endswith('"') else text[text.rindex('"', 0, -1) + 1 : -1]
    return name


# --- Postfix ---------------------------------------------------------------------------

_MASTER_CF = """# generated by tests/servers.py: chroot = n everywhere, SMTP on a loopback port only
{host}:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """A Postfix extra instance: SMTP in on loopback, LMTP out to the private Dovecot."""

    def __init__(self, root: Path, lmtp_port: int, hostname: str = f"mx.{DOMAIN}") -> None:
        self.root = root
        self.host = HOST
        self.smtp_port = free_port()
        self.domain = DOMAIN
        self.hostname = hostname
        self.config_dir = root / "etc"
        self.queue_dir = root / "queue"
        self.data_dir = root / "data"
        self.log = root / "postfix.log"
        self._binary = require_binary("/usr/sbin/postfix")
        for directory in (self.config_dir, self.data_dir):
            directory.mkdir(mode=0o755)
        self.queue_dir.mkdir(mode=0o755)
        if os.geteuid() == 0:
            postfix_user = pwd.getpwnam("postfix")
            os.chown(self.data_dir, postfix_user.pw_uid, postfix_user.pw_gid)
        self.log.touch()
        (self.config_dir / "master.cf").write_text(_MASTER_CF.format(host=HOST, port=self.smtp_port))
        (self.config_dir / "main.cf").write_text(
            f"""# generated by tests/servers.py
compatibility_level = 3.6
queue_directory = {self.queue_dir}
data_directory = {self.data_dir}
syslog_name = postfix-bouncertest-{secrets.token_hex(3)}
maillog_file = {self.log}
maillog_file_prefixes = {root}
myhostname = {hostname}
mydomain = {DOMAIN}
myorigin = $mydomain
mydestination =
inet_interfaces = {HOST}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
alias_maps =
alias_database =
local_recipient_maps =
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_maps =
virtual_alias_maps =
virtual_transport = lmtp:inet:{HOST}:{lmtp_port}
smtpd_reject_unlisted_recipient = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtputf8_enable = no
biff = no
append_dot_mydomain = no
delay_warning_time = 0
maximal_backoff_time = 10s
minimal_backoff_time = 5s
queue_run_delay = 5s
lmtp_connection_cache_on_demand = no
smtpd_banner = $myhostname ESMTP bouncer-test
"""
        )

    def _postfix(self, *args: str, timeout: float = 60) -> None:
        _run([self._binary, "-c", str(self.config_dir), *args], self.log, f"postfix {' '.join(args)}", timeout)

    def start(self) -> None:
        self._postfix("start")
        _wait_port(self.smtp_port, 20, "postfix", self.log)

    def stop(self) -> None:
        with contextlib.suppress(ServerError, subprocess.TimeoutExpired):
            self._postfix("stop", timeout=30)
        _kill_pidfile(self.queue_dir / "pid" / "master.pid")

    def address(self, local: str) -> str:
        return f"{local}@{self.domain}"


# --- campaign mail as SinergiaCRM builds it --------------------------------------------


def campaign_mail(
    to: str,
    tracker_key: str,
    envelope_from: str,
    *,
    site: str = "https://crm.example.org",
    subject: str = "Our autumn newsletter",
) -> EmailMessage:
    """A campaign message shaped like SuiteCRM/SinergiaCRM's: tracker header, unsubscribe links."""
    msg = EmailMessage()
    msg["From"] = f"Fundació Exemple <{envelope_from}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain="crm.example.org")
    msg["Reply-To"] = envelope_from
    msg["X-CampTrackID"] = tracker_key
    msg["List-Unsubscribe"] = f"<{site}/index.php?entryPoint=removemeConfirmed&identifier={tracker_key}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["X-Mailer"] = "SinergiaCRM"
    text = (
        "Hello,\n\nThis is our autumn newsletter.\n\n"
        f"Unsubscribe: {site}/index.php?entryPoint=removeme&identifier={tracker_key}\n"
    )
    html = (
        "<html><body><p>Hello,</p><p>This is our autumn newsletter.</p>"
        f'<p><a href="{site}/index.php?entryPoint=campaign_trackerv2&track={tracker_key}'
        '&redirect=https%3A%2F%2Fexample.org">Read more</a></p>'
        f'<p><a href="{site}/index.php?entryPoint=removeme&identifier={tracker_key}">Unsubscribe</a></p>'
        f'<img height="1" width="1" src="{site}/index.php?entryPoint=image&identifier={tracker_key}">'
        "</body></html>"
    )
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def send_campaign_mail(
    smtp_port: int, to: str, tracker_key: str, envelope_from: str, *, host: str = HOST, **kwargs: Any
) -> EmailMessage:
    """Send one campaign message through the SMTP server (blocking; use asyncio.to_thread in async tests)."""
    msg = campaign_mail(to, tracker_key, envelope_from, **kwargs)
    with smtplib.SMTP(host, smtp_port, timeout=15) as smtp:
        smtp.send_message(msg, from_addr=envelope_from, to_addrs=[to])
    return msg


async def send_campaign_mail_async(
    smtp_port: int, to: str, tracker_key: str, envelope_from: str, **kwargs: Any
) -> EmailMessage:
    return await asyncio.to_thread(send_campaign_mail, smtp_port, to, tracker_key, envelope_from, **kwargs)


def simple_mail(subject: str = "hello", body: str = "hello\n", sender: str = f"person@{DOMAIN}") -> bytes:
    """A plain message from a person, as raw bytes with CRLF line ends (for APPEND)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = f"inbox@{DOMAIN}"
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain=DOMAIN)
    msg.set_content(body)
    return msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# --- PostgreSQL ------------------------------------------------------------------------


def _pg_bin() -> Path:
    """$BOUNCER_TEST_PG_BIN, else the newest /usr/lib/postgresql/N/bin (Debian's layout)."""
    if explicit := os.environ.get("BOUNCER_TEST_PG_BIN"):
        return Path(explicit)
    versions = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()),
        key=lambda p: int(p.parent.name),
    )
    return versions[-1] if versions else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on a free port; never the system one. Trust auth on loopback."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "pgdata"
        self.log = root / "postgres.log"
        self.port = free_port()
        self.owner = ensure_test_user()
        for tool in ("initdb", "pg_ctl", "postgres"):
            require_binary(str(PG_BIN / tool))
        self.log.touch()
        if os.geteuid() == 0:
            os.chown(root, self.owner.pw_uid, self.owner.pw_gid)
            os.chown(self.log, self.owner.pw_uid, self.owner.pw_gid)
        self._as_owner(
            [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '{HOST}'\nport = {self.port}\nunix_socket_directories = '{root}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n"
            )

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/postgres"

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy (asyncpg) URL for a database of this cluster."""
        return f"postgresql+asyncpg://postgres@{HOST}:{self.port}/{database}"

    def _as_owner(self, args: list[str], timeout: float = 120) -> None:
        kwargs: dict[str, Any] = {}
        if os.geteuid() == 0:
            kwargs = {"user": self.owner.pw_uid, "group": self.owner.pw_gid, "extra_groups": []}
        _run(args, self.log, Path(args[0]).name, timeout, cwd=self.root, **kwargs)

    def start(self) -> None:
        self._as_owner([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast") -> None:
        """Stop the cluster (``immediate`` is a crash-like stop)."""
        if (self.data / "postmaster.pid").exists():
            self._as_owner([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def kill(self) -> None:
        """Last-resort cleanup by pid file."""
        _kill_pidfile(self.data / "postmaster.pid")

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = name or f"bouncer_{secrets.token_hex(4)}"
        psql = [str(PG_BIN / "psql"), "-h", HOST, "-p", str(self.port), "-U", "postgres", "-d", "postgres"]
        _run([*psql, "-v", "ON_ERROR_STOP=1", "-c", f'CREATE DATABASE "{name}"'], self.log, "psql")
        return self.url(name)


# --- bouncer configuration for the private servers -------------------------------------


def imap_config(dovecot: Dovecot, user: MailUser, security: str = "tls", **overrides: Any) -> Any:
    """An ``ImapConfig`` that reaches ``user`` on the private Dovecot (TLS verified with its CA)."""
    from bouncer.config import ImapConfig

    settings: dict[str, Any] = {
        "host": dovecot.tls_host if security != "none" else dovecot.host,
        "port": dovecot.imaps_port if security == "tls" else dovecot.imap_port,
        "security": security,
        "username": user.address,
        "password": user.password,
        "ca_file": dovecot.ca_file,
        "timeout": 10,
    }
    settings.update(overrides)
    return ImapConfig.model_validate(settings)


def account_config(dovecot: Dovecot, user: MailUser, name: str | None = None, **overrides: Any) -> Any:
    """An ``AccountConfig`` (bounce role, INBOX, dispose move) for ``user`` over implicit TLS."""
    from bouncer.config import AccountConfig

    imap = overrides.pop("imap", None) or imap_config(dovecot, user)
    settings: dict[str, Any] = {"name": name or user.address.split("@")[0], "tenant": "test", "imap": imap}
    settings.update(overrides)
    return AccountConfig.model_validate(settings)
