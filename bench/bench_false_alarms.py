"""False alarms, coverage and power of the gate's statistics under an independent noise model.

The noise model is not the project's test server: each golden row has a true quality t (drawn
once per dataset), and every run a judge scores it `clamp(round(t + N(0, 0.8)), 1, 5)`, a
discrete 1-5 score with sd 0.8 points. Lexical metrics of a sampling subject are modelled the same
way on 0..1 (f1: true value U(0.2, 0.9) + N(0, 0.1), clipped; facts_preserved: a row keeps its
facts with probability p_row each run), and latency is lognormal per row times a machine load
factor drawn per run from U(1.0, 1.4) (a busy shared CI machine). Everything is seeded.

It runs the real code (pytest_llmgate.stats intervals, compare.regression_checks, the example
project's thresholds.yaml through load_thresholds, multiplicity.apply_correction) and prints:

1. coverage of the 95% mean interval at N = 15 and 40;
2. the false-alarm rate of unchanged runs per rule at N = 15 and 40;
3. the run-level false-alarm rate of the example project's policy (its 8 items and their row
   counts) with and without the multiplicity correction (goal <= 5%);
4. power for planted drops of the true judge score by 0.3 and 0.56 points at N = 15 and 40.

    python bench/bench_false_alarms.py --runs 200   # the documented figures; ~15 CPU-minutes
    python bench/bench_false_alarms.py --runs 30    # a quick look
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_llmgate.config.thresholds import Policy, RegressionRule, load_thresholds  # noqa: E402
from pytest_llmgate.results.model import Check, ItemResult, RowResult  # noqa: E402
from pytest_llmgate.stats import mean_interval, metric_range  # noqa: E402
from pytest_llmgate.verdict.compare import regression_checks  # noqa: E402
from pytest_llmgate.verdict.gate import aggregates_for  # noqa: E402
from pytest_llmgate.verdict.multiplicity import apply_correction  # noqa: E402

JUDGE_SD = 0.8
SHA = "0" * 64
JUDGE = "groundedness"


# ---- the noise model ----------------------------------------------------------------------------
def judge_truth(rng: random.Random, n: int) -> list[float]:
    """True row qualities on the 1-5 scale: mostly good answers, some weak ones."""
    return [rng.choice([2.5, 3.5, 4.0, 4.5, 4.5, 5.0]) for _ in range(n)]


def judge_score(rng: random.Random, truth: float) -> float:
    return float(min(5, max(1, round(truth + rng.gauss(0.0, JUDGE_SD)))))


def expected_judge_score(truth: float) -> float:
    """E[clamp(round(t + N(0, sd)), 1, 5)], exactly (the population mean coverage targets)."""
    from statistics import NormalDist

    noise = NormalDist(0.0, JUDGE_SD)

    def p_below(x: float) -> float:
        return noise.cdf(x - truth)

    total = 1.0 * p_below(1.5)
    for k in (2, 3, 4):
        total += k * (p_below(k + 0.5) - p_below(k - 0.5))
    total += 5.0 * (1 - p_below(4.5))
    return total


def _row(rid: str, metrics: dict[str, float], latency: float = 0.0) -> RowResult:
    return RowResult(id=rid, line=1, data={"id": rid}, inputs={}, output="o", metrics=metrics,
                     latency_ms=latency)


def _item(nodeid: str, rows: Sequence[RowResult]) -> ItemResult:
    return ItemResult(nodeid=nodeid, suite="s", subject="a", variant="v", dataset="d",
                      verdict="passed", dataset_sha256=SHA, rows=tuple(rows),
                      aggregates=aggregates_for(rows))


def judge_rows(rng: random.Random, truth: Sequence[float], drop: float = 0.0) -> list[RowResult]:
    return [_row(f"r{i}", {JUDGE: judge_score(rng, t - drop)}) for i, t in enumerate(truth)]


# ---- 1. coverage --------------------------------------------------------------------------------
def coverage(n: int, runs: int, seed: int) -> float:
    rng = random.Random(seed)
    covered = 0
    for _ in range(runs):
        truth = judge_truth(rng, n)  # a fresh golden set: the target is the population mean
        target = sum(expected_judge_score(t) for t in (2.5, 3.5, 4.0, 4.5, 4.5, 5.0)) / 6
        scores = [judge_score(rng, t) for t in truth]
        ci = mean_interval(scores, bounds=metric_range(JUDGE))
        covered += ci is not None and ci[0] <= target <= ci[1]
    return covered / runs


# ---- 2. per-rule false alarms and 4. power ------------------------------------------------------
def alarm_rate(rule: RegressionRule, n: int, runs: int, seed: int, drop: float = 0.0) -> float:
    """Share of runs in which `rule` fails head against base (head's true scores lowered by
    `drop`; 0 is an unchanged subject re-judged)."""
    rng = random.Random(seed)
    policy = Policy(regression={rule.metric: rule})
    alarms = 0
    for _ in range(runs):
        truth = judge_truth(rng, n)
        base = _item("i", judge_rows(rng, truth))
        head = judge_rows(rng, truth, drop)
        checks = regression_checks(head, base, policy, dataset_sha256=SHA)
        alarms += any(c.verdict == "fail" for c in checks)
    return alarms / runs


# ---- 3. the example project's policy, run level -------------------------------------------------
# The example project's 8 items (pytest suites/ --llm-gate --co) and the metrics they produce.
ITEMS = [
    ("support.yaml::answer[concise-support_qa]", 72, "support"),
    ("support.yaml::answer[thorough-support_qa]", 72, "support"),
    ("support.yaml::answer[concise-smoke]", 12, "support"),
    ("support.yaml::answer[thorough-smoke]", 12, "support"),
    ("support.yaml::bot[default-smoke]", 12, "support"),
    ("rag.yaml::answer[strict-support_qa]", 30, "rag"),
    ("rag.yaml::answer[chatty-support_qa]", 30, "rag"),
    ("safety.yaml::bot[guarded-safety_prompts]", 24, "safety"),
]
JUDGES = ("groundedness", "relevance", "similarity")


def _project_truth(rng: random.Random) -> dict[str, list[dict[str, float]]]:
    out = {}
    for nodeid, n, kind in ITEMS:
        rows = []
        for _ in range(n):
            truth = {"latency": rng.uniform(150, 400)}
            if kind == "support":
                truth |= {"f1_score": rng.uniform(0.2, 0.9), "facts": rng.choice([0.8, 0.95, 1])}
            if kind == "rag":
                truth |= {j: rng.choice([2.5, 3.5, 4.0, 4.5, 4.5, 5.0]) for j in JUDGES}
            rows.append(truth)
        out[nodeid] = rows
    return out


def _project_run(rng: random.Random, truth: dict[str, list[dict[str, float]]]) -> dict[str, list]:
    load = rng.uniform(1.0, 1.4)  # the machine's load this run
    out: dict[str, list[RowResult]] = {}
    for nodeid, rows in truth.items():
        built = []
        for i, t in enumerate(rows):
            metrics = {"latency_ms": t["latency"] * load * math.exp(rng.gauss(0, 0.15))}
            if "f1_score" in t:
                metrics["f1_score"] = min(1.0, max(0.0, t["f1_score"] + rng.gauss(0, 0.1)))
                metrics["facts_preserved"] = float(rng.random() < t["facts"])
            for j in JUDGES:
                if j in t:
                    metrics[j] = judge_score(rng, t[j])
            built.append(_row(f"r{i}", metrics))
        out[nodeid] = built
    return out


def project_alarms(
    policy_for: Callable[[str], Policy], runs: int, seed: int, corrections: Sequence[str]
) -> tuple[dict[str, float], int]:
    """Run-level false-alarm rate of unchanged runs: a run alarms when any check fails."""
    rng = random.Random(seed)
    alarms = dict.fromkeys(corrections, 0)
    tests = 0
    for _ in range(runs):
        truth = _project_truth(rng)
        base, head = _project_run(rng, truth), _project_run(rng, truth)
        checks: list[Check] = []
        for nodeid, _, _ in ITEMS:
            checks += regression_checks(head[nodeid], _item(nodeid, base[nodeid]),
                                        policy_for(nodeid), dataset_sha256=SHA)
        tests = sum(1 for c in checks if c.metric != "dataset")
        for method in corrections:
            decided = apply_correction(checks, method, 0.05)
            alarms[method] += any(c.verdict == "fail" for c in decided)
    return {m: a / runs for m, a in alarms.items()}, tests


def example_policy(extra: str = "", literal: bool = False) -> Callable[[str], Policy]:
    path = ROOT / "thresholds.yaml"
    text = path.read_text(encoding="utf-8") + extra
    if literal:
        text = text.replace("max_drop: 0.02}", "max_drop: 0.02, literal: true}").replace(
            "max_drop: 0.05}", "max_drop: 0.05, literal: true}"
        ).replace("max_rise_pct: 50, severity: warn}", "max_rise_pct: 50, severity: warn, literal: true}").replace(
            "max_drop: 0.1}", "max_drop: 0.1, literal: true}")
    tmp = Path(__file__).with_name(".bench_thresholds.yaml")
    tmp.write_text(text, encoding="utf-8")
    try:
        thresholds = load_thresholds(tmp)
    finally:
        tmp.unlink()

    def policy_for(nodeid: str) -> Policy:
        dataset = nodeid.rsplit("-", 1)[1].rstrip("]")
        return thresholds.apply(Policy(), suite=nodeid.split(".")[0], subject="a", variant="v",
                                dataset=dataset)

    return policy_for


# judge metrics a team would add to the example policy once the rag suite has a baseline
JUDGE_RULES = "".join(f"  {j}: {{max_drop: 0.1}}\n" for j in JUDGES)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="seeded runs per cell")
    args = parser.parse_args()
    runs = args.runs
    started = time.perf_counter()

    print(f"noise model: judge scores clamp(round(t + N(0, {JUDGE_SD})), 1, 5); {runs} runs/cell\n")
    print("1. coverage of the 95% mean interval (t, exact quantile, clipped to 1..5)")
    for n in (15, 40):
        print(f"   N={n:>2}: {coverage(n, max(runs, 1000), seed=n):.1%}")

    print("\n2. false alarms of unchanged runs, per rule (judge metric, 1-5)")
    rules = [
        ("max_drop: 0.1, literal: true", RegressionRule(JUDGE, max_drop=0.1, literal=True)),
        ("max_drop: 0.1 (default: paired test at 0.05)", RegressionRule(JUDGE, max_drop=0.1)),
        ("significance: 0.05, min_effect: 0.3",
         RegressionRule(JUDGE, significance=0.05, min_effect=0.3)),
    ]
    for label, rule in rules:
        rates = [alarm_rate(rule, n, runs, seed=100 + n) for n in (15, 40)]
        print(f"   {label:<46} N=15: {rates[0]:>6.1%}   N=40: {rates[1]:>6.1%}")

    print("\n3. run level: the example project's thresholds.yaml, 8 items, unchanged code,")
    print("   noisy subject/judge, machine load U(1.0, 1.4) per run (a run alarms if any check")
    print("   fails; latency rules are severity warn and never fail)")
    corrections = ("none", "holm", "bh", "bonferroni")
    for label, policy_for in (
        ("policy as shipped, literal limits", example_policy(literal=True)),
        ("policy as shipped (noise-aware default)", example_policy()),
        ("+ judge rules {max_drop: 0.1}, literal", example_policy(JUDGE_RULES, literal=True)),
        ("+ judge rules {max_drop: 0.1}", example_policy(JUDGE_RULES)),
    ):
        rates, tests = project_alarms(policy_for, runs, seed=7, corrections=corrections)
        shown = "  ".join(f"{m}: {r:>5.1%}" for m, r in rates.items())
        print(f"   {label:<42} ({tests:>2} tests) {shown}")

    print("\n4. power: share of runs failing a planted drop of the true judge score")
    for label, rule in rules[1:]:
        for drop in (0.3, 0.56):
            rates = [alarm_rate(rule, n, runs, seed=200 + n, drop=drop) for n in (15, 40)]
            print(f"   {label:<46} drop {drop:.2f}: N=15: {rates[0]:>6.1%}   N=40: {rates[1]:>6.1%}")
    print(f"\n({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
