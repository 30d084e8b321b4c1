"""Holds the compiled analysis engine to the plain Python one's answers.

A regular install compiles ``bouncer/analysis`` with mypyc (``setup.py``); the tests run the
plain Python sources of the editable install. This script builds the compiled wheel, lays
its extension modules over a copy of the sources, and then, against the compiled modules:

1. runs the analysis tests (``tests/analysis``: the corpus floors, fixtures and the
   hypothesis tests of hostile input), but for two that hold the plain build only;
2. runs ``bouncer parse --json`` over the corpus, the fixtures, the examples and mutated
   copies of every corpus message (8-bit bytes in every header field, a truncated half,
   random byte changes), and requires output identical to the plain build's, line by line.

compiled code checks values against their declared types, where Python does not: a value
that is not what its annotation says (compat32 hands out a ``Header`` where typeshed says
``str``) raises there, and only a run like this one finds it.

Run from the repository root with the project's virtualenv: ``.venv/bin/python
scripts/check_compiled.py``. It needs a C compiler and the Python headers; exits 1 on any
difference.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("tests/corpus", "tests/fixtures", "examples")
PARSE = "from bouncer.cli import main; main()"


def build_wheel(into: Path) -> Path:
    env = {**os.environ, "BOUNCER_COMPILE": "1"}
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--disable-pip-version-check"]
    subprocess.run([*command, "-w", str(into), str(ROOT)], check=True, env=env)
    (wheel,) = into.glob("bouncer-*.whl")
    return wheel


def compiled_tree(wheel: Path, tree: Path) -> None:
    """The sources as they are, with the wheel's compiled modules beside them (an extension
    module is imported before a .py file of the same name)."""
    for name in ("bouncer", "tests", "examples"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
    shutil.copy2(ROOT / "pyproject.toml", tree)
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if member.endswith(".so"):
                archive.extract(member, tree)


def mutants(corpus: Path, into: Path) -> int:
    """Mutated copies of every corpus message, the shapes that tell typed code apart."""
    rng = random.Random(20261127)
    count = 0
    for path in sorted(p for p in corpus.rglob("*.eml") if p.is_file()):
        raw = path.read_bytes()
        head, sep, body = raw.partition(b"\n\n")
        eight_bit = b"\n".join(
            line + b" \xff\xe9t\xe9" if line[:1] not in (b" ", b"\t") and b":" in line else line
            for line in head.split(b"\n")
        )
        changed = bytearray(raw)
        for _ in range(max(1, len(raw) // 500)):
            changed[rng.randrange(len(raw))] = rng.randrange(256)
        for suffix, data in (("8bit", eight_bit + sep + body), ("half", raw[: len(raw) // 2]), ("bytes", changed)):
            (into / f"{path.stem}.{suffix}.eml").write_bytes(bytes(data))
            count += 1
    return count


def parse_json(cwd: Path, paths: list[Path]) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PARSE, "parse", "--json", *map(str, paths)],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.splitlines()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bouncer-compiled-") as temp:
        work = Path(temp)
        print("building the compiled wheel (BOUNCER_COMPILE=1) ...", flush=True)
        wheel = build_wheel(work / "wheel")
        tree = work / "tree"
        compiled_tree(wheel, tree)
        probe = "from bouncer.analysis import engine_build; print(engine_build())"
        build = subprocess.run([sys.executable, "-c", probe], cwd=tree, check=True, capture_output=True, text=True)
        if build.stdout.strip() != "compiled":
            print(f"the compiled modules did not load: {build.stdout.strip()}", file=sys.stderr)
            return 1

        print("analysis tests against the compiled modules ...", flush=True)
        # Two tests hold the plain build only, and run in the test suite: test_campaign_shortcuts
        # switches shortcuts off by monkeypatching module functions, which compiled modules
        # call directly; the other checks that the tests run the plain sources.
        plain_only = [
            "--ignore=tests/analysis/test_campaign_shortcuts.py",
            "--deselect=tests/analysis/test_engine.py::test_the_tests_run_the_plain_sources",
        ]
        pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plain_only, "tests/analysis"]
        tests = subprocess.run(pytest, cwd=tree)
        if tests.returncode != 0:
            return 1

        mutated = work / "mutants"
        mutated.mkdir()
        count = mutants(ROOT / "tests/corpus", mutated)
        paths = [ROOT / source for source in SOURCES] + [mutated]
        plain = parse_json(ROOT, paths)
        compiled = parse_json(tree, paths)
        differing = [(a, b) for a, b in zip(plain, compiled, strict=False) if a != b]
        print(f"bouncer parse --json: {len(plain)} messages ({count} mutated), {len(differing)} differ")
        if len(plain) != len(compiled) or differing:
            for a, b in differing[:5]:
                print(f"  plain:    {a[:300]}\n  compiled: {b[:300]}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
