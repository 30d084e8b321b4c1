"""The outcome of `bouncer check`: steps with a status, a duration, a detail and a hint.

A step is OK, WARN (works, but something deserves attention: a certificate about to expire,
a sender address a provider may rewrite) or FAIL. The checks of one target (an account or
an SMTP server) stop at its first FAIL, since every later step needs the earlier ones.
The exit status is 0 only when no step failed.
"""

from __future__ import annotations

import json
import shutil
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bouncer.hints import Hint


class Status(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True)
class Step:
    target: str  # "account bounces (imap)", "smtp system"
    name: str  # "dns", "tcp", "tls", "login", "folder INBOX", ...
    status: Status
    duration_ms: float
    detail: str
    hint: Hint | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "step": self.name,
            "status": self.status.value,
            "duration_ms": round(self.duration_ms, 1),
            "detail": self.detail,
            "hint": None if self.hint is None else {"key": self.hint.key, "text": self.hint.text},
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a step's body returns when it did not fail."""

    detail: str
    status: Status = Status.OK
    hint: Hint | None = None


class StepFailed(Exception):
    """Raised by a step's body: the step FAILs with this detail and hint."""

    def __init__(self, detail: str, hint: Hint | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.hint = hint


@dataclass
class TargetRun:
    """Runs the steps of one target in order, timing each; stops at the first failure."""

    target: str
    steps: list[Step] = field(default_factory=list)
    failed: bool = False

    async def step(self, name: str, body: Callable[[], Awaitable[Outcome]], *, independent: bool = False) -> bool:
        """Run one step unless an earlier one failed; True when it passed (OK or WARN).

        An ``independent`` step's failure does not stop the steps after it (one missing
        folder says nothing about the next one).
        """
        if self.failed:
            return False
        started = time.perf_counter()
        try:
            outcome = await body()
        except StepFailed as exc:
            self._add(name, Status.FAIL, started, exc.detail, exc.hint)
            self.failed = not independent
            return False
        except Exception as exc:
            # SmtpError (and the IMAP client's errors) carry their own hint.
            hint = getattr(exc, "hint", None)
            detail = str(exc) or type(exc).__name__
            self._add(name, Status.FAIL, started, detail, hint if isinstance(hint, Hint) else None)
            self.failed = not independent
            return False
        self._add(name, outcome.status, started, outcome.detail, outcome.hint)
        return True

    def record(self, name: str, status: Status, duration_ms: float, detail: str, hint: Hint | None = None) -> None:
        """Add a step that something else ran and timed (the IMAP client reports its connection steps)."""
        self.steps.append(Step(self.target, name, status, duration_ms, detail, hint))
        if status is Status.FAIL:
            self.failed = True

    def _add(self, name: str, status: Status, started: float, detail: str, hint: Hint | None) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        self.steps.append(Step(self.target, name, status, elapsed, detail, hint))


@dataclass(frozen=True, slots=True)
class Report:
    steps: tuple[Step, ...]

    @classmethod
    def of(cls, runs: Iterable[TargetRun]) -> Report:
        return cls(tuple(step for run in runs for step in run.steps))

    @property
    def passed(self) -> bool:
        return all(step.status is not Status.FAIL for step in self.steps)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def counts(self) -> dict[str, int]:
        return {status.value: sum(1 for s in self.steps if s.status is status) for status in Status}

    def to_json(self) -> str:
        return json.dumps(
            {"passed": self.passed, "counts": self.counts(), "steps": [step.to_json() for step in self.steps]},
            ensure_ascii=False,
            indent=2,
        )

    def to_table(self, width: int | None = None) -> str:
        """One line per step (target shown when it changes), the hint indented under a failure."""
        width = width or shutil.get_terminal_size((120, 24)).columns
        step_width = max((len(s.name) for s in self.steps), default=4)
        step_width = min(max(step_width, 4), 28)
        prefix = f"  {{name:<{step_width}}}  {{status:<4}}  {{ms:>8}}  "
        indent = " " * len(prefix.format(name="", status="", ms=""))
        detail_width = max(width - len(indent), 30)
        lines: list[str] = []
        target = None
        for step in self.steps:
            if step.target != target:
                target = step.target
                lines.append(target)
            ms = f"{step.duration_ms:.0f} ms"
            detail = textwrap.wrap(step.detail, detail_width) or [""]
            lines.append(prefix.format(name=step.name, status=step.status.value, ms=ms) + detail[0])
            lines.extend(indent + more for more in detail[1:])
            if step.hint is not None:
                hint = textwrap.wrap(f"hint: {step.hint.text}", detail_width)
                lines.extend(indent + part for part in hint)
        counts = self.counts()
        verdict = "all checks passed" if self.passed else "some checks FAILED"
        lines.append(f"{verdict}: {counts['OK']} OK, {counts['WARN']} WARN, {counts['FAIL']} FAIL")
        return "\n".join(lines)
