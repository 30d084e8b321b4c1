"""Where analysis should run: inline on the event loop, or in the process pool.

Analyses the labelled corpus (tests/corpus/sisimai) in batches of several sizes, both
inline and through PipelineCore's process pool, and prints messages/s for each, plus the
cost per message inline (which is how long one inline batch holds up the event loop).

    .venv/bin/python bench/daemon_analysis.py [CORPUS_DIR]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

from bouncer.analysis import AnalysisOptions, analyse
from bouncer.config import Config
from bouncer.pipeline import PipelineCore

DEFAULT_CORPUS = Path(__file__).resolve().parents[1] / "tests" / "corpus" / "sisimai" / "emails"


class _NoStore:
    """The pool is all this benchmark exercises; nothing is recorded."""


def load(corpus: Path) -> list[bytes]:
    raws = [p.read_bytes() for p in sorted(corpus.rglob("*.eml"))]
    if not raws:
        raise SystemExit(f"no .eml files under {corpus}")
    return raws


async def pooled_rate(core: PipelineCore, raws: list[bytes], batch: int, rounds: int) -> float:
    messages = (raws * (batch * rounds // len(raws) + 1))[: batch * rounds]
    await core.analyse_batch(messages[:batch] * 2)  # start the workers before timing
    start = time.perf_counter()
    for i in range(rounds):
        chunk = messages[i * batch : (i + 1) * batch]
        # force the pool even for small batches, to compare like with like
        loop = asyncio.get_running_loop()
        from bouncer.pipeline import _analyse_many

        size = -(-len(chunk) // core._pool_workers)
        await asyncio.gather(
            *(
                loop.run_in_executor(core._executor(), _analyse_many, analyse, chunk[j : j + size], core.options)
                for j in range(0, len(chunk), size)
            )
        )
    return batch * rounds / (time.perf_counter() - start)


def inline_rate(raws: list[bytes], batch: int, rounds: int) -> tuple[float, float]:
    options = AnalysisOptions()
    messages = (raws * (batch * rounds // len(raws) + 1))[: batch * rounds]
    per_batch: list[float] = []
    for i in range(rounds):
        start = time.perf_counter()
        for raw in messages[i * batch : (i + 1) * batch]:
            analyse(raw, options)
        per_batch.append(time.perf_counter() - start)
    return batch * rounds / sum(per_batch), statistics.median(per_batch) * 1000


async def main() -> None:
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CORPUS
    raws = load(corpus)
    print(f"corpus: {len(raws)} messages, median {statistics.median(len(r) for r in raws)} bytes")
    core = PipelineCore(_NoStore(), Config(), pool_workers=2)  # type: ignore[arg-type]
    try:
        print(f"{'batch':>6} {'inline msg/s':>13} {'inline ms/batch':>16} {'pool msg/s':>11}")
        for batch in (1, 4, 16, 64, 200):
            rounds = max(3, 2000 // batch)
            inline, ms = inline_rate(raws, batch, rounds)
            pooled = await pooled_rate(core, raws, batch, rounds)
            print(f"{batch:>6} {inline:>13.0f} {ms:>16.2f} {pooled:>11.0f}")
    finally:
        core.close()


if __name__ == "__main__":
    asyncio.run(main())
