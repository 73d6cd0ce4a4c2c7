"""Mutation testing of the decision modules: can the tests fail when the decision code is wrong?

Each mutant is one small change to gate.py, stats.py, thresholds.py or compare.py: a flipped or
loosened comparison, an off-by-one constant, + for -, and for or, min for max, a dropped `not`,
a dropped branch, ci_low for ci_high, overrides applied in reverse order, and a few hand-written
ones for bugs found before (docs/verdicts.md, "Mutation testing"). AST operators generate the
mutants from the functions that decide verdicts; a seeded sample keeps a run to minutes.

Every mutant runs in a scratch copy of the repository (the working tree is never touched), with
the fast unit tests for the mutated module, `-x`, a per-mutant timeout and Hypothesis at 25
examples. A mutant is *killed* when the tests fail, *survived* when they pass, and a *timeout*
counts as killed (the mutant hangs the gate). Equivalent mutants (same behaviour) are listed in
EQUIVALENT with the reason and left out of the score.

    python bench/mutate.py                 # 84 mutants, about 20 minutes on a busy 2-core box
    python bench/mutate.py --list          # print the mutants, run nothing
    python bench/mutate.py --only gate.py --sample 20 --timeout 90
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "pytest_llmgate"

# module -> (functions whose code decides verdicts, tests that cover them)
TARGETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "gate.py": (
        ("_breaches", "_row_passes", "_rule_value", "_decide", "_rule_check", "judge",
         "_item_metric_check", "unit_values", "row_groups", "present_groups"),
        ("tests/unit/test_thresholds_gate.py", "tests/unit/test_stats_exact.py",
         "tests/unit/test_gate_mutants.py"),
    ),
    "stats.py": (
        ("percentile", "aggregate", "pass_rate", "mean_interval", "wilson_interval",
         "clip_interval", "interval", "bootstrap_interval", "sign_flip_p", "mcnemar_p",
         "metric_range", "paired_mde", "t_quantile", "is_aggregate"),
        ("tests/unit/test_stats.py", "tests/unit/test_stats_exact.py",
         "tests/unit/test_regression_noise.py", "tests/unit/test_gate_mutants.py"),
    ),
    "thresholds.py": (
        ("direction_of", "apply", "_rules", "_regression", "_correction"),
        ("tests/unit/test_thresholds_gate.py", "tests/unit/test_multiplicity.py",
         "tests/unit/test_gate_mutants.py", "tests/unit/test_compare.py"),
    ),
    "compare.py": (
        ("evaluate_rule", "_limits", "_with_significance", "paired_p_value", "paired_deltas",
         "_default_alpha", "_noise_aware", "_mde", "_checks", "_pair_rows", "_value",
         "is_timing", "default_rules"),
        ("tests/unit/test_compare.py", "tests/unit/test_regression_noise.py",
         "tests/unit/test_gate_mutants.py"),
    ),
}

# Hand-written mutants: (module, old source text, new source text, why it matters).
HAND: list[tuple[str, str, str, str]] = [
    ("gate.py", 'if rule.on == "ci_low":', 'if rule.on == "ci_high":',
     "ci_low and ci_high swapped"),
    ("gate.py", 'return ("fail" if _breaches(low, rule.min, rule.max) else "pass"), low',
     'return ("fail" if _breaches(value, rule.min, rule.max) else "pass"), value',
     "on: ci_low decided on the point value"),
    ("gate.py", 'return ("fail" if _breaches(high, rule.min, rule.max) else "pass"), high',
     'return ("fail" if _breaches(value, rule.min, rule.max) else "pass"), value',
     "on: ci_high decided on the point value"),
    ("gate.py", "    if ci is None:\n        return \"inconclusive\", value\n", "",
     "an interval that cannot be estimated decided on the point value"),
    ("gate.py", "        if v is not None\n        and (rule.row_min",
     "        if (v is None and rule.row_min is None) or v is not None\n        and (rule.row_min",
     "an errored repeat counted within a row bound"),
    ("gate.py", "return ok == len(values)", "return ok >= len([v for v in values if v is not None])",
     "pass_k: all ignores errored repeats"),
    ("thresholds.py", "for layer in self.layers:", "for layer in reversed(self.layers):",
     "overrides applied in reverse order"),
    ("thresholds.py", "            rules.update(layer.metrics)\n", "",
     "an override's metric rules dropped"),
    ("stats.py", "    return clip_interval((mean - half, mean + half), bounds)",
     "    return mean - half, mean + half", "intervals leave the metric's range"),
    ("stats.py", "if sd <= 1e-12 * max(1.0, abs(mean)):", "if False:",
     "zero-spread data get a zero-width interval"),
    ("compare.py", "    if rule.literal or 0.5**rows >= DEFAULT_SIGNIFICANCE:",
     "    if rule.literal or True:", "plain max_drop without the default paired test"),
    ("compare.py", "        changes[\"min_effect\"] = abs(base) * DEFAULT_TIMING_MIN_EFFECT_PCT / 100.0",
     "        pass", "timing metrics without their minimum rise"),
]

# (module, mutant description) -> why the mutant cannot change behaviour
EQUIVALENT: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Mutant:
    module: str
    line: int
    description: str
    source: str  # the whole mutated module


# ---- AST operators ------------------------------------------------------------------------------
_COMPARE_SWAPS: dict[type, tuple[type, ...]] = {
    ast.Lt: (ast.LtE, ast.Gt),
    ast.LtE: (ast.Lt, ast.GtE),
    ast.Gt: (ast.GtE, ast.Lt),
    ast.GtE: (ast.Gt, ast.LtE),
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
}
_BINOP_SWAPS: dict[type, type] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
}
_NAME_SWAPS = {"min": "max", "max": "min", "any": "all", "all": "any"}
_STRING_SWAPS = {"ci_low": "ci_high", "ci_high": "ci_low", "fail": "warn", "pass": "fail",
                 "holm": "bonferroni", "all": "any", "any": "all"}


def _edits(node: ast.AST) -> Iterator[tuple[str, Callable[[ast.AST], None]]]:
    """(description, apply) for every single-point change of `node`."""
    if isinstance(node, ast.Compare):
        for index, op in enumerate(node.ops):
            for new in _COMPARE_SWAPS.get(type(op), ()):
                def swap(n: ast.AST, i: int = index, t: type = new) -> None:
                    n.ops[i] = t()  # type: ignore[attr-defined]
                yield f"{type(op).__name__} -> {new.__name__}", swap
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAPS:
        new = _BINOP_SWAPS[type(node.op)]

        def binop(n: ast.AST, t: type = new) -> None:
            n.op = t()  # type: ignore[attr-defined]
        yield f"{type(node.op).__name__} -> {new.__name__}", binop
    elif isinstance(node, ast.BoolOp):
        new_op = ast.Or if isinstance(node.op, ast.And) else ast.And

        def boolop(n: ast.AST, t: type = new_op) -> None:
            n.op = t()  # type: ignore[attr-defined]
        yield f"{type(node.op).__name__} -> {new_op.__name__}", boolop
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        def drop_not(n: ast.AST) -> None:
            n.op = ast.UAdd()  # type: ignore[attr-defined]  # +bool(x) == x for the test
        yield "drop not", drop_not
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = node.value

        def off_by_one(n: ast.AST, v: float = value) -> None:
            n.value = v + 1  # type: ignore[attr-defined]
        yield f"constant {value!r} -> {value + 1!r}", off_by_one
    elif isinstance(node, ast.Constant) and node.value in _STRING_SWAPS:
        new_text = _STRING_SWAPS[node.value]

        def text(n: ast.AST, v: str = new_text) -> None:
            n.value = v  # type: ignore[attr-defined]
        yield f"{node.value!r} -> {new_text!r}", text
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id in _NAME_SWAPS:
        new_name = _NAME_SWAPS[node.func.id]

        def call(n: ast.AST, v: str = new_name) -> None:
            n.func.id = v  # type: ignore[attr-defined]
        yield f"{node.func.id}() -> {new_name}()", call
    elif isinstance(node, ast.If):
        def drop_branch(n: ast.AST) -> None:
            n.test = ast.Constant(False)  # type: ignore[attr-defined]
        yield "drop branch (if False)", drop_branch


def _is_docstring(node: ast.AST, parents: dict[int, ast.AST]) -> bool:
    parent = parents.get(id(node))
    return isinstance(parent, ast.Expr)


def ast_mutants(module: str, functions: tuple[str, ...]) -> list[Mutant]:
    path = ROOT / PACKAGE / module
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[Mutant] = []
    targets = [n for n in ast.walk(tree)
               if isinstance(n, ast.FunctionDef) and n.name in functions]
    for function in targets:
        parents = {id(c): p for p in ast.walk(function) for c in ast.iter_child_nodes(p)}
        nodes = [n for n in ast.walk(function) if not _is_docstring(n, parents)]
        for index, node in enumerate(nodes):
            for description, apply in _edits(node):
                mutated_tree = copy.deepcopy(tree)
                # find the same node in the copy: same function, same walk position
                fn = next(n for n in ast.walk(mutated_tree)
                          if isinstance(n, ast.FunctionDef) and n.name == function.name
                          and n.lineno == function.lineno)
                copy_parents = {id(c): p for p in ast.walk(fn) for c in ast.iter_child_nodes(p)}
                twin = [n for n in ast.walk(fn) if not _is_docstring(n, copy_parents)][index]
                apply(twin)
                try:
                    source = ast.unparse(ast.fix_missing_locations(mutated_tree))
                    compile(source, module, "exec")
                except (SyntaxError, ValueError, TypeError):
                    continue
                line = getattr(node, "lineno", function.lineno)
                out.append(Mutant(module, line, f"{function.name}: {description}", source))
    return out


def hand_mutants(only: str | None) -> list[Mutant]:
    out = []
    for module, old, new, why in HAND:
        if only and module != only:
            continue
        text = (ROOT / PACKAGE / module).read_text(encoding="utf-8")
        if text.count(old) != 1:
            print(f"hand mutant no longer applies ({module}: {why}): fix HAND", file=sys.stderr)
            continue
        line = text[: text.index(old)].count("\n") + 1
        out.append(Mutant(module, line, f"hand: {why}", text.replace(old, new)))
    return out


# ---- running ------------------------------------------------------------------------------------
CONFTEST_PROFILE = """

# added by bench/mutate.py in its scratch copy only: fewer Hypothesis examples per mutant
from hypothesis import settings as _mutate_settings

_mutate_settings.register_profile("mutate", max_examples=25, deadline=None, derandomize=True)
_mutate_settings.load_profile("mutate")
"""


def scratch_copy() -> Path:
    target = Path(tempfile.mkdtemp(prefix="llmgate-mutate-"))
    ignore = shutil.ignore_patterns(".git", ".llmgate", "__pycache__", ".hypothesis",
                                    ".mypy_cache", ".ruff_cache", "node_modules", "*.pyc")
    for name in (PACKAGE, "tests", "evaluators", "app", "pyproject.toml", "thresholds.yaml"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, target / name, ignore=ignore, symlinks=True)
        elif src.exists():
            shutil.copy2(src, target / name)
    conftest = target / "tests" / "conftest.py"
    conftest.write_text(conftest.read_text(encoding="utf-8") + CONFTEST_PROFILE, encoding="utf-8")
    return target


def run_tests(workdir: Path, tests: tuple[str, ...], timeout: float) -> str:
    env = {**os.environ, "PYTHONPATH": str(workdir), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", *tests, "-x", "-q", "-n", "0",
               "-p", "no:cacheprovider", "-p", "no:randomly", "--no-header", "-W",
               "ignore::DeprecationWarning"]
    try:
        proc = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return "timeout"
    if proc.returncode == 0:
        return "survived"
    if proc.returncode == 1:
        return "killed"
    return f"error (exit {proc.returncode}): {proc.stdout[-300:]}{proc.stderr[-300:]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(TARGETS), help="one module")
    parser.add_argument("--sample", type=int, default=18, help="AST mutants per module")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per mutant")
    parser.add_argument("--list", action="store_true", help="print the mutants and stop")
    parser.add_argument("--skip-baseline", action="store_true",
                        help="do not first check that the unmutated tests pass")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    mutants: list[Mutant] = []
    for module, (functions, _) in TARGETS.items():
        if args.only and module != args.only:
            continue
        found = ast_mutants(module, functions)
        mutants += sorted(rng.sample(found, min(args.sample, len(found))), key=lambda m: m.line)
    mutants += hand_mutants(args.only)
    if args.list:
        for m in mutants:
            print(f"{m.module}:{m.line}: {m.description}")
        print(f"{len(mutants)} mutants")
        return 0

    workdir = scratch_copy()
    started = time.perf_counter()
    try:
        baseline = {} if args.skip_baseline else {
            m: run_tests(workdir, TARGETS[m][1], args.timeout * 3)
            for m in {mu.module for mu in mutants}
        }
        broken = {m: r for m, r in baseline.items() if r != "survived"}
        if broken:
            print(f"the unmutated tests do not pass: {broken}", file=sys.stderr)
            return 2
        results: list[tuple[Mutant, str]] = []
        for number, mutant in enumerate(mutants, 1):
            target = workdir / PACKAGE / mutant.module
            original = target.read_text(encoding="utf-8")
            target.write_text(mutant.source, encoding="utf-8")
            try:
                outcome = run_tests(workdir, TARGETS[mutant.module][1], args.timeout)
            finally:
                target.write_text(original, encoding="utf-8")
            if (mutant.module, mutant.description) in EQUIVALENT:
                outcome = "equivalent"
            results.append((mutant, outcome))
            print(f"[{number:>3}/{len(mutants)}] {outcome:<9} {mutant.module}:{mutant.line}: "
                  f"{mutant.description}", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    scored = [(m, o) for m, o in results if o != "equivalent"]
    killed = sum(1 for _, o in scored if o in ("killed", "timeout"))
    survived = [m for m, o in scored if o == "survived"]
    errors = [(m, o) for m, o in scored if o.startswith("error")]
    print(f"\n{killed} of {len(scored)} mutants killed ({killed / max(1, len(scored)):.1%}); "
          f"{len(survived)} survived, {len(errors)} errored, "
          f"{len(results) - len(scored)} equivalent; {time.perf_counter() - started:.0f} s")
    for m in survived:
        print(f"  survived: {m.module}:{m.line}: {m.description}")
    for m, o in errors:
        print(f"  errored: {m.module}:{m.line}: {m.description}: {o}")
    return 0 if not survived and not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
