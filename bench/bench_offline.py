# ruff: noqa: RUF001
"""Benchmark: offline lexical evaluators vs azure.ai.evaluation.evaluate() on the same rows.

Builds N deterministic question-answering rows (single- and multi-sentence, some non-ASCII), scores
them with our F1 + BLEU + ROUGE evaluators in a plain loop, then runs azure-ai-evaluation's
``evaluate()`` with F1ScoreEvaluator, BleuScoreEvaluator and RougeScoreEvaluator on the same data
written to JSONL, and prints both wall times, the speed ratio and the largest score difference.

azure's BLEU downloads NLTK data on every call; here ``nltk.download`` is a no-op and the data it
needs (Punkt's English model, perluniprops) is built locally from the same pip packages our
evaluators read. The JSONL lives outside /tmp (``--workdir``), which the legacy promptflow client
deletes from.

    python bench/bench_offline.py --rows 10000
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import random
import sys
import time
from pathlib import Path

TOPICS = [
    "Backups run every night at {h} a.m. and are kept for {n} days.",
    "You can restore a single file from the web console in under {n} minutes.",
    "All data is encrypted with AES-256 at rest and TLS 1.{h} in transit.",
    "The Pro plan costs ${n} per user per month, billed annually.",
    "Each account can store up to {h} TB; larger quotas need a support ticket.",
    "Data stays in the region you pick: EU (Frankfurt) or US (Virginia), zone {n}.",
    "Single sign-on works with SAML 2.0 and OpenID Connect for {name}'s team.",
    "Deleted files stay in the recycle bin for {n} days before purging.",
    "Support answers within {h} hours on weekdays, 24/7 for critical issues.",
    "The REST API allows {n}00 requests per minute per token.",
]
FILLERS = [
    "Please note that this applies to all plans.",
    "Contact {name}, your administrator, if the option is missing.",
    "See the documentation for the details.",
    "It's enabled by default, but you can't change it on the Free plan.",
    "The setting is under Settings → Security.",
    "Customers say it’s “fast and simple” — results may vary.",
    "This was introduced in version 2.{h}.{n} (March 2024).",
    "Dr. {name}'s team at Acme Corp. reviewed it in ticket #{n}{h}.",
]
NAMES = ["Alice", "Bob", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hiro", "Ines", "José"]
SWAPS = {
    "every": "each",
    "kept": "retained",
    "costs": "is",
    "can": "may",
    "within": "in",
    "allows": "permits",
    "stays": "remains",
    "works": "is supported",
    "up": "as much as",
}


def build_rows(count: int, seed: int = 7) -> list[dict[str, str]]:
    """Deterministic (response, ground_truth) rows that look like support-bot answers.

    Numbers and names vary per row so that nearly every text is distinct, as in real datasets
    (the tokenizer cache must not flatter the timing).
    """
    rng = random.Random(seed)

    def fill(template: str) -> str:
        return template.format(h=rng.randint(1, 12), n=rng.randint(2, 99), name=rng.choice(NAMES))

    rows = []
    for _ in range(count):
        fact = fill(rng.choice(TOPICS))
        truth = fact
        if rng.random() < 0.4:
            truth += " " + fill(rng.choice(FILLERS))
        kind = rng.random()
        if kind < 0.15:
            response = truth
        elif kind < 0.75:
            words = fact.split()
            words = [SWAPS.get(word, word) if rng.random() < 0.5 else word for word in words]
            if len(words) > 4 and rng.random() < 0.5:
                del words[rng.randrange(len(words))]
            response = " ".join(words)
            for _ in range(rng.choice([0, 0, 1, 2])):
                response += " " + fill(rng.choice(FILLERS))
        else:
            response = fill(rng.choice(TOPICS)) + " " + fill(rng.choice(FILLERS))
        rows.append({"response": response, "ground_truth": truth})
    return rows


def run_ours(rows: list[dict[str, str]], rouge_type: str) -> tuple[float, list[dict[str, float]]]:
    from pytest_llmgate.evaluators.lexical import Bleu, F1Score, Rouge

    f1, bleu, rouge = F1Score(), Bleu(), Rouge(rouge_type=rouge_type)
    results = []
    start = time.perf_counter()
    for row in rows:
        response, truth = row["response"], row["ground_truth"]
        result = f1(response=response, ground_truth=truth)
        result.update(bleu(response=response, ground_truth=truth))
        result.update(rouge(response=response, ground_truth=truth))
        results.append(result)
    return time.perf_counter() - start, results


def build_nltk_data(root: Path) -> None:
    """The NLTK data azure's BLEU tokenizer looks for, from the pip packages we depend on."""
    from punkt.data import english
    from sacremoses.corpus import Perluniprops

    punkt_dir = root / "tokenizers" / "punkt_tab" / "english"
    punkt_dir.mkdir(parents=True, exist_ok=True)
    (punkt_dir / "abbrev_types.txt").write_text("\n".join(sorted(english.ABBREV_TYPES)), "utf-8")
    (punkt_dir / "sent_starters.txt").write_text("\n".join(sorted(english.SENT_STARTERS)), "utf-8")
    (punkt_dir / "collocations.tab").write_text(
        "\n".join("\t".join(pair) for pair in sorted(english.COLLOCATIONS)), "utf-8"
    )
    (punkt_dir / "ortho_context.tab").write_text(
        "\n".join(f"{key}\t{value}" for key, value in english.ORTHO_CONTEXT.items()), "utf-8"
    )
    props_dir = root / "misc" / "perluniprops"
    props_dir.mkdir(parents=True, exist_ok=True)
    for category in ("Number", "Punctuation", "Symbol"):
        (props_dir / f"{category}.txt").write_text("".join(Perluniprops().chars(category)), "utf-8")


def run_azure(
    rows: list[dict[str, str]], rouge_type: str, workdir: Path, verbose: bool
) -> tuple[float, float, list[dict[str, float]]]:
    """(seconds for import, seconds inside evaluate(), per-row scores) for azure's evaluate()."""
    start = time.perf_counter()
    import azure.ai.evaluation as azure_evaluation
    import nltk

    import_seconds = time.perf_counter() - start
    build_nltk_data(workdir / "nltk_data")
    nltk.data.path.insert(0, str(workdir / "nltk_data"))
    nltk.download = lambda *args, **kwargs: True  # the data is local; never reach the network
    data = workdir / "rows.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), "utf-8")
    evaluators = {
        "f1": azure_evaluation.F1ScoreEvaluator(),
        "bleu": azure_evaluation.BleuScoreEvaluator(),
        "rouge": azure_evaluation.RougeScoreEvaluator(rouge_type),
    }
    sink = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stdout if verbose else sink):
        result = azure_evaluation.evaluate(
            data=str(data),
            evaluators=evaluators,
            fail_on_evaluator_errors=True,
            _use_pf_client=False,
        )
    seconds = time.perf_counter() - start
    scores = []
    for row in result["rows"]:
        rouge = row["outputs.rouge.rouge_properties"]
        scores.append(
            {
                "f1_score": float(row["outputs.f1.f1_score"]),
                "bleu_score": float(row["outputs.bleu.bleu_score"]),
                "rouge_precision": float(rouge["rouge_precision"]),
                "rouge_recall": float(rouge["rouge_recall"]),
                "rouge_f1_score": float(rouge["rouge_f1_score"]),
            }
        )
    return import_seconds, seconds, scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows to score (10000)")
    parser.add_argument("--rouge-type", default="rougeL", help="ROUGE variant on both sides")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path.home() / ".cache" / "pytest-llmgate" / "bench",
        help="where the JSONL and NLTK data for azure go (not under /tmp)",
    )
    parser.add_argument("--skip-azure", action="store_true", help="time only our evaluators")
    parser.add_argument("--verbose", action="store_true", help="show azure's run summary")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    args.workdir.mkdir(parents=True, exist_ok=True)

    rows = build_rows(args.rows)
    start = time.perf_counter()
    import pytest_llmgate.evaluators.lexical  # noqa: F401

    import_ours = time.perf_counter() - start
    ours_seconds, ours = run_ours(rows, args.rouge_type)
    print(f"rows: {len(rows)}  metrics: F1 + BLEU + ROUGE ({args.rouge_type})")
    print(f"ours:  {ours_seconds:8.2f} s  ({ours_seconds / len(rows) * 1e6:.0f} us/row)", end="")
    print(f"  [import {import_ours:.2f} s]")
    if args.skip_azure:
        return 0

    import_azure, azure_seconds, theirs = run_azure(
        rows, args.rouge_type, args.workdir, args.verbose
    )
    print(f"azure: {azure_seconds:8.2f} s  inside evaluate()  [import {import_azure:.2f} s]")
    print(f"ratio: {azure_seconds / ours_seconds:8.1f} x faster")
    worst: dict[str, float] = {}
    for mine, reference in zip(ours, theirs, strict=True):
        for key, value in reference.items():
            diff = abs(mine[key] - value)
            worst[key] = diff if math.isnan(diff) else max(worst.get(key, 0.0), diff)
    print("max abs diff: " + ", ".join(f"{key} {value:.1e}" for key, value in worst.items()))
    return 0 if all(value <= 1e-6 for value in worst.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
