"""`bouncer report` through the real command line, on both databases, in all three formats."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store_helpers import analysis, fetched, item, recipient

from bouncer.analysis.result import Recipient
from bouncer.analysis.taxonomy import Kind, Reason
from bouncer.cli import main
from bouncer.config import DatabaseConfig
from bouncer.store import Store
from bouncer.store.migrate import upgrade

WHEN = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


async def _history(database: DatabaseConfig) -> None:
    await upgrade(database)
    store = await Store.open(database)
    try:
        await store.record(
            [
                item(fetched(), analysis(Kind.BOUNCE, recipient("Hard@X.org", arrival_date=WHEN), tracker_key="k1")),
                item(fetched(), analysis(Kind.BOUNCE, recipient("soft@x.org", Reason.MAILBOXFULL, status="4.2.2"))),
                item(fetched(), analysis(Kind.BOUNCE, recipient("soft2@x.org", Reason.MAILBOXFULL, status="4.2.2"))),
                item(fetched(), analysis(Kind.DELAY, recipient("slow@x.org", Reason.EXPIRED, status="4.4.7"))),
                item(fetched(), analysis(Kind.AUTOREPLY), disposition="none"),
            ]
        )
        complaint = analysis(Kind.COMPLAINT, Recipient("angry@y.org", action="", reason=Reason.FEEDBACK))
        await store.record([item(fetched(tenant="beta", account="beta-bounces", uidvalidity=None), complaint)])
        await store.folder_failed("bounces", "Junk", "LOGIN failed")
    finally:
        await store.close()


@pytest.fixture
def config_file(database: DatabaseConfig, tmp_path: Path) -> Path:
    asyncio.run(_history(database))
    for name in ("acme", "beta", "gamma"):
        (tmp_path / name).mkdir()
    path = tmp_path / "bouncer.yaml"
    path.write_text(
        f"""
database:
  url: {database.url}
accounts:
  - {{name: bounces, tenant: acme, maildir: acme}}
  - {{name: beta-bounces, tenant: beta, maildir: beta}}
  - {{name: idle, tenant: gamma, maildir: gamma}}
""",
        encoding="utf-8",
    )
    return path


def report(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> str:
    assert main(["report", "-c", str(config), *args]) == 0
    return capsys.readouterr().out


def test_json(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads(report(capsys, config_file, "--format", "json"))
    tenants = {entry["tenant"]: entry for entry in document["tenants"]}
    assert sorted(tenants) == ["acme", "beta", "gamma"]

    acme = tenants["acme"]
    assert acme["messages_by_kind"] == {"autoreply": 1, "bounce": 3, "delay": 1}
    assert acme["failures_by_activity"] == {"invalid email": 1, "none": 1, "send error": 2}
    assert {"crm_activity": "send error", "reason": "mailboxfull", "count": 2} in acme["failures_by_reason"]
    assert acme["top_reasons"] == [{"reason": "mailboxfull", "count": 2}, {"reason": "userunknown", "count": 1}]
    assert [(s["recipient"], s["why"], s["last_reason"]) for s in acme["suppress"]] == [
        ("hard@x.org", "hard", "userunknown")
    ]
    assert acme["suppress"][0]["last_failure_at"] == WHEN.isoformat()
    mailboxes = {(m["account"], m["folder"]): m for m in acme["mailboxes"]}
    assert mailboxes[("bounces", "INBOX")]["messages_seen"] == 5
    assert mailboxes[("bounces", "INBOX")]["last_error"] is None
    assert mailboxes[("bounces", "Junk")]["last_error"] == "LOGIN failed"  # tenant known from the config

    beta = tenants["beta"]
    assert beta["messages_by_kind"] == {"complaint": 1}
    assert [(s["recipient"], s["why"]) for s in beta["suppress"]] == [("angry@y.org", "complaint")]
    assert beta["top_reasons"] == []  # complaints are not failed mail
    assert tenants["gamma"]["messages_by_kind"] == {} and tenants["gamma"]["mailboxes"] == []


def test_csv(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = list(csv.DictReader(io.StringIO(report(capsys, config_file, "--format", "csv", "--tenant", "acme"))))
    assert {row["tenant"] for row in rows} == {"acme"}
    facts = {(row["section"], row["key"], row["detail"]): row for row in rows}
    assert facts[("messages_by_kind", "bounce", "")]["count"] == "3"
    assert facts[("failures_by_activity", "invalid email", "")]["count"] == "1"
    assert facts[("failures_by_reason", "mailboxfull", "send error")]["count"] == "2"
    assert facts[("suppress", "hard@x.org", "hard: userunknown")]["at"] == WHEN.isoformat()
    assert facts[("mailbox", "bounces/INBOX", "ok")]["count"] == "5"
    [junk] = [row for row in rows if row["key"] == "bounces/Junk"]
    assert junk["detail"].startswith("error at ") and junk["detail"].endswith(": LOGIN failed")


def test_table(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = report(capsys, config_file)
    assert text.index("Tenant acme (all time)") < text.index("Tenant beta") < text.index("Tenant gamma")
    acme = text[text.index("Tenant acme") : text.index("Tenant beta")]
    assert "Messages processed: 5, analysis errors: 0" in acme
    assert "Recipients to suppress: 1" in acme
    assert any(line.split()[:3] == ["hard@x.org", "hard", "userunknown"] for line in acme.splitlines())
    assert any(line.split()[:2] == ["invalid", "email"] and line.split()[-1] == "1" for line in acme.splitlines())
    assert any(line.split()[:3] == ["bounces", "Junk", "0"] and "LOGIN failed" in line for line in acme.splitlines())


def test_since_and_bad_since(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    document = json.loads(report(capsys, config_file, "--format", "json", "--since", tomorrow))
    acme = next(entry for entry in document["tenants"] if entry["tenant"] == "acme")
    assert acme["messages_by_kind"] == {} and acme["suppress"] == []
    assert document["since"].startswith(tomorrow)

    assert main(["report", "-c", str(config_file), "--since", "last week"]) == 1
    assert "--since 'last week' is not a date like 2026-11-01" in capsys.readouterr().err


def test_report_on_an_unmigrated_database(
    database: DatabaseConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bouncer.yaml"
    path.write_text(f"database:\n  url: {database.url}\n", encoding="utf-8")
    assert main(["report", "-c", str(path)]) == 1
    assert f"run `bouncer db upgrade -c {path}`" in capsys.readouterr().err
