"""The `llmgate` command: report, diff, merge, baseline, validate, init.

It shares the renderers and compare code with the plugin, so a report made later from a results
file is the one the run would have written. Exit status: 0 ok; 1 the thing checked is bad (a
regression under --fail-on-regression, invalid files); 2 the command could not run (bad arguments,
unreadable input). Every problem is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_llmgate.errors import GateError
from pytest_llmgate.results import (
    ItemResult,
    ResultsFormatError,
    RunResult,
    load_results,
    write_results,
)

if TYPE_CHECKING:
    from pytest_llmgate.suite import SuiteLoader
    from pytest_llmgate.thresholds import RegressionRule

__all__ = ["build_parser", "main"]

PROG = "llmgate"
OK, BAD, USAGE = 0, 1, 2


class CommandError(Exception):
    """A one-line failure of the command itself (exit 2)."""


def _load(path: Path) -> RunResult:
    try:
        return load_results(path)
    except ResultsFormatError as exc:
        raise CommandError(str(exc)) from None


# ---- report --------------------------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    from pytest_llmgate.compare import load_baseline
    from pytest_llmgate.reporting.artifacts import write_selected

    run = _load(args.results)
    baseline = load_baseline(args.baseline) if args.baseline else None
    if not any((args.html, args.md, args.junit, args.csv)):
        raise CommandError("nothing to write: give --html, --md, --junit and/or --csv")
    written = write_selected(run, baseline, junit=args.junit, html=args.html, md=args.md,
                             csv=args.csv, extra_artifacts=(args.results.name,),
                             step_summary=False)
    for path in written:
        print(f"wrote {path}")
    return OK


# ---- diff ----------------------------------------------------------------------------------------
def cmd_diff(args: argparse.Namespace) -> int:
    from pytest_llmgate.compare import check_baseline, default_rules, diff_runs
    from pytest_llmgate.reporting.difftext import render_diff
    from pytest_llmgate.thresholds import Policy, load_thresholds

    base = check_baseline(_load(args.base), str(args.base))
    head = _load(args.head)
    thresholds = load_thresholds(args.thresholds) if args.thresholds is not None else None

    def rules(item: ItemResult) -> Mapping[str, RegressionRule]:
        if thresholds is None:
            return default_rules(item, args.tolerance)
        policy = thresholds.apply(Policy(), suite=item.suite, subject=item.subject,
                                  variant=item.variant, dataset=item.dataset)
        return policy.regression

    diff = diff_runs(head, base, rules=rules)
    if args.md is not None:
        from pytest_llmgate.reporting.markdown import render_markdown
        from pytest_llmgate.results import atomic_write_text

        atomic_write_text(args.md, render_markdown(head, diff=diff))
    print(render_diff(diff, every_metric=args.all, prefix="llmgate diff"))
    regressed = diff.regressed
    return BAD if regressed and args.fail_on_regression else OK


# ---- merge ---------------------------------------------------------------------------------------
def cmd_merge(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from pytest_llmgate.shard import ShardMergeError, merge_slices

    parts = [_load(p) for p in args.parts]
    items: dict[str, tuple[ItemResult, Path]] = {}
    merged: list[ItemResult] = []
    slices: dict[str, list[ItemResult]] = {}
    for part, path in zip(parts, args.parts, strict=True):
        for item in part.items:
            if item.part:  # a row slice of a large item: joined below
                if item.nodeid not in slices:
                    merged.append(item)
                slices.setdefault(item.nodeid, []).append(item)
                continue
            seen = items.get(item.nodeid)
            if seen is None:
                items[item.nodeid] = (item, path)
                merged.append(item)
            elif _content(seen[0]) != _content(item):
                raise CommandError(f"{item.nodeid} is in {seen[1]} and {path} with different "
                                   "results: merge shards of one run only")
    baseline = None
    if args.baseline is not None:
        from pytest_llmgate.compare import load_baseline

        baseline = load_baseline(args.baseline)
    try:
        merged = [
            merge_slices(slices[i.nodeid], baseline.item(i.nodeid) if baseline else None)
            if i.part else i
            for i in merged
        ]
    except ShardMergeError as exc:
        raise CommandError(str(exc)) from None
    starts = [str(p.meta.get("started_at")) for p in parts if p.meta.get("started_at")]
    ends = [str(p.meta.get("finished_at")) for p in parts if p.meta.get("finished_at")]
    meta = dict(parts[0].meta)
    meta.update(shard=None, merged_from=[str(p) for p in args.parts])
    if starts:
        meta["started_at"] = min(starts)
    if ends:
        meta["finished_at"] = max(ends)
    warnings = tuple(w for p in parts for w in p.warnings)
    run = replace(parts[0], items=tuple(merged), meta=meta, warnings=warnings,
                  incomplete=any(p.incomplete for p in parts))
    write_results(run, args.output)
    print(f"wrote {args.output}: {len(merged)} item(s) from {len(parts)} part(s), "
          f"verdict {run.verdict}")
    return BAD if args.fail_on_breach and run.verdict != "passed" else OK


def _content(item: ItemResult) -> str:
    data = item.to_dict()
    data.pop("duration_s", None)  # the same item run twice differs only in timing
    for row in data["rows"]:
        row.pop("latency_ms", None)
        row.get("metrics", {}).pop("latency_ms", None)
    data.pop("aggregates", None)
    return json.dumps(data, sort_keys=True, default=str)


# ---- baseline ------------------------------------------------------------------------------------
def cmd_baseline(args: argparse.Namespace) -> int:
    from pytest_llmgate.compare import check_baseline

    run = check_baseline(_load(args.results), str(args.results))
    write_results(run, args.output)
    print(f"wrote baseline {args.output}: {len(run.items)} item(s), verdict {run.verdict}")
    return OK


# ---- validate ------------------------------------------------------------------------------------
def _targets(paths: Sequence[Path]) -> list[Path]:
    from pytest_llmgate.suite import is_suite_file

    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")
                          and is_suite_file(p))
        else:
            out.append(path)
    return out


def _check_suite(loader: SuiteLoader, path: Path) -> int:
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
    return count


def _check_dataset(path: Path) -> int:
    from pytest_llmgate.datasets import DatasetSpec, load_dataset

    schema = path.parent / (path.name.split(".")[0] + ".schema.json")
    spec = DatasetSpec(name=path.stem, path=path, schema=schema if schema.is_file() else None)
    return len(load_dataset(spec).rows)


def cmd_validate(args: argparse.Namespace) -> int:
    from pytest_llmgate.suite import SuiteLoader, is_suite_file
    from pytest_llmgate.thresholds import load_thresholds

    root = args.rootdir.resolve()
    paths = list(args.paths)
    if not paths:
        paths = [p for p in (root / "suites", root / "thresholds.yaml") if p.exists()]
        if not paths:
            raise CommandError(f"nothing to validate in {root}: no suites/ and no thresholds.yaml")
    loader = SuiteLoader(root)
    errors = checked = 0
    for path in _targets(paths):
        shown = _display(path)
        try:
            if not path.exists():
                raise GateError(f"{shown}: no such file or directory")
            if path.suffix in (".yaml", ".yml") and is_suite_file(path):
                what = f"suite, {_check_suite(loader, path)} item(s)"
            elif path.suffix in (".yaml", ".yml"):
                load_thresholds(path)
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
    print(f"llmgate validate: {checked} ok, {errors} with errors")
    return BAD if errors else OK


def _display(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


# ---- init ----------------------------------------------------------------------------------------
def cmd_init(args: argparse.Namespace) -> int:
    from pytest_llmgate.scaffold import files_for

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
    p.add_argument("--md", type=Path, metavar="PATH", help="write the pull request Markdown")
    p.add_argument("--junit", type=Path, metavar="PATH", help="write JUnit XML")
    p.add_argument("--csv", type=Path, metavar="PATH", help="write per-row scores as CSV")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("diff", help="compare two results files",
                       description="Compare HEAD with BASE item by item and metric by metric. "
                       "Regression rules come from --thresholds (its regression: section), else "
                       "every metric with a threshold may get at most --tolerance percent worse.")
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
                       description="Combine the results of shards (--llm-gate-shard I/N) into one "
                       "results JSON. An item present in two parts with different results is an "
                       "error.")
    p.add_argument("parts", type=Path, nargs="+", metavar="PART", help="results JSON of a shard")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="RESULTS",
                   help="merged results JSON to write")
    p.add_argument("--baseline", type=Path, metavar="PATH",
                   help="the baseline the shards ran with (re-checks regressions of split items)")
    p.add_argument("--fail-on-breach", action="store_true",
                   help="exit with status 1 unless the merged run passes the gate")
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
    return parser


def cmd_noise(args: argparse.Namespace) -> int:
    from pytest_llmgate.noise import measure, noise_floor, render_noise

    if args.runs < 2:
        raise CommandError("--runs must be at least 2")
    runs = measure(args.pytest_args or ["suites/"], args.runs)
    print(render_noise(noise_floor(runs)))
    return OK


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
    except (CommandError, GateError) as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return USAGE
    except OSError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return USAGE
    return status
