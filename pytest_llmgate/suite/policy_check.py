"""The load-time check of a policy against the suites it gates: every metric a rule names can be
produced by an evaluator of the items the rule applies to, and every override matches an item.

Runs once, before any row, so a typo (`facts_preservd`) is one `file:line: field: problem` line
with a "did you mean", instead of a gate that silently disappears. Evaluators declare their
metric names (`BoundEvaluator.outputs`, see `registry.declared_outputs`); an evaluator that
cannot (an unannotated callable returning a dict) makes the names it could produce unknown: a
rule on such a name is not reported here (no false errors) but listed in `unchecked`, so the
run can say it was not checked before the run.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmgate.errors import GateError
from pytest_llmgate.results.usage import USAGE_METRICS

if TYPE_CHECKING:
    from pytest_llmgate.config.thresholds import Thresholds
    from pytest_llmgate.suite.loader import SuiteLoader
    from pytest_llmgate.suite.model import Suite

__all__ = [
    "ROW_METRICS",
    "PolicyCheck",
    "check_policy",
    "check_policy_metrics",
    "check_run_policy",
    "suite_files",
    "suite_items",
]

# recorded by the engine for every row (latency) or for every row whose subject or judges call a
# model (usage): a rule may name them whatever the evaluators are
ROW_METRICS = frozenset(
    {"latency_ms", *(metric for names in USAGE_METRICS.values() for metric in names.values())}
)


@dataclass(frozen=True)
class _Producer:
    evaluator: str
    names: tuple[str, ...] | None  # prefixed names/globs; None: not declared
    prefix: str
    own: str  # prefix + evaluator name: what a bare number from it is called

    def produces(self, metric: str) -> bool:
        if self.names is None:
            return metric == self.own
        return any(metric == n or fnmatch.fnmatchcase(metric, n) for n in self.names)

    def may_produce(self, metric: str) -> bool:
        """An undeclared evaluator may produce any name under its prefix."""
        return self.names is None and metric.startswith(self.prefix)


@dataclass(frozen=True)
class _Item:
    names: Mapping[str, str]  # suite, subject, variant, dataset
    producers: tuple[_Producer, ...]


@dataclass
class PolicyCheck:
    """What the load-time check found: errors (each one line) and rules it could not check."""

    errors: list[str] = field(default_factory=list)
    unchecked: dict[str, str] = field(default_factory=dict)  # metric (or line) -> why, one line


def suite_items(suite: Suite) -> list[_Item]:
    """The (suite, subject, variant, dataset) items a suite collects to, with their evaluators'
    declared outputs (the same product `collect.SuiteFile.collect` yields)."""
    items: list[_Item] = []
    for subject_name, spec in suite.subjects.items():
        producers = tuple(
            _Producer(
                evaluator=ev.name,
                names=None if ev.outputs is None else tuple(ev.prefix + o for o in ev.outputs),
                prefix=ev.prefix,
                own=ev.prefix + ev.name,
            )
            for ev in suite.evaluators_for(subject_name)
        )
        for variant in spec.variants:
            for dataset in spec.datasets or tuple(suite.datasets):
                names = {
                    "suite": suite.name,
                    "subject": subject_name,
                    "variant": variant,
                    "dataset": dataset,
                }
                items.append(_Item(names, producers))
    return items


def _known_names(items: Iterable[_Item]) -> list[str]:
    names: dict[str, None] = dict.fromkeys(sorted(ROW_METRICS))
    for item in items:
        for producer in item.producers:
            for name in producer.names or (producer.own,):
                if not any(c in name for c in "*?["):
                    names[name] = None
    return list(names)


def _check_layer_metrics(
    thresholds: Thresholds,
    layer: Any,
    items: Sequence[_Item],
    scope: str,
    report: PolicyCheck,
) -> None:
    doc = thresholds.doc
    assert doc is not None
    named: dict[str, tuple[str | int, ...]] = {}
    for metric in layer.metrics:
        named.setdefault(metric, (*layer.key, "metrics", metric))
    for metric in layer.regression:
        named.setdefault(metric, (*layer.key, "regression", metric))
    for index, rule in enumerate(layer.compare):
        named.setdefault(rule.metric, (*layer.key, "compare_variants", index, "metric"))
    producers = [p for item in items for p in item.producers]
    for metric, key in named.items():
        if metric in ROW_METRICS or any(p.produces(metric) for p in producers):
            continue
        unknown = [p.evaluator for p in producers if p.may_produce(metric)]
        if unknown:
            where = doc.error(key, "").one_line().rstrip(": ")
            report.unchecked.setdefault(
                metric,
                f"{where}: metric {metric!r} not checked before the run: evaluator "
                f"{sorted(set(unknown))[0]!r} does not declare its outputs (give it an `outputs` "
                "attribute, a number return annotation, or `outputs:` in the suite)",
            )
            continue
        known = _known_names(items)
        close = difflib.get_close_matches(metric, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        report.errors.append(
            doc.error(key, f"no evaluator of {scope} produces metric {metric!r}{hint}").one_line()
        )


def _check(thresholds: Thresholds, items: Sequence[_Item], scope: str, report: PolicyCheck) -> None:
    doc = thresholds.doc
    if doc is None:
        return
    for layer in thresholds.layers:
        matched = [i for i in items if layer.matches(i.names)]
        if layer.match and not matched:
            available = {key: sorted({i.names[key] for i in items}) for key in layer.match}
            shown = "; ".join(f"{k}s: {', '.join(v) or 'none'}" for k, v in available.items())
            report.errors.append(
                doc.error((*layer.key, "match"), f"matches no item of {scope} ({shown})").one_line()
            )
            continue
        _check_layer_metrics(thresholds, layer, matched, scope, report)
        _check_layer_variants(thresholds, layer, matched, items, scope, report)


def _check_layer_variants(
    thresholds: Thresholds,
    layer: Any,
    matched: Sequence[_Item],
    items: Sequence[_Item],
    scope: str,
    report: PolicyCheck,
) -> None:
    """Each `compare_variants` rule names a candidate variant some matched item has, and every
    subject (on every dataset) with that candidate has the reference variant too: otherwise the
    rule could only fail at the end of the run, so it fails here."""
    doc = thresholds.doc
    assert doc is not None
    variants: dict[tuple[str, str, str], set[str]] = {}
    for item in items:
        group = (item.names["suite"], item.names["subject"], item.names["dataset"])
        variants.setdefault(group, set()).add(item.names["variant"])
    for index, rule in enumerate(layer.compare):
        key = (*layer.key, "compare_variants", index)
        groups = sorted({(i.names["suite"], i.names["subject"], i.names["dataset"])
                         for i in matched if i.names["variant"] == rule.candidate})
        if not groups:
            known = sorted({i.names["variant"] for i in matched})
            close = difflib.get_close_matches(rule.candidate, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f" (variants: {', '.join(known)})"
            report.errors.append(doc.error(
                (*key, "candidate"), f"no item of {scope} has variant {rule.candidate!r}{hint}"
            ).one_line())
            continue
        for suite, subject, dataset in groups:
            have = variants[(suite, subject, dataset)]
            if rule.reference in have:
                continue
            close = difflib.get_close_matches(rule.reference, sorted(have), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            report.errors.append(doc.error(
                (*key, "reference"),
                f"subject {subject!r} of suite {suite!r} on {dataset!r} has no variant "
                f"{rule.reference!r} to compare {rule.candidate!r} with (variants: "
                f"{', '.join(sorted(have))}){hint}",
            ).one_line())
            break


def check_policy(
    thresholds: Thresholds | None,
    suites: Sequence[Suite],
    *,
    others: Sequence[Suite] = (),
    unloaded: Sequence[str] = (),
) -> PolicyCheck:
    """Check the project policy against `suites` (plus `others`: suites of the project outside
    this run, so a run of one suite does not flag the rules meant for its siblings) and each of
    `suites`' own `thresholds:` against that suite.

    `unloaded` names project suites that could not be loaded: a project rule nothing loaded
    produces is then `unchecked`, not an error (that suite might produce it). Evaluators are
    resolved (imported) here: a bad spec raises `GateError`, as at collection.
    """
    report = PolicyCheck()
    per_suite = {id(s): suite_items(s) for s in (*suites, *others)}
    if thresholds is not None and (suites or others):
        everything = [i for s in (*suites, *others) for i in per_suite[id(s)]]
        project = PolicyCheck()
        _check(thresholds, everything, "the project's suites", project)
        if unloaded and project.errors:
            why = f"suite {unloaded[0]} could not be loaded"
            for line in project.errors:
                report.unchecked.setdefault(line, f"{line} (not decided: {why})")
        else:
            report.errors += project.errors
        report.unchecked.update(project.unchecked)
    for suite in suites:
        if suite.thresholds is not None:
            _check(suite.thresholds, per_suite[id(suite)], f"suite {suite.name!r}", report)
    return report


def check_policy_metrics(thresholds: Thresholds | None, suites: Sequence[Suite]) -> list[str]:
    """The errors of `check_policy`, one line each (empty when the policy fits the suites)."""
    try:
        return check_policy(thresholds, suites).errors
    except GateError as exc:
        return [str(exc)]


_SKIP_DIRS = frozenset({"node_modules", "__pycache__", "site-packages", "venv", "env"})


def suite_files(directory: Path) -> list[Path]:
    """Suite files under `directory` (hidden folders and virtual environments left out)."""
    from pytest_llmgate.suite.loader import is_suite_file

    found: list[Path] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
        found += [Path(root) / f for f in sorted(files) if is_suite_file(Path(root) / f)]
    return found


def check_run_policy(
    thresholds: Thresholds | None, loader: SuiteLoader, paths: Sequence[Path]
) -> PolicyCheck:
    """The check for a pytest run over `paths` (its arguments): the suites under them are the
    run's; the other suites in the same folders are the project's (tolerated when broken: their
    own collection reports that)."""
    in_run: list[Suite] = []
    others: list[Suite] = []
    unloaded: list[str] = []
    seen: set[Path] = set()
    targets = [p.resolve() for p in paths]
    folders = sorted({t if t.is_dir() else t.parent for t in targets})
    for folder in folders:
        for path in suite_files(folder):
            path = path.resolve()
            if path in seen:
                continue
            seen.add(path)
            ours = any(path == t or (t.is_dir() and path.is_relative_to(t)) for t in targets)
            try:
                suite = loader.load(path)
                # what collection checks (imports, evaluators, datasets and their columns):
                # a suite that fails there shows that error, not a policy line caused by it
                for subject, spec in suite.subjects.items():
                    suite.subject(subject)
                    for dataset in spec.datasets or tuple(suite.datasets):
                        loader.check_columns(suite, subject, dataset)
                suite_items(suite)
            except Exception:  # reported by its collection; here it only makes the check partial
                unloaded.append(path.name)
                continue
            (in_run if ours else others).append(suite)
    return check_policy(thresholds, in_run, others=others, unloaded=unloaded)
