"""Benchmark: the streamed row path at 100k and 1M rows x F1 + BLEU + ROUGE-L, peak RSS per size.

Each size runs in a fresh child process (its peak RSS is its own): a JSONL dataset read on demand
(`rowstream.JsonlRows`), a `recorded` subject, the built-in f1_score, bleu and rouge (rougeL)
evaluators through the real runner (`run_rows_sync(keep=False)`), every scored row appended to a
`.rows.jsonl.gz` companion (`RowWriter`) and folded into `MetricAccumulator`. Printed per size:
time per row, rows/s, CPU seconds, peak RSS (goal < 1 GiB at 1M), companion file size.

    python bench/bench_stream.py                      # 100k and 1M
    python bench/bench_stream.py --rows 100000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORDS = [
    "backup", "restore", "plan", "monthly", "refund", "storage", "region", "encrypted", "token",
    "support", "weekday", "archive", "account", "invoice", "export", "settings", "password",
    "signup", "quota", "cluster",
]

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from pytest_llmgate.evaluators.registry import resolve_evaluator
from pytest_llmgate.pipeline.rowstream import JsonlRows, MetricAccumulator, RowWriter
from pytest_llmgate.engine.loop import close_loop
from pytest_llmgate.pipeline.runner import RunOptions, run_rows_sync
from pytest_llmgate.subjects.base import SubjectSpec
from pytest_llmgate.subjects.python import RecordedSubject

data, out = Path(sys.argv[1]), Path(sys.argv[2])
rows = JsonlRows(data, id_column="id")
subject = RecordedSubject(SubjectSpec(name="recorded", type="recorded", raw={"column": "response"},
    variants={"v": {}}, datasets=None, evaluators=None, suite_dir=data.parent,
    rootdir=data.parent))
evaluators = [resolve_evaluator(name="f1_score", use="f1_score"),
              resolve_evaluator(name="bleu", use="bleu"),
              resolve_evaluator(name="rouge", use="rouge", args={"rouge_type": "rougeL"})]
acc = MetricAccumulator()
cpu0, wall0 = time.process_time(), time.perf_counter()
with RowWriter(out) as writer:
    def on_row(row):
        writer.write("bench::stream", row)
        acc.add(row)
    run_rows_sync(rows, subject, "v", evaluators, RunOptions(concurrency=16), on_row=on_row,
                  keep=False)
aggregates = acc.aggregates()
wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
close_loop()
print(json.dumps({"rows": len(rows), "wall": wall, "cpu": cpu, "scored": acc.rows,
                  "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "f1_mean": aggregates["f1_score"]["mean"],
                  "bleu_p95": aggregates["bleu_score"]["p95"],
                  "bytes": out.stat().st_size}))
"""


def write_rows(path: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            truth = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14)))
            kept = [w if rng.random() > 0.25 else rng.choice(WORDS) for w in truth.split()]
            handle.write(json.dumps({"id": f"r{i:07d}", "query": f"q{i}",
                                     "response": " ".join(kept) + ".",
                                     "ground_truth": truth + "."}) + "\n")


def measure(n: int, workdir: Path) -> dict[str, float]:
    data = workdir / f"rows{n}.jsonl"
    if not data.exists():
        write_rows(data, n)
    out = workdir / f"rows{n}.rows.jsonl.gz"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(data), str(out)], env=env,
                          capture_output=True, text=True, cwd=workdir)
    if proc.returncode != 0:
        raise SystemExit(f"streamed run failed:\n{proc.stderr[-3000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def report(n: int, r: dict[str, float]) -> str:
    peak = r["peak_kb"] * 1024
    return (f"[stream] {n:>9,} rows x F1+BLEU+ROUGE-L: {r['wall'] / n * 1000:.3f} ms/row wall, "
            f"{r['cpu'] / n * 1000:.3f} ms/row CPU ({r['wall']:.1f} s), peak RSS "
            f"{peak / 2**20:,.0f} MiB ({'under' if peak < 2**30 else 'OVER'} 1 GiB), "
            f"rows file {r['bytes'] / 2**20:,.1f} MiB gz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append",
                        help="sizes to run (default: 100000 and 1000000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmgate-stream-") as tmp:
        for n in args.rows or [100_000, 1_000_000]:
            print(report(n, measure(n, Path(tmp))), flush=True)


if __name__ == "__main__":
    main()
