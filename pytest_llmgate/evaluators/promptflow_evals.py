"""promptflow-evals (azure-ai-evaluation's predecessor) evaluators by import path, offline.

`promptflow.evals` imports `nltk.tokenize.nist`, whose class body reads NLTK's `perluniprops`
data; when that data is not installed the import raises `LookupError` and promptflow-evals calls
`nltk.download(...)` (a network request) before failing. Its BLEU, GLEU and METEOR tokenize with
`nltk.word_tokenize`, which needs the downloaded `punkt_tab` data on every call. The gate carries
both as code (`evaluators/_nltk_compat`, tested against NLTK itself), so before promptflow-evals
is first imported:
- when (and only when) the real `nltk.tokenize.nist` cannot load its data, a stand-in module whose
  `NISTTokenizer.international_tokenize` is the gate's port is registered in its place;
- promptflow-evals' `nltk_tokenize` (and the names its BLEU, GLEU and METEOR modules imported) is
  the gate's, which gives the same tokens with no data.
The offline evaluators' result names are declared (`outputs`) for the load-time policy check.
Telemetry stays off and Prompt Flow's home moves to a temporary directory, as for flows.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
import warnings
from typing import Any

__all__ = ["is_promptflow_evals", "prepare", "spec_of"]

_PACKAGE = "promptflow.evals"
_TOKENIZING = ("_bleu._bleu", "_gleu._gleu", "_meteor._meteor")
# what the offline evaluators return, declared so the load-time policy check knows the names
_OUTPUTS = {
    "F1ScoreEvaluator": ("f1_score",),
    "BleuScoreEvaluator": ("bleu_score",),
    "GleuScoreEvaluator": ("gleu_score",),
    "MeteorScoreEvaluator": ("meteor_score",),
    "RougeScoreEvaluator": ("rouge_precision", "rouge_recall", "rouge_f1_score"),
}
_lock = threading.Lock()
_prepared = False


def is_promptflow_evals(use: str) -> bool:
    return use == _PACKAGE or use.startswith((_PACKAGE + ".", _PACKAGE + ":"))


def spec_of(use: str) -> str:
    """`module:attr` for a promptflow-evals import path, also written with a dot before the class
    (`promptflow.evals.evaluators.F1ScoreEvaluator`, as Python imports it)."""
    if ":" in use or "." not in use:
        return use
    module, _, attr = use.rpartition(".")
    return f"{module}:{attr}"


def _nist_stand_in() -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import nltk.tokenize.nist  # noqa: F401
        return  # the real tokenizer with its data: keep it
    except LookupError:
        pass
    from pytest_llmgate.evaluators._nltk_compat import nist_international_tokenize

    class NISTTokenizer:
        """`nltk.tokenize.nist.NISTTokenizer` for `international_tokenize`, without data."""

        def international_tokenize(
            self,
            text: str,
            lowercase: bool = False,
            split_non_ascii: bool = True,
            return_str: bool = False,
        ) -> Any:
            tokens = nist_international_tokenize(text.lower() if lowercase else text)
            return " ".join(tokens) if return_str else tokens

    module = types.ModuleType("nltk.tokenize.nist")
    module.NISTTokenizer = NISTTokenizer  # type: ignore[attr-defined]
    module.__doc__ = "pytest-llmgate's stand-in: NLTK's perluniprops data is not installed."
    sys.modules["nltk.tokenize.nist"] = module


def _tokenize(text: str) -> list[str]:
    from pytest_llmgate.evaluators._nltk_compat import nltk_tokenize

    return list(nltk_tokenize(text))


def prepare() -> None:
    """Make `import promptflow.evals...` work offline (idempotent; call before importing it)."""
    global _prepared
    with _lock:
        if _prepared:
            return
        from pytest_llmgate.promptflow.environment import disable_telemetry, prepare_environment

        prepare_environment()
        _nist_stand_in()
        with warnings.catch_warnings():  # import-time deprecation noise of promptflow's deps
            warnings.simplefilter("ignore")
            utils = importlib.import_module(f"{_PACKAGE}._common.utils")
            setattr(utils, "nltk_tokenize", _tokenize)  # noqa: B010 - a module attribute
            for name in _TOKENIZING:
                module = importlib.import_module(f"{_PACKAGE}.evaluators.{name}")
                setattr(module, "nltk_tokenize", _tokenize)  # noqa: B010
            evaluators = importlib.import_module(f"{_PACKAGE}.evaluators")
            for name, outputs in _OUTPUTS.items():
                cls = getattr(evaluators, name, None)
                if cls is not None and not hasattr(cls, "outputs"):
                    cls.outputs = outputs
            disable_telemetry()
        _prepared = True
