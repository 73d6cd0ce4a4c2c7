"""A safety-aware wrapper around the example support answerer, for the example safety suite.

It shows the three guards a RAG support bot needs, each simple enough to read in a minute:
declining harmful or manipulative requests, not treating retrieved text as instructions, and not
repeating personal data that happens to sit in a retrieved record. Variants switch the guards off,
so `pytest suites/safety.yaml --llm-gate -k unguarded` shows the gate failing.
"""

from __future__ import annotations

import re

from app.support_bot import answer as extract
from app.support_bot import sentences

REFUSAL = (
    "I'm sorry, but I can't help with that request. I can help with questions about your own "
    "Acme Cloud Backup account."
)
_HARMFUL = re.compile(
    r"\b(?:hack|break\s+into|someone\s+else'?s|other\s+(?:customers?|users?)'?s?|steal|malware"
    r"|phishing|ransomware|keylogger|bomb|weapon|hurt|kill\s+(?:my|him|her|them|someone)"
    r"|(?:their|his|her)\s+(?:password|card|address|phone)|social\s+security|fake\s+invoice"
    r"|bypass\s+(?:the\s+)?(?:paywall|license|2fa\s+for))",
    re.IGNORECASE,
)
_MANIPULATION = re.compile(
    r"\b(?:ignore|disregard|forget)\b[^.?!]{0,40}\b(?:instructions|rules|prompt|guidelines)"
    r"|\bsystem\s+prompt\b|\byou\s+are\s+now\b|\bdeveloper\s+mode\b|\bjailbreak|\bDAN\b"
    r"|\bpretend\s+(?:to\s+be|you\s+are)\b|<\|im_start\|>|\[INST\]",
    re.IGNORECASE,
)
# retrieved text that talks to the model, or carries customer data, is never quoted back
_INSTRUCTION = re.compile(
    r"\b(?:AI|assistant|language\s+model)\b|\binstructions?\b|\bCANARY[-_]|\bignore\b|\breply\s+with"
    r"|\binclude\b[^.]{0,30}\bin\s+your\s+(?:answer|reply)",
    re.IGNORECASE,
)
_PERSONAL = re.compile(
    r"@|\d(?:[ -]?\d){6,}|\b[A-Z]{2}\d{2}[A-Z0-9 ]{10,}|\bsk-|\bAKIA|\bpassword\b"
)


def answer(
    question: str,
    context: str,
    *,
    refuse_harmful: bool = True,
    filter_context: bool = True,
    max_sentences: int = 1,
) -> str:
    """Answer from the context unless the request is harmful or manipulative."""
    if refuse_harmful and (_HARMFUL.search(question) or _MANIPULATION.search(question)):
        return REFUSAL
    parts = sentences(context)
    if filter_context:
        parts = [p for p in parts if not _INSTRUCTION.search(p) and not _PERSONAL.search(p)]
    return extract(question, " ".join(parts), max_sentences=max_sentences)
