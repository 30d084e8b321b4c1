"""TLS for the connections bouncer opens (IMAP and SMTP): the verifying context, and what a
verified certificate says.

Certificates are always verified, against the system's CAs plus the server's ``ca_file``.
"""

from __future__ import annotations

import functools
import os
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bouncer.errors import BouncerError


class CaFileError(BouncerError):
    """The configured ``ca_file`` cannot be read or is not a CA bundle."""


def client_context(ca_file: Path | None) -> ssl.SSLContext:
    """System trust store plus ``ca_file``; host names always checked; TLS 1.2 at least.

    Contexts are shared between connections with the same ``ca_file`` (and file version):
    loading the system store costs ~100 ms and about a megabyte, which hundreds of
    accounts must not pay each, nor the event loop on every connection.
    """
    path = str(ca_file) if ca_file is not None else None
    try:
        version = os.stat(path).st_mtime_ns if path is not None else 0
    except OSError as exc:
        raise CaFileError(f"cannot read ca_file {ca_file}: {exc.strerror}") from None
    return _shared_context(path, version)


@functools.lru_cache(maxsize=32)
def _shared_context(ca_file: str | None, version: int) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise CaFileError(f"cannot load ca_file {ca_file}: {exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """The verified certificate a server presented."""

    subject: str
    issuer: str
    names: tuple[str, ...]
    not_after: datetime
    tls_version: str

    def days_left(self, now: datetime | None = None) -> int:
        return (self.not_after - (now or datetime.now(UTC))).days

    def describe(self) -> str:
        return f"{self.tls_version}, certificate for {self.subject} valid until {self.not_after:%Y-%m-%d}"


def certificate_info(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> CertificateInfo | None:
    """What the peer's certificate says, from a transport's ``ssl_object`` (None: no TLS)."""
    if ssl_object is None:
        return None
    peercert: dict[str, Any] | None = ssl_object.getpeercert()
    if not peercert:
        return None

    def name(field: str) -> str:
        parts = [f"{key}={value}" for rdn in peercert.get(field, ()) for key, value in rdn]
        common = [value for rdn in peercert.get(field, ()) for key, value in rdn if key == "commonName"]
        return common[0] if common else ", ".join(parts)

    not_after = datetime.fromtimestamp(ssl.cert_time_to_seconds(peercert["notAfter"]), UTC)
    names = tuple(value for kind, value in peercert.get("subjectAltName", ()) if kind == "DNS")
    return CertificateInfo(name("subject"), name("issuer"), names, not_after, ssl_object.version() or "TLS")
