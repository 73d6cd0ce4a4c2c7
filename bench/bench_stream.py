"""Benchmark: streamed rows at 1k, 10k and 100k rows (and 1M with `--million`) x F1 + BLEU +
ROUGE-L in one item, each a whole `pytest --llm-gate` process as CI runs it.

Every size runs in a fresh child process (its peak RSS is its own) on the same generated dataset
shape: a `recorded` subject, the built-in f1_score, bleu and rouge (rougeL) evaluators, two
thresholds (a mean and a row-bound pass rate), `--llm-gate-stream-rows 1` so every size takes the
streamed path (`--memory` runs the in-memory path too, for comparison). Printed per size: time
per row inside the item (`duration_s` / rows) and for the whole process (wall and CPU), peak
RSS (goal: 1M rows within 1 GiB), the results JSON and rows-file sizes, and the growth of the
per-row time from one size to the next (1.00x = linear). `uptime`'s load average is printed
first: figures from a busy machine are upper bounds.

    python bench/bench_stream.py                    # 1k, 10k, 100k streamed
    python bench/bench_stream.py --million          # and 1,000,000 (~5 minutes on 2 cores)
    python bench/bench_stream.py --rows 20000 --memory
    python bench/bench_stream.py --engine --rows 100000   # the engine alone, no pytest
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WORDS = [
    "backup", "restore", "plan", "monthly", "refund", "storage", "region", "encrypted", "token",
    "support", "weekday", "archive", "account", "invoice", "export", "settings", "password",
    "signup", "quota", "cluster",
]
INI = ("[pytest]\naddopts = -p no:cacheprovider -p no:randomly -p no:hypothesispytest\n"
       "pythonpath = .\n")
SUITE = """\
suite: stream
datasets:
  rows: ../data/rows.jsonl
subjects:
  recorded: {type: recorded, column: response}
evaluators:
  - f1_score
  - bleu
  - {use: rouge, args: {rouge_type: rougeL}}
thresholds:
  metrics:
    f1_score: {min: 0.5}
    bleu_score: {aggregate: pass_rate, row: {min: 0.2}, min: 0.5}
"""
PYTEST = ("import resource, sys, pytest\n"
          "rc = pytest.main(sys.argv[1:])\n"
          "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
          "file=sys.stderr)\n"
          "sys.exit(rc)\n")

ENGINE = r"""
import json, resource, sys, time
from pathlib import Path
from pytest_llmgate.evaluators.registry import resolve_evaluator
from pytest_llmgate.results.rowstream import JsonlRows, RowWriter
from pytest_llmgate.engine.loop import close_loop
from pytest_llmgate.pipeline.runner import RunOptions, run_rows_sync
from pytest_llmgate.results.storedrows import RowColumns
from pytest_llmgate.verdict.gate import aggregates_for
from pytest_llmgate.results.storedrows import RowsFile, StoredRows
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
columns = RowColumns()
cpu0, wall0 = time.process_time(), time.perf_counter()
with RowWriter(out) as writer:
    offset = writer.start_item()
    def on_row(row):
        writer.write("bench::stream", row)
        columns.add(row)
    run_rows_sync(rows, subject, "v", evaluators, RunOptions(concurrency=16), on_row=on_row,
                  keep=False)
aggregates = aggregates_for(StoredRows(RowsFile(out), "bench::stream", offset, columns.rows,
                                       columns))
wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
close_loop()
print(json.dumps({"rows": len(rows), "wall": wall, "cpu": cpu, "item": wall,
                  "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "json": 0, "companion": out.stat().st_size}))
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


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "LLMGATE_"))}
    env["PYTHONPATH"] = str(REPO)
    env.pop("CI", None)
    return env


def _child(args: list[str], cwd: Path) -> tuple[float, float, int, subprocess.CompletedProcess[str]]:
    """(wall s, CPU s, peak RSS bytes, process) of one child."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak = max((int(line.split()[1]) * 1024 for line in proc.stderr.splitlines()
                if line.startswith("PEAK_RSS_KB")), default=after.ru_maxrss * 1024)
    return wall, cpu, peak, proc


def project(root: Path, n: int) -> None:
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "suites").mkdir(exist_ok=True)
    (root / "pytest.ini").write_text(INI)
    (root / "suites/stream.yaml").write_text(SUITE)
    write_rows(root / "data/rows.jsonl", n)


def gate(root: Path, n: int, stream: str) -> dict[str, Any]:
    name = f"{stream}.json"
    wall, cpu, peak, proc = _child(
        ["-c", PYTEST, "suites/", "--llm-gate", "-q", "-p", "no:xdist",
         "--llm-gate-stream-rows", stream, "--llm-gate-json", name], root)
    if proc.returncode not in (0, 1) or not (root / name).is_file():
        raise SystemExit(f"gate failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                         f"{proc.stderr[-3000:]}")
    data = json.loads((root / name).read_text())
    companion = root / f"{stream}.rows.jsonl.gz"
    return {"rows": n, "wall": wall, "cpu": cpu, "peak_kb": peak / 1024,
            "item": data["items"][0]["duration_s"], "verdict": data["verdict"],
            "json": (root / name).stat().st_size,
            "companion": companion.stat().st_size if "rows_file" in data else 0,
            "aggregates": data["items"][0]["aggregates"]}


def engine(root: Path, n: int) -> dict[str, Any]:
    *_, proc = _child(["-c", ENGINE, str(root / "data/rows.jsonl"),
                       str(root / "engine.rows.jsonl.gz")], root)
    if proc.returncode != 0:
        raise SystemExit(f"engine run failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def report(label: str, r: dict[str, Any], previous: dict[str, Any] | None) -> str:
    n = r["rows"]
    peak = r["peak_kb"] * 1024
    growth = ""
    if previous is not None:
        growth = f", per-row time x{(r['item'] / n) / (previous['item'] / previous['rows']):.2f}"
    return (f"[{label}] {n:>9,} rows x F1+BLEU+ROUGE-L: {r['item'] / n * 1000:.3f} ms/row in "
            f"the item ({r['item']:.1f} s){growth}; process {r['wall']:.1f} s wall, "
            f"{r['cpu'] / n * 1000:.3f} ms/row CPU; peak RSS {peak / 2**20:,.0f} MiB "
            f"({'under' if peak < 2**30 else 'OVER'} 1 GiB); results JSON "
            f"{r['json'] / 2**20:,.2f} MiB, rows file {r['companion'] / 2**20:,.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append",
                        help="sizes to run (default: 1000, 10000, 100000)")
    parser.add_argument("--million", action="store_true", help="also 1,000,000 rows")
    parser.add_argument("--memory", action="store_true",
                        help="also run the in-memory path (--llm-gate-stream-rows off)")
    parser.add_argument("--engine", action="store_true",
                        help="the engine alone (runner + rows file + columns), no pytest")
    parser.add_argument("--workdir", type=Path, help="keep the projects here (default: a "
                        "temporary directory)")
    args = parser.parse_args()
    sizes = args.rows or [1000, 10_000, 100_000]
    if args.million:
        sizes.append(1_000_000)
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} CPUs; uptime: {load}", flush=True)
    previous: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="llmgate-stream-") as tmp:
        for n in sizes:
            root = (args.workdir or Path(tmp)) / f"rows{n}"
            project(root, n)
            results = {"engine": engine(root, n)} if args.engine else {
                "stream": gate(root, n, "1")}
            if args.memory:
                results["memory"] = gate(root, n, "off")
            for label, r in results.items():
                print(report(label, r, previous.get(label)), flush=True)
                previous[label] = r
            if "memory" in results and "stream" in results:
                a, b = (
                    {k: v for k, v in results[x]["aggregates"].items() if k != "latency_ms"}
                    for x in ("memory", "stream")
                )
                print(f"  streamed aggregates == in-memory aggregates (timings aside): {a == b}",
                      flush=True)
            load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
            print(f"  uptime: {load}", flush=True)


if __name__ == "__main__":
    main()
