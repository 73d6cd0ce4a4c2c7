"""Benchmark: the FULL gate path (`pytest --llm-gate` on a generated suite) against a bare openai loop.

Work: a suite with one prompt subject in 2 variants x 1,000 rows; per row one subject call (a RAG
prompt) and one judge call (the built-in `groundedness`: azure-ai-evaluation's prompt through the
gate's engine), against the project's test server in a child process at 50 ms latency, with
`--llm-gate-concurrency 64`. Printed:

- the gate's wall time: the whole `pytest` process, and the items alone (results JSON duration_s);
- latency bound = calls x latency / concurrency;
- CPU bound = calls x the client CPU per call of a bare `openai.AsyncOpenAI` loop doing the same
  kind of requests at the same concurrency, measured first in this script;
- ratio = wall / max(bounds) (target <= 1.5), for the items and for the process;
- the warm-cache re-run of the same work (`--llm-gate-cache ro`: zero HTTP requests), process wall
  and items (target < 2 s), and whether every verdict and score is identical.

    python bench/bench_llm_gate.py [--rows 1000] [--variants 2] [--latency-ms 50] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TOPICS = ["warranty", "shipping", "refunds", "passwords", "exports", "invoices", "storage", "teams"]


def row(i: int) -> dict[str, str]:
    topic = TOPICS[i % len(TOPICS)]
    days = 3 + i % 27
    return {
        "id": f"r{i:05d}",
        "question": f"How many days does {topic} case {i} take?",
        "context": (
            f"Our {topic} policy is reviewed every quarter. {topic.capitalize()} case {i} takes "
            f"{days} business days to complete. Contact support for anything else about {topic}."
        ),
        "ground_truth": f"{topic.capitalize()} case {i} takes {days} business days.",
    }


SUITE = """\
suite: bench
concurrency: {concurrency}
datasets:
  rows: ../data/rows.jsonl
subjects:
  answer:
    type: prompt
    inputs: {{question: "${{data.question}}", context: "${{data.context}}"}}
    parameters: {{temperature: 0, max_tokens: 200}}
    variants:
{variants}
evaluators:
  - groundedness
"""
# Each variant's prompt makes the server answer differently (its LLMGATE_REPLY marker), so the two
# variants' judge prompts differ and no call is served from the cache within the cold run.
VARIANT = """\
      v{v}:
        seed: {v}
        messages:
          - {{role: system, content: "Answer only from the context. LLMGATE_REPLY:({v}) {{{{ context }}}}"}}
          - {{role: user, content: "Context: {{{{ context }}}}\\nQuestion: {{{{ question }}}}"}}"""


def write_project(root: Path, rows: int, variants: int, concurrency: int) -> None:
    (root / "data").mkdir(parents=True)
    (root / "suites").mkdir()
    with (root / "data/rows.jsonl").open("w") as f:
        for i in range(rows):
            f.write(json.dumps(row(i)) + "\n")
    lines = "\n".join(VARIANT.format(v=v) for v in range(variants))
    (root / "suites/bench.yaml").write_text(SUITE.format(concurrency=concurrency, variants=lines))
    (root / "pytest.ini").write_text(
        "[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest\npythonpath = .\n"
    )


async def bare_openai(base_url: str, requests: list[tuple[str, Any, dict[str, Any]]],
                      concurrency: int) -> None:
    """The raw client: one pooled client, a semaphore, no retries, no cache, no parsing."""
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
    limit = asyncio.Semaphore(concurrency)

    async def call(model: str, messages: Any, params: dict[str, Any]) -> None:
        async with limit:
            await client.chat.completions.create(model=model, messages=messages, **params)

    try:
        await asyncio.gather(*[call(m, msgs, p) for m, msgs, p in requests])
    finally:
        await client.close()


def bare_mix(n: int) -> list[tuple[str, Any, dict[str, Any]]]:
    from pytest_llmgate.evaluators.judge import render_azure_prompty

    mix: list[tuple[str, Any, dict[str, Any]]] = []
    for k in range(n):
        r = row(500_000 + k)
        if k % 2:
            messages, params = render_azure_prompty(
                "_groundedness/groundedness_with_query.prompty",
                {"query": r["question"], "context": r["context"], "response": r["context"]},
            )
            mix.append(("gpt-4o", messages, params))
        else:
            messages = [
                {"role": "system", "content": "Be brief. Answer only from the context."},
                {"role": "user", "content": f"Context: {r['context']}\nQuestion: {r['question']}"},
            ]
            mix.append(("gpt-4o-mini", messages, {"temperature": 0, "max_tokens": 200}))
    return mix


def gate(root: Path, env: dict[str, str], *extra: str) -> tuple[float, float, dict[str, Any], str]:
    """Run `pytest suites/ --llm-gate` in `root`: (wall s, CPU s, results, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/", "--llm-gate", "-q", *extra],
        cwd=root, env=env, capture_output=True, text=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"gate run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    results = json.loads((root / ".llmgate/results.json").read_text())
    return wall, cpu, results, proc.stdout


def decided(results: dict[str, Any]) -> list[Any]:
    return [
        (item["nodeid"], item["verdict"],
         [(r["id"], r["output"], r["metrics"].get("groundedness"), r.get("errors")) for r in
          item["rows"]])
        for item in results["items"]
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--variants", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--bare-calls", type=int, default=2000)
    args = parser.parse_args(argv)

    from pytest_llmgate.testing import ServerProcess

    calls = 2 * args.rows * args.variants
    with ServerProcess(latency_ms=args.latency_ms) as server, \
            tempfile.TemporaryDirectory(prefix="llmgate-gate-bench-") as tmp:
        root = Path(tmp)
        write_project(root, args.rows, args.variants, args.concurrency)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "LLMGATE_"))}
        env.update(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="sk-bench-not-a-real-key",
                   OPENAI_MODEL="gpt-4o-mini", LLMGATE_JUDGE_BASE_URL=server.base_url,
                   LLMGATE_JUDGE_MODEL="gpt-4o")

        mix = bare_mix(args.bare_calls)
        asyncio.run(bare_openai(server.base_url, mix[:64], args.concurrency))  # imports, warm-up
        cpu0, wall0 = time.process_time(), time.perf_counter()
        asyncio.run(bare_openai(server.base_url, mix, args.concurrency))
        bare_cpu, bare_wall = time.process_time() - cpu0, time.perf_counter() - wall0
        cpu_per_call = bare_cpu / len(mix)

        before = server.stats()["requests"]
        flags = ("--llm-gate-concurrency", str(args.concurrency))
        wall, cpu, cold, out = gate(root, env, *flags)
        cold_requests = server.stats()["requests"] - before
        items_s = sum(item["duration_s"] for item in cold["items"])

        before = server.stats()["requests"]
        warm_wall, warm_cpu, warm, _ = gate(root, env, *flags, "--llm-gate-cache", "ro")
        warm_requests = server.stats()["requests"] - before
        warm_items_s = sum(item["duration_s"] for item in warm["items"])

    latency_bound = calls * args.latency_ms / 1000 / args.concurrency
    cpu_bound = calls * cpu_per_call
    bound = max(latency_bound, cpu_bound)
    errored = sum(1 for item in cold["items"] for r in item["rows"] if r.get("errors"))
    summary = [line for line in out.splitlines() if line.startswith(("model calls", "call cache"))]
    print(f"work: {args.variants} variants x {args.rows} rows x (prompt subject + groundedness "
          f"judge) = {calls} calls through `pytest --llm-gate`, latency {args.latency_ms:g} ms, "
          f"concurrency {args.concurrency}, server in a child process")
    print(f"bare openai loop: {len(mix)} calls in {bare_wall:.2f} s wall, "
          f"{cpu_per_call * 1000:.2f} ms CPU per call")
    print(f"gate cold run: items {items_s:.2f} s, process {wall:.2f} s wall / {cpu:.2f} s CPU "
          f"({cpu / calls * 1000:.2f} ms per call incl. startup), {cold_requests} HTTP requests, "
          f"{errored} errored rows")
    for line in summary:
        print(f"  {line}")
    print(f"latency bound: {latency_bound:.2f} s   CPU bound: {cpu_bound:.2f} s")
    print(f"ratio items / max(bounds): {items_s / bound:.2f}   process / max(bounds): "
          f"{wall / bound:.2f}  (target <= 1.5)")
    print(f"warm re-run (--llm-gate-cache ro): items {warm_items_s:.2f} s, process "
          f"{warm_wall:.2f} s wall / {warm_cpu:.2f} s CPU, {warm_requests} HTTP requests, "
          f"identical verdicts and scores: {decided(warm) == decided(cold)}  (target < 2 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
