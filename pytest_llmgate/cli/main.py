"""The `llmgate` command: report, diff, merge, baseline, validate, init, noise, cache.

It shares the renderers and compare code with the plugin, so a report made later from a results
file is the one the run would have written. Exit status: 0 ok; 1 the thing checked is bad (a
regression under --fail-on-regression, invalid files); 2 the command could not run (bad arguments,
unreadable input). Every problem is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_llmgate.errors import GateError
from pytest_llmgate.reporting.rowbudget import DEFAULT_ROW_BUDGET, parse_row_budget
from pytest_llmgate.results.io import load_results, write_results
from pytest_llmgate.results.model import ResultsFormatError, RunResult

if TYPE_CHECKING:
    from pytest_llmgate.config.thresholds import Thresholds
    from pytest_llmgate.suite.loader import SuiteLoader
    from pytest_llmgate.suite.model import Suite

__all__ = ["build_parser", "main"]

PROG = "llmgate"
OK, BAD, USAGE = 0, 1, 2


class CommandError(GateError):
    """A one-line failure of the command itself (exit 2)."""


def _load(path: Path) -> RunResult:
    try:
        return load_results(path)
    except ResultsFormatError as exc:
        raise CommandError(str(exc)) from None


# ---- report --------------------------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    from pytest_llmgate.reporting.artifacts import write_selected
    from pytest_llmgate.verdict.compare import load_baseline

    run = _load(args.results)
    baseline = load_baseline(args.baseline) if args.baseline else None
    if baseline is not None:  # the regressions the gate would have found against this baseline
        from pytest_llmgate.verdict.decision import decide_run

        run = decide_run(run, baseline)
    if not any((args.html, args.md, args.junit, args.csv)):
        raise CommandError("nothing to write: give --html, --md, --junit and/or --csv")
    written = write_selected(run, baseline, junit=args.junit, html=args.html, md=args.md,
                             csv=args.csv, extra_artifacts=(args.results.name,),
                             step_summary=False,
                             html_rows=args.html_rows)
    for path in written:
        print(f"wrote {path}")
    return OK


# ---- diff ----------------------------------------------------------------------------------------
def _with_policies(head: RunResult, args: argparse.Namespace) -> RunResult:
    """HEAD's items with the policy the gate would apply: the one each item recorded (exactly
    the gate's rules); `--thresholds` replaces their regression rules; items from files without
    a recorded policy take the project's thresholds.yaml, else the default rule (`--tolerance`)."""
    from dataclasses import replace

    from pytest_llmgate.config.thresholds import Policy, load_thresholds
    from pytest_llmgate.verdict.compare import default_rules
    from pytest_llmgate.verdict.policy_data import policy_from_dict, policy_to_dict

    path = args.thresholds
    if path is None and Path("thresholds.yaml").is_file():
        path = Path("thresholds.yaml")
    thresholds = load_thresholds(path) if path is not None else None
    items = []
    for item in head.items:
        if item.policy is not None and args.thresholds is None:
            items.append(item)
            continue
        policy = policy_from_dict(item.policy) if item.policy is not None else Policy()
        if thresholds is not None:
            regression = thresholds.apply(
                Policy(), suite=item.suite, subject=item.subject,
                variant=item.variant, dataset=item.dataset,
            ).regression
        else:
            regression = default_rules(item, args.tolerance)
        items.append(replace(item, policy=policy_to_dict(replace(policy, regression=regression))))
    return replace(head, items=tuple(items))


def cmd_diff(args: argparse.Namespace) -> int:
    """The gate's own run-level decision of HEAD against BASE, rendered as a diff."""
    from pytest_llmgate.reporting.difftext import render_diff
    from pytest_llmgate.verdict.compare import check_baseline, diff_runs
    from pytest_llmgate.verdict.decision import decide_run

    base = check_baseline(_load(args.base), str(args.base))
    head = decide_run(_with_policies(_load(args.head), args), base)
    diff = diff_runs(head, base)
    if args.md is not None:
        from pytest_llmgate.reporting.markdown import render_markdown
        from pytest_llmgate.results.model import atomic_write_text

        atomic_write_text(args.md, render_markdown(head, diff=diff))
    print(render_diff(diff, every_metric=args.all, prefix="llmgate diff"))
    print(f"llmgate diff: verdict {head.verdict}")
    regressed = any(
        c.kind == "regression" and c.verdict in ("fail", "error")
        for item in head.items
        for c in item.checks
    ) or bool(diff.regressed)
    return BAD if regressed and args.fail_on_regression else OK


# ---- merge ---------------------------------------------------------------------------------------
def cmd_merge(args: argparse.Namespace) -> int:
    from pytest_llmgate.verdict.decision import decide_run
    from pytest_llmgate.verdict.shard import ShardMergeError, merge_runs

    parts = [(_load(p), str(p)) for p in args.parts]
    try:
        run = merge_runs(parts, allow_unsharded=args.allow_unsharded)
    except ShardMergeError as exc:
        raise CommandError(str(exc)) from None
    baseline = None
    if args.baseline is not None:
        from pytest_llmgate.verdict.compare import load_baseline

        baseline = load_baseline(args.baseline)
    run = decide_run(run, baseline)
    write_results(run, args.output)
    print(f"wrote {args.output}: {len(run.items)} item(s) from {len(parts)} part(s), "
          f"verdict {run.verdict}")
    return BAD if args.fail_on_breach and run.verdict != "passed" else OK


# ---- baseline ------------------------------------------------------------------------------------
def cmd_baseline(args: argparse.Namespace) -> int:
    from pytest_llmgate.verdict.compare import check_baseline

    run = check_baseline(_load(args.results), str(args.results))
    write_results(run, args.output)
    print(f"wrote baseline {args.output}: {len(run.items)} item(s), verdict {run.verdict}")
    return OK


# ---- validate ------------------------------------------------------------------------------------
def _targets(paths: Sequence[Path]) -> list[Path]:
    from pytest_llmgate.suite.loader import is_suite_file

    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")
                          and is_suite_file(p))
        else:
            out.append(path)
    return out


def _check_suite(loader: SuiteLoader, path: Path, loaded: list[Suite]) -> int:
    suite = loader.load(path)
    count = 0
    for subject_name, spec in suite.subjects.items():
        suite.subject(subject_name)
        for entry in suite.evaluator_entries:
            if spec.evaluators is None or entry.name in spec.evaluators:
                suite.evaluator(entry)
        for dataset in spec.datasets or tuple(suite.datasets):
            loader.check_columns(suite, subject_name, dataset)
            count += len(spec.variants)
    loaded.append(suite)
    return count


def _check_dataset(path: Path) -> int:
    from pytest_llmgate.config.datasets import DatasetSpec, load_dataset

    schema = path.parent / (path.name.split(".")[0] + ".schema.json")
    spec = DatasetSpec(name=path.stem, path=path, schema=schema if schema.is_file() else None)
    return len(load_dataset(spec).rows)


def cmd_validate(args: argparse.Namespace) -> int:
    from pytest_llmgate.config.thresholds import load_thresholds
    from pytest_llmgate.suite.loader import SuiteLoader, is_suite_file

    root = args.rootdir.resolve()
    paths = list(args.paths)
    if not paths:
        paths = [p for p in (root / "suites", root / "thresholds.yaml") if p.exists()]
        if not paths:
            raise CommandError(f"nothing to validate in {root}: no suites/ and no thresholds.yaml")
    loader = SuiteLoader(root)
    errors = checked = 0
    suites: list[Suite] = []
    policy: Thresholds | None = None
    broken: list[str] = []
    for path in _targets(paths):
        shown = _display(path)
        try:
            if not path.exists():
                raise GateError(f"{shown}: no such file or directory")
            if path.suffix in (".yaml", ".yml") and is_suite_file(path):
                try:
                    what = f"suite, {_check_suite(loader, path, suites)} item(s)"
                except Exception:
                    broken.append(path.name)
                    raise
            elif path.suffix in (".yaml", ".yml"):
                policy = load_thresholds(path)
                what = "thresholds"
            elif path.suffix in (".jsonl", ".csv", ".json", ".parquet"):
                what = f"dataset, {_check_dataset(path)} row(s)"
            else:
                raise GateError(f"{shown}: not a suite, thresholds or dataset file")
        except GateError as exc:
            errors += 1
            print(str(exc).replace(str(path), shown, 1), file=sys.stderr)
            continue
        except Exception as exc:  # user code imported by a suite may raise anything
            errors += 1
            print(f"{shown}: {type(exc).__name__}: {exc}".replace("\n", " "), file=sys.stderr)
            continue
        checked += 1
        print(f"ok {shown} ({what})")
    errors += _check_policy(policy, suites, broken)
    print(f"llmgate validate: {checked} ok, {errors} with errors")
    return BAD if errors else OK


def _check_policy(policy: Thresholds | None, suites: list[Suite], broken: list[str]) -> int:
    """The pytest run's load-time policy check (metric names, override globs), same lines."""
    from pytest_llmgate.suite.policy_check import check_policy

    try:
        report = check_policy(policy, suites, unloaded=broken)
    except GateError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    for line in report.errors:
        print(line, file=sys.stderr)
    for line in report.unchecked.values():
        print(f"note: {line}")
    return len(report.errors)


def _display(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


# ---- init ----------------------------------------------------------------------------------------
def cmd_init(args: argparse.Namespace) -> int:
    from pytest_llmgate.cli.scaffold import files_for

    root: Path = args.dir
    if not root.is_dir():
        raise CommandError(f"{root}: not a directory (llmgate init scaffolds an existing repo)")
    ci = list(dict.fromkeys(args.ci or ["github"]))
    for relative, text in files_for(ci).items():
        target = root / relative
        if target.exists():
            print(f"kept    {relative} (exists)")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(target, "x", encoding="utf-8") as handle:  # "x": never overwrite, even racing
                handle.write(text)
        except FileExistsError:
            print(f"kept    {relative} (exists)")
            continue
        print(f"created {relative}")
    print("next: pip install pytest-llmgate, then run `pytest suites/ --llm-gate`")
    return OK


# ---- parser --------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="pytest-llmgate's command line: reports, baselines and checks for LLM gate "
        "results.",
        epilog="Run the gate itself with `pytest suites/ --llm-gate`.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("report", help="write reports from a results JSON",
                       description="Write HTML, Markdown, JUnit and/or CSV reports from a results "
                       "JSON (the files a gate run writes with --llm-gate-*).")
    p.add_argument("results", type=Path, metavar="RESULTS", help="results JSON (.json or .json.gz)")
    p.add_argument("--baseline", type=Path, metavar="PATH", help="show deltas against this results "
                   "JSON")
    p.add_argument("--html", type=Path, metavar="PATH", help="write the self-contained HTML report")
    p.add_argument("--html-rows", type=_html_rows, default=DEFAULT_ROW_BUDGET, metavar="N",
                   help=f"rows the HTML embeds at most (default {DEFAULT_ROW_BUDGET}; all: every "
                   "row); an item over its share shows its errored, failing and worst rows and a "
                   "sample by row id")
    p.add_argument("--md", type=Path, metavar="PATH", help="write the pull request Markdown")
    p.add_argument("--junit", type=Path, metavar="PATH", help="write JUnit XML")
    p.add_argument("--csv", type=Path, metavar="PATH", help="write per-row scores as CSV")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("diff", help="compare two results files",
                       description="Decide HEAD against BASE exactly as the gate does, and show "
                       "the diff item by item. Rules: the policy each HEAD item recorded; "
                       "--thresholds replaces their regression rules; for files without a "
                       "recorded policy ./thresholds.yaml, else every metric with a threshold "
                       "may get at most --tolerance percent worse.")
    p.add_argument("base", type=Path, metavar="BASE", help="baseline results JSON")
    p.add_argument("head", type=Path, metavar="HEAD", help="results JSON to check")
    p.add_argument("--thresholds", type=Path, metavar="PATH",
                   help="thresholds.yaml whose regression rules to apply")
    p.add_argument("--tolerance", type=_percent, default=5.0, metavar="PCT",
                   help="default rule: allowed worsening in percent (default: 5)")
    p.add_argument("--fail-on-regression", action="store_true",
                   help="exit with status 1 when an item regressed")
    p.add_argument("--all", action="store_true", help="list every metric, not only rule results")
    p.add_argument("--md", type=Path, metavar="PATH", help="also write the Markdown diff")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("merge", help="combine shard results into one file",
                       description="Combine every shard of one run (--llm-gate-shard I/N) into "
                       "one results JSON, decided as the unsharded run would be. A missing or "
                       "repeated shard, parts of different runs, or an item in two parts with "
                       "different results is refused.")
    p.add_argument("parts", type=Path, nargs="+", metavar="PART", help="results JSON of a shard")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="RESULTS",
                   help="merged results JSON to write")
    p.add_argument("--baseline", type=Path, metavar="PATH",
                   help="the baseline the shards ran with (re-checks regressions of split items)")
    p.add_argument("--fail-on-breach", action="store_true",
                   help="exit with status 1 unless the merged run passes the gate")
    p.add_argument("--allow-unsharded", action="store_true",
                   help="merge results of separate runs with disjoint items (not shards of one "
                   "run); an item in two parts is still refused")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("baseline", help="save a results file as a baseline",
                       description="Check a results JSON and save it as a baseline (an "
                       "incomplete run is refused).")
    p.add_argument("results", type=Path, metavar="RESULTS", help="results JSON of a complete run")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="PATH",
                   help="baseline file to write")
    p.set_defaults(func=cmd_baseline)

    p = sub.add_parser("validate", help="check suites, thresholds and datasets",
                       description="Check suite files (schema, datasets and their columns, "
                       "subjects, evaluators), thresholds files and datasets without running "
                       "anything. Errors are file:line: field: problem lines; exit status 1.")
    p.add_argument("paths", type=Path, nargs="*", metavar="PATH",
                   help="files or directories (default: suites/ and thresholds.yaml)")
    p.add_argument("--rootdir", type=Path, default=Path("."), metavar="DIR",
                   help="project root that suites resolve paths and imports from (default: .)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("init", help="scaffold a gate into an existing repository",
                       description="Add suites/, golden_datasets/, evaluators/, thresholds.yaml "
                       "and the pull request gate of a CI system (.github/workflows/llm-gate.yml, "
                       "azure-pipelines/llm-gate.yml or .jenkins/Jenkinsfile) to a repository. "
                       "Existing files are never overwritten.")
    p.add_argument("dir", type=Path, nargs="?", default=Path("."), metavar="DIR",
                   help="repository root (default: .)")
    p.add_argument("--ci", action="append", choices=("github", "azure", "jenkins"),
                   help="CI system to write the gate for (repeatable; default: github)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("noise", help="measure run-to-run spread per metric",
                       description="Run the gate K times on unchanged code with the call cache "
                       "off and print, per item and metric, the spread of the mean across runs "
                       "(the noise floor thresholds should sit above).")
    p.add_argument("pytest_args", nargs="*", metavar="PYTEST_ARG",
                   help="what to run, as for pytest (default: suites/)")
    p.add_argument("-k", "--runs", type=int, default=5, metavar="K", help="runs (default: 5)")
    p.set_defaults(func=cmd_noise)

    from pytest_llmgate.cli.cache import add_cache_parser

    add_cache_parser(sub)
    return parser


def cmd_noise(args: argparse.Namespace) -> int:
    from pytest_llmgate.cli.noise import measure, render_noise
    from pytest_llmgate.verdict.noise import noise_floor

    if args.runs < 2:
        raise CommandError("--runs must be at least 2")
    runs = measure(args.pytest_args or ["suites/"], args.runs)
    print(render_noise(noise_floor(runs)))
    return OK


def _html_rows(text: str) -> int | None:
    try:
        return parse_row_budget(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a percentage >= 0, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
    except (CommandError, GateError, ResultsFormatError) as exc:
        # ResultsFormatError here: a streamed rows file that fails while its rows are read
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return USAGE
    except OSError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return USAGE
    return status
