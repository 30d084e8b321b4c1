"""How a source or sender proves who it is: every login goes through this one interface.

Today that is a username and a password (from the file or a secret file). OAuth2
(XOAUTH2 for Microsoft 365 and Google) will be another :class:`Credential`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import SecretStr

from bouncer.config import ImapConfig, SmtpAccountConfig


class Credential(Protocol):
    @property
    def mechanism(self) -> Literal["login", "xoauth2"]: ...

    @property
    def username(self) -> str: ...

    async def secret(self) -> str:
        """The password (or, later, an access token), fetched when it is needed."""
        ...


@dataclass(frozen=True, slots=True)
class PasswordCredential:
    username: str
    password: SecretStr = field(repr=False)
    mechanism: Literal["login", "xoauth2"] = "login"

    async def secret(self) -> str:
        return self.password.get_secret_value()


def credential_for(server: ImapConfig | SmtpAccountConfig) -> Credential | None:
    """The credential of a configured server, or None when it logs in as nobody (a local relay)."""
    if server.username is None or server.password is None:
        return None
    return PasswordCredential(username=server.username, password=server.password)
