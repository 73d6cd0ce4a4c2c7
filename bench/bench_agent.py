"""Benchmark: conversations per second of the offline agent example (suites/agent.yaml).

Runs the `support_agent` subject (variant `careful`) over the golden conversations repeated to
N rows, with the suite's evaluators, through the gate's engine (the same path a pytest item
takes), and prints rows/second, subject steps and tool calls per second, and the per-row latency.

    python bench/bench_agent.py --rows 2400
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2400)
    parser.add_argument("--variant", default="careful")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-evaluators", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))

    from pytest_llmgate.config.datasets import Row
    from pytest_llmgate.engine.loop import close_loop
    from pytest_llmgate.pipeline.runner import RunOptions, run_rows_sync
    from pytest_llmgate.suite.loader import SuiteLoader

    loader = SuiteLoader(ROOT)
    suite = loader.load(ROOT / "suites" / "agent.yaml")
    subject = suite.subject("support_agent")
    evaluators = [] if args.no_evaluators else suite.evaluators_for("support_agent")
    golden = loader.dataset(suite.datasets["conversations"]).rows
    rows = [
        Row(id=f"{golden[i % len(golden)].id}-{i}", line=i + 1, data=golden[i % len(golden)].data)
        for i in range(args.rows)
    ]
    options = RunOptions(concurrency=args.concurrency)
    run_rows_sync(rows[: len(golden)], subject, args.variant, evaluators, options)  # warm-up
    gc.collect()
    started = time.perf_counter()
    results = run_rows_sync(rows, subject, args.variant, evaluators, options)
    elapsed = time.perf_counter() - started
    close_loop()
    errors = sum(1 for r in results if r.errors)
    steps = sum(r.output["steps"] for r in results if isinstance(r.output, dict))
    calls = sum(len(r.output["tool_calls"]) for r in results if isinstance(r.output, dict))
    latencies = sorted(r.latency_ms for r in results)
    print(f"rows: {len(results)} ({errors} errored), evaluators: {len(evaluators)}")
    print(f"wall: {elapsed:.2f} s  ->  {len(results) / elapsed:.0f} conversations/s")
    print(f"subject steps: {steps} ({steps / elapsed:.0f}/s), tool calls: {calls}")
    print(
        f"row latency: p50 {latencies[len(latencies) // 2]:.2f} ms, "
        f"p95 {latencies[int(len(latencies) * 0.95)]:.2f} ms"
    )
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
