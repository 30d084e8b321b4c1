"""The result model (table, JSON, exit status) and the Maildir account checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bouncer.check import collect
from bouncer.check.result import Outcome, Report, Status, StepFailed, TargetRun
from bouncer.cli import main
from bouncer.config import Config
from bouncer.hints import Hint

ROOT = Path(__file__).parents[2]


async def test_a_target_stops_at_its_first_failure() -> None:
    run = TargetRun("account a")
    calls: list[str] = []

    async def ok() -> Outcome:
        calls.append("ok")
        return Outcome("fine")

    async def fails() -> Outcome:
        calls.append("fails")
        raise StepFailed("broken", Hint("k", "Do this."))

    assert await run.step("one", ok)
    assert not await run.step("two", fails)
    assert not await run.step("three", ok)
    assert calls == ["ok", "fails"]
    assert [(s.name, s.status) for s in run.steps] == [("one", Status.OK), ("two", Status.FAIL)]
    assert run.steps[1].hint == Hint("k", "Do this.")
    assert all(s.duration_ms >= 0 for s in run.steps)


async def test_unexpected_exception_is_a_failure_not_a_crash() -> None:
    run = TargetRun("t")

    async def explode() -> Outcome:
        raise RuntimeError("boom")

    assert not await run.step("x", explode)
    assert run.steps[0].status is Status.FAIL and run.steps[0].detail == "boom"


def test_warnings_pass_failures_do_not() -> None:
    ok = Report((_step(Status.OK), _step(Status.WARN)))
    assert ok.passed and ok.exit_code == 0
    failed = Report((_step(Status.OK), _step(Status.FAIL)))
    assert not failed.passed and failed.exit_code == 1
    assert Report(()).exit_code == 0


def _step(status: Status) -> object:
    from bouncer.check.result import Step

    return Step("target", "name", status, 1.5, "detail", Hint("key", "Hint text.") if status is Status.FAIL else None)


def test_table_shows_target_steps_and_hint() -> None:
    report = Report((_step(Status.OK), _step(Status.FAIL)))  # type: ignore[arg-type]
    table = report.to_table(width=100)
    lines = table.splitlines()
    assert lines[0] == "target"
    assert lines[1].split()[:2] == ["name", "OK"]
    assert "FAIL" in lines[2]
    assert lines[3].strip() == "hint: Hint text."
    assert lines[-1] == "some checks FAILED: 1 OK, 0 WARN, 1 FAIL"


def test_json_shape() -> None:
    document = json.loads(Report((_step(Status.WARN),)).to_json())  # type: ignore[arg-type]
    assert document == {
        "passed": True,
        "counts": {"OK": 0, "WARN": 1, "FAIL": 0},
        "steps": [
            {"target": "target", "step": "name", "status": "WARN", "duration_ms": 1.5, "detail": "detail", "hint": None}
        ],
    }


# --- Maildir -------------------------------------------------------------------------


def make_maildir(path: Path, messages: int = 0) -> Path:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    for index in range(messages):
        (path / "new" / f"{index}.bouncer:2,").write_bytes(b"Subject: x\r\n\r\nbody\r\n")
    return path


def maildir_config(root: Path, **account: object) -> Config:
    settings: dict[str, object] = {"name": "local", "tenant": "t", "maildir": str(root)}
    settings.update(account)
    return Config.model_validate({"accounts": [settings]})


async def test_maildir_all_ok(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "mail", messages=3)
    make_maildir(root / ".Processed")
    make_maildir(root / ".Bounces.Old", messages=1)
    report = await collect(maildir_config(root, folders=["INBOX", "Bounces/Old"]))
    assert report.passed, report.to_table()
    details = {s.name: s.detail for s in report.steps}
    assert details["folder INBOX"] == "3 messages (3 new)"
    assert details["folder Bounces/Old"] == "1 messages (1 new)"
    assert "processed folder" in details


async def test_maildir_missing_directory(tmp_path: Path) -> None:
    report = await collect(maildir_config(tmp_path / "nowhere"))
    assert [(s.name, s.status) for s in report.steps] == [("directory", Status.FAIL)]
    assert report.exit_code == 1


async def test_maildir_not_a_maildir(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    report = await collect(maildir_config(tmp_path / "plain"))
    assert "no cur, new, tmp subdirectory" in report.steps[0].detail


def test_maildir_not_writable_by_this_user() -> None:
    """Run `bouncer check` as an unprivileged user (root may write anywhere) on a Maildir it may only read."""
    folder = Path(tempfile.mkdtemp(prefix="bouncer-check-"))
    try:
        folder.chmod(0o755)
        root = make_maildir(folder / "mail")
        make_maildir(root / ".Processed")
        config = folder / "bouncer.yaml"
        config.write_text(f"accounts:\n  - name: local\n    tenant: t\n    maildir: {root}\n")
        command = [sys.executable, "-m", "bouncer", "check", "-c", str(config), "--json", "--account", "local"]
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        else:
            for sub in ("cur", "new", "tmp"):
                (root / sub).chmod(0o555)
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    finally:
        for sub in ("cur", "new", "tmp"):
            (folder / "mail" / sub).chmod(0o755)
        shutil.rmtree(folder)
    assert done.returncode == 1, done.stderr
    steps = json.loads(done.stdout)["steps"]
    assert [(s["step"], s["status"]) for s in steps] == [("directory", "OK"), ("writable", "FAIL")]
    assert "cannot write to" in steps[1]["detail"]


async def test_maildir_missing_folder_lists_existing(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "mail")
    make_maildir(root / ".Spam")
    report = await collect(maildir_config(root, folders=["INBOX", "spam"], dispose="keep"))
    failure = report.steps[-1]
    assert (failure.name, failure.status) == ("folder spam", Status.FAIL)
    assert failure.hint is not None and failure.hint.key == "folder-missing"
    assert "'Spam'" in failure.hint.text


async def test_processed_folder_is_created_only_with_fix(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "mail")
    report = await collect(maildir_config(root))
    assert report.steps[-1].status is Status.FAIL
    assert report.steps[-1].hint is not None and report.steps[-1].hint.key == "processed-folder-missing"
    assert not (root / ".Processed").exists()  # check changes nothing on its own
    fixed = await collect(maildir_config(root), fix=True)
    assert fixed.passed and fixed.steps[-1].detail.startswith("created 'Processed'")
    assert all((root / ".Processed" / sub).is_dir() for sub in ("cur", "new", "tmp"))
    again = await collect(maildir_config(root))
    assert again.passed


def test_cli_table_and_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_maildir(tmp_path / "mail")
    make_maildir(root / ".Processed")
    config = tmp_path / "bouncer.yaml"
    database = tmp_path / "bouncer.db"
    config.write_text(
        f"database:\n  url: sqlite+aiosqlite:///{database}\n"
        f"accounts:\n  - name: local\n    tenant: t\n    maildir: {root}\n"
    )
    assert main(["check", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"database (sqlite+aiosqlite:///{database})"
    assert lines[1].split()[:2] == ["connect", "OK"] and "does not exist yet" in " ".join(out.split())
    assert f"account local (maildir {root})" in lines
    assert lines[-1] == "all checks passed: 6 OK, 0 WARN, 0 FAIL"
    assert not database.exists()  # check created nothing


def test_certificate_expiry_warns_two_weeks_ahead() -> None:
    from datetime import UTC, datetime, timedelta

    from bouncer.check.net import certificate_outcome
    from bouncer.tls import CertificateInfo

    now = datetime(2026, 11, 27, tzinfo=UTC)

    def certificate(days: float) -> CertificateInfo:
        return CertificateInfo("mail.example.org", "R11", ("mail.example.org",), now + timedelta(days=days), "TLSv1.3")

    fine = certificate_outcome("mail.example.org", certificate(60), now)
    assert fine.status is Status.OK and "valid until 2027-01-26 (60 days left)" in fine.detail
    soon = certificate_outcome("mail.example.org", certificate(5), now)
    assert soon.status is Status.WARN
    assert soon.hint is not None and soon.hint.key == "tls-expires-soon" and "5 days" in soon.hint.text
