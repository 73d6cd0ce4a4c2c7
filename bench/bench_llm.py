"""Benchmark: the model-call layer against the raw openai client, and a warm-cache re-run.

Work: 2 variants x 1,000 rows; per row one subject call (a RAG prompt) and one judge call (the real
azure-ai-evaluation groundedness prompt when installed, else a look-alike of the same size), against
the project's test server at 50 ms latency, concurrency 64, through `ModelPool.chat` with a fresh
rw cache. Printed:

- wall time of the cold run;
- latency bound = calls x latency / concurrency (what perfect overlap of the waits would take);
- CPU bound = calls x the client CPU per call of a bare `openai.AsyncOpenAI` loop doing the same
  requests at the same concurrency, measured first in this script (`time.process_time`);
- ratio = wall / max(bounds): what the harness adds over the raw client (target <= 1.5);
- the warm re-run of the same work from the cache, in this process and in a fresh interpreter
  (target < 2 s), with the number of HTTP requests it made (must be 0).

The server runs in a child process by default so that its CPU is not charged to the client (and it
gets the other core); `--in-process` runs it on a thread of this process instead.

    PYTHONPATH=. python bench/bench_llm.py [--rows 1000] [--variants 2] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pytest_llmgate.config.models import ModelConfig, Secret
from pytest_llmgate.engine import llm
from pytest_llmgate.engine.cache import ResponseCache
from pytest_llmgate.engine.llm import ModelPool

TOPICS = ["warranty", "shipping", "refunds", "passwords", "exports", "invoices", "storage", "teams"]
VARIANTS = [
    "Answer the question using only the context. Be concise.",
    "You are a support agent. Quote the context sentence that answers the question.",
    "Answer in one sentence, from the context only.",
]
FALLBACK_JUDGE = (
    "system:\nYou are an expert in evaluating the quality of a RESPONSE.\nuser:\n# Definition\n"
    "**Groundedness** refers to how well an answer is anchored in the provided context.\n"
    + "# Ratings\n"
    + ("Rubric line describing one level of the groundedness scale. " * 90)
    + "\n"
    "# Data\nCONTEXT: {{context}}\nQUERY: {{query}}\nRESPONSE: {{response}}\n\n\n# Tasks\n"
    "Output a JSON object with reason, score and status.\n"
)


def judge_template() -> str:
    """The groundedness prompty body, found without importing azure.ai.evaluation (seconds)."""
    try:
        spec = importlib.util.find_spec("azure.ai.evaluation")
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        for base in spec.submodule_search_locations:
            path = Path(base, "_evaluators", "_groundedness", "groundedness_with_query.prompty")
            if path.is_file():
                return path.read_text(encoding="utf-8").split("---", 2)[2]
    return FALLBACK_JUDGE


def render(template: str, **values: str) -> list[dict[str, str]]:
    for name, value in values.items():
        template = template.replace("{{" + name + "}}", value)
    system, _, user = template.partition("\nuser:\n")
    return [
        {"role": "system", "content": system.replace("system:\n", "", 1).strip()},
        {"role": "user", "content": user.strip()},
    ]


def row(i: int) -> tuple[str, str]:
    topic = TOPICS[i % len(TOPICS)]
    context = (
        f"Policy {i}: the {topic} rule number {i} applies to every account created after "
        f"{i % 28 + 1}"
        f" March. Customers on plan {i % 5} get {i % 7 + 1} days of extra {topic} support. "
        f"Unrelated note {i}: the office plants are watered on Fridays."
    )
    return f"How many days of extra {topic} support do customers on plan {i % 5} get?", context


def subject_messages(variant: int, i: int) -> list[dict[str, str]]:
    question, context = row(i)
    return [
        {"role": "system", "content": VARIANTS[variant % len(VARIANTS)]},
        {"role": "user", "content": f"Context:\n{context}\n\nQuestion: {question}"},
    ]


JUDGE_PARAMS = {
    "temperature": 0.0,
    "max_tokens": 800,
    "top_p": 1.0,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "response_format": {"type": "json_object"},
}


async def harness(
    pool: ModelPool,
    subject: ModelConfig,
    judge: ModelConfig,
    rows: int,
    variants: int,
    template: str,
) -> list[str]:
    async def one(variant: int, i: int) -> str:
        answer = await llm.chat(
            subject,
            subject_messages(variant, i),
            role="subject",
            params={"temperature": 0.0, "max_tokens": 200},
        )
        question, context = row(i)
        verdict = await llm.chat(
            judge,
            render(template, query=question, context=context, response=answer.text),
            role="judge",
            params=JUDGE_PARAMS,
            cache_extra={"evaluator": "groundedness", "version": "1.18.10"},
        )
        return verdict.text

    previous = llm.set_pool(pool)  # what the runner does for a session
    try:
        return await asyncio.gather(*[one(v, i) for v in range(variants) for i in range(rows)])
    finally:
        await pool.aclose()
        llm.set_pool(previous)


async def bare_openai(
    base_url: str,
    requests: Sequence[tuple[str, list[dict[str, str]], dict[str, Any]]],
    concurrency: int,
) -> None:
    """The raw client doing the same requests: one pooled client, a semaphore, no retries."""
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
    limit = asyncio.Semaphore(concurrency)

    async def call(model: str, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
        async with limit:
            response = await client.chat.completions.create(
                model=model, messages=messages, **params
            )
            return response.choices[0].message.content or ""

    try:
        await asyncio.gather(*[call(m, msgs, p) for m, msgs, p in requests])
    finally:
        await client.close()


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def models(base_url: str, concurrency: int) -> tuple[ModelConfig, ModelConfig]:
    key = Secret("sk-bench-not-a-real-key")
    subject = ModelConfig(
        name="subject", model="gpt-4o-mini", base_url=base_url, api_key=key, concurrency=concurrency
    )
    judge = ModelConfig(
        name="judge", model="gpt-4o", base_url=base_url, api_key=key, concurrency=concurrency
    )
    return subject, judge


def warm_only(args: argparse.Namespace) -> None:
    """`--warm-only`: a fresh interpreter replaying the cache (prints JSON)."""
    started = time.perf_counter()
    subject, judge = models(args.base_url, args.concurrency)
    cache = ResponseCache(args.cache_dir, "ro")
    pool = ModelPool(cache=cache, concurrency=args.concurrency)
    asyncio.run(harness(pool, subject, judge, args.rows, args.variants, judge_template()))
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - started,
                "hits": cache.stats.hits,
                "openai_imported": "openai" in sys.modules,
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--variants", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--bare-calls",
        type=int,
        default=1000,
        help="calls of the bare openai loop used to measure CPU per call",
    )
    parser.add_argument(
        "--in-process", action="store_true", help="server on a thread, not a process"
    )
    parser.add_argument(
        "--transport",
        default="auto",
        choices=["auto", "httpx", "aiohttp"],
        help="HTTP transport of the harness's openai clients",
    )
    parser.add_argument("--warm-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.warm_only:
        warm_only(args)
        return 0

    from pytest_llmgate.testing import LLMServer, ServerProcess

    server: Any = (
        LLMServer(latency_ms=args.latency_ms)
        if args.in_process
        else ServerProcess(latency_ms=args.latency_ms)
    )
    template = judge_template()
    calls = 2 * args.rows * args.variants
    with server, tempfile.TemporaryDirectory(prefix="llmgate-bench-") as tmp:
        subject, judge = models(server.base_url, args.concurrency)

        def stats() -> dict[str, Any]:
            return dict(server.stats()) if args.in_process else server.stats()

        def server_cpu() -> float:
            """CPU seconds the server process has used so far (Linux /proc; 0 in-process)."""
            proc = getattr(server, "_proc", None)
            try:
                fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (AttributeError, OSError):
                return 0.0
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        # 1. The raw client: same request mix (half subject prompts, half judge prompts).
        mix = []
        for n in range(args.bare_calls):
            v, i = n % args.variants, 100_000 + n  # rows the harness will not ask for
            if n % 2:
                q, c = row(i)
                mix.append(
                    ("gpt-4o", render(template, query=q, context=c, response=c), JUDGE_PARAMS)
                )
            else:
                mix.append(
                    ("gpt-4o-mini", subject_messages(v, i), {"temperature": 0.0, "max_tokens": 200})
                )
        asyncio.run(bare_openai(server.base_url, mix[:64], args.concurrency))  # warm-up: imports

        def bare() -> tuple[float, float]:
            bare_wall, bare_cpu, _ = timed(
                lambda: asyncio.run(bare_openai(server.base_url, mix, args.concurrency))
            )
            return bare_wall, bare_cpu / len(mix)

        # Measured before and after the harness: other load on the machine moves both.
        bare_runs = [bare()]

        # 2. The harness, cold cache.
        before, server_before = stats()["requests"], server_cpu()
        cache = ResponseCache(Path(tmp) / "cache", "rw")
        pool = ModelPool(cache=cache, concurrency=args.concurrency, transport=args.transport)
        wall, cpu, verdicts = timed(
            lambda: asyncio.run(harness(pool, subject, judge, args.rows, args.variants, template))
        )
        cold_requests = stats()["requests"] - before
        server_ms = (server_cpu() - server_before) / max(1, cold_requests) * 1000
        scores = [json.loads(v)["score"] for v in verdicts]

        bare_runs.append(bare())
        bare_wall = sum(r[0] for r in bare_runs) / len(bare_runs)
        cpu_per_call = sum(r[1] for r in bare_runs) / len(bare_runs)

        # 3. Warm re-runs: this process, then a fresh interpreter.
        before = stats()["requests"]
        warm_cache = ResponseCache(Path(tmp) / "cache", "ro")
        warm_pool = ModelPool(cache=warm_cache, concurrency=args.concurrency)
        warm_wall, _, warm_verdicts = timed(
            lambda: asyncio.run(
                harness(warm_pool, subject, judge, args.rows, args.variants, template)
            )
        )
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--warm-only",
                "--rows",
                str(args.rows),
                "--variants",
                str(args.variants),
                "--concurrency",
                str(args.concurrency),
                "--base-url",
                server.base_url,
                "--cache-dir",
                str(Path(tmp) / "cache"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        fresh = json.loads(proc.stdout.strip().splitlines()[-1])
        warm_requests = stats()["requests"] - before

    latency_bound = calls * args.latency_ms / 1000 / args.concurrency
    cpu_bound = calls * cpu_per_call
    bound = max(latency_bound, cpu_bound)
    mean = sum(scores) / len(scores)
    print(
        f"work: {args.variants} variants x {args.rows} rows x (subject + judge) = {calls} calls, "
        f"latency {args.latency_ms:g} ms, concurrency {args.concurrency}, server "
        f"{'thread' if args.in_process else 'process'}, harness transport {args.transport}"
    )
    print(
        f"bare openai loop (default client): {len(mix)} calls in {bare_wall:.2f} s wall, "
        f"{cpu_per_call * 1000:.2f} ms CPU per call (runs: "
        + ", ".join(f"{r[1] * 1000:.2f}" for r in bare_runs)
        + ")"
    )
    print(
        f"harness cold run: {wall:.2f} s wall, {cpu / calls * 1000:.2f} ms CPU per call, "
        f"{cold_requests} HTTP requests, cache writes {cache.stats.writes}, "
        f"mean judge score {mean:.2f}"
    )
    if not args.in_process:
        print(f"server process: {server_ms:.3f} ms CPU per request")
    print(f"latency bound: {latency_bound:.2f} s   CPU bound: {cpu_bound:.2f} s")
    print(f"ratio wall / max(bounds): {wall / bound:.2f}  (target <= 1.5)")
    print(f"CPU per call, harness / bare: {cpu / calls / cpu_per_call:.2f}")
    print(
        f"warm re-run, same process: {warm_wall:.2f} s, {warm_cache.stats.hits} hits, "
        f"identical verdicts: {warm_verdicts == verdicts}"
    )
    print(
        f"warm re-run, fresh interpreter: {fresh['seconds']:.2f} s ({fresh['hits']} hits, "
        f"openai imported: {fresh['openai_imported']})  (target < 2 s)"
    )
    print(f"HTTP requests during warm re-runs: {warm_requests}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
