"""Unit and property tests for the offline lexical evaluators.

Where NLTK or rouge_score can compute the same thing without downloaded data, the property tests
use them as the oracle; `test_lexical_vs_azure.py` compares whole evaluators with azure's.
"""

# ruff: noqa: RUF001
from __future__ import annotations

import inspect
import math
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_llmgate.errors import EvaluationError, MissingExtraError
from pytest_llmgate.evaluators import _nltk_compat, lexical

nltk = pytest.importorskip("nltk")

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Text that exercises the tokenizers: words, digits, quotes, brackets, sentence ends, whitespace.
ASCII_PIECES = st.sampled_from(
    [
        "the", "cat", "Dr.", "U.S.", "can't", "won't", "it's", "I'm", "we'll", "cannot", "gonna",
        "'tis", "3.5", "$100", "50%", "e.g.", "...", "--", "(", ")", "[", "]", "{", "}", "<", ">",
        '"', "'", "''", "``", "`", ",", ":", ";", ".", "!", "?", "&", "#", "@", "*", "-", "a",
        "Paris", "HELLO", "o'clock", "x@y.com", " ", "  ", "\n", "\t", ". ", "? ", "! ", "\x1c",
    ]
)  # fmt: skip
ASCII_TEXT = st.lists(ASCII_PIECES, max_size=30).map("".join) | st.text(
    alphabet=st.characters(max_codepoint=127), max_size=60
)
UNICODE_PIECES = st.sampled_from(
    ["café", "“", "”", "‘", "’", "—", "–", "…", "€", "½", "日本語", "。", "😀", "→", "²", "ß",
     "«", "»", "&amp;", "&lt;", "<skipped>", "\u2028", "٣", "Ⅻ"]
)  # fmt: skip
ANY_TEXT = st.lists(ASCII_PIECES | UNICODE_PIECES, max_size=30).map("".join) | st.text(max_size=60)
TOKENS = st.lists(st.sampled_from(["a", "b", "c", "d", "the", "cat", "."]), max_size=14)

ALL_EVALUATORS = [
    lexical.ExactMatch(),
    lexical.ExactMatch(ignore_case=False),
    lexical.ExactMatch(normalize=False),
    lexical.F1Score(),
    lexical.Bleu(),
    lexical.Gleu(),
    lexical.Rouge(),
    *(lexical.Rouge(rouge_type=rouge_type) for rouge_type in lexical.ROUGE_TYPES),
    lexical.Meteor(synonyms="off"),
]


def _score(evaluator: Any, response: str, ground_truth: str) -> dict[str, float]:
    return evaluator(response=response, ground_truth=ground_truth)  # type: ignore[no-any-return]


# --- interface ---------------------------------------------------------------------------------


@pytest.mark.parametrize("evaluator", ALL_EVALUATORS, ids=repr)
def test_call_is_keyword_only_and_returns_declared_outputs(evaluator: Any) -> None:
    parameters = inspect.signature(type(evaluator).__call__).parameters
    assert [name for name in parameters if name != "self"] == ["response", "ground_truth"]
    assert all(
        parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
        for name in ("response", "ground_truth")
    )
    assert isinstance(type(evaluator).name, str)
    result = _score(evaluator, "The cat sat.", "A cat sat down.")
    assert tuple(result) == evaluator.outputs
    assert all(type(value) is float for value in result.values())


def test_names_and_default_outputs() -> None:
    assert lexical.F1Score.outputs == ("f1_score",)
    assert lexical.Bleu.outputs == ("bleu_score",)
    assert lexical.Gleu.outputs == ("gleu_score",)
    assert lexical.Meteor.outputs == ("meteor_score",)
    assert lexical.ExactMatch.outputs == ("exact_match",)
    assert lexical.Rouge.outputs == (
        "rouge1_precision", "rouge1_recall", "rouge1_f1_score",
        "rouge2_precision", "rouge2_recall", "rouge2_f1_score",
        "rougeL_precision", "rougeL_recall", "rougeL_f1_score",
    )  # fmt: skip
    assert lexical.Rouge(rouge_type="rouge4").outputs == (
        "rouge_precision",
        "rouge_recall",
        "rouge_f1_score",
    )
    names = [cls.name for cls in (lexical.ExactMatch, lexical.F1Score, lexical.Bleu)]
    assert names == ["exact_match", "f1_score", "bleu"]
    assert [lexical.Gleu.name, lexical.Rouge.name, lexical.Meteor.name] == [
        "gleu",
        "rouge",
        "meteor",
    ]


def test_rouge_accepts_str_enum_and_rejects_unknown_types() -> None:
    import enum

    class RougeType(str, enum.Enum):  # the shape of azure's RougeType
        ROUGE_L = "rougeL"

    assert lexical.Rouge(rouge_type=RougeType.ROUGE_L).rouge_type == "rougeL"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rouge_type must be one of"):
        lexical.Rouge(rouge_type="rougeLsum")


def test_meteor_rejects_unknown_synonym_mode() -> None:
    with pytest.raises(ValueError, match="synonyms must be"):
        lexical.Meteor(synonyms="maybe")  # type: ignore[arg-type]


# --- errors and blank input ----------------------------------------------------------------------


@pytest.mark.parametrize("evaluator", ALL_EVALUATORS, ids=repr)
@pytest.mark.parametrize("bad", [None, 3, b"bytes", ["list"]])
def test_non_string_input_raises_evaluation_error(evaluator: Any, bad: object) -> None:
    with pytest.raises(EvaluationError, match="response must be a string"):
        evaluator(response=bad, ground_truth="x")
    with pytest.raises(EvaluationError, match="ground_truth must be a string"):
        evaluator(response="x", ground_truth=bad)


@pytest.mark.parametrize("evaluator", ALL_EVALUATORS, ids=repr)
@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_blank_ground_truth_raises(evaluator: Any, blank: str) -> None:
    with pytest.raises(EvaluationError, match="ground_truth is empty"):
        evaluator(response="x", ground_truth=blank)


@pytest.mark.parametrize("evaluator", ALL_EVALUATORS, ids=repr)
@pytest.mark.parametrize("blank", ["", "   ", "..."])
def test_blank_response_scores_zero_like_azure(evaluator: Any, blank: str) -> None:
    assert set(_score(evaluator, blank, "The reference answer.").values()) == {0.0}


def test_nothing_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("nltk.download was called")

    monkeypatch.setattr(nltk, "download", refuse)
    _nltk_compat.nltk_tokenize.cache_clear()
    texts = ["Dr. Smith went home. He slept.", "Café — “quoted” text.", "plain words"]
    for evaluator in ALL_EVALUATORS:
        for text in texts:
            _score(evaluator, text, texts[0])


# --- known values ------------------------------------------------------------------------------


def test_exact_match_options() -> None:
    default = lexical.ExactMatch()
    assert _score(default, "  The  Beatles! ", "beatles")["exact_match"] == 1.0
    assert _score(default, "Beatles", "Stones")["exact_match"] == 0.0
    case_sensitive = lexical.ExactMatch(ignore_case=False)
    assert _score(case_sensitive, "The Beatles!", "beatles")["exact_match"] == 0.0
    assert _score(case_sensitive, "The Beatles!", "Beatles")["exact_match"] == 1.0
    raw = lexical.ExactMatch(normalize=False)
    assert _score(raw, "Paris", "paris")["exact_match"] == 1.0
    assert _score(raw, "Paris.", "paris")["exact_match"] == 0.0
    strict = lexical.ExactMatch(ignore_case=False, normalize=False)
    assert _score(strict, "Paris", "paris")["exact_match"] == 0.0


def test_f1_known_values() -> None:
    f1 = lexical.F1Score()
    assert _score(f1, "The cat sat on the mat.", "A cat was sitting on the mat.")[
        "f1_score"
    ] == pytest.approx(2 / 3)
    assert _score(f1, "a b c", "d e f")["f1_score"] == 0.0


def test_bleu_and_gleu_known_values() -> None:
    bleu = lexical.Bleu()
    gleu = lexical.Gleu()
    text = "The quick brown fox jumps over the lazy dog."
    assert _score(bleu, text, text)["bleu_score"] == pytest.approx(1.0)
    assert _score(gleu, text, text)["gleu_score"] == pytest.approx(1.0)
    result = _score(bleu, "The cat sat on the mat.", "A cat was sitting on the mat.")
    assert result["bleu_score"] == pytest.approx(0.3768499164492419, abs=1e-12)
    result = _score(gleu, "The cat sat on the mat.", "A cat was sitting on the mat.")
    assert result["gleu_score"] == pytest.approx(0.4230769230769231, abs=1e-12)


def test_rouge_known_values() -> None:
    result = _score(lexical.Rouge(), "The cat sat on the mat.", "A cat was sitting on the mat.")
    assert result["rouge1_precision"] == pytest.approx(4 / 6)
    assert result["rouge1_recall"] == pytest.approx(4 / 7)
    assert result["rouge2_f1_score"] == pytest.approx(2 * (2 / 5) * (2 / 6) / (2 / 5 + 2 / 6))
    assert result["rougeL_f1_score"] == pytest.approx(result["rouge1_f1_score"])


def test_meteor_known_value_and_stemming() -> None:
    meteor = lexical.Meteor(synonyms="off")
    result = _score(meteor, "The cat sat on the mat.", "A cat was sitting on the mat.")
    # 0.7454289732770746 with WordNet, where "sat" also aligns with "sitting" through "sit".
    assert result["meteor_score"] == pytest.approx(0.6126582278481013, abs=1e-12)
    # "running" and "runs" only align through the Porter stem "run".
    stemmed = _score(meteor, "running", "runs")["meteor_score"]
    assert stemmed == pytest.approx(0.5)


def test_meteor_wordnet_required_but_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LLMGATE_WORDNET_DIR", str(tmp_path))  # an empty directory
    with pytest.raises(MissingExtraError, match="wordnet-base"):
        lexical.Meteor(synonyms="wordnet")
    assert lexical.Meteor().wordnet_source is None
    assert lexical.Meteor(synonyms="off").wordnet_source is None


# --- properties --------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(response=ANY_TEXT, ground_truth=ANY_TEXT.filter(str.strip))
def test_every_score_is_a_float_in_unit_interval(response: str, ground_truth: str) -> None:
    for evaluator in ALL_EVALUATORS:
        for value in _score(evaluator, response, ground_truth).values():
            assert type(value) is float
            assert 0.0 <= value <= 1.0 + 1e-12


@PROPERTY_SETTINGS
@given(text=ANY_TEXT.filter(str.strip))
def test_identical_texts_score_one_where_defined(text: str) -> None:
    assert _score(lexical.ExactMatch(), text, text)["exact_match"] == 1.0
    assert _score(lexical.ExactMatch(normalize=False), text, text)["exact_match"] == 1.0
    if lexical.squad_normalize(text):
        assert _score(lexical.F1Score(), text, text)["f1_score"] == pytest.approx(1.0)
    tokens = _nltk_compat.nltk_tokenize(text)
    if tokens:
        assert _score(lexical.Gleu(), text, text)["gleu_score"] == pytest.approx(1.0)
        meteor = _score(lexical.Meteor(synonyms="off"), text, text)["meteor_score"]
        assert meteor == pytest.approx(1 - 0.5 / len(tokens) ** 3)
    if len(tokens) >= 4 or len(tokens) == 1:
        assert _score(lexical.Bleu(), text, text)["bleu_score"] == pytest.approx(1.0)
    if lexical.rouge_tokenize(text):
        rouge = _score(lexical.Rouge(), text, text)
        assert rouge["rouge1_f1_score"] == pytest.approx(1.0)
        assert rouge["rougeL_f1_score"] == pytest.approx(1.0)


@PROPERTY_SETTINGS
@given(a=ANY_TEXT.filter(str.strip), b=ANY_TEXT.filter(str.strip))
def test_symmetric_metrics(a: str, b: str) -> None:
    for evaluator, key in [
        (lexical.ExactMatch(), "exact_match"),
        (lexical.F1Score(), "f1_score"),
        (lexical.Gleu(), "gleu_score"),
    ]:
        assert _score(evaluator, a, b)[key] == pytest.approx(_score(evaluator, b, a)[key])
    forward, backward = _score(lexical.Rouge(), a, b), _score(lexical.Rouge(), b, a)
    for kind in ("rouge1", "rouge2", "rougeL"):
        assert forward[f"{kind}_f1_score"] == pytest.approx(backward[f"{kind}_f1_score"])
        assert forward[f"{kind}_precision"] == pytest.approx(backward[f"{kind}_recall"])


# --- against NLTK / rouge_score, where they need no downloaded data ------------------------------


@PROPERTY_SETTINGS
@given(text=ASCII_TEXT)
def test_treebank_port_equals_nltk(text: str) -> None:
    from nltk.tokenize.destructive import NLTKWordTokenizer

    assert _nltk_compat.treebank_tokenize(text) == NLTKWordTokenizer().tokenize(text)


@pytest.fixture(scope="module")
def nltk_punkt() -> Any:
    return _nltk_compat._get_punkt()


SENTENCE_PIECES = st.sampled_from(
    [
        "Dr.", "Mr.", "U.S.", "e.g.", "etc.", "Jan.", "Inc.", "a.m.", "No.", "vs.", "J.", "A.",
        "x.", "3.", "42.", "5th.", "...", ". . .", "--", "?", "!", "?!", ".", ",", ";", ":", '"',
        "'", "''", "(", ")", "[", "]", "The", "the", "He", "he", "However", "however", "But",
        "Smith", "went", "home", "In", "in", "1,000", "3.5", "-2", "I", "\n", "\n\n", "\x1c",
    ]
)  # fmt: skip
SENTENCES = st.lists(
    st.tuples(SENTENCE_PIECES, st.sampled_from([" ", " ", "", "\n", "  "])), max_size=30
).map(lambda parts: "".join(piece + gap for piece, gap in parts))


@PROPERTY_SETTINGS
@given(text=ASCII_TEXT | SENTENCES)
def test_sentence_splitting_equals_nltk_punkt(nltk_punkt: Any, text: str) -> None:
    """The fast path and the Punkt port give what NLTK's Punkt gives with the same model."""
    assert _nltk_compat.sent_tokenize(text) == nltk_punkt.tokenize(text)


def test_punkt_model_splits_english_like_nltk() -> None:
    text = 'Dr. Smith went to Washington D.C. on Jan. 5th. He said: "It\'s great!" Then he left.'
    assert _nltk_compat.sent_tokenize(text) == [
        "Dr. Smith went to Washington D.C. on Jan. 5th.",
        'He said: "It\'s great!"',
        "Then he left.",
    ]


@pytest.mark.parametrize(
    ("name", "category"),
    [("NUMBER", "Number"), ("PUNCTUATION", "Punctuation"), ("SYMBOL", "Symbol")],
)
def test_perluniprops_ranges_equal_the_data(name: str, category: str) -> None:
    """The vendored ranges hold exactly the characters NLTK reads (`chars(...)`, stripped)."""
    import re

    from pytest_llmgate.evaluators import _perluniprops

    corpus = pytest.importorskip("sacremoses.corpus")
    expected = set("".join(corpus.Perluniprops().chars(category)).strip())
    pattern = re.compile(f"[{getattr(_perluniprops, name)}]")
    got = {chr(code) for code in range(0x110000) if pattern.match(chr(code))}
    assert got == expected


@pytest.fixture(scope="module")
def nltk_perluniprops(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """NLTK's NISTTokenizer, reading perluniprops files written from sacremoses' copy."""
    Perluniprops = pytest.importorskip("sacremoses.corpus").Perluniprops

    root = tmp_path_factory.mktemp("nltk_data")
    props = root / "misc" / "perluniprops"
    props.mkdir(parents=True)
    for category in ("Number", "Punctuation", "Symbol"):
        (props / f"{category}.txt").write_text("".join(Perluniprops().chars(category)), "utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nltk.data, "path", [str(root), *nltk.data.path])
        from nltk.tokenize.nist import NISTTokenizer

        yield NISTTokenizer()


@PROPERTY_SETTINGS
@given(text=ANY_TEXT)
def test_nist_port_equals_nltk(nltk_perluniprops: Any, text: str) -> None:
    expected = nltk_perluniprops.international_tokenize(text)
    assert _nltk_compat.nist_international_tokenize(text) == expected


@PROPERTY_SETTINGS
@given(reference=TOKENS, hypothesis=TOKENS)
def test_bleu_and_gleu_equal_nltk(reference: list[str], hypothesis: list[str]) -> None:
    from nltk.translate.bleu_score import SmoothingFunction
    from nltk.translate.bleu_score import sentence_bleu as nltk_bleu
    from nltk.translate.gleu_score import sentence_gleu as nltk_gleu

    expected = nltk_bleu([reference], hypothesis, smoothing_function=SmoothingFunction().method4)
    assert lexical.sentence_bleu(reference, hypothesis) == pytest.approx(expected, abs=1e-12)
    expected = nltk_gleu([reference], hypothesis)
    assert lexical.sentence_gleu(reference, hypothesis) == pytest.approx(expected, abs=1e-12)


@PROPERTY_SETTINGS
@given(a=st.lists(st.sampled_from("abcde"), max_size=40), b=st.lists(st.sampled_from("abcde")))
def test_bit_parallel_lcs_equals_dynamic_programming(a: list[str], b: list[str]) -> None:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    assert lexical.lcs_length(a, b) == table[-1][-1]


@PROPERTY_SETTINGS
@given(target=ANY_TEXT, prediction=ANY_TEXT)
def test_rouge_equals_rouge_score(target: str, prediction: str) -> None:
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(list(lexical.ROUGE_TYPES))
    expected = scorer.score(target, prediction)
    target_tokens = lexical.rouge_tokenize(target)
    prediction_tokens = lexical.rouge_tokenize(prediction)
    for rouge_type in lexical.ROUGE_TYPES:
        got = lexical.rouge_scores(target_tokens, prediction_tokens, rouge_type)
        assert got == pytest.approx(tuple(expected[rouge_type]), abs=1e-12)


class _FakeLemma:
    def __init__(self, name: str) -> None:
        self._name = name

    def name(self) -> str:
        return self._name


class _FakeSynset:
    def __init__(self, names: list[str]) -> None:
        self._lemmas = [_FakeLemma(name) for name in names]

    def lemmas(self) -> list[_FakeLemma]:
        return self._lemmas


class _FakeWordNet:
    """Enough of NLTK's WordNet for METEOR: a few synonym groups, no data files."""

    GROUPS = (["big", "larg", "great"], ["cat", "true_cat", "feline"], ["dog", "d", "hound"])

    def synsets(self, word: str) -> list[_FakeSynset]:
        return [_FakeSynset(group) for group in self.GROUPS if word in group]


METEOR_WORDS = st.sampled_from(
    ["big", "large", "larger", "great", "cat", "cats", "feline", "dog", "hound", "d", "the", "a"]
)


@PROPERTY_SETTINGS
@given(
    reference=st.lists(METEOR_WORDS, max_size=12),
    hypothesis=st.lists(METEOR_WORDS, max_size=12),
    alpha=st.sampled_from([0.9, 0.5]),
)
def test_meteor_equals_nltk(reference: list[str], hypothesis: list[str], alpha: float) -> None:
    from nltk.translate.meteor_score import single_meteor_score

    fake = _FakeWordNet()
    synonyms = defaultdict(frozenset)
    for word in ("big", "larg", "great", "cat", "feline", "dog", "d", "hound", "larger"):
        names = {n.name() for s in fake.synsets(word) for n in s.lemmas() if "_" not in n.name()}
        synonyms[word] = frozenset(names | {word})

    def lookup(word: str) -> frozenset[str]:
        return synonyms.get(word) or frozenset({word})

    expected = single_meteor_score(reference, hypothesis, wordnet=fake, alpha=alpha)
    got = lexical.meteor(reference, hypothesis, alpha=alpha, synonyms=lookup)
    assert got == pytest.approx(expected, abs=1e-12)

    class NoWordNet:
        def synsets(self, word: str) -> list[_FakeSynset]:
            return []

    expected = single_meteor_score(reference, hypothesis, wordnet=NoWordNet())
    assert lexical.meteor(reference, hypothesis) == pytest.approx(expected, abs=1e-12)
    assert not math.isnan(got)


def test_perluniprops_module_is_what_the_generator_writes() -> None:
    """`_perluniprops.py` is generated: `python tools/gen_perluniprops.py` rewrites it."""
    pytest.importorskip("sacremoses.corpus")
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve().parents[2] / "tools" / "gen_perluniprops.py"),
         "--check"], capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
