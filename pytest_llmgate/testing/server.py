"""The project's own OpenAI-compatible HTTP server on 127.0.0.1, for tests, benchmarks and demos.

Routes: `POST /v1/chat/completions`, `POST /v1/completions` (legacy), `POST /v1/embeddings`,
`GET /v1/models`, and the Azure OpenAI routes
`POST /openai/deployments/{deployment}/chat/completions?api-version=...` (and `/completions`,
`/embeddings`).
Control routes for a server in another process: `GET /_llmgate/stats`, `POST /_llmgate/config`
(JSON of switches), `POST /_llmgate/reset`.

Why a hand-written HTTP/1.1 keep-alive loop on `asyncio.start_server`: the benchmark drives
thousands of calls at concurrency 64 on two cores shared with the client, so a request must cost the
server tens of microseconds, and the fault switches need control over the socket (hang, refuse,
truncate).

Switches (attributes, settable while running): `latency_ms`, `error_rate_429`, `error_rate_500`,
`timeout_rate` (hold the request unanswered until the client gives up, at most `hang_s`),
`malformed_rate` (200 with a truncated JSON body), `retry_after` (seconds sent in `Retry-After` and
`retry-after-ms` on 429/500; None sends none), `seed`, `judge_noise` (std-dev, in score points, of
seeded noise added to judge scores), `vary_by_model` (see `answers.chat_reply`), `scripted`
(substring -> reply), `require_key` (401 unless this key is sent), `down` (refuse connections),
`token_interval_ms` (the gap between streamed chunks).

Streaming (`"stream": true` on chat): server-sent events, `chat.completion.chunk`s of one word each
and `data: [DONE]`, plus a usage chunk when `stream_options.include_usage` is set. `latency_ms` is
then the time to the first chunk; each further chunk follows `token_interval_ms` later.

Counters for load tests: `requests`, `routes`, `faults`, `statuses` (per HTTP status) and `timings`,
one record per answered model request: `{"route", "status", "stream", "ms", "ttft_ms"}` measured by
the server from the parsed request to its last byte (and to its first body byte).

Faults are deterministic: the draw for a request hashes (seed, method, path, body, n) where n counts
earlier arrivals of the same request, so a retried request gets a fresh draw and can succeed, and
two runs with the same seed fault the same requests. Judge noise hashes (seed, body, k) where k
counts earlier *successful* answers to the same request: a retry after a fault gets the answer a
fault-free run got, while deliberate repeats of one judge prompt differ."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter, deque
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pytest_llmgate.testing import answers

__all__ = ["SWITCHES", "LLMServer", "ServerProcess", "main"]

SWITCHES: dict[str, Any] = {
    "latency_ms": 0.0,
    "error_rate_429": 0.0,
    "error_rate_500": 0.0,
    "timeout_rate": 0.0,
    "malformed_rate": 0.0,
    "retry_after": None,
    "seed": 0,
    "judge_noise": 0.0,
    "vary_by_model": False,
    "hang_s": 30.0,
    "scripted": {},
    "require_key": None,
    "token_interval_ms": 0.0,
}
MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o4-mini", "text-embedding-3-small")
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
# a list payload is streamed: each element is one server-sent event, `token_interval_ms` apart
_Reply = tuple[int, dict[str, str], bytes | list[bytes]]


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def _error(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> _Reply:
    body = json.dumps({"error": {"message": message, "type": kind, "param": None, "code": kind}})
    return status, headers or {}, body.encode()


class LLMServer:
    """An OpenAI-compatible server running on its own event loop in a background thread.

    Use as a context manager (or `start()`/`stop()`); read `base_url` (OpenAI, ends in `/v1`),
    `azure_endpoint`, `requests`, `routes`, `faults`, `log`; assign switches as attributes.
    """

    # The switches (see SWITCHES for their defaults).
    latency_ms: float
    error_rate_429: float
    error_rate_500: float
    timeout_rate: float
    malformed_rate: float
    retry_after: float | None
    seed: int
    judge_noise: float
    vary_by_model: bool
    hang_s: float
    scripted: dict[str, str]
    require_key: str | None
    token_interval_ms: float

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **switches: Any) -> None:
        if not _loopback(host):
            raise ValueError(f"the test server only listens on loopback addresses, not {host!r}")
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._down = False
        self.reset()
        self.configure(**switches)

    # --- state -----------------------------------------------------------------------------------

    def configure(self, **switches: Any) -> None:
        """Set switches by name (unknown names are an error, `down` included)."""
        for name, value in switches.items():
            if name == "down":
                self.down = bool(value)
            elif name in SWITCHES:
                setattr(self, name, value)
            else:
                raise TypeError(f"unknown test-server switch {name!r}")

    def reset(self) -> None:
        """Zero the counters and put every switch back to its default (and bring the server up)."""
        for name, value in SWITCHES.items():
            setattr(self, name, dict(value) if isinstance(value, dict) else value)
        self.reset_counters()
        if self._down:
            self.down = False

    def reset_counters(self) -> None:
        self.requests = 0
        self.routes: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.log: deque[dict[str, Any]] = deque(maxlen=200)
        self.statuses: Counter[int] = Counter()
        self.timings: list[dict[str, Any]] = []
        self._arrivals: dict[bytes, int] = {}
        self._answers: dict[bytes, int] = {}

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "routes": dict(self.routes),
            "faults": dict(self.faults),
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "timings": list(self.timings),
        }

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def azure_endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def down(self) -> bool:
        return self._down

    @down.setter
    def down(self, value: bool) -> None:
        if value == self._down:
            return
        self._down = value
        if self._loop is not None and self._loop.is_running():
            change = self._unlisten() if value else self._listen()
            asyncio.run_coroutine_threadsafe(change, self._loop).result(10)

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> LLMServer:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self._listen())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._unlisten())
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.close()

        self._thread = threading.Thread(target=run, name="llmgate-test-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _listen(self) -> None:
        if not self._down:
            self._server = await asyncio.start_server(
                self._connection, self.host, self.port, reuse_address=True, backlog=1024
            )
            self.port = self._server.sockets[0].getsockname()[1]

    async def _unlisten(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        await asyncio.sleep(0)

    async def serve_forever(self) -> None:
        """Serve on the current loop until cancelled (what `python -m ...server` runs)."""
        self._loop = asyncio.get_running_loop()
        await self._listen()
        try:
            await asyncio.Event().wait()
        finally:
            await self._unlisten()

    # --- HTTP ------------------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                try:
                    method, target, version = lines[0].split(" ", 2)
                except ValueError:
                    return
                headers = {}
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                try:
                    body = await self._body(reader, headers)
                except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                    return
                started = time.perf_counter()
                meta: dict[str, Any] = {}
                reply = await self._dispatch(method, target, headers, body, reader, meta)
                if reply is None:  # a simulated timeout: the client went away or we gave up
                    return
                status, extra, payload = reply
                keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                out = [
                    f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
                    "Connection: keep-alive" if keep else "Connection: close",
                ]
                out += [f"{k}: {v}" for k, v in extra.items()]
                if isinstance(payload, list):
                    out += ["Content-Type: text/event-stream", "Transfer-Encoding: chunked"]
                    ttft = await self._stream(writer, "\r\n".join(out), payload, started)
                else:
                    out += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
                    writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + payload)
                    if writer.transport.get_write_buffer_size() > 1 << 16:
                        await writer.drain()
                    ttft = None
                if "route" in meta:
                    ms = (time.perf_counter() - started) * 1000
                    self.statuses[status] += 1
                    self.timings.append(
                        {
                            "route": meta["route"],
                            "status": status,
                            "stream": ttft is not None,
                            "ms": ms,
                            "ttft_ms": ms if ttft is None else ttft,
                        }
                    )
                if not keep:
                    return
        except asyncio.CancelledError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _stream(
        self, writer: asyncio.StreamWriter, head: str, events: list[bytes], started: float
    ) -> float:
        """Write server-sent events as HTTP chunks; returns ms to the first event."""
        writer.write((head + "\r\n\r\n").encode("latin-1"))
        ttft = 0.0
        for index, event in enumerate(events):
            if index and self.token_interval_ms > 0:
                await asyncio.sleep(float(self.token_interval_ms) / 1000)
            writer.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
            await writer.drain()
            if index == 0:
                ttft = (time.perf_counter() - started) * 1000
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return ttft

    @staticmethod
    async def _body(reader: asyncio.StreamReader, headers: Mapping[str, str]) -> bytes:
        if "content-length" in headers:
            return await reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunks.append(await reader.readexactly(size + 2))
                if size == 0:
                    return b"".join(c[:-2] for c in chunks)
        return b""

    async def _dispatch(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        reader: asyncio.StreamReader,
        meta: dict[str, Any] | None = None,
    ) -> _Reply | None:
        url = urlsplit(target)
        path = url.path.rstrip("/")
        if path.startswith("/_llmgate/"):
            return self._control(method, path, body)
        route, deployment = self._route(path)
        if meta is not None:
            meta["route"] = route
        self.requests += 1
        self.routes[route] += 1
        entry: dict[str, Any] = {"route": route, "method": method, "path": path, "status": 200}
        self.log.append(entry)
        if route == "unknown":
            entry["status"] = 404
            return _error(404, f"no route for {path}", "not_found")
        if method != ("GET" if route == "models" else "POST"):
            entry["status"] = 405
            return _error(405, f"{method} not allowed on {path}", "invalid_request_error")
        if deployment is not None and "api-version" not in parse_qs(url.query):
            entry["status"] = 400
            return _error(400, "api-version query parameter is required", "missing_api_version")
        if self.require_key is not None:
            sent = headers.get("api-key") or headers.get("authorization", "").removeprefix(
                "Bearer "
            )
            if sent != self.require_key:
                entry["status"] = 401
                return _error(401, "Incorrect API key provided.", "invalid_api_key")
        try:
            request = json.loads(body) if body else {}
        except ValueError:
            request = None
        if route != "models" and not isinstance(request, dict):
            entry["status"] = 400
            return _error(400, "request body is not a JSON object", "invalid_request_error")
        entry["body"] = request

        # Faults first, as a real gateway would throttle before the model runs.
        digest = hashlib.blake2b(
            method.encode() + b" " + path.encode() + b"\n" + body, digest_size=16
        ).digest()
        arrival = self._arrivals.get(digest, 0)
        self._arrivals[digest] = arrival + 1
        text = self._text(request)
        forced_latency = answers.marker(text, "LATENCY_MS") if text else None
        latency_match = re.match(r"\d+(?:\.\d+)?", forced_latency) if forced_latency else None
        latency = float(latency_match.group(0)) if latency_match else float(self.latency_ms)
        fault = self._fault(digest, arrival)
        if fault:
            entry["fault"] = fault
            self.faults[fault] += 1
        if latency > 0 and fault != "timeout":
            await asyncio.sleep(latency / 1000)
        if fault == "timeout":
            with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
                await asyncio.wait_for(reader.read(1), float(self.hang_s))
            entry["status"] = None
            return None
        if fault in ("429", "500"):
            extra = {}
            if self.retry_after is not None:
                extra = {
                    "Retry-After": f"{float(self.retry_after):g}",
                    "retry-after-ms": f"{float(self.retry_after) * 1000:g}",
                }
            entry["status"] = int(fault)
            if fault == "429":
                return _error(
                    429,
                    "Rate limit reached for requests (test server).",
                    "rate_limit_exceeded",
                    extra,
                )
            return _error(
                500, "The server had an error processing your request.", "server_error", extra
            )
        if fault == "malformed":
            return (
                200,
                {},
                b'{"id": "chatcmpl-malformed", "object": "chat.completion", "choices": [{',
            )

        forced = answers.marker(text, "STATUS") if text else None
        # the marker's value is the rest of its line: only its leading 3-digit code counts
        forced_status = re.match(r"\d{3}", forced) if forced else None
        if forced_status:
            code = int(forced_status.group(0))
            entry["status"] = code
            return _error(code, "forced by LLMGATE_STATUS", "forced_status")
        assert request is not None or route == "models"
        if route == "models":
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "llmgate"} for m in MODELS
            ]
            return 200, {}, json.dumps({"object": "list", "data": data}).encode()
        assert isinstance(request, dict)
        answer_index = self._answers.get(digest, 0)
        self._answers[digest] = answer_index + 1
        if route.endswith("embeddings"):
            return 200, {}, self._embeddings(request, deployment).encode()
        if route.endswith("completions"):
            return 200, {}, self._completion(request, deployment, digest, answer_index).encode()
        answer = self._chat(request, deployment, text, digest, answer_index)
        if request.get("stream") is True:
            return 200, {}, _events(json.loads(answer), request.get("stream_options"))
        return 200, {}, answer.encode()

    @staticmethod
    def _route(path: str) -> tuple[str, str | None]:
        if path in ("/v1/chat/completions", "/chat/completions"):
            return "chat", None
        if path in ("/v1/embeddings", "/embeddings"):
            return "embeddings", None
        if path in ("/v1/models", "/models"):
            return "models", None
        if path in ("/v1/completions", "/completions"):
            return "completions", None
        parts = path.split("/")
        # /openai/deployments/{deployment}/chat/completions (or /embeddings)
        if len(parts) >= 5 and parts[1] == "openai" and parts[2] == "deployments":
            rest = "/".join(parts[4:])
            if rest == "chat/completions":
                return "azure_chat", parts[3]
            if rest == "embeddings":
                return "azure_embeddings", parts[3]
            if rest == "completions":
                return "azure_completions", parts[3]
        return "unknown", None

    @staticmethod
    def _text(request: Any) -> str:
        if not isinstance(request, dict):
            return ""
        if "messages" in request:
            return "\n".join(
                answers.content_text(m.get("content"))
                for m in request["messages"]
                if isinstance(m, dict)
            )
        data = request.get("input", request.get("prompt", ""))
        return data if isinstance(data, str) else json.dumps(data)

    def _fault(self, digest: bytes, arrival: int) -> str | None:
        rates = (
            ("429", self.error_rate_429),
            ("500", self.error_rate_500),
            ("timeout", self.timeout_rate),
            ("malformed", self.malformed_rate),
        )
        if not any(rate for _, rate in rates):
            return None
        draw = hashlib.blake2b(digest + f"|{self.seed}|{arrival}".encode(), digest_size=8).digest()
        u = int.from_bytes(draw, "big") / 2**64
        edge = 0.0
        for name, rate in rates:
            edge += float(rate)
            if u < edge:
                return name
        return None

    def _chat(
        self,
        request: dict[str, Any],
        deployment: str | None,
        text: str,
        digest: bytes,
        answer_index: int,
    ) -> str:
        messages = [m for m in request.get("messages", []) if isinstance(m, dict)]
        model = str(request.get("model") or deployment or "gpt-4o")
        fmt = request.get("response_format")
        json_mode = isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")
        judged = answers.detect_judge(messages, json_mode)
        # an agent offering tools may get scripted tool calls (LLMGATE_TOOL_CALLS) instead of text
        tool_calls = answers.scripted_tool_calls(messages, text) if request.get("tools") else None
        reply = "" if tool_calls else answers.marker(text, "REPLY")
        if reply is None and judged is not None:
            reply = answers.marker(text, "JUDGE_REPLY")
        if reply is None:
            reply = next((v for k, v in self.scripted.items() if k in text), None)
        if reply is None and judged is not None:
            reply = answers.judge_verdict(
                judged[0],
                judged[1],
                prompt_text=text,
                noise=float(self.judge_noise),
                noise_seed=(self.seed, digest.hex(), answer_index),
            ).reply()
        if reply is None:
            reply = answers.chat_reply(
                messages,
                model=model,
                temperature=request.get("temperature"),
                vary_by_model=bool(self.vary_by_model),
            )
            if json_mode:
                reply = json.dumps({"answer": reply})
        finish = "tool_calls" if tool_calls else "stop"
        limit = request.get("max_completion_tokens") or request.get("max_tokens")
        if isinstance(limit, int) and limit > 0 and answers.token_estimate(reply) > limit:
            reply = " ".join(reply.split()[: max(1, int(limit / 1.3))])
            finish = "length"
        prompt_tokens = (
            sum(
                answers.token_estimate(answers.content_text(m.get("content"))) + 4 for m in messages
            )
            + 3
        )
        completion_tokens = max(1, answers.token_estimate(reply))
        return json.dumps(
            {
                "id": f"chatcmpl-{digest.hex()[:20]}{answer_index}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "system_fingerprint": "fp_"
                + hashlib.blake2b(model.encode(), digest_size=5).hexdigest(),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": finish,
                        "logprobs": None,
                        "message": {"role": "assistant", "content": reply, "refusal": None}
                        if not tool_calls
                        else {"role": "assistant", "content": None, "tool_calls": tool_calls},
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )

    def _completion(
        self, request: dict[str, Any], deployment: str | None, digest: bytes, answer_index: int
    ) -> str:
        """The legacy `/v1/completions` API (Prompt Flow's `api: completion` LLM nodes): the
        prompt is answered as one user message would be, with the same markers and scripts."""
        prompt = request.get("prompt", "")
        text = prompt if isinstance(prompt, str) else "\n".join(map(str, prompt))
        model = str(request.get("model") or deployment or "gpt-4o")
        reply = answers.marker(text, "REPLY")
        if reply is None:
            reply = next((v for k, v in self.scripted.items() if k in text), None)
        if reply is None:
            reply = answers.chat_reply(
                [{"role": "user", "content": text}],
                model=model,
                temperature=request.get("temperature"),
                vary_by_model=bool(self.vary_by_model),
            )
        finish = "stop"
        limit = request.get("max_tokens")
        if isinstance(limit, int) and limit > 0 and answers.token_estimate(reply) > limit:
            reply = " ".join(reply.split()[: max(1, int(limit / 1.3))])
            finish = "length"
        prompt_tokens = answers.token_estimate(text) + 1
        completion_tokens = max(1, answers.token_estimate(reply))
        return json.dumps(
            {
                "id": f"cmpl-{digest.hex()[:20]}{answer_index}",
                "object": "text_completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "text": reply, "finish_reason": finish, "logprobs": None}
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )

    @staticmethod
    def _embeddings(request: dict[str, Any], deployment: str | None) -> str:
        raw = request.get("input", "")
        items = [raw] if isinstance(raw, str) or (raw and isinstance(raw[0], int)) else list(raw)
        texts = [i if isinstance(i, str) else " ".join(map(str, i)) for i in items]
        dims = int(request.get("dimensions") or 64)
        fmt = request.get("encoding_format")
        data = [
            {
                "object": "embedding",
                "index": n,
                "embedding": answers.encode_embedding(answers.embedding(t, dims), fmt),
            }
            for n, t in enumerate(texts)
        ]
        tokens = sum(answers.token_estimate(t) for t in texts)
        return json.dumps(
            {
                "object": "list",
                "data": data,
                "model": str(request.get("model") or deployment or ""),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    def _control(self, method: str, path: str, body: bytes) -> _Reply:
        if path == "/_llmgate/stats":
            return 200, {}, json.dumps(self.stats()).encode()
        if path == "/_llmgate/reset" and method == "POST":
            self.reset()
            return 200, {}, b"{}"
        if path == "/_llmgate/config" and method == "POST":
            try:
                switches = json.loads(body or b"{}")
                switches.pop("down", None)  # a process cannot be brought back up over HTTP
                self.configure(**switches)
            except (ValueError, TypeError) as exc:
                return _error(400, str(exc), "invalid_request_error")
            return 200, {}, json.dumps({k: getattr(self, k) for k in SWITCHES}).encode()
        return _error(404, f"no control route {path}", "not_found")


def _events(answer: dict[str, Any], options: Any) -> list[bytes]:
    """A chat completion as OpenAI's stream: a role chunk carrying the first word, one chunk per
    further word, a finish chunk, the usage chunk when asked for, then `[DONE]`."""
    choice = answer["choices"][0]
    words = re.findall(r"\s*\S+", choice["message"]["content"] or "") or [""]
    base = {k: answer[k] for k in ("id", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                     "logprobs": None}]}

    out = [chunk({"role": "assistant", "content": words[0]})]
    out += [chunk({"content": word}) for word in words[1:]]
    out.append(chunk({}, choice["finish_reason"]))
    if isinstance(options, dict) and options.get("include_usage"):
        out.append({**base, "choices": [], "usage": answer["usage"]})
    events = [b"data: " + json.dumps(item).encode() + b"\n\n" for item in out]
    return [*events, b"data: [DONE]\n\n"]


class ServerProcess:
    """The server in a child process (own core, own GIL), switched over the control routes."""

    def __init__(self, port: int = 0, **switches: Any) -> None:
        self._port = port
        self._switches = switches
        self._proc: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> ServerProcess:
        cmd = [sys.executable, "-m", "pytest_llmgate.testing.server", "--port", str(self._port)]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if "listening on" not in line:
            self.__exit__(None, None, None)
            raise RuntimeError(f"test server did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1].split("/")[0])
        if self._switches:
            self.configure(**self._switches)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def azure_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _call(self, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if payload is None else json.dumps(payload).encode()
        url = f"http://127.0.0.1:{self.port}/_llmgate/{path}"
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as resp:
            result: dict[str, Any] = json.loads(resp.read())
        return result

    def configure(self, **switches: Any) -> None:
        self._call("config", switches)

    def reset(self) -> None:
        self._call("reset", {})

    def stats(self) -> dict[str, Any]:
        return self._call("stats")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_llmgate.testing.server",
        description="Deterministic OpenAI-compatible test server (127.0.0.1 only).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    for name, default in SWITCHES.items():
        if name in ("scripted",):
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action="store_true")
        elif name in ("retry_after", "require_key"):
            parser.add_argument(flag, type=float if name == "retry_after" else str, default=None)
        else:
            parser.add_argument(flag, type=type(default), default=default)
    args = vars(parser.parse_args(argv))
    if not _loopback(args["host"]):
        parser.error("the test server only listens on loopback addresses (127.0.0.0/8, ::1)")
    server = LLMServer(args.pop("host"), args.pop("port"), **args)

    async def run() -> None:
        import signal

        task = asyncio.ensure_future(server.serve_forever())
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        while not server._server and not task.done():
            await asyncio.sleep(0.01)
        print(f"llmgate test server listening on {server.base_url}", flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
