"""Benchmark: the gate at scale, through `pytest --llm-gate` in subprocesses (as CI runs it).

Prints:
1. 100,000 rows x 3 offline evaluators (f1_score, bleu, rouge) in one item (a `recorded` subject):
   wall time, peak RSS of the pytest process, results file size (plain and .gz);
2. xdist speed-up on CPU-bound offline scoring: 4 items x N rows, `-n 2` vs serial;
3. sharded vs unsharded: 3 shards (the big item split by rows) merged with `llmgate merge` equal
   the unsharded run, item by item and row by row (timings aside);
4. the time 20% injected 429/500 answers add to a prompt suite against the test server.

    python bench/bench_scale.py                 # all of it (~3-5 minutes on 2 cores)
    python bench/bench_scale.py --rows 20000    # smaller
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

INI = (
    "[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest -p no:randomly\n"
    "pythonpath = .\n"
)
WORDS = [
    "backup", "restore", "plan", "monthly", "refund", "storage", "region", "encrypted", "token",
    "support", "weekday", "archive", "account", "invoice", "export", "settings", "password",
    "signup", "quota", "cluster",
]


def _rows(n: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        truth = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14)))
        words = truth.split()
        keep = [w if rng.random() > 0.25 else rng.choice(WORDS) for w in words]
        out.append(json.dumps({"id": f"r{i:06d}", "query": f"q{i}", "response": " ".join(keep) + ".",
                               "ground_truth": truth + "."}))
    return "\n".join(out) + "\n"


def _suite(datasets: dict[str, str]) -> str:
    lines = ["suite: scale", "datasets:"]
    lines += [f"  {name}: ../data/{file}" for name, file in datasets.items()]
    lines += ["subjects:", "  recorded:", "    type: recorded", "    column: response",
              "evaluators:", "  - f1_score", "  - bleu", "  - rouge",
              "thresholds:", "  metrics:", "    f1_score: {min: 0.5}",
              "    bleu_score: {aggregate: pass_rate, row: {min: 0.2}, min: 0.5}"]
    return "\n".join(lines) + "\n"


def _project(root: Path, datasets: dict[str, int]) -> None:
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "suites").mkdir(exist_ok=True)
    (root / "pytest.ini").write_text(INI)
    for seed, (name, n) in enumerate(datasets.items()):
        (root / "data" / f"{name}.jsonl").write_text(_rows(n, seed))
    (root / "suites/scale.yaml").write_text(_suite({n: f"{n}.jsonl" for n in datasets}))


def _pytest(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run pytest --llm-gate in a child; (wall seconds, peak RSS bytes of the child, output)."""
    code = (
        "import resource, sys, pytest\n"
        "rc = pytest.main(sys.argv[1:])\n"
        "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, "--llm-gate", "-q", *args], cwd=root,
                          capture_output=True, text=True, env=env or _env())
    wall = time.perf_counter() - started
    peak = 0
    for line in proc.stderr.splitlines():
        if line.startswith("PEAK_RSS_KB"):
            peak = int(line.split()[1]) * 1024
    if proc.returncode not in (0, 1):
        raise SystemExit(f"pytest failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall, peak, proc.stdout


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "LLMGATE_"))}
    env.update(extra)
    return env


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def scale(rows: int, workdir: Path) -> None:
    root = workdir / "scale"
    _project(root, {"big": rows})
    wall, peak, _ = _pytest(root, "--llm-gate-json", "results.json")
    plain = (root / "results.json").stat().st_size
    gz = len(gzip.compress((root / "results.json").read_bytes(), 6))
    print(f"[scale] {rows:,} rows x 3 evaluators (f1, bleu, rouge: 11 metrics/row) in one item")
    print(f"  wall {wall:.1f} s ({rows / wall:,.0f} rows/s), peak RSS {_mib(peak)}"
          f" ({'under' if peak < 2**30 else 'OVER'} 1 GiB)")
    print(f"  results.json {_mib(plain)} ({plain / rows:,.0f} B/row), .gz {_mib(gz)}"
          f" ({plain / gz:.1f}x smaller)")


def xdist(rows: int, workdir: Path) -> None:
    root = workdir / "xdist"
    _project(root, {f"part{i}": rows for i in range(4)})
    serial, _, _ = _pytest(root, "-p", "no:xdist")
    parallel, _, _ = _pytest(root, "-n", "2")
    # control: two independent plain pytest processes, half the items each, at the same time;
    # what the machine itself allows for two CPU-bound processes (shared or hyper-threaded cores)
    started = time.perf_counter()
    halves = [subprocess.Popen(
        [sys.executable, "-m", "pytest", "--llm-gate", "-q", "-p", "no:xdist", "-k", k,
         "--llm-gate-json", f"half{i}.json"], cwd=root, env=_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for i, k in enumerate(("part0 or part1", "part2 or part3"))]
    for proc in halves:
        proc.wait()
    control = time.perf_counter() - started
    print(f"[xdist] 4 items x {rows:,} rows, CPU-bound offline scoring on {os.cpu_count()} cores:"
          f" serial {serial:.1f} s, -n 2 {parallel:.1f} s, speed-up {serial / parallel:.2f}x"
          f" (control, 2 independent processes: {control:.1f} s, {serial / control:.2f}x)")


def _decided(path: Path) -> dict[str, Any]:
    from pytest_llmgate.results.io import load_results

    run = load_results(path)  # rows inline, or streamed to the companion file
    data = run.to_dict()
    out = {}
    for item, loaded in zip(data["items"], run.items, strict=True):
        item["rows"] = [r.to_dict() for r in loaded.rows]
        rows = [({k: v for k, v in r.items() if k != "latency_ms"},) for r in item["rows"]]
        for (row,) in rows:
            row["metrics"] = {k: v for k, v in row["metrics"].items() if k != "latency_ms"}
        checks = [c for c in item["checks"] if c["metric"] != "latency_ms"]
        out[item["nodeid"]] = (item["verdict"], checks, rows)
    return out


def sharded(rows: int, workdir: Path) -> None:
    root = workdir / "shard"
    _project(root, {"big": rows, "small": 500, "small2": 700})
    env = _env(LLMGATE_SHARD_SPLIT_ROWS="1000")
    _pytest(root, "--llm-gate-json", "full.json", env=env)
    walls = []
    for i in (1, 2, 3):
        wall, _, _ = _pytest(root, "--llm-gate-shard", f"{i}/3", "--llm-gate-json", f"s{i}.json",
                             env=env)
        walls.append(wall)
    subprocess.run([sys.executable, "-m", "pytest_llmgate", "merge", "s1.json", "s2.json",
                    "s3.json", "-o", "merged.json"], cwd=root, check=True, capture_output=True)
    full, merged = _decided(root / "full.json"), _decided(root / "merged.json")
    same = full == merged
    verdicts = json.loads((root / "merged.json").read_text())["verdict"]
    print(f"[shard] 3 shards of ({rows:,} + 500 + 700 rows; the big item split by rows), "
          f"slowest shard {max(walls):.1f} s: merged == unsharded: {same} (verdict {verdicts})")
    if not same:
        raise SystemExit("sharded results differ from the unsharded run")


def faults(rows: int, workdir: Path) -> None:
    from pytest_llmgate.testing.server import ServerProcess

    root = workdir / "faults"
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "suites").mkdir(exist_ok=True)
    (root / "pytest.ini").write_text(INI)
    (root / "data/qa.jsonl").write_text("".join(
        json.dumps({"id": f"q{i}", "question": f"What is item {i}?",
                    "context": f"Item {i} costs {i} dollars.", "ground_truth": f"{i} dollars"}) + "\n"
        for i in range(rows)))
    (root / "suites/llm.yaml").write_text(
        "suite: llm\ndatasets:\n  qa: ../data/qa.jsonl\nsubjects:\n  answer:\n    type: prompt\n"
        "    messages:\n      - {role: user, content: \"{{ context }} {{ question }}\"}\n"
        "evaluators: [f1_score]\n")
    with ServerProcess(latency_ms=20) as server:
        (root / "thresholds.yaml").write_text(
            f"models:\n  openai:\n    base_url: {server.base_url}\n    model: gpt-4o-mini\n"
            f"    api_key: ${{OPENAI_API_KEY}}\n    max_retries: 10\n")
        env = _env(OPENAI_API_KEY="sk-bench", OPENAI_BASE_URL=server.base_url)
        args = ("--llm-gate-cache", "off", "--llm-gate-json", "r.json")
        clean, _, _ = _pytest(root, *args, env=env)
        base = _decided(root / "r.json")
        server.configure(error_rate_429=0.1, error_rate_500=0.1, retry_after=0.05, seed=3)
        faulty, _, out = _pytest(root, *args, env=env)
        same = _decided(root / "r.json") == base
    calls = next((line for line in out.splitlines() if line.startswith("model calls")), "")
    print(f"[faults] {rows} prompt rows at 20 ms latency: clean {clean:.1f} s, with 20% 429/500 "
          f"(Retry-After 0.05 s) {faulty:.1f} s (+{faulty - clean:.1f} s); results equal: {same}")
    print(f"  {calls}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--xdist-rows", type=int, default=5_000)
    parser.add_argument("--shard-rows", type=int, default=10_000)
    parser.add_argument("--fault-rows", type=int, default=400)
    parser.add_argument("--only", choices=("scale", "xdist", "shard", "faults"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmgate-scale-") as tmp:
        work = Path(tmp)
        if args.only in (None, "scale"):
            scale(args.rows, work)
        if args.only in (None, "xdist"):
            xdist(args.xdist_rows, work)
        if args.only in (None, "shard"):
            sharded(args.shard_rows, work)
        if args.only in (None, "faults"):
            faults(args.fault_rows, work)


if __name__ == "__main__":
    main()
