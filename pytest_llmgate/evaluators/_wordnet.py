"""Locally installed WordNet for METEOR's synonym stage, found without ever downloading.

azure-ai-evaluation's METEOR asks NLTK's WordNet (``nltk.download("wordnet")`` on every call) for
synonyms. No PyPI package ships that data, so this module only looks for a copy already on disk:

1. NLTK's own ``corpora/wordnet`` (directory or zip) anywhere on ``nltk.data.path`` / ``NLTK_DATA``:
   the exact data azure reads.
2. A plain Princeton WordNet 3.0 ``dict`` directory: ``/usr/share/wordnet`` (Debian/Ubuntu:
   ``apt-get install wordnet-base wordnet-sense-index``).

``$LLMGATE_WORDNET_DIR``, when set, names the dict directory to use and skips the search.
   NLTK's reader opens it with the fixed WordNet 3.0 ``lexnames`` table supplied from memory
   (Debian does not ship that file).
"""

from __future__ import annotations

import io
import os
import threading
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["WordNetSynonyms", "find_wordnet"]

# WordNet 3.0 lexicographer file names, in file-number order (see lexnames(5WN)).
_LEXNAMES = (
    "adj.all 3",
    "adj.pert 3",
    "adv.all 4",
    "noun.Tops 1",
    "noun.act 1",
    "noun.animal 1",
    "noun.artifact 1",
    "noun.attribute 1",
    "noun.body 1",
    "noun.cognition 1",
    "noun.communication 1",
    "noun.event 1",
    "noun.feeling 1",
    "noun.food 1",
    "noun.group 1",
    "noun.location 1",
    "noun.motive 1",
    "noun.object 1",
    "noun.person 1",
    "noun.phenomenon 1",
    "noun.plant 1",
    "noun.possession 1",
    "noun.process 1",
    "noun.quantity 1",
    "noun.relation 1",
    "noun.shape 1",
    "noun.state 1",
    "noun.substance 1",
    "noun.time 1",
    "verb.body 2",
    "verb.change 2",
    "verb.cognition 2",
    "verb.communication 2",
    "verb.competition 2",
    "verb.consumption 2",
    "verb.contact 2",
    "verb.creation 2",
    "verb.emotion 2",
    "verb.motion 2",
    "verb.perception 2",
    "verb.possession 2",
    "verb.social 2",
    "verb.stative 2",
    "verb.weather 2",
    "adj.ppl 3",
)
LEXNAMES_TEXT = "".join(
    f"{index:02d}\t{entry.split()[0]}\t{entry.split()[1]}\n"
    for index, entry in enumerate(_LEXNAMES)
)
_REQUIRED_FILES = ("index.noun", "data.noun", "index.sense", "noun.exc")
DEFAULT_DICT_DIRS = ("/usr/share/wordnet",)

_lock = threading.RLock()
_found: dict[str, tuple[Any, str] | None] = {}


def _nltk_wordnet_root() -> str | None:
    import nltk.data

    for name in ("corpora/wordnet", "corpora/wordnet.zip"):
        try:
            return str(nltk.data.find(name))
        except LookupError:
            continue
    return None


def _open_dict_dir(root: Path) -> Any:
    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    # NLTK's readers refuse files outside the directories on nltk.data.path (nltk.pathsec);
    # listing the dict directory authorises exactly that directory and holds no NLTK resources.
    if str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))

    class PlainWordNetReader(WordNetCorpusReader):  # type: ignore[misc]
        """NLTK's reader over a bare WordNet 3.0 `dict` directory."""

        def open(self, file: str) -> Any:
            if file == "lexnames" and not (root / "lexnames").is_file():
                return io.StringIO(LEXNAMES_TEXT)
            return super().open(file)

        def map_wn(self, version: str = "wordnet") -> None:
            # Maps to NLTK's own `wordnet` corpus for multilingual lookups; unused by synsets().
            return None

    with warnings.catch_warnings():
        # "The multilingual functions are not available with this Wordnet version": expected.
        warnings.simplefilter("ignore")
        return PlainWordNetReader(str(root), None)


def _cache_key() -> str:
    import nltk.data

    return "|".join([*map(str, nltk.data.path), os.environ.get("LLMGATE_WORDNET_DIR", "")])


def _find_dict_dir(root: Path) -> tuple[Any, str] | None:
    if all((root / name).is_file() for name in _REQUIRED_FILES):
        return _open_dict_dir(root), f"WordNet dict {root}"
    return None


def find_wordnet() -> tuple[Any, str] | None:
    """A loaded WordNet reader and a description of its source, or None when none is installed.

    ``$LLMGATE_WORDNET_DIR`` wins when set; then NLTK's own data; then ``/usr/share/wordnet``.
    """
    with _lock:
        key = _cache_key()
        if key in _found:
            return _found[key]
        result: tuple[Any, str] | None = None
        configured = os.environ.get("LLMGATE_WORDNET_DIR")
        if configured:
            result = _find_dict_dir(Path(configured))
        else:
            nltk_root = _nltk_wordnet_root()
            if nltk_root is not None:
                from nltk.corpus import wordnet

                wordnet.ensure_loaded()
                result = (wordnet, f"NLTK data {nltk_root}")
            else:
                for root in DEFAULT_DICT_DIRS:
                    result = _find_dict_dir(Path(root))
                    if result is not None:
                        break
        # Opening a dict directory adds it to nltk.data.path: remember both states.
        _found[key] = _found[_cache_key()] = result
        return result


class WordNetSynonyms:
    """What NLTK's METEOR treats as a word's synonyms: single-word lemma names of its synsets."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self.lookup = lru_cache(maxsize=65536)(self._lookup)

    def _lookup(self, word: str) -> frozenset[str]:
        # NLTK's reader seeks shared file handles: one lookup at a time across threads.
        with _lock:
            names = {
                lemma.name()
                for synset in self._reader.synsets(word)
                for lemma in synset.lemmas()
                if lemma.name().find("_") < 0
            }
        names.add(word)
        return frozenset(names)
