"""Deterministic answers of the test server: judge verdicts, chat replies, embeddings.

Pure functions of the request body (plus a few switches), kept apart from the HTTP code so they can
be tested and reused without a socket.

Judge prompts of azure-ai-evaluation 1.18.10 are recognised by phrases of their `.prompty` files;
the fields they rendered (CONTEXT, QUERY, RESPONSE, ground truth) are read back out of the prompt,
and the score is a token-overlap measure mapped onto the evaluator's 1-5 scale, so a better answer
gets a better score. The reply is the strict JSON the evaluators parse (`{"reason", "score",
"status"}`; retrieval adds `properties.thought_chain`).

Magic markers in any message force a reply (the marker's value runs to the end of its line):
`LLMGATE_REPLY:<text>` (any request), `LLMGATE_JUDGE_REPLY:<text>` (only a request recognised as a
judge prompt, so a row can plant an unparseable judge answer through its response text),
`LLMGATE_STATUS:<code>` (answer with that HTTP status), `LLMGATE_LATENCY_MS:<n>` (this request's
delay)."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "JudgeVerdict",
    "chat_reply",
    "content_text",
    "detect_judge",
    "embedding",
    "encode_embedding",
    "judge_verdict",
    "marker",
    "scripted_tool_calls",
    "token_estimate",
]

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    re.findall(
        r"\w+",
        """a an the and or but of to in on at by for with from as is are was were be been being it
        its this that these those there their them they he she his her we our you your i me my do
        does did what which who whom when where why how can could would should will shall may
        might must not no yes so if then than too very just also into about over under up down
        out all any some such only own same other each few more most both has have had having""",
    )
)
_MARKER = re.compile(r"LLMGATE_(REPLY|JUDGE_REPLY|STATUS|LATENCY_MS|TOOL_CALLS):([^\n]*)")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def content_text(content: Any) -> str:
    """The text of a message `content`: a string, or the text parts of a multimodal list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text", "")) for p in content if isinstance(p, Mapping) and "text" in p
        )
    return "" if content is None else str(content)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _terms(text: str) -> set[str]:
    return {w for w in _words(text) if w not in _STOP}


def token_estimate(text: str) -> int:
    """Tokens as a real tokenizer would roughly count them (words x 1.3)."""
    return math.ceil(len(text.split()) * 1.3)


def marker(text: str, name: str) -> str | None:
    """The value of the last `LLMGATE_<name>:` marker in `text`, or None."""
    found = None
    for m in _MARKER.finditer(text):
        if m.group(1) == name:
            found = m.group(2).strip()
    return found


def _stable_int(*parts: object) -> int:
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


# --- judges --------------------------------------------------------------------------------------

# (evaluator, phrase that identifies its prompt, labels of its data block, start of the data block,
# end of the data block). The phrases and labels are those of the azure-ai-evaluation prompty files.
_JUDGES: tuple[tuple[str, str, tuple[str, ...], str, str], ...] = (
    (
        "relevance",
        "Relevance-Judge",
        ("CONVERSATION_HISTORY", "RESPONSE"),
        "INPUT\n=====",
        "CONVERSATION_HISTORY is the full",
    ),
    (
        "groundedness",
        "**Groundedness** refers to",
        ("CONTEXT", "QUERY", "RESPONSE"),
        "# Data",
        "# Tasks",
    ),
    ("coherence", "**Coherence** refers to", ("QUERY", "RESPONSE"), "# Data", "# Tasks"),
    ("fluency", "**Fluency** refers to", ("RESPONSE",), "# Data", "# Tasks"),
    (
        "similarity",
        "Equivalence, as a metric",
        ("question", "correct answer", "predicted answer"),
        "stars: 5",
        "Your output must be",
    ),
    ("retrieval", "**Retrieval** refers to", ("QUERY", "CONTEXT"), "# Data", "# Tasks"),
    (
        "response_completeness",
        "**Completeness** refers to",
        ("Response", "Ground Truth"),
        "# Data",
        "# Tasks",
    ),
)
_SCALE = re.compile(r"(?:between|from)\s+(-?\d+(?:\.\d+)?)\s*(?:\([^)]*\)\s*)?(?:and|to)\s+(-?\d+)")
_GENERIC_LABELS = (
    "context",
    "query",
    "question",
    "response",
    "answer",
    "ground truth",
    "ground_truth",
    "expected",
    "reference",
)


@dataclass(frozen=True)
class JudgeVerdict:
    """What the server's judge decided about one judge prompt."""

    evaluator: str
    fields: dict[str, str]
    score: float | None  # None when the judge skips (an empty input)
    reason: str
    low: float = 1
    high: float = 5

    def reply(self) -> str:
        """The strict JSON answer azure-ai-evaluation's parsers accept."""
        out: dict[str, Any] = {}
        if self.evaluator == "retrieval":
            out["properties"] = {"thought_chain": f"Let's think step by step: {self.reason}"}
        out["reason"] = f"Let's think step by step: {self.reason}"
        if self.score is None:
            out.update(score=None, status="skipped")
        else:
            score: float = self.score
            out.update(score=int(score) if float(score).is_integer() else score, status="completed")
        return json.dumps(out)


def _block_fields(
    text: str, labels: Sequence[str], start: str, end: str, flags: str = ""
) -> dict[str, str]:
    begin = text.rfind(start)
    block = text[begin + len(start) :] if begin >= 0 else text
    stop = block.find(end)
    if stop >= 0:
        block = block[:stop]
    pattern = re.compile(
        f"(?m{flags})"
        + r"^[ \t]*("
        + "|".join(re.escape(label) for label in labels)
        + r")[ \t]*:[ \t]?"
    )
    hits = list(pattern.finditer(block))
    fields: dict[str, str] = {}
    for i, hit in enumerate(hits):
        value_end = hits[i + 1].start() if i + 1 < len(hits) else len(block)
        fields[hit.group(1).lower().replace(" ", "_")] = block[hit.end() : value_end].strip()
    return fields


def detect_judge(
    messages: Sequence[Mapping[str, Any]], json_mode: bool
) -> tuple[str, dict[str, str]] | None:
    """(evaluator, rendered fields) when the messages are a judge prompt, else None.

    Known azure-ai-evaluation prompts are recognised in any mode; any other prompt that asks for a
    JSON object and mentions a score is treated as a custom judge ("judge").
    """
    text = "\n".join(content_text(m.get("content")) for m in messages)
    for name, phrase, labels, start, end in _JUDGES:
        if phrase in text:
            return name, _block_fields(text, labels, start, end)
    if json_mode and "score" in text.lower():
        last = content_text(messages[-1].get("content")) if messages else ""
        fields = _block_fields(last, _GENERIC_LABELS, "\0", "\0", flags="i")
        return "judge", {k: v for k, v in fields.items() if v}
    return None


def _overlap(part: str, whole: str) -> float:
    """Share of the content terms of `part` found in `whole` (1.0 when `part` has none)."""
    a = _terms(part)
    return len(a & _terms(whole)) / len(a) if a else 1.0


def _f1(a: str, b: str) -> float:
    ta, tb = _terms(a), _terms(b)
    common = len(ta & tb)
    if not common:
        return 0.0
    precision, recall = common / len(ta), common / len(tb)
    return 2 * precision * recall / (precision + recall)


def _structure(text: str) -> float:
    """How much `text` reads like prose: complete sentences of a normal length and varied words."""
    sentences = [s for s in _SENTENCE.split(text.strip()) if s.strip()]
    words = _words(text)
    if not sentences or not words:
        return 0.0
    full = sum(1 for s in sentences if len(s.split()) >= 5 and s.rstrip()[-1:] in ".!?") / len(
        sentences
    )
    variety = len(set(words)) / len(words)
    return min(1.0, 0.7 * full + 0.3 * variety * min(1.0, len(words) / 12))


def _context_chunks(context: str) -> list[str]:
    try:
        chunks = json.loads(context)
    except ValueError:
        chunks = None
    if isinstance(chunks, list) and chunks:
        return [c if isinstance(c, str) else json.dumps(c) for c in chunks]
    return [c for c in re.split(r"\n\s*\n", context) if c.strip()] or [context]


# The prompts name the same inputs differently; the scoring code uses the evaluator input names.
_ALIASES = {
    "conversation_history": "query",
    "question": "query",
    "predicted_answer": "response",
    "answer": "response",
    "correct_answer": "ground_truth",
    "expected": "ground_truth",
    "reference": "ground_truth",
}


def _quality(evaluator: str, f: Mapping[str, str]) -> tuple[float, str, tuple[str, ...]]:
    """(quality in [0, 1], reason, fields that must not be empty) for one evaluator."""
    resp, ctx, query, truth = (
        f.get(k, "") for k in ("response", "context", "query", "ground_truth")
    )
    if evaluator == "groundedness":
        support = _overlap(resp, ctx)
        # A grounded answer that ignores the question is worth less, an ungrounded one nothing.
        x = support if not query else support * (0.7 + 0.3 * _overlap(query, resp))
        return (
            x,
            f"{support:.0%} of the response's terms are supported by the context.",
            ("response", "context"),
        )
    if evaluator == "relevance":
        x = _overlap(query, resp) if _terms(resp) else 0.0
        return x, f"The response covers {x:.0%} of the query's key terms.", ("response", "query")
    if evaluator == "coherence":
        x = 0.6 * _structure(resp) + 0.4 * (_overlap(query, resp) if _terms(resp) else 0.0)
        return x, "Judged on sentence structure and on addressing the query.", ("response",)
    if evaluator == "fluency":
        x = _structure(resp)
        return x, "Judged on complete sentences and vocabulary range.", ("response",)
    if evaluator == "similarity":
        x = _f1(resp, truth)
        return x, f"Token F1 with the correct answer is {x:.2f}.", ("response", "ground_truth")
    if evaluator == "response_completeness":
        x = _overlap(truth, resp) if _terms(resp) else 0.0
        return (
            x,
            f"The response states {x:.0%} of the ground truth's terms.",
            ("response", "ground_truth"),
        )
    if evaluator == "retrieval":
        chunks = _context_chunks(ctx)
        coverage = _overlap(query, ctx)
        scores = [_overlap(query, c) for c in chunks]
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        rank = 1.0 - 0.5 * best / max(1, len(chunks) - 1) if len(chunks) > 1 else 1.0
        return (
            coverage * rank,
            f"The context covers {coverage:.0%} of the query's terms; "
            f"the best chunk is #{best + 1}.",
            ("query", "context"),
        )
    # A custom judge: grade the answer against whatever reference the prompt carries.
    ref = truth or ctx or query
    x = _overlap(resp, ref) if ref and resp else (_structure(resp) if resp else 0.5)
    return x, "Judged on overlap between the answer and its reference.", ()


def judge_verdict(
    evaluator: str,
    fields: Mapping[str, str],
    *,
    prompt_text: str = "",
    noise: float = 0.0,
    noise_seed: object = 0,
) -> JudgeVerdict:
    """Score a recognised judge prompt; `noise` adds seeded Gaussian noise (in scale points)."""
    f = {_ALIASES.get(k, k): v for k, v in fields.items()}
    x, reason, required = _quality(evaluator, f)
    if any(not f.get(name, "").strip() for name in required):
        return JudgeVerdict(evaluator, f, None, "an input needed for this metric is empty.")
    low, high = 1.0, 5.0
    integer = True
    if evaluator == "judge":
        scale = _SCALE.search(prompt_text)
        if scale:
            low, high = float(scale.group(1)), float(scale.group(2))
            integer = high - low >= 2
    raw = low + (high - low) * max(0.0, min(1.0, x))
    if noise:
        raw += random.Random(_stable_int("noise", noise_seed)).gauss(0.0, noise)
    raw = max(low, min(high, raw))
    # floor(x + 0.5), not round(): banker's rounding would make 4.5 a 4 but 3.5 a 4.
    score = float(math.floor(raw + 0.5)) if integer else round(raw, 2)
    return JudgeVerdict(evaluator, f, score, reason, low, high)


# --- generic chat --------------------------------------------------------------------------------

_QUESTION = re.compile(r"(?im)^\s*(?:question|query|q)\s*:\s*(.+)$")
# Labels a prompt template puts before its context ("Context:", "Document 2:", "[1]").
_LABEL = re.compile(
    r"(?i)^\s*(?:(?:context|document|doc|source|passage|chunk)\s*\d*\s*:|\[\d+\])\s*"
)


def _question_and_context(messages: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    users = [content_text(m.get("content")) for m in messages if m.get("role") == "user"]
    last = users[-1] if users else ""
    earlier = "\n".join(users[:-1])
    labelled = _QUESTION.findall(last)
    if labelled:
        question = labelled[-1].strip()
        return question, earlier + "\n" + _QUESTION.sub("", last)
    lines = [line for line in last.splitlines() if line.strip()]
    asked = [line for line in lines if line.rstrip().endswith("?")]
    question = asked[-1] if asked else (lines[-1] if lines else "")
    rest = "\n".join(line for line in lines if line is not question)
    return question.strip(), earlier + "\n" + rest


def chat_reply(
    messages: Sequence[Mapping[str, Any]],
    *,
    model: str,
    temperature: float | None = None,
    vary_by_model: bool = False,
) -> str:
    """A deterministic answer to the last user message.

    With context in the prompt (any user text besides the question), the answer is the context
    sentence sharing the most terms with the question, or a refusal when none shares any: a RAG
    prompt gets a sensible, grounded answer. Without context the question is restated as an answer.
    With `vary_by_model`, a hash of (model, system prompt, temperature) picks among the three best
    sentences, so variants differing only there answer differently (and some worse).
    """
    question, context = _question_and_context(messages)
    q_terms = _terms(question)
    sentences = [_LABEL.sub("", s).strip(" -*\t") for s in _SENTENCE.split(context)]
    sentences = [s for s in sentences if len(_terms(s)) >= 2]
    if not sentences:
        topic = question.strip().rstrip("?").strip() or "your message"
        return f"Regarding {topic}: here is a concise, deterministic answer from the test server."
    ranked = sorted(range(len(sentences)), key=lambda i: (-len(q_terms & _terms(sentences[i])), i))
    if not q_terms & _terms(sentences[ranked[0]]):
        return "I don't know: the provided context does not answer this question."
    pick = 0
    if vary_by_model:
        system = "\n".join(
            content_text(m.get("content"))
            for m in messages
            if m.get("role") in ("system", "developer")
        )
        pick = _stable_int(model, system, temperature) % min(3, len(ranked))
    return sentences[ranked[pick]]


# --- tool calls ----------------------------------------------------------------------------------


def scripted_tool_calls(
    messages: Sequence[Mapping[str, Any]], text: str
) -> list[dict[str, Any]] | None:
    """The scripted tool calls for this step of an agent conversation, or None to answer in text.

    The script is `LLMGATE_TOOL_CALLS:<json>` in any message: a list of steps, each a list of
    calls `{"name", "arguments"}` (a bare call is a one-call step). The step answered is the number
    of assistant tool-call messages since the last user message, so the agent loop walks the
    script, then gets a text answer. Calls get ids `call_<step>_<index>`.
    """
    raw = marker(text, "TOOL_CALLS")
    if raw is None:
        return None
    try:
        plan = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(plan, list):
        return None
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    step = sum(
        1 for m in messages[last_user + 1 :] if m.get("role") == "assistant" and m.get("tool_calls")
    )
    if step >= len(plan):
        return None
    calls = plan[step] if isinstance(plan[step], list) else [plan[step]]
    return [
        {
            "id": f"call_{step}_{index}",
            "type": "function",
            "function": {
                "name": str(call.get("name", "")),
                "arguments": call["arguments"]
                if isinstance(call.get("arguments"), str)
                else json.dumps(call.get("arguments") or {}),
            },
        }
        for index, call in enumerate(calls)
        if isinstance(call, Mapping)
    ]


# --- embeddings ----------------------------------------------------------------------------------


def embedding(text: str, dimensions: int = 64) -> list[float]:
    """A unit vector from hashed terms: texts sharing words get close vectors."""
    vec = [0.0] * dimensions
    for word in _words(text) or ["<empty>"]:
        h = _stable_int("emb", word)
        vec[h % dimensions] += 1.0 if (h >> 32) & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


def encode_embedding(vec: Sequence[float], encoding_format: str | None) -> list[float] | str:
    """The `embedding` field in the requested format (the openai SDK asks for base64 floats)."""
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode("ascii")
    return list(vec)
