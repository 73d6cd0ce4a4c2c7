"""One command for the scale figures of issue 16, every side a whole process (as CI runs it).

Prints, in order:
0. the speed of this machine today (a fixed pure-Python loop), so figures from different days
   and machines can be put side by side;
1. offline scoring, 10k rows x F1 + BLEU + ROUGE-L: `pytest --llm-gate` (recorded subject) against
   a process that imports azure-ai-evaluation and runs its `evaluate()` on the same rows; the
   ratio of the wall times and the largest score difference. The gate is run twice: with every
   pytest plugin installed here (hypothesis, xdist, anyio with trio, ... this dev box's), and
   with only its own (`PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 -p pytest_llmgate.plugin`), which is
   what a project that installs the gate alone runs. Both sides run with bytecode caching on and
   warmed, as pip leaves an installed package (this box sets PYTHONDONTWRITEBYTECODE);
2. time per row at 1k, 10k and 100k rows (item `duration_s` / rows, and the process's CPU), with
   the peak RSS of each pytest process;
3. with `--shards N` (default 4), the largest size run as N shards (`--llm-gate-shard I/N`, one
   process each, as N parallel CI jobs would) and `llmgate merge`: each shard's wall time and
   peak RSS, the merge, and whether the merged verdict and aggregates equal the unsharded run's;
4. the LLM path (`bench_llm_gate.py`: 4,000 calls, its ratio to the latency and CPU bounds) and
   the warm-cache re-run; the client CPU per call of the engine's lean path against bare
   `openai.AsyncOpenAI` loops (`bench_lean.py`);
5. with `--million`, the streamed path at 100k and 1M rows (`bench_stream.py`).

Wall times on a busy machine are upper bounds; the CPU seconds printed next to them move less.

    python bench/bench_all.py [--sizes 1000 10000 100000] [--shards 4] [--million] [--skip-azure]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

INI = "[pytest]\naddopts = -p no:cacheprovider -p no:randomly\npythonpath = .\n"
SUITE = """\
suite: offline
datasets:
  rows: ../data/rows.jsonl
subjects:
  recorded: {type: recorded, column: response}
evaluators:
  - f1_score
  - bleu
  - {use: rouge, args: {rouge_type: rougeL}}
"""
AZURE = r"""
import json, sys, contextlib, io, pathlib
sys.path.insert(0, sys.argv[3])
from bench_offline import run_azure
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
_, seconds, scores = run_azure(rows, "rougeL", pathlib.Path(sys.argv[2]), False)
json.dump({"seconds": seconds, "scores": scores}, open(pathlib.Path(sys.argv[2]) / "azure.json", "w"))
"""


def _env(own_plugins_only: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_XDIST", "LLMGATE_", "PYTEST_DISABLE_PLUGIN_AUTOLOAD"))
           and k != "PYTHONDONTWRITEBYTECODE"}  # an installed package has its bytecode
    env["PYTHONPATH"] = str(REPO)
    if own_plugins_only:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def machine_speed() -> float:
    """Seconds for 10 million additions in a pure-Python loop (about 0.45 s on a quiet modern
    core): the unit the day's figures can be scaled by."""
    started = time.process_time()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.process_time() - started


def child(args: list[str], cwd: Path, *, own_plugins_only: bool = False
          ) -> tuple[float, float, int, subprocess.CompletedProcess[str]]:
    """(wall s, CPU s, peak RSS bytes, process) of one child process."""
    code = ("import resource, runpy, sys\n"
            "args = sys.argv[1:]\n"
            "try:\n"
            "    if args[0] == '-c':\n"
            "        sys.argv = args[1:]\n"
            "        exec(args[1], {'__name__': '__main__'})\n"
            "    else:\n"
            "        sys.argv = args\n"
            "        runpy.run_module(args[0], run_name='__main__')\n"
            "finally:\n"
            "    print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
            "file=sys.stderr)\n")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd,
                          env=_env(own_plugins_only), capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak = max((int(line.split()[1]) * 1024 for line in proc.stderr.splitlines()
                if line.startswith("PEAK_RSS_KB")), default=0)
    return wall, cpu, peak, proc


def project(root: Path, n: int) -> list[dict[str, str]]:
    from bench_offline import build_rows

    rows = build_rows(n)
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "suites").mkdir(exist_ok=True)
    (root / "pytest.ini").write_text(INI)
    (root / "suites/offline.yaml").write_text(SUITE)
    with (root / "data/rows.jsonl").open("w", encoding="utf-8") as handle:
        for i, row in enumerate(rows):
            handle.write(json.dumps({"id": f"r{i:07d}", **row}) + "\n")
    return rows


def gate(root: Path, *extra: str, own_plugins_only: bool = False,
         results: str = "results.json") -> tuple[float, float, int, dict[str, Any]]:
    plugins = ["-p", "pytest_llmgate.plugin"] if own_plugins_only else ["-p", "no:xdist"]
    wall, cpu, peak, proc = child(["pytest", *plugins, "suites/", "--llm-gate", "-q",
                                   "--llm-gate-json", results, *extra], root,
                                  own_plugins_only=own_plugins_only)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"gate failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall, cpu, peak, json.loads((root / results).read_text())


def offline_ratio(work: Path, n: int) -> None:
    root = work / f"offline{n}"
    project(root, n)
    warm = work / "warm-up"  # writes the bytecode of both sides, as an installed package has it
    project(warm, 10)
    gate(warm)
    gate(warm, own_plugins_only=True)
    azure_wall, azure_cpu, _, proc = child(
        ["-c", AZURE, str(root / "data/rows.jsonl"), str(root), str(REPO / "bench")], root)
    if proc.returncode != 0:
        print(f"[offline] azure evaluate() failed: {proc.stderr.strip().splitlines()[-1:]}")
        return
    theirs = json.loads((root / "azure.json").read_text())["scores"]
    from pytest_llmgate.results.io import load_results

    for own in (False, True):
        wall, cpu, _, _ = gate(root, own_plugins_only=own)
        # 10k rows stream to the companion file (--llm-gate-stream-rows): read them from there
        ours = [r.metrics for r in load_results(root / "results.json").items[0].rows]
        worst = max(abs(ours[i][k] - v) for i, row in enumerate(theirs) for k, v in row.items())
        plugins = "the gate's own plugin only" if own else "every plugin installed here"
        print(f"[offline] {n:,} rows x F1+BLEU+ROUGE-L, whole processes ({plugins}): gate "
              f"{wall:.2f} s wall / {cpu:.2f} s CPU, azure evaluate() {azure_wall:.2f} s wall / "
              f"{azure_cpu:.2f} s CPU: {azure_wall / wall:.1f}x (CPU {azure_cpu / cpu:.1f}x); "
              f"max abs diff {worst:.1e}", flush=True)


def growth(work: Path, sizes: list[int]) -> dict[int, float]:
    """Per size, the unsharded process's wall time (what `shards` compares with)."""
    walls: dict[int, float] = {}
    for n in sizes:
        root = work / f"scale{n}"
        project(root, n)
        wall, cpu, peak, results = gate(root)
        walls[n] = wall
        item = results["items"][0]["duration_s"]
        print(f"[rows] {n:>7,}: {item / n * 1000:.3f} ms/row in the item ({item:.2f} s), process "
              f"{wall:.2f} s wall / {cpu:.2f} s CPU ({cpu / n * 1000:.3f} ms/row), peak RSS "
              f"{peak / 2**20:,.0f} MiB", flush=True)
    return walls


def _decided(results: dict[str, Any]) -> list[Any]:
    """What a merge must reproduce: each item's verdict, row and error counts, and the aggregates
    of its scores (latency is measured anew by each process)."""
    return [(item["nodeid"], item["verdict"], item["dataset_rows"], item["error_count"],
             {metric: {k: round(v, 9) for k, v in sorted(stats.items())}
              for metric, stats in sorted(item["aggregates"].items()) if metric != "latency_ms"})
            for item in results["items"]]


def shards(work: Path, n: int, count: int, whole_wall: float) -> None:
    """The run split in `count` shard processes, then merged (the path beyond one machine);
    `growth` ran the unsharded run in the same folder."""
    root = work / f"scale{n}"
    whole = json.loads((root / "results.json").read_text())
    parts: list[str] = []
    walls: list[float] = []
    for index in range(1, count + 1):
        part = f"shard{index}.json"
        wall, cpu, peak, _ = gate(root, "--llm-gate-shard", f"{index}/{count}", results=part)
        parts.append(part)
        walls.append(wall)
        print(f"[shards] {n:,} rows, shard {index}/{count}: {wall:.2f} s wall / {cpu:.2f} s CPU, "
              f"peak RSS {peak / 2**20:,.0f} MiB", flush=True)
    started = time.perf_counter()
    merge = subprocess.run([sys.executable, "-c", "import sys; from pytest_llmgate.cli.main "
                            "import main; sys.exit(main())", "merge", *parts, "-o",
                            "merged.json"], cwd=root, env=_env(), capture_output=True, text=True)
    merge_s = time.perf_counter() - started
    if merge.returncode != 0:
        print(f"[shards] llmgate merge failed: {(merge.stdout + merge.stderr).strip()[-500:]}")
        return
    merged = json.loads((root / "merged.json").read_text())
    same = _decided(merged) == _decided(whole)
    print(f"[shards] {count} shards as {count} parallel CI jobs: slowest shard {max(walls):.2f} s "
          f"(the unsharded process {whole_wall:.2f} s), merge {merge_s:.2f} s; merged "
          f"verdicts and aggregates equal the unsharded run's: {same}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--offline-rows", type=int, default=10_000)
    parser.add_argument("--shards", type=int, default=4, help="0: no shard measurement")
    parser.add_argument("--skip-azure", action="store_true")
    parser.add_argument("--skip-llm", action="store_true")
    parser.add_argument("--million", action="store_true", help="also run bench_stream.py")
    args = parser.parse_args()
    print(f"[machine] 10M additions in a Python loop: {machine_speed():.2f} s CPU "
          f"(load average {os.getloadavg()[0]:.2f})", flush=True)
    with tempfile.TemporaryDirectory(prefix="llmgate-all-", dir=Path.home()) as tmp:
        work = Path(tmp)  # not under /tmp: azure's legacy client deletes inputs there
        if not args.skip_azure:
            offline_ratio(work, args.offline_rows)
        walls = growth(work, args.sizes)
        if args.shards > 1:
            shards(work, max(args.sizes), args.shards, walls[max(args.sizes)])
    if not args.skip_llm:
        for script in ("bench_llm_gate.py", "bench_lean.py"):
            out = subprocess.run([sys.executable, str(REPO / "bench" / script)], env=_env(),
                                 capture_output=True, text=True)
            print("[llm] " + "\n[llm] ".join(out.stdout.strip().splitlines()), flush=True)
    if args.million:
        subprocess.run([sys.executable, str(REPO / "bench/bench_stream.py"), "--million"],
                       env=_env(), check=True)


if __name__ == "__main__":
    main()
