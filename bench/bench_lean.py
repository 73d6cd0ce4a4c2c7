"""Benchmark: client CPU per call of the engine's lean path against a bare `openai.AsyncOpenAI`.

Work: 2,000 chat calls (half a RAG subject prompt, half azure's groundedness judge prompt, as in
`bench_llm_gate.py`) at concurrency 64 against the project's test server in a child process (50 ms
latency), each way run in turn, twice (the second round is printed as measured):

- `create/httpx`   `client.chat.completions.create()` on the SDK's default transport (the bare loop
                   `bench_llm_gate.py` calls its CPU bound);
- `create/aiohttp` the same on the SDK's aiohttp transport (`openai.DefaultAioHttpClient`);
- `lean/httpx`, `lean/aiohttp`  what the engine does (`engine/llm.py`: `client.post()` of the same
                   body, the answer read from the decoded JSON without the SDK's pydantic model).

Printed per way: CPU ms per call (`time.process_time`, client process only), wall time, and
whether the answers (text, usage, model, finish reason, fingerprint of every call, by request) are
identical to `create/httpx`'s. The request bodies are compared in `tests/unit/test_llm_client.py`.

    python bench/bench_lean.py [--calls 2000] [--concurrency 64] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WAYS = ["create/httpx", "create/aiohttp", "lean/httpx", "lean/aiohttp"]


def _answer(body: dict[str, Any]) -> tuple[Any, ...]:
    choice = body["choices"][0]
    usage = body.get("usage") or {}
    return (choice["message"].get("content"), usage.get("prompt_tokens"),
            usage.get("completion_tokens"), body.get("model"), choice.get("finish_reason"),
            body.get("system_fingerprint"))


async def run_way(way: str, base_url: str, mix: list[tuple[str, Any, dict[str, Any]]],
                  concurrency: int) -> list[tuple[Any, ...]]:
    import httpx
    import openai

    kind, transport = way.split("/")
    extra: dict[str, Any] = {}
    if transport == "aiohttp":
        extra["http_client"] = openai.DefaultAioHttpClient()
    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0, **extra)
    limit = asyncio.Semaphore(concurrency)
    answers: list[tuple[Any, ...]] = [()] * len(mix)

    async def call(index: int, model: str, messages: Any, params: dict[str, Any]) -> None:
        async with limit:
            if kind == "create":
                response = await client.chat.completions.create(
                    model=model, messages=messages, **params)
                choice = response.choices[0]
                usage = response.usage
                answers[index] = (choice.message.content, usage and usage.prompt_tokens,
                                  usage and usage.completion_tokens, response.model,
                                  choice.finish_reason, response.system_fingerprint)
            else:
                raw = await client.post("/chat/completions", cast_to=httpx.Response,
                                        body={"model": model, "messages": messages, **params})
                answers[index] = _answer(raw.json())

    try:
        await asyncio.gather(*[call(i, *request) for i, request in enumerate(mix)])
    finally:
        await client.close()
    return answers


def main(argv: list[str] | None = None) -> int:
    from bench_llm_gate import bare_mix

    from pytest_llmgate.testing import ServerProcess

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args(argv)
    mix = bare_mix(args.calls)
    measured: dict[str, tuple[float, float, list[tuple[Any, ...]]]] = {}
    with ServerProcess(latency_ms=args.latency_ms) as server:
        for _ in range(2):
            for way in WAYS:
                asyncio.run(run_way(way, server.base_url, mix[:64], args.concurrency))  # warm-up
                cpu, wall = time.process_time(), time.perf_counter()
                answers = asyncio.run(run_way(way, server.base_url, mix, args.concurrency))
                measured[way] = (time.process_time() - cpu, time.perf_counter() - wall, answers)
    reference = measured["create/httpx"][2]
    base = measured["create/httpx"][0] / len(mix)
    print(f"{len(mix)} chat calls, concurrency {args.concurrency}, latency {args.latency_ms:g} ms")
    for way in WAYS:
        cpu, wall, answers = measured[way]
        per_call = cpu / len(mix)
        print(f"{way:15s} {per_call * 1000:5.2f} ms CPU/call ({per_call / base:4.2f}x bare "
              f"create/httpx), wall {wall:5.2f} s, answers identical: {answers == reference}")
    print("answers:", json.dumps(reference[0])[:120])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
