"""The deployment configuration: one YAML file, loaded into frozen pydantic models.

Every problem is reported with its place (``accounts[2].imap.port``) and the line of the
file it came from, and never with a secret's value.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bouncer.errors import ConfigError

__all__ = ["Config", "ConfigError", "load_config", "parse_config", "resolve_config_path"]

DEFAULT_CONFIG_PATH = Path("bouncer.yaml")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./bouncer.db"
RESERVED_ACCOUNT_NAMES = frozenset({"system"})


# One "@" with something on each side: enough to catch a typo; the mail server judges the rest.
EmailAddress = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _parse_duration(value: Any) -> float:
    """``90``, ``"90s"``, ``"15m"``, ``"1h"``, ``"1d"`` -> seconds."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 30s, 15m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*", str(value))
        if not match:
            raise ValueError("must be a duration such as 30s, 15m or 1h")
        factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2) or "s"]
        seconds = float(match.group(1)) * factor
    if seconds <= 0:
        raise ValueError("must be a positive duration")
    return seconds


Duration = Annotated[float, BeforeValidator(_parse_duration)]


def _check_regex(pattern: str) -> str:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"is not a valid regular expression: {exc}") from None
    if "key" not in compiled.groupindex:
        raise ValueError("needs a named group 'key', like (?P<key>[0-9a-f-]{36})")
    return pattern


Regex = Annotated[str, AfterValidator(_check_regex)]


def _relative_to_config(path: Path | None, info: ValidationInfo) -> Path | None:
    """Relative paths in the file are taken from the configuration file's folder."""
    base = (info.context or {}).get("base_dir")
    if path is None or path.is_absolute() or base is None:
        return path
    return Path(base) / path


def _read_secret_file(path: Path) -> SecretStr:
    try:
        return SecretStr(path.read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise ValueError(f"cannot read password_file {path}: {exc.strerror}") from None


class DatabaseConfig(_Model):
    url: str = DEFAULT_DATABASE_URL
    store_raw: bool = True  # keep each processed message's raw bytes, for re-analysis

    @field_validator("url")
    @classmethod
    def _known_driver(cls, url: str) -> str:
        if not url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("must start with postgresql+asyncpg:// or sqlite+aiosqlite://")
        return url

    @property
    def kind(self) -> str:
        return "postgresql" if self.url.startswith("postgresql") else "sqlite"

    @property
    def safe_url(self) -> str:
        """The URL with any password masked, for logs and `bouncer check`."""
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", self.url)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # The URL may hold the database password: a repr (a log line, a traceback) shows it masked.
        for name, value in super().__repr_args__():
            yield name, self.safe_url if name == "url" else value


class LoggingConfig(_Model):
    format: Literal["json", "console"] | None = None  # None: console on a TTY, else json
    level: Literal["debug", "info", "warning", "error"] = "info"


class _LoginConfig(_Model):
    """Fields shared by IMAP and SMTP servers."""

    host: str = Field(min_length=1)
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    ca_file: Path | None = None  # an extra CA bundle; certificates are always verified
    timeout: Duration = 30.0

    _paths = field_validator("password_file", "ca_file")(_relative_to_config)

    @model_validator(mode="after")
    def _one_password_source(self) -> _LoginConfig:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give either password or password_file, not both")
        if self.password_file is not None:
            object.__setattr__(self, "password", _read_secret_file(self.password_file))
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ValueError(f"ca_file {self.ca_file} does not exist")
        return self


class ImapConfig(_LoginConfig):
    port: int = Field(default=0, ge=0, le=65535)  # 0: the security mode's standard port
    security: Literal["tls", "starttls", "none"] = "tls"
    username: str = Field(min_length=1)

    @model_validator(mode="after")
    def _needs_credentials(self) -> ImapConfig:
        if self.password is None:
            raise ValueError("needs a password or a password_file")
        if self.port == 0:
            object.__setattr__(self, "port", 993 if self.security == "tls" else 143)
        return self


class SmtpAccountConfig(_LoginConfig):
    port: int = Field(default=0, ge=0, le=65535)  # 0: 465 for tls, 587 for starttls, 25 for none
    security: Literal["tls", "starttls", "none"] = "starttls"
    from_address: EmailAddress
    from_name: str | None = None

    @model_validator(mode="after")
    def _default_port(self) -> SmtpAccountConfig:
        if self.port == 0:
            object.__setattr__(self, "port", {"tls": 465, "starttls": 587, "none": 25}[self.security])
        if self.password is not None and not self.username:
            raise ValueError("a password needs a username")
        return self


class AccountConfig(_Model):
    name: str = Field(pattern=r"^[a-z0-9_.-]+$", max_length=64)
    tenant: str = Field(min_length=1, max_length=64)
    role: Literal["bounce", "group"] = "bounce"
    imap: ImapConfig | None = None
    maildir: Path | None = None
    folders: tuple[str, ...] = ("INBOX",)
    dispose: Literal["move", "delete", "seen", "keep"] = "move"
    processed_folder: str = "Processed"
    forward_other_to: EmailAddress | None = None
    poll_interval: Duration = 60.0  # when the server has no IDLE
    max_message_bytes: int = Field(default=25 * 1024 * 1024, gt=0)

    _paths = field_validator("maildir")(_relative_to_config)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name in RESERVED_ACCOUNT_NAMES:
            raise ValueError(f"'{name}' is reserved; choose another account name")
        return name

    @field_validator("folders")
    @classmethod
    def _some_folders(cls, folders: tuple[str, ...]) -> tuple[str, ...]:
        if not folders:
            raise ValueError("must name at least one folder")
        if len(set(folders)) != len(folders):
            raise ValueError("names a folder twice")
        return folders

    @model_validator(mode="after")
    def _one_source(self) -> AccountConfig:
        if (self.imap is None) == (self.maildir is None):
            raise ValueError("needs exactly one of imap or maildir")
        return self

    @property
    def source_kind(self) -> str:
        return "imap" if self.imap is not None else "maildir"


class TrackerConfig(_Model):
    patterns: tuple[Regex, ...] = ()  # extra regexes with a named group "key"


class AlertsConfig(_Model):
    to: tuple[EmailAddress, ...] = Field(min_length=1)
    after: Duration = 900.0


class Config(_Model):
    database: DatabaseConfig = DatabaseConfig()
    logging: LoggingConfig = LoggingConfig()
    accounts: tuple[AccountConfig, ...] = ()
    smtp: dict[str, SmtpAccountConfig] = Field(default_factory=dict)
    tracker: TrackerConfig = TrackerConfig()
    alerts: AlertsConfig | None = None

    @field_validator("accounts")
    @classmethod
    def _unique_names(cls, accounts: tuple[AccountConfig, ...]) -> tuple[AccountConfig, ...]:
        seen: set[str] = set()
        for index, account in enumerate(accounts):
            if account.name in seen:
                raise PydanticCustomError(
                    "duplicate_name",
                    "account name '{name}' is used twice; names must be unique",
                    {"name": account.name, "at": (index, "name")},
                )
            seen.add(account.name)
        return accounts

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        needs_system = self.alerts is not None or any(a.forward_other_to for a in self.accounts)
        if needs_system and "system" not in self.smtp:
            raise ValueError("alerts and forward_other_to send mail through smtp.system; configure it")
        return self

    def account(self, name: str) -> AccountConfig:
        for account in self.accounts:
            if account.name == name:
                return account
        raise KeyError(name)


# --- loading -------------------------------------------------------------------------

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
Loc = tuple[str | int, ...]


def format_loc(loc: Iterable[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _line_map(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    """Remember the line where each place of the document starts."""
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*loc, str(key_node.value))
            _line_map(value_node, child, lines)
            lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _line_map(item, (*loc, index), lines)


def _substitute(value: Any, loc: Loc, env: Mapping[str, str], problems: list[tuple[Loc, str]]) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string; $$ stands for a literal $."""
    if isinstance(value, dict):
        return {k: _substitute(v, (*loc, str(k)), env, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, (*loc, i), env, problems) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.append((loc, f"environment variable {name} is not set; set it or write ${{{name}:-default}}"))
        return ""

    return _VAR.sub(replace, value)


_ALL_KEYS: frozenset[str] = frozenset()


def _known_keys() -> frozenset[str]:
    global _ALL_KEYS
    if not _ALL_KEYS:
        models: list[type[BaseModel]] = [
            Config,
            DatabaseConfig,
            LoggingConfig,
            ImapConfig,
            SmtpAccountConfig,
            AccountConfig,
            TrackerConfig,
            AlertsConfig,
        ]
        _ALL_KEYS = frozenset(name for model in models for name in model.model_fields)
    return _ALL_KEYS


def _describe(error: Mapping[str, Any]) -> str:
    """One sentence for a pydantic error, without the input value (it may be a secret)."""
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        close = difflib.get_close_matches(key, _known_keys(), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown key '{key}'{hint}; remove it"
    if kind == "missing":
        return "is required but missing"
    message = str(error["msg"])
    if kind == "value_error" and message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if kind == "greater_than_equal" or kind == "less_than_equal":
        ctx = error.get("ctx", {})
        return f"must be between {ctx.get('ge', 0)} and {ctx.get('le', '')}".replace("between 0 and ", "at most ")
    if kind == "string_pattern_mismatch":
        return f"has the wrong form ({message.lower()})"
    if kind == "literal_error":
        return f"must be one of {error.get('ctx', {}).get('expected', '')}"
    return message[0].lower() + message[1:] if message else "is not valid"


def _port_message(error: Mapping[str, Any]) -> str | None:
    loc = error["loc"]
    if loc and loc[-1] == "port" and error["type"] in ("greater_than_equal", "less_than_equal"):
        return "must be between 1 and 65535"
    return None


def parse_config(
    text: str,
    source: str = "config.yaml",
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> Config:
    """Parse YAML text into a :class:`Config`, or raise :class:`ConfigError`."""
    env = os.environ if env is None else env
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" ({source} line {mark.line + 1})" if mark is not None else f" ({source})"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"the file is not valid YAML: {problem}{where}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"(top level): must be a mapping of settings ({source} line 1)"])
    lines: dict[Loc, int] = {}
    if node is not None:
        _line_map(node, (), lines)

    def place(loc: Loc) -> str:
        probe = loc
        while probe and probe not in lines:
            probe = probe[:-1]
        line = lines.get(probe)
        return f"{format_loc(loc)}: {{}} ({source} line {line})" if line else f"{format_loc(loc)}: {{}} ({source})"

    env_problems: list[tuple[Loc, str]] = []
    data = _substitute(data, (), env, env_problems)
    if env_problems:
        raise ConfigError(place(loc).format(msg) for loc, msg in env_problems)
    try:
        return Config.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
            loc += tuple(error.get("ctx", {}).get("at", ()))  # a problem that points at one item
            problems.append(place(loc).format(_port_message(error) or _describe(error)))
        raise ConfigError(problems) from None


def load_config(path: Path | str, env: Mapping[str, str] | None = None) -> Config:
    """Load the configuration file at ``path``, or raise :class:`ConfigError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"configuration file {path} not found; pass -c FILE or set BOUNCER_CONFIG"]) from None
    except OSError as exc:
        raise ConfigError([f"cannot read configuration file {path}: {exc.strerror}"]) from None
    return parse_config(text, source=path.name, env=env, base_dir=path.parent)


def resolve_config_path(explicit: str | None) -> Path:
    """-c/--config, then $BOUNCER_CONFIG, then ./bouncer.yaml."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get("BOUNCER_CONFIG")
    return Path(from_env) if from_env else DEFAULT_CONFIG_PATH
