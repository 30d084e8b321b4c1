"""The pipeline: the disposition rule, and analysis in a process pool for big batches."""

from __future__ import annotations

from pathlib import Path

import pytest
from daemon_helpers import autoreply, complaint, dsn, personal, recorded

from bouncer.analysis import AnalysisOptions, analyse
from bouncer.analysis.result import Analysis
from bouncer.analysis.taxonomy import Kind
from bouncer.config import AccountConfig, Config
from bouncer.pipeline import POOL_MIN_MESSAGES, PipelineCore, disposition_for
from bouncer.sources.base import FetchedMessage
from bouncer.store import Store


def account(role: str, dispose: str = "move") -> AccountConfig:
    return AccountConfig.model_validate(
        {"name": "a", "tenant": "t", "role": role, "dispose": dispose, "maildir": Path("/nonexistent")}
    )


@pytest.mark.parametrize(
    ("kind", "bounce_account", "group_account"),
    [
        (Kind.BOUNCE, "move", "move"),
        (Kind.DELAY, "move", "none"),
        (Kind.COMPLAINT, "move", "none"),
        (Kind.AUTOREPLY, "none", "none"),
        (Kind.DELIVERED, "none", "none"),
        (Kind.NOT_BOUNCE, "none", "none"),
    ],
)
def test_disposition_rule(kind: Kind, bounce_account: str, group_account: str) -> None:
    assert disposition_for(account("bounce"), Analysis(kind=kind)) == bounce_account
    assert disposition_for(account("group"), Analysis(kind=kind)) == group_account


@pytest.mark.parametrize("dispose", ["move", "delete", "seen", "keep"])
def test_the_dispose_setting_applies_and_an_analysis_error_leaves_the_message_alone(dispose: str) -> None:
    assert disposition_for(account("bounce", dispose), Analysis(kind=Kind.BOUNCE)) == dispose
    assert disposition_for(account("bounce", dispose), Analysis(kind=Kind.BOUNCE, error="broken MIME")) == "none"


def test_a_forwarded_bounce_stays_in_a_group_inbox_but_leaves_a_bounce_inbox() -> None:
    forwarded = Analysis(kind=Kind.BOUNCE, forwarded=True)
    assert disposition_for(account("group"), forwarded) == "none"
    assert disposition_for(account("bounce"), forwarded) == account("bounce").dispose


def fetched(raw: bytes, index: int) -> FetchedMessage:
    return FetchedMessage("t", "a", "INBOX", index, 1, str(index), raw, len(raw))


def sample_batch(count: int) -> list[FetchedMessage]:
    makers = [
        lambda i: dsn(f"user{i}@example.org", f"eeeeeeee-0000-4000-8000-{i:012d}"),
        lambda i: dsn(f"user{i}@example.org", f"eeeeeeee-0000-4000-8000-{i:012d}", status="4.2.2", action="delayed"),
        lambda i: complaint(f"user{i}@example.org", f"eeeeeeee-0000-4000-8000-{i:012d}"),
        lambda i: autoreply(f"user{i}@example.org"),
        lambda i: personal(f"user{i}@example.org"),
    ]
    return [fetched(makers[i % len(makers)](i), i) for i in range(count)]


async def test_a_big_batch_analysed_in_the_process_pool_gives_what_inline_analysis_gives(store: Store) -> None:
    batch = sample_batch(POOL_MIN_MESSAGES * 3)
    core = PipelineCore(store, Config(), pool_workers=2)
    try:
        pooled = await core.analyse_batch([m.raw for m in batch])
        assert core._pool is not None  # it really went to the pool
    finally:
        core.close()
    assert pooled == [analyse(m.raw, AnalysisOptions()) for m in batch]
    assert {a.kind for a in pooled} == set(Kind) - {Kind.DELIVERED}


async def test_without_a_pool_a_big_batch_is_analysed_in_slices_that_let_other_watchers_run(store: Store) -> None:
    import asyncio

    batch = sample_batch(64)
    core = PipelineCore(store, Config(), pool_workers=0)
    ticks = 0
    done = False

    async def other_watcher() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(other_watcher())
    await asyncio.sleep(0)
    before = ticks
    results = await core.analyse_batch([m.raw for m in batch])
    done = True
    await ticker
    assert core._pool is None
    assert results == [analyse(m.raw, AnalysisOptions()) for m in batch]
    assert ticks - before >= 64 // 16 - 1  # it ran between the slices, not only after the batch


def exploding_analyser(raw: bytes, options: AnalysisOptions) -> Analysis:
    if b"example.org" in raw:
        raise RuntimeError("a bug")
    return Analysis(kind=Kind.NOT_BOUNCE)


async def test_an_analyser_bug_is_recorded_as_an_error_and_the_message_left_in_place(store: Store) -> None:
    core = PipelineCore(store, Config(), analyser=exploding_analyser)
    handled = await core.for_account(account("bounce")).handle(sample_batch(3))
    assert [h.disposition for h in handled] == ["none"] * 3
    rows = await recorded(store)
    assert len(rows) == 3 and all("RuntimeError: a bug" in (r["error"] or "") for r in rows)


POOL_HOLDER = """
import asyncio, sys, time
sys.path.insert(0, sys.argv[1])
from daemon_helpers import dsn
from bouncer.config import Config
from bouncer.pipeline import PipelineCore

async def main():
    core = PipelineCore(None, Config(), pool_workers=2)  # the pool is all this needs
    await core.analyse_batch([dsn(f"u{i}@example.org", "ffffffff-0000-4000-8000-000000000000") for i in range(64)])
    print("ready", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def test_pool_workers_leave_when_the_daemon_is_killed_with_sigkill() -> None:
    import subprocess
    import sys
    import time

    import psutil

    holder = subprocess.Popen(
        [sys.executable, "-c", POOL_HOLDER, str(Path(__file__).parent)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        children = psutil.Process(holder.pid).children(recursive=True)
        assert len(children) >= 2  # the workers (and multiprocessing's resource tracker)
    finally:
        holder.kill()
        holder.wait(10)
    deadline = time.monotonic() + 5
    while any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children):
        assert time.monotonic() < deadline, "pool workers outlived the killed daemon"
        time.sleep(0.1)
