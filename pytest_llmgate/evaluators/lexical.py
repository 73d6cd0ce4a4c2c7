"""Built-in offline lexical evaluators: exact match, F1, BLEU, GLEU, ROUGE and METEOR.

Scores equal azure-ai-evaluation 1.18.10's ``F1ScoreEvaluator``, ``BleuScoreEvaluator``,
``GleuScoreEvaluator``, ``RougeScoreEvaluator`` and ``MeteorScoreEvaluator`` on the same inputs
(``tests/unit/test_lexical_vs_azure.py`` checks every output to 1e-6). Differences, on purpose:

* Nothing is downloaded, ever. azure calls ``nltk.download`` on every BLEU/GLEU/METEOR call and
  fails offline; here tokenization needs only pip packages (see ``_nltk_compat``), and METEOR's
  synonym stage uses a WordNet already on disk (see ``Meteor``).
* Only the numeric score keys are returned (``f1_score``, ``bleu_score``, ``gleu_score``,
  ``meteor_score``, ``rouge_precision``...). azure's ``*_passed``, ``*_result``, ``*_threshold``,
  ``*_reason``, ``*_status`` and ``*_properties`` keys are left out: the gate applies its own
  thresholds. Every value is a ``float`` (azure's BLEU returns the int ``0`` when no unigram
  matches).
* A ``response`` or ``ground_truth`` that is not a ``str`` raises ``EvaluationError``; so does a
  blank ``ground_truth`` (azure scores it 0.0, which would fail a row for a dataset defect). A blank
  ``response`` is a bad answer and scores what azure scores: 0.0.
* BLEU, GLEU, ROUGE-L and METEOR compute the same numbers with faster code (integer n-gram counts,
  a bit-parallel LCS, cached stemming and tokenization) so the offline path stays cheap.
"""

from __future__ import annotations

import contextlib
import math
import re
import string
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from typing import Any, ClassVar, Literal

from pytest_llmgate.errors import EvaluationError, MissingExtraError
from pytest_llmgate.evaluators._nltk_compat import nltk_tokenize, porter_stem

__all__ = ["Bleu", "ExactMatch", "F1Score", "Gleu", "Meteor", "Rouge"]


def _check_inputs(evaluator: str, response: object, ground_truth: object) -> tuple[str, str]:
    if not isinstance(response, str):
        raise EvaluationError(
            f"{evaluator}: response must be a string, got {type(response).__name__}"
        )
    if not isinstance(ground_truth, str):
        raise EvaluationError(
            f"{evaluator}: ground_truth must be a string, got {type(ground_truth).__name__}"
        )
    if not ground_truth.strip():
        raise EvaluationError(
            f"{evaluator}: ground_truth is empty; a reference-based metric needs a reference"
        )
    return response, ground_truth


# --- SQuAD-style normalisation (azure's F1ScoreEvaluator) ---------------------------------------

_PUNCTUATION_TABLE = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ARTICLES_ANY_CASE = re.compile(r"\b(a|an|the)\b", re.IGNORECASE)


def squad_normalize(text: str, *, lowercase: bool = True) -> str:
    """Lowercase, drop ASCII punctuation and the articles a/an/the, collapse whitespace."""
    if lowercase:
        text = text.lower()
        text = _ARTICLES.sub(" ", text.translate(_PUNCTUATION_TABLE))
    else:
        text = _ARTICLES_ANY_CASE.sub(" ", text.translate(_PUNCTUATION_TABLE))
    return " ".join(text.split())


def f1_from_tokens(prediction: Sequence[str], reference: Sequence[str]) -> float:
    """Token-multiset F1, with azure's arithmetic order so results are bit-identical."""
    num_common = _overlap(_ngrams(prediction, 1), _ngrams(reference, 1))
    if num_common == 0:
        return 0.0
    precision = 1.0 * num_common / len(prediction)
    recall = 1.0 * num_common / len(reference)
    return (2.0 * precision * recall) / (precision + recall)


class ExactMatch:
    """1.0 when response and ground truth are equal after optional normalisation, else 0.0.

    With the defaults this is SQuAD's exact match: both sides lowercased, ASCII punctuation and
    the articles a/an/the removed, whitespace collapsed and stripped (the normalisation F1 uses).
    ``normalize=False`` compares the raw strings (lowercased when ``ignore_case``).
    """

    name: ClassVar[str] = "exact_match"
    outputs: ClassVar[tuple[str, ...]] = ("exact_match",)

    def __init__(self, *, ignore_case: bool = True, normalize: bool = True) -> None:
        self.ignore_case = ignore_case
        self.normalize = normalize

    def _prepare(self, text: str) -> str:
        if self.normalize:
            return squad_normalize(text, lowercase=self.ignore_case)
        return text.lower() if self.ignore_case else text

    def __call__(self, *, response: str, ground_truth: str) -> dict[str, float]:
        response, ground_truth = _check_inputs(self.name, response, ground_truth)
        return {"exact_match": float(self._prepare(response) == self._prepare(ground_truth))}

    def __repr__(self) -> str:
        return f"ExactMatch(ignore_case={self.ignore_case!r}, normalize={self.normalize!r})"


class F1Score:
    """SQuAD token F1 between response and ground truth, as azure's ``F1ScoreEvaluator``."""

    name: ClassVar[str] = "f1_score"
    outputs: ClassVar[tuple[str, ...]] = ("f1_score",)

    def __call__(self, *, response: str, ground_truth: str) -> dict[str, float]:
        response, ground_truth = _check_inputs(self.name, response, ground_truth)
        return {
            "f1_score": f1_from_tokens(
                squad_normalize(response).split(), squad_normalize(ground_truth).split()
            )
        }

    def __repr__(self) -> str:
        return "F1Score()"


# --- BLEU and GLEU (nltk.translate, as azure calls them) -----------------------------------------


def _count_into(counts: dict[Any, int], items: Iterable[Any]) -> dict[Any, int]:
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


with contextlib.suppress(ImportError):  # Counter's C helper; plain dicts skip Counter's overhead
    from collections import _count_elements as _count_into  # type: ignore[attr-defined,no-redef]


def _ngrams(tokens: Sequence[str], n: int) -> dict[Any, int]:
    """n-gram counts (unigrams keyed by the token itself)."""
    counts: dict[Any, int] = {}
    if n == 1:
        _count_into(counts, tokens)
    elif n == 2:
        _count_into(counts, pairwise(tokens))
    elif n == 3:
        _count_into(counts, zip(tokens, tokens[1:], tokens[2:], strict=False))
    elif n == 4:
        _count_into(counts, zip(tokens, tokens[1:], tokens[2:], tokens[3:], strict=False))
    else:
        _count_into(counts, zip(*(tokens[i:] for i in range(n)), strict=False))
    return counts


def _overlap(a: dict[Any, int], b: dict[Any, int]) -> int:
    """`sum((a & b).values())`, looping only over the keys both share (a C-level set op)."""
    total = 0
    for key in a.keys() & b.keys():
        count_a = a[key]
        count_b = b[key]
        total += count_a if count_a < count_b else count_b
    return total


def sentence_bleu(reference: Sequence[str], hypothesis: Sequence[str]) -> float:
    """`nltk.translate.bleu_score.sentence_bleu([reference], hypothesis,
    smoothing_function=SmoothingFunction().method4)`: 4-gram BLEU with NIST geometric smoothing.
    """
    hyp_len = len(hypothesis)
    ref_len = len(reference)
    matches: list[int] = []
    totals: list[int] = []
    for n in range(1, 5):
        if hyp_len >= n:
            matched = _overlap(_ngrams(hypothesis, n), _ngrams(reference, n)) if ref_len >= n else 0
            if n == 1 and matched == 0:
                return 0.0  # NLTK returns 0 when no unigram matches, whatever the smoothing
            matches.append(matched)
            totals.append(hyp_len - n + 1)
        else:
            matches.append(0)
            totals.append(1)
    if not matches or matches[0] == 0:
        return 0.0
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    terms = []
    smoothing_step = 1
    for matched, total in zip(matches, totals, strict=True):
        if matched == 0 and hyp_len > 1:
            # method4: the same float expression as NLTK, so values stay bit-identical.
            numerator = 1 / (2**smoothing_step * 5 / math.log(hyp_len))
            terms.append(0.25 * math.log(numerator / total))
            smoothing_step += 1
        elif matched > 0:
            terms.append(0.25 * math.log(matched / total))
    return brevity * math.exp(math.fsum(terms))


def _everygrams(tokens: Sequence[str]) -> dict[Any, int]:
    grams: dict[Any, int] = {}
    _count_into(grams, tokens)
    _count_into(grams, pairwise(tokens))
    _count_into(grams, zip(tokens, tokens[1:], tokens[2:], strict=False))
    _count_into(grams, zip(tokens, tokens[1:], tokens[2:], tokens[3:], strict=False))
    return grams


def _ngram_total(length: int) -> int:
    return sum(length - n + 1 for n in range(1, min(4, length) + 1))


def sentence_gleu(reference: Sequence[str], hypothesis: Sequence[str]) -> float:
    """`nltk.translate.gleu_score.sentence_gleu([reference], hypothesis)` (1- to 4-grams)."""
    n_all = max(_ngram_total(len(hypothesis)), _ngram_total(len(reference)))
    if n_all == 0:
        return 0.0
    return _overlap(_everygrams(reference), _everygrams(hypothesis)) / n_all


class Bleu:
    """Sentence BLEU-4 with NIST smoothing (method4) over NLTK tokens, as azure's
    ``BleuScoreEvaluator``."""

    name: ClassVar[str] = "bleu"
    outputs: ClassVar[tuple[str, ...]] = ("bleu_score",)

    def __call__(self, *, response: str, ground_truth: str) -> dict[str, float]:
        response, ground_truth = _check_inputs(self.name, response, ground_truth)
        return {"bleu_score": sentence_bleu(nltk_tokenize(ground_truth), nltk_tokenize(response))}

    def __repr__(self) -> str:
        return "Bleu()"


class Gleu:
    """Sentence GLEU (Google-BLEU, 1- to 4-grams) over NLTK tokens, as azure's
    ``GleuScoreEvaluator``."""

    name: ClassVar[str] = "gleu"
    outputs: ClassVar[tuple[str, ...]] = ("gleu_score",)

    def __call__(self, *, response: str, ground_truth: str) -> dict[str, float]:
        response, ground_truth = _check_inputs(self.name, response, ground_truth)
        return {"gleu_score": sentence_gleu(nltk_tokenize(ground_truth), nltk_tokenize(response))}

    def __repr__(self) -> str:
        return "Gleu()"


# --- ROUGE (azure's vendored rouge_score, no stemming) -------------------------------------------

_ROUGE_TOKEN = re.compile(r"[a-z0-9]+")
ROUGE_TYPES = ("rouge1", "rouge2", "rouge3", "rouge4", "rouge5", "rougeL")
_DEFAULT_ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def rouge_tokenize(text: str) -> list[str]:
    """rouge_score's default tokenizer: lowercase, keep runs of ASCII letters and digits."""
    return _ROUGE_TOKEN.findall(text.lower())


def _fmeasure(precision: float, recall: float) -> float:
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence, bit-parallel (Hyyrö 2004): O(len(a)) big-int
    steps instead of rouge_score's O(len(a) * len(b)) Python table."""
    masks: dict[str, int] = {}
    for position, token in enumerate(b):
        masks[token] = masks.get(token, 0) | (1 << position)
    full = (1 << len(b)) - 1
    v = full
    for token in a:
        mask = masks.get(token)
        if mask is not None:
            u = v & mask
            v = ((v + u) | (v - u)) & full
    return len(b) - v.bit_count()


def rouge_scores(
    target: Sequence[str], prediction: Sequence[str], rouge_type: str
) -> tuple[float, float, float]:
    """(precision, recall, fmeasure) as rouge_score's ``RougeScorer([rouge_type]).score``."""
    if rouge_type == "rougeL":
        if not target or not prediction:
            return 0.0, 0.0, 0.0
        lcs = lcs_length(target, prediction)
        precision = lcs / len(prediction)
        recall = lcs / len(target)
        return precision, recall, _fmeasure(precision, recall)
    n = int(rouge_type[5:])
    overlap = _overlap(_ngrams(target, n), _ngrams(prediction, n))
    precision = overlap / max(len(prediction) - n + 1, 1)
    recall = overlap / max(len(target) - n + 1, 1)
    return precision, recall, _fmeasure(precision, recall)


class Rouge:
    """ROUGE precision, recall and F1 as azure's ``RougeScoreEvaluator`` (no stemming).

    ``rouge_type`` is one of ``rouge1``..``rouge5`` or ``rougeL`` (azure's ``RougeType`` values;
    azure requires it). Given a type, the outputs are azure's own names: ``rouge_precision``,
    ``rouge_recall``, ``rouge_f1_score`` (azure's ``rouge`` / ``rouge_score`` equal
    ``rouge_f1_score``). Without one, ROUGE-1, ROUGE-2 and ROUGE-L are all computed and each name
    is prefixed with its type: ``rouge1_precision``, ``rouge1_recall``, ``rouge1_f1_score``,
    ``rouge2_...``, ``rougeL_...``. ``outputs`` on an instance lists the names it returns.
    """

    name: ClassVar[str] = "rouge"
    outputs: tuple[str, ...] = tuple(
        f"{rouge_type}_{metric}"
        for rouge_type in _DEFAULT_ROUGE_TYPES
        for metric in ("precision", "recall", "f1_score")
    )

    def __init__(self, *, rouge_type: str | None = None) -> None:
        if rouge_type is not None:
            rouge_type = str(getattr(rouge_type, "value", rouge_type))
            if rouge_type not in ROUGE_TYPES:
                raise ValueError(
                    f"rouge_type must be one of {', '.join(ROUGE_TYPES)}; got {rouge_type!r}"
                )
            self.outputs = ("rouge_precision", "rouge_recall", "rouge_f1_score")
        self.rouge_type = rouge_type

    def __call__(self, *, response: str, ground_truth: str) -> dict[str, float]:
        response, ground_truth = _check_inputs(self.name, response, ground_truth)
        target = rouge_tokenize(ground_truth)
        prediction = rouge_tokenize(response)
        if self.rouge_type is not None:
            precision, recall, f1 = rouge_scores(target, prediction, self.rouge_type)
            return {"rouge_precision": precision, "rouge_recall": recall, "rouge_f1_score": f1}
        result: dict[str, float] = {}
        for rouge_type in _DEFAULT_ROUGE_TYPES:
            precision, recall, f1 = rouge_scores(target, prediction, rouge_type)
            result[f"{rouge_type}_precision"] = precision
            result[f"{rouge_type}_recall"] = recall
            result[f"{rouge_type}_f1_score"] = f1
        return result

    def __repr__(self) -> str:
        return f"Rouge(rouge_type={self.rouge_type!r})"


# --- METEOR (nltk.translate.meteor_score, as azure calls it) -------------------------------------

_Enum = list[tuple[int, str]]
_Pairs = list[tuple[int, int]]


def _match_enums(hypothesis: _Enum, reference: _Enum) -> tuple[_Pairs, _Enum, _Enum]:
    """NLTK's exact-word alignment: right to left, each word takes its rightmost free twin."""
    ref_positions: defaultdict[str, list[int]] = defaultdict(list)
    for j, (_, word) in enumerate(reference):
        ref_positions[word].append(j)
    pairs: _Pairs = []
    matched_hyp: set[int] = set()
    matched_ref: set[int] = set()
    for i in range(len(hypothesis) - 1, -1, -1):
        positions = ref_positions.get(hypothesis[i][1])
        if positions:
            j = positions.pop()
            matched_hyp.add(i)
            matched_ref.add(j)
            pairs.append((hypothesis[i][0], reference[j][0]))
    return (
        pairs,
        [pair for i, pair in enumerate(hypothesis) if i not in matched_hyp],
        [pair for j, pair in enumerate(reference) if j not in matched_ref],
    )


def _synonym_match(
    hypothesis: _Enum, reference: _Enum, synonyms: Callable[[str], frozenset[str]]
) -> _Pairs:
    ref_positions: defaultdict[str, list[int]] = defaultdict(list)
    for j, (_, word) in enumerate(reference):
        ref_positions[word].append(j)
    pairs: _Pairs = []
    for i in range(len(hypothesis) - 1, -1, -1):
        best_j = -1
        best_word = None
        for synonym in synonyms(hypothesis[i][1]):
            positions = ref_positions.get(synonym)
            if positions and positions[-1] > best_j:
                best_j = positions[-1]
                best_word = synonym
        if best_word is not None:
            ref_positions[best_word].pop()
            pairs.append((hypothesis[i][0], reference[best_j][0]))
    return pairs


def _count_chunks(matches: _Pairs) -> int:
    chunks = 1
    for (hyp_a, ref_a), (hyp_b, ref_b) in pairwise(matches):
        if not (hyp_b == hyp_a + 1 and ref_b == ref_a + 1):
            chunks += 1
    return chunks


def meteor(
    reference: Sequence[str],
    hypothesis: Sequence[str],
    *,
    alpha: float = 0.9,
    beta: float = 3.0,
    gamma: float = 0.5,
    synonyms: Callable[[str], frozenset[str]] | None = None,
) -> float:
    """`nltk.translate.meteor_score.single_meteor_score`: exact, then Porter-stem, then (when
    `synonyms` is given) WordNet-synonym alignment, with NLTK's fragmentation penalty."""
    enum_hyp = list(enumerate(word.lower() for word in hypothesis))
    enum_ref = list(enumerate(word.lower() for word in reference))
    translation_length = len(enum_hyp)
    reference_length = len(enum_ref)
    exact, enum_hyp, enum_ref = _match_enums(enum_hyp, enum_ref)
    stemmed, enum_hyp, enum_ref = _match_enums(
        [(i, porter_stem(word)) for i, word in enum_hyp],
        [(j, porter_stem(word)) for j, word in enum_ref],
    )
    # As in NLTK, the synonym stage sees the stemmed forms of the words still unmatched.
    synonym = _synonym_match(enum_hyp, enum_ref, synonyms) if synonyms and enum_hyp else []
    matches = sorted(exact + stemmed + synonym, key=lambda pair: pair[0])
    matches_count = len(matches)
    try:
        precision = float(matches_count) / translation_length
        recall = float(matches_count) / reference_length
        fmean = (precision * recall) / (alpha * precision + (1 - alpha) * recall)
        frag_frac = float(_count_chunks(matches)) / matches_count
    except ZeroDivisionError:
        return 0.0
    penalty: float = gamma * frag_frac**beta
    return (1 - penalty) * fmean


class Meteor:
    """METEOR over NLTK tokens, as azure's ``MeteorScoreEvaluator`` (alpha 0.9, beta 3, gamma 0.5).

    Words align by exact match, then Porter stem, then WordNet synonym. No PyPI package ships
    WordNet and nothing here downloads, so ``synonyms`` says where the last stage comes from:

    * ``"auto"`` (default): WordNet when one is installed (NLTK data on ``NLTK_DATA``, or a
      WordNet 3.0 dict directory: ``$LLMGATE_WORDNET_DIR``, else ``/usr/share/wordnet`` from
      ``apt-get install wordnet-base wordnet-sense-index``), else exact + stem only;
    * ``"wordnet"``: WordNet is required; ``MissingExtraError`` when none is installed;
    * ``"off"``: exact + stem only, the same on every machine.

    Without WordNet, a pair that azure aligns only through a synonym ("big"/"large") scores lower
    than azure's value; with it, values equal azure's. ``wordnet_source`` tells which data was used
    (None for none). Loading WordNet takes a few seconds, once per process.
    """

    name: ClassVar[str] = "meteor"
    outputs: ClassVar[tuple[str, ...]] = ("meteor_score",)

    def __init__(
        self,
        *,
        alpha: float = 0.9,
        beta: float = 3.0,
        gamma: float = 0.5,
        synonyms: Literal["auto", "wordnet", "off"] = "auto",
    ) -> None:
        if synonyms not in ("auto", "wordnet", "off"):
            raise ValueError(f"synonyms must be 'auto', 'wordnet' or 'off'; got {synonyms!r}")
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma
        self.synonyms = synonyms
        self.wordnet_source: str | None = None
        self._synonyms: Callable[[str], frozenset[str]] | None = None
        if synonyms != "off":
            from pytest_llmgate.evaluators._wordnet import WordNetSynonyms, find_wordnet

            found = find_wordnet()
            if found is None and synonyms == "wordnet":
                raise MissingExtraError(
                    "meteor: WordNet is not installed; install it with "
                    "`apt-get install wordnet-base wordnet-sense-index`, point LLMGATE_WORDNET_DIR "
                    "at a WordNet 3.0 dict directory, or put NLTK's wordnet data on NLTK_DATA"
                )
            if found is not None:
                reader, self.wordnet_source = found
                self._synonyms = WordNetSynonyms(reader).lookup

    @property
    def data_sources(self) -> dict[str, str]:
        """Recorded with the evaluator in the results: scores made with and without WordNet
        differ, so a baseline made with the other source is not like for like."""
        if self.synonyms == "off":
            return {"synonyms": "off"}
        return {"synonyms": "wordnet-3.0" if self._synonyms is not None else "none"}

    def __call__(self, *, response: str, ground_truth: str) -> dict[str, float]:
        response, ground_truth = _check_inputs(self.name, response, ground_truth)
        score = meteor(
            nltk_tokenize(ground_truth),
            nltk_tokenize(response),
            alpha=self.alpha,
            beta=self.beta,
            gamma=self.gamma,
            synonyms=self._synonyms,
        )
        return {"meteor_score": score}

    def __repr__(self) -> str:
        return (
            f"Meteor(alpha={self.alpha!r}, beta={self.beta!r}, gamma={self.gamma!r}, "
            f"synonyms={self.synonyms!r})"
        )
