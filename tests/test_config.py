"""The configuration contract: shape, places in errors, environment, secrets."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bouncer.cli import main
from bouncer.config import ConfigError, DatabaseConfig, load_config, parse_config
from bouncer.logs import configure_logging, get_logger

ROOT = Path(__file__).parent.parent
SECRET = "s3cr3t-Pa55word!"
ENV = {"BOUNCER_DB_PASSWORD": SECRET, "FUNDACION_IMAP_PASSWORD": SECRET, "SMTP_PASSWORD": SECRET}

MINIMAL = """\
accounts:
  - name: one
    tenant: t
    imap:
      host: imap.example.org
      username: u@example.org
      password: ${PW}
"""


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="bouncer.yaml", env={"PW": SECRET} if env is None else env)
    return caught.value.problems


def test_example_configuration_is_valid() -> None:
    config = load_config(ROOT / "config.example.yaml", env=ENV)
    bounces = config.account("fundacion-bounces")
    assert bounces.imap is not None
    assert bounces.imap.port == 993
    assert bounces.folders == ("INBOX", "Spam")
    assert bounces.imap.password is not None and bounces.imap.password.get_secret_value() == SECRET
    assert config.account("local-bounces").maildir == ROOT / "examples" / "maildir"
    assert config.smtp["system"].from_name == "Fundación Ejemplo"
    assert config.database.kind == "postgresql"


def test_defaults() -> None:
    config = parse_config(MINIMAL, env={"PW": SECRET})
    account = config.accounts[0]
    assert config.database.url == "sqlite+aiosqlite:///./bouncer.db"
    assert account.dispose == "move" and account.processed_folder == "Processed"
    assert account.role == "bounce" and account.folders == ("INBOX",)
    assert account.imap is not None and account.imap.security == "tls" and account.imap.port == 993


def test_starttls_defaults_to_port_143() -> None:
    config = parse_config(MINIMAL + "      security: starttls\n", env={"PW": SECRET})
    assert config.accounts[0].imap is not None and config.accounts[0].imap.port == 143


def test_missing_required_field_names_place_and_line() -> None:
    found = problems(MINIMAL.replace("      host: imap.example.org\n", ""))
    assert found == ["accounts[0].imap.host: is required but missing (bouncer.yaml line 4)"]


def test_wrong_type() -> None:
    found = problems(MINIMAL + "      port: many\n")
    assert len(found) == 1
    assert found[0].startswith("accounts[0].imap.port: ")
    assert "integer" in found[0] and "line 8" in found[0]


def test_port_out_of_range() -> None:
    found = problems(MINIMAL + "      port: 70000\n")
    assert found == ["accounts[0].imap.port: must be between 1 and 65535 (bouncer.yaml line 8)"]


def test_unknown_key_suggests_the_right_one() -> None:
    found = problems(MINIMAL + "      hots: x\n")
    assert found == [
        "accounts[0].imap.hots: unknown key 'hots' (did you mean 'host'?); remove it (bouncer.yaml line 8)"
    ]


def test_missing_environment_variable_is_named() -> None:
    found = problems(MINIMAL, env={})
    assert found == [
        "accounts[0].imap.password: environment variable PW is not set; "
        "set it or write ${PW:-default} (bouncer.yaml line 7)"
    ]


def test_environment_default_and_escape() -> None:
    text = MINIMAL.replace("${PW}", "${NOPE:-fallback}") + "    processed_folder: Done$$\n"
    config = parse_config(text, env={})
    account = config.accounts[0]
    assert account.imap is not None and account.imap.password is not None
    assert account.imap.password.get_secret_value() == "fallback"
    assert account.processed_folder == "Done$"


def test_password_file_is_read(tmp_path: Path) -> None:
    secret_file = tmp_path / "imap-password"
    secret_file.write_text(SECRET + "\n")
    text = MINIMAL.replace("password: ${PW}", "password_file: imap-password")
    config_file = tmp_path / "bouncer.yaml"
    config_file.write_text(text)
    imap = load_config(config_file).accounts[0].imap
    assert imap is not None and imap.password is not None
    assert imap.password.get_secret_value() == SECRET


def test_unreadable_password_file(tmp_path: Path) -> None:
    found = problems(MINIMAL.replace("password: ${PW}", f"password_file: {tmp_path}/absent"))
    assert len(found) == 1
    assert found[0].startswith("accounts[0].imap: cannot read password_file")
    assert "No such file" in found[0]


def test_password_and_password_file_together() -> None:
    found = problems(MINIMAL + "      password_file: /run/secrets/x\n")
    assert found == ["accounts[0].imap: give either password or password_file, not both (bouncer.yaml line 4)"]


def test_reserved_account_name() -> None:
    found = problems(MINIMAL.replace("name: one", "name: system"))
    assert found == ["accounts[0].name: 'system' is reserved; choose another account name (bouncer.yaml line 2)"]


def test_bad_account_name() -> None:
    found = problems(MINIMAL.replace("name: one", "name: Bad Name"))
    assert len(found) == 1 and found[0].startswith("accounts[0].name: has the wrong form")


def test_duplicate_account_names() -> None:
    second = "  - name: one\n    tenant: t\n    maildir: /srv/mail\n"
    found = problems(MINIMAL + second)
    assert found == ["accounts[1].name: account name 'one' is used twice; names must be unique (bouncer.yaml line 8)"]


def test_account_needs_exactly_one_source() -> None:
    found = problems(MINIMAL + "    maildir: /srv/mail\n")
    assert found == ["accounts[0]: needs exactly one of imap or maildir (bouncer.yaml line 2)"]


def test_security_must_be_known() -> None:
    found = problems(MINIMAL + "      security: ssl\n")
    assert len(found) == 1 and found[0].startswith("accounts[0].imap.security: must be one of")


def test_tracker_pattern_needs_key_group() -> None:
    found = problems(MINIMAL + "tracker:\n  patterns: ['id=([0-9a-f]+)']\n")
    assert len(found) == 1 and "named group 'key'" in found[0] and found[0].startswith("tracker.patterns[0]")


def test_alerts_need_smtp_system() -> None:
    found = problems(MINIMAL + "alerts: {to: [ops@example.org], after: 15m}\n")
    assert len(found) == 1 and "smtp.system" in found[0]


def test_invalid_yaml_names_line() -> None:
    found = problems("accounts:\n  - name: [unclosed\n")
    assert len(found) == 1 and found[0].startswith("the file is not valid YAML") and "line" in found[0]


@pytest.mark.parametrize(
    "broken",
    [
        MINIMAL + "      port: {SECRET}\n",
        MINIMAL + "      security: {SECRET}\n",
        MINIMAL + "database:\n  password: {SECRET}\n",
        MINIMAL.replace("tenant: t", "tenant: [{SECRET}]"),
        MINIMAL + "database: {url: 'mysql://u:{SECRET}@h/db'}\n",
    ],
)
def test_no_secret_in_errors(broken: str) -> None:
    found = problems(broken.replace("{SECRET}", SECRET))
    assert found, "the configuration should have been refused"
    assert all(SECRET not in problem for problem in found)


def test_no_secret_in_repr_or_dump() -> None:
    config = parse_config(MINIMAL, env={"PW": SECRET})
    assert SECRET not in repr(config)
    database = DatabaseConfig(url=f"postgresql+asyncpg://bouncer:{SECRET}@db.example.org/bouncer")
    assert SECRET not in repr(database) and SECRET not in str(database)
    assert "bouncer:***@db.example.org" in repr(database)
    assert SECRET not in str(config.model_dump())
    assert SECRET not in json.dumps(config.model_dump(mode="json"))


def test_no_secret_in_logs() -> None:
    stream = io.StringIO()
    configure_logging("json", "debug", stream=stream)
    config = parse_config(MINIMAL, env={"PW": SECRET})
    log = get_logger(account="one")
    log.info("login", password=SECRET, imap=config.accounts[0].imap)
    log.info("token refreshed", access_token=SECRET)
    out = stream.getvalue()
    assert out.count("\n") == 2
    assert SECRET not in out
    assert json.loads(out.splitlines()[0])["account"] == "one"


def test_check_config_only_on_example(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    code = main(["check", "--config-only", "-c", str(ROOT / "config.example.yaml")])
    out = capsys.readouterr()
    assert code == 0
    assert "fundacion-bounces" in out.out and "INBOX, Spam" in out.out and "postgresql" in out.out
    assert SECRET not in out.out + out.err


def test_check_config_only_refuses_broken(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bouncer.yaml"
    path.write_text(MINIMAL.replace("${PW}", SECRET) + "      port: 0x\n")
    code = main(["check", "--config-only", "-c", str(path)])
    out = capsys.readouterr()
    assert code == 2
    assert "accounts[0].imap.port" in out.err and "Traceback" not in out.err
    assert SECRET not in out.out + out.err


def test_config_path_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "elsewhere.yaml"
    path.write_text("accounts: []\n")
    monkeypatch.setenv("BOUNCER_CONFIG", str(path))
    assert main(["check", "--config-only"]) == 0
    monkeypatch.setenv("BOUNCER_CONFIG", str(tmp_path / "absent.yaml"))
    assert main(["check", "--config-only"]) == 2
    assert "not found" in capsys.readouterr().err


def test_console_script_version_and_help() -> None:
    version = subprocess.run([sys.executable, "-m", "bouncer", "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("bouncer ")
    usage = subprocess.run([sys.executable, "-m", "bouncer", "frobnicate"], capture_output=True, text=True)
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
