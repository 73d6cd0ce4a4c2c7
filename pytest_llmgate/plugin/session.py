"""The gate's session state: runs items, gathers results (and xdist workers' payloads), writes
the results JSON and reports once, and folds the gate verdict into pytest's exit status.

Registered as a plugin object only when the gate is on, so a plain pytest run pays nothing.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmgate.config.thresholds import Policy, Thresholds, load_thresholds
from pytest_llmgate.errors import GateError
from pytest_llmgate.plugin.options import Settings
from pytest_llmgate.results.model import ERROR, SKIPPED, ItemResult, RunResult
from pytest_llmgate.suite.loader import SuiteLoader

if TYPE_CHECKING:
    from pytest_llmgate.plugin.collect import GateItem

__all__ = ["GateSession"]

WORKER_OUTPUT_KEY = "llm_gate_items"


def _git() -> dict[str, Any]:
    def run(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    if commit is None:
        return {}
    return {
        "commit": commit,
        "branch": run("rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": bool(run("status", "--porcelain", "--untracked-files=no")),
    }


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "pytest": pytest.__version__}
    for dist in ("pytest-llmgate", "openai", "azure-ai-evaluation", "promptflow"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out


class GateSession:
    """Per-process gate state (controller, worker or plain run)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        try:
            self.settings = Settings.from_config(config)
            self.thresholds: Thresholds | None = (
                load_thresholds(self.settings.thresholds_path)
                if self.settings.thresholds_path
                else None
            )
        except GateError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.loader = SuiteLoader(self.settings.rootdir, self.settings.limit, env=self.settings.env)
        self.baseline: RunResult | None = None
        if self.settings.baseline_path is not None:
            from pytest_llmgate.verdict.compare import BaselineError, load_baseline

            try:
                self.baseline = load_baseline(self.settings.baseline_path)
            except BaselineError as exc:
                raise pytest.UsageError(f"--llm-gate-baseline: {exc}") from None
        self.items: dict[str, ItemResult] = {}
        self.warnings: list[str] = []
        self.started = datetime.now(timezone.utc)
        self.is_worker = hasattr(config, "workerinput")
        self.is_controller = (
            bool(getattr(config.option, "numprocesses", None)) and not self.is_worker
        )
        self.interrupted = False
        self.lost_workers: list[str] = []
        self.damaged_rows: list[str] = []  # xdist workers whose rows file cannot be trusted
        self.slices: dict[str, tuple[int, int]] = {}  # node id -> row bounds (sharded runs)
        self.slice_totals: dict[str, int] = {}
        self.crashed: dict[str, tuple[str, str]] = {}  # worker id -> (its item, the error)
        self._run: RunResult | None = None
        self._run_diff: Any = None
        self.summary_lines: list[str] = []
        self.dry_run_totals: list[Any] = []
        self.run_items: list[str] = []  # every gate item of the run (all shards), after -k/-m
        self.expected: list[str] = []  # the gate items this process (or its workers) must run
        # metrics the load-time policy check could not decide (None: it did not run here)
        self.policy_unchecked: dict[str, str] | None = None
        self.rows_writer: Any = None  # rowstream.RowWriter of streamed items' rows
        self.rows_file: Any = None  # storedrows.RowsFile the streamed items read from
        # controller: xdist workers' sealed rows files, folded into the companion when written
        self.worker_rows: list[Path] = []

    # ---- running items -------------------------------------------------------------------
    def policy_for(self, item: GateItem) -> Policy:
        names = dict(
            suite=item.suite.name,
            subject=item.subject_name,
            variant=item.variant,
            dataset=item.dataset_name,
        )
        policy = Policy(max_error_rate=self.settings.max_error_rate)
        if self.thresholds is not None:
            policy = self.thresholds.apply(policy, **names)
        if item.suite.thresholds is not None:
            policy = item.suite.thresholds.apply(policy, **names)
        return policy

    def run_item(self, item: GateItem) -> ItemResult:
        from pytest_llmgate.pipeline.runner import RunOptions, run_rows_sync
        from pytest_llmgate.verdict.decision import decide_item

        started = time.perf_counter()
        suite = item.suite
        subject = suite.subject(item.subject_name)
        evaluators = suite.evaluators_for(item.subject_name)
        dataset = self.loader.dataset(suite.datasets[item.dataset_name])
        rows: Any = dataset.rows  # a big JSONL dataset is read row by row (lazydataset)
        if self.settings.limit is not None:
            rows = rows[: self.settings.limit]
        bounds = self.slices.get(item.nodeid)
        if bounds is not None:  # a row slice of a large item (--llm-gate-shard)
            rows = rows[bounds[0] : bounds[1]]
        spec = suite.subjects[item.subject_name]
        options = RunOptions(
            concurrency=suite.concurrency or self.settings.concurrency,
            timeout_s=spec.timeout or suite.timeout,
            repeats=self.settings.repeat or spec.raw.get("repeat") or suite.repeat_subject,
            default_timeout_s=self.settings.timeout_s,
        )
        base = self._base(item)
        needs_model = subject.needs_model or any(
            e.needs_model for e in evaluators
        )
        if self.settings.dry_run:
            from pytest_llmgate.engine.runtime import prepare
            from pytest_llmgate.pipeline.dryrun import estimate_item

            if needs_model:
                prepare(self.settings)  # loads model configs for prices; calls nothing
            estimate = estimate_item(subject, evaluators, rows, item.variant, options.repeats)
            self.dry_run_totals.append(estimate)
            return ItemResult(verdict=SKIPPED, message=estimate.line(), **base)
        if suite.load is not None:  # needs its subject's model, not a judge
            from pytest_llmgate.engine.runtime import prepare
            from pytest_llmgate.load import load_skip_reason

            prepare(self.settings)
            skip = load_skip_reason(subject, item.variant)
        else:
            skip = self._skip_reason(subject, evaluators)
        if skip:
            in_ci = bool(os.environ.get("CI")) and not self.settings.allow_skip
            if self.settings.require_models:
                raise GateError(f"{skip} (--llm-gate-require-models)")
            if suite.unconfigured == "fail" or (in_ci and suite.unconfigured != "skip"):
                why = (
                    f"{suite.display_path}: unconfigured: fail"
                    if suite.unconfigured == "fail"
                    else "CI is set: a gate whose model or secrets are missing must not pass; "
                    "--llm-gate-allow-skip skips instead"
                )
                raise GateError(f"{skip} ({why})")
            return ItemResult(verdict=SKIPPED, message=skip, **base)
        # `uses_models`: an evaluator that calls a named model but not the judge (embeddings)
        if needs_model or any(getattr(e.fn, "uses_models", False) for e in evaluators):
            from pytest_llmgate.engine.runtime import prepare

            prepare(self.settings)
        policy = self.policy_for(item)
        streamed = suite.load is None and self._streams(
            len(rows) * max(1, int(options.repeats or 1)), evaluators, policy
        )
        if suite.load is not None:  # a load suite: rows are requests (pytest_llmgate.load)
            from pytest_llmgate.load import run_load

            row_results = run_load(suite.load, rows, subject, item.variant)
        elif streamed:
            row_results = self._run_streamed(item, rows, subject, evaluators, options)
        else:
            row_results = run_rows_sync(
                rows, subject, item.variant, evaluators, options, on_row=self._progress(item, rows)
            )
        baseline_item = None if self.baseline is None else self.baseline.item(item.nodeid)

        def decide(results: list[Any]) -> Any:
            from pytest_llmgate.evaluators.base import item_level_metrics

            values, item_errors = item_level_metrics(evaluators, results)
            return decide_item(
                results,
                policy,
                nodeid=item.nodeid,
                item_metrics=values,
                item_errors=item_errors,
                baseline_item=baseline_item,
                dataset_sha256=dataset.sha256,
                family=self.family(),
                evaluators=[e.spec for e in evaluators],
            )

        decision = decide(row_results)
        if suite.load is None and not streamed:  # a load run's schedule; streamed: no reruns
            row_results, decision = adaptive_rerun(
                rows,
                row_results,
                decision,
                policy,
                decide,
                lambda jobs: run_rows_sync(
                    rows, subject, item.variant, evaluators, options, jobs=jobs
                ),
            )
        if self.settings.redact_outputs and not streamed:  # streamed rows: masked as written
            from pytest_llmgate.reporting.redact import redact_rows

            row_results = redact_rows(row_results)
        return self._compared(ItemResult(
            rows=row_results if streamed else tuple(row_results),
            duration_s=time.perf_counter() - started,
            part=self._part(item.nodeid),
            **decision.fields(),
            **base,
        ))

    def _compared(self, result: ItemResult) -> ItemResult:
        """The item with its `compare_variants` checks when its reference variants have already
        run in this process, so pytest reports the item as the gate decides it; otherwise (a
        reference later in the run, or on another xdist worker) `decide_run` decides them at
        the end, where every artifact takes them from."""
        from pytest_llmgate.verdict.decision import decide_comparisons

        wanted = {r.get("reference") for r in (result.policy or {}).get("compare") or []}
        group = (result.suite, result.subject, result.dataset)
        references = [i for i in self.items.values()
                      if (i.suite, i.subject, i.dataset) == group and i.variant in wanted]
        if not wanted or len(references) < len(wanted):
            return result
        return decide_comparisons(RunResult(items=(*references, result))).items[-1]

    def _streams(self, jobs: int, evaluators: list[Any], policy: Policy) -> bool:
        """Whether an item's rows stream to the companion file instead of memory: at least
        `--llm-gate-stream-rows` row runs (an xdist worker streams to a file of its own that the
        controller folds into the companion), and nothing that needs every row object while the
        item runs (evaluators that score the whole item, adaptive re-runs)."""
        limit = self.settings.stream_rows
        if limit is None or jobs < limit or self.settings.dry_run:
            return False
        if any(callable(getattr(e.fn, "aggregate", None)) for e in evaluators):
            return False
        return not any(
            r.on_inconclusive == "rerun" for rules in policy.rules.values() for r in rules
        )

    def _run_streamed(
        self, item: GateItem, rows: Any, subject: Any, evaluators: list[Any], options: Any
    ) -> Any:
        """Run an item's rows straight into the companion file; memory keeps only the columns
        the verdict needs (`storedrows.RowColumns`). The rows are masked as they are written
        when outputs are redacted (the scores were taken on the real text)."""
        from pytest_llmgate.pipeline.runner import run_rows_sync
        from pytest_llmgate.results.storedrows import RowColumns, StoredRows

        writer = self._row_writer()
        assert self.rows_file is not None
        offset = writer.start_item()
        columns = RowColumns()
        progress = self._progress(item, rows)
        redact: Any = None
        if self.settings.redact_outputs:
            from pytest_llmgate.reporting.redact import redact_rows

            redact = redact_rows

        def on_row(result: Any) -> None:
            if progress is not None:
                progress(result)
            if redact is not None:
                result = redact([result])[0]
            writer.write(item.nodeid, result)
            columns.add(result)

        try:
            run_rows_sync(rows, subject, item.variant, evaluators, options, on_row=on_row,
                          keep=False)
        finally:
            writer.end_item()
        columns.seal()
        return StoredRows(self.rows_file, item.nodeid, offset, columns.rows, columns)

    def _row_writer(self) -> Any:
        """The run's companion file, opened by its first streamed item."""
        if self.rows_writer is None:
            from pytest_llmgate.results.rowstream import RowWriter, companion_path
            from pytest_llmgate.results.storedrows import RowsFile

            target = self.settings.json_path
            if self.is_worker:  # e.g. results.gw0.rows.jsonl.gz, beside the run's own
                worker = self.config.workerinput["workerid"]  # type: ignore[attr-defined]
                target = target.with_name(f"{target.name.split('.')[0]}.{worker}.json")
            self.rows_writer = RowWriter(companion_path(target))
            self.rows_file = RowsFile(self.rows_writer.partial)
        return self.rows_writer

    def _publish_rows(self, target: Path) -> None:
        """Seal the companion file (its trailer) under the name that goes with `target`."""
        from pytest_llmgate.results.rowstream import companion_path

        writer = self.rows_writer
        if writer is None or self.rows_file is None:
            # a previous run's rows file would sit beside results that do not name it
            for stale in (companion_path(target), companion_path(target, compress=False)):
                stale.unlink(missing_ok=True)
            return
        writer.path = companion_path(target)
        writer.close()
        self.rows_file.path = writer.path
        self.rows_file.rows = writer.rows

    def family(self) -> int:
        """Items of this run compared with the baseline (the multiplicity across items)."""
        from pytest_llmgate.verdict.decision import comparison_family

        return comparison_family(self.run_items, self.baseline)

    def _part(self, nodeid: str) -> dict[str, Any] | None:
        bounds = self.slices.get(nodeid)
        if bounds is None or self.settings.shard is None:
            return None
        from pytest_llmgate.verdict.shard import part_record

        return part_record(*self.settings.shard, bounds, self.slice_totals[nodeid])

    def _progress(self, item: GateItem, rows: list[Any]) -> Any:
        """A row callback showing `rows done/total, rate, errors, cache hits` while an item runs;
        on by default only on an interactive terminal outside CI (`--llm-gate-progress`).

        pytest captures fd 1 while a test runs, so every write goes through the capture
        manager's suspension (as pytest's live logging does); otherwise it would land in the
        item's captured output and never be seen. A TTY redraws one line in place (at most ten
        times a second), a file gets a line every five seconds; each item ends with one line."""
        mode = self.settings.progress
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        interactive = reporter is not None and reporter.isatty and not os.environ.get("CI")
        if reporter is None or mode == "off" or (mode == "auto" and not interactive):
            return None
        from pytest_llmgate.reporting._common import printable

        capture = self.config.pluginmanager.get_plugin("capturemanager")
        spec = item.suite.subjects[item.subject_name]
        repeats = self.settings.repeat or spec.raw.get("repeat") or item.suite.repeat_subject
        total = max(1, len(rows) * max(1, int(repeats or 1)))
        name = printable(item.nodeid.split("::", 1)[-1])
        started = time.monotonic()
        state = {"done": 0, "errors": 0, "hits": 0, "shown": 0.0, "width": 0}

        def write(text: str) -> None:
            if capture is not None:
                with capture.global_and_fixture_disabled():
                    reporter.write(text)
                    reporter.flush()
            else:
                reporter.write(text)
                reporter.flush()

        def on_row(result: Any) -> None:
            state["done"] += 1
            state["errors"] += bool(result.errors)
            state["hits"] += int(result.details.get("cache_hits", 0) or 0)
            now = time.monotonic()
            finished = state["done"] >= total
            if not finished and now - state["shown"] < (0.1 if interactive else 5.0):
                return
            state["shown"] = now
            elapsed = max(now - started, 1e-9)
            text = (
                f"llm-gate {name}: rows {state['done']}/{total}, {state['errors']} errors, "
                f"{state['hits']} cache hits, {state['done'] / elapsed:.1f} rows/s"
            )[:118]
            if finished:
                text += f" in {elapsed:.1f}s"
            if interactive:
                lead = "\n" if not state["width"] else "\r"
                pad = max(0, int(state["width"]) - len(text))
                state["width"] = len(text)
                write(lead + text + " " * pad + ("\n" if finished else ""))
            else:
                write("\n" + text + ("\n" if finished else ""))

        return on_row

    def _skip_reason(self, subject: Any, evaluators: list[Any]) -> str | None:
        """Why an item that needs a model (or an Azure AI project) cannot run, or None."""
        if any(getattr(e.fn, "needs_azure_project", False) for e in evaluators):
            from pytest_llmgate.evaluators.safety.azure import azure_project_reason

            reason = azure_project_reason(
                evaluators,
                rootdir=self.settings.rootdir,
                thresholds_path=self.settings.thresholds_path,
            )
            if reason:
                return str(reason)
        if subject.own_connections:  # Prompt Flow: the flow says what it cannot reach
            if subject.needs_model:
                from pytest_llmgate.engine.runtime import prepare

                prepare(self.settings)  # their connections may fall back to the gate's models
            reason = subject.unavailable_reason()
            if reason:
                return str(reason)
            subject_needs = False
        else:
            subject_needs = subject.needs_model
        if not (subject_needs or any(e.needs_model for e in evaluators)):
            return None
        from pytest_llmgate.config.models import environment, load_models, models_configured
        from pytest_llmgate.engine.runtime import _read_models

        path = self.settings.thresholds_path
        env = environment(self.settings.rootdir)
        configured = load_models(_read_models(path), source=path or "<environment>", env=env)
        return models_configured(self.settings.rootdir, models=configured)

    def _base(self, item: GateItem) -> dict[str, Any]:
        suite = item.suite
        dataset_spec = suite.datasets[item.dataset_name]
        dataset = self.loader.dataset(dataset_spec)
        subject = suite.subject(item.subject_name)
        return dict(
            nodeid=item.nodeid,
            suite=suite.name,
            subject=item.subject_name,
            variant=item.variant,
            dataset=item.dataset_name,
            suite_path=suite.display_path,
            dataset_path=_relative(dataset_spec.path, self.settings.rootdir),
            dataset_sha256=dataset.sha256,
            dataset_rows=dataset.total_rows,
            subject_spec=subject.describe(item.variant),
            evaluators=tuple(e.spec for e in suite.evaluators_for(item.subject_name)),
        )

    def error_item(self, item: GateItem, message: str, duration: float) -> ItemResult:
        try:
            base = self._base(item)
        except GateError:
            base = dict(
                nodeid=item.nodeid,
                suite=item.suite.name,
                subject=item.subject_name,
                variant=item.variant,
                dataset=item.dataset_name,
            )
        return ItemResult(verdict=ERROR, message=message, duration_s=duration, **base)

    def record(self, result: ItemResult) -> None:
        self.items[result.nodeid] = result

    # ---- hooks ---------------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """After `-k`/`-m` deselection: record the run's items, then keep this shard's."""
        from pytest_llmgate.plugin.collect import GateItem

        gate_items = [i for i in items if isinstance(i, GateItem)]
        self.run_items = [i.nodeid for i in gate_items]
        shard = self.settings.shard
        if shard is None:
            return
        from pytest_llmgate.verdict.shard import assign

        index, count = shard
        # an item whose evaluators also score the whole item (evaluation-flow aggregation) needs
        # every row in one process: it is never split by rows
        sizes = {
            i.nodeid: 0 if _scores_whole_item(i) else self._row_count(i) for i in gate_items
        }
        kept = assign(list(sizes.items()), index, count)
        drop = [i for i in gate_items if i.nodeid not in kept]
        for nodeid, bounds in kept.items():
            if bounds is not None:
                self.slices[nodeid] = bounds
                self.slice_totals[nodeid] = sizes[nodeid]
        if drop:
            dropped = set(map(id, drop))
            items[:] = [i for i in items if id(i) not in dropped]
            config.hook.pytest_deselected(items=drop)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        from pytest_llmgate.plugin.collect import GateItem

        self.expected = [i.nodeid for i in session.items if isinstance(i, GateItem)]

    def _row_count(self, item: GateItem) -> int:
        """Rows the item will run (0 when its dataset cannot load: the item reports that)."""
        try:
            rows = len(self.loader.dataset(item.suite.datasets[item.dataset_name]).rows)
        except GateError:
            return 0
        limit = self.settings.limit
        return rows if limit is None else min(rows, limit)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """SIGTERM (CI cancelling a job) ends the run like Ctrl-C: the results gathered so far are
        written, marked incomplete. Only the main thread may install signal handlers."""
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
        if not self.is_worker:
            self.check_policy()

    def check_policy(self) -> None:
        """Policy errors (a metric no evaluator produces, an override matching nothing) are a
        usage error before any row runs: one line each, once, from the controller."""
        from pytest_llmgate.suite.policy_check import check_run_policy

        where = self.config.invocation_params.dir
        paths = [where / str(arg).split("::")[0] for arg in self.config.args]
        paths = [p for p in paths if p.exists()]
        try:
            report = check_run_policy(self.thresholds, self.loader, paths)
        except GateError as exc:
            raise pytest.UsageError(str(exc)) from None
        if report.errors:
            raise pytest.UsageError(*report.errors)
        self.policy_unchecked = report.unchecked
        self.warnings.extend(report.unchecked.values())

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        import signal

        previous = getattr(self, "_previous_sigterm", None)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
            self._previous_sigterm = None

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        self.interrupted = True

    def merge_worker(self, node: Any, error: Any = None) -> None:
        """xdist controller: merge a worker's items; a worker without a payload fails the gate."""
        output = getattr(node, "workeroutput", {}) or {}
        payload = output.get(WORKER_OUTPUT_KEY)
        if payload is None:
            name = getattr(getattr(node, "gateway", None), "id", None) or str(node)
            self.lost_workers.append(name)
            self.crashed.setdefault(name, ("", str(error or "no results")))
            return
        if isinstance(payload, str):
            payload = json.loads(payload)
        worker = getattr(getattr(node, "gateway", None), "id", None) or str(node)
        rows_file = self._worker_rows_file(payload.get("rows_file"), worker)
        for data in payload["items"]:
            result = ItemResult.from_dict(data)
            if rows_file is not None and data.get("rows_stored") is not None:
                result = self._stored_in(rows_file, result, data["rows_stored"])
            self.items[result.nodeid] = result
        self.expected.extend(n for n in payload["expected"] if n not in self.expected)
        if not self.run_items:
            self.run_items = list(payload["run_items"])

    def _worker_rows_file(self, spec: Any, worker: str) -> Any:
        """The rows file a worker streamed its items to (checked sealed and whole: a damaged
        one makes the run incomplete, like a lost worker), or None."""
        if not isinstance(spec, dict):
            return None
        from pytest_llmgate.results.storedrows import RowsFile, check_rows_file

        path, total = Path(spec["path"]), int(spec["rows"])
        self.worker_rows.append(path)
        problem = check_rows_file(path, total)
        if problem is not None:
            self.damaged_rows.append(f"xdist worker {worker}: {problem}")
        return RowsFile(path, total)

    @staticmethod
    def _stored_in(rows_file: Any, result: ItemResult, stored: Any) -> ItemResult:
        from dataclasses import replace

        from pytest_llmgate.results.storedrows import StoredRows

        rows = StoredRows(rows_file, result.nodeid, int(stored["offset"]), int(stored["rows"]))
        return replace(result, rows=rows)

    def lost_lines(self) -> list[str]:
        """One line per xdist worker that died without reporting (which item it was running)
        or whose rows file is damaged."""
        lines = []
        for name in self.lost_workers:
            item, error = self.crashed.get(name, ("", "no results"))
            running = f" while running {item}" if item else ""
            lines.append(f"xdist worker {name} crashed{running} ({error})")
        return lines + self.damaged_rows

    def _missing(self, session: pytest.Session | None) -> tuple[list[ItemResult], list[str]]:
        """Items this run had to run but has no result for. When the session stopped early
        (`-x`, `--maxfail`, Ctrl-C, a lost worker) they did not run: the run is incomplete. Else
        an item started and left nothing: that is an error item, never an absence."""
        crashed = {item: error for item, error in self.crashed.values() if item}
        for nodeid, error in crashed.items():
            if nodeid not in self.items:
                self.items[nodeid] = ItemResult(
                    nodeid=nodeid,
                    suite=nodeid.split("::", 1)[0],
                    subject="",
                    variant="",
                    dataset="",
                    verdict=ERROR,
                    message=f"crashed: the xdist worker running it died ({error})",
                )
        missing = [n for n in dict.fromkeys(self.expected) if n not in self.items]
        if not missing:
            return [], []
        stopped = bool(
            self.interrupted
            or self.lost_workers
            or (session is not None and (session.shouldstop or session.shouldfail))
        )
        if stopped:
            return [], [f"{len(missing)} item(s) did not run (the session stopped early)"]
        errored = [
            ItemResult(
                nodeid=nodeid,
                suite=nodeid.split("::", 1)[0],
                subject="",
                variant="",
                dataset="",
                verdict=ERROR,
                message="no result: the item was collected but left no result "
                "(it crashed outside the gate, or a plugin skipped it)",
            )
            for nodeid in missing
        ]
        return errored, []

    def build_run(self, session: pytest.Session | None = None) -> RunResult:
        missing, stopped = self._missing(session)
        for result in missing:
            self.items[result.nodeid] = result
        position = {nodeid: i for i, nodeid in enumerate(dict.fromkeys(self.expected))}
        items = sorted(
            self.items.values(),
            key=lambda r: (position.get(r.nodeid, len(position)), r.nodeid),
        )
        warnings = list(self.warnings) + stopped
        if self.thresholds is not None and items:
            from pytest_llmgate.verdict.gate import metric_names

            produced = {m for item in items for m in metric_names(item.rows)}
            # item-level metrics (an evaluation flow's log_metric values) live in the aggregates
            produced |= {
                m for item in items for m, agg in item.aggregates.items() if "value" in agg
            }
            ran = [i for i in items if i.rows]
            for metric, source in self.thresholds.metric_sources().items():
                if self.policy_unchecked is not None and metric not in self.policy_unchecked:
                    continue  # the load-time check proved some evaluator produces it
                if ran and metric not in produced:
                    warnings.append(
                        f"{source}: metric {metric!r} matched no item in this run "
                        f"(produced: {', '.join(sorted(produced)) or 'none'})"
                    )
        warnings.extend(f"{lost}: its results are missing" for lost in self.lost_lines())
        kind = "dry-run" if self.settings.dry_run else "run"
        meta: dict[str, Any] = {
            "kind": kind,
            "started_at": self.started.isoformat(),
            "finished_at": datetime.now(timezone.utc).isoformat(),
            "rootdir": str(self.settings.rootdir),
            "args": [a for a in self.config.invocation_params.args if "key" not in a.lower()],
            "git": _git(),
            "versions": _versions(),
            "thresholds": _relative(self.settings.thresholds_path, self.settings.rootdir)
            if self.settings.thresholds_path
            else None,
            "shard": list(self.settings.shard) if self.settings.shard else None,
            "ci": bool(os.environ.get("CI")),
            "dry_run": self.settings.dry_run,
        }
        if self.settings.shard is not None:
            from pytest_llmgate.verdict.shard import run_fingerprint

            run_items = list(dict.fromkeys(self.run_items))  # collection order: merge keeps it
            meta["run_items"] = run_items
            meta["shard_items"] = list(dict.fromkeys(self.expected))
            meta["fingerprint"] = run_fingerprint(
                run_items, self.settings.thresholds_path, _git()
            )
        return RunResult(
            items=tuple(items),
            meta=meta,
            incomplete=(
                self.interrupted or bool(self.lost_workers or self.damaged_rows) or bool(stopped)
            ),
            warnings=tuple(warnings),
        )

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.is_worker:
            workeroutput = self.config.workeroutput  # type: ignore[attr-defined]
            # one JSON string, not nested dicts: execnet serializes a str ~10x faster than
            # 100,000 row dicts, and it is still builtins-only
            payload: dict[str, Any] = {
                "items": [r.to_dict() for r in self.items.values()],
                "expected": self.expected,
                "run_items": self.run_items,
            }
            if self.rows_writer is not None:  # streamed items point into the worker's file
                self.rows_writer.close()
                payload["rows_file"] = {
                    "path": str(self.rows_writer.path.resolve()),
                    "rows": self.rows_writer.rows,
                }
                self.rows_writer = None
            workeroutput[WORKER_OUTPUT_KEY] = json.dumps(payload, separators=(",", ":"))
            return
        try:
            self._finish(session)
        except Exception as exc:  # the gate could not decide: that is never a pass
            self.summary_lines.append(
                f"llm-gate: INTERNAL ERROR: could not decide the run: {type(exc).__name__}: {exc}"
            )
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        finally:
            if self.rows_writer is not None:  # not published: the run could not finish
                self.rows_writer.abandon()
            if "pytest_llmgate.engine.runtime" in sys.modules:
                from pytest_llmgate.engine.runtime import finish

                self.summary_lines.extend(finish())
            from pytest_llmgate.engine.loop import close_loop

            close_loop()

    def _finish(self, session: pytest.Session) -> None:
        if self.settings.collect_only:
            return  # nothing ran: no verdict, no artifacts (and no results file overwritten)
        from pytest_llmgate.verdict.decision import decide_run

        run = decide_run(self.build_run(session), self.baseline, family=self.family())
        self._run = run
        try:
            self.write_artifacts(run)
        except (OSError, TypeError, ValueError) as exc:
            self.warnings.append(f"could not write artifacts: {exc}")
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        if run.verdict != "passed" and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if self.dry_run_totals:
            calls = sum(e.subject_calls + e.judge_calls for e in self.dry_run_totals)
            cost = sum(e.cost_usd for e in self.dry_run_totals)
            self.summary_lines.append(
                f"dry run: {calls} model calls, estimated ${cost:.4f}; nothing was called"
            )

    def results_target(self, run: RunResult) -> Path:
        """Where the results JSON goes: the results path, unless this run is not a real run
        and the path holds a complete one (a dry run must not replace the last real results)."""
        target = self.settings.json_path
        problem = run.not_a_real_run()
        if problem is None or self.settings.overwrite_results or not target.is_file():
            return target
        from pytest_llmgate.results.io import load_results
        from pytest_llmgate.results.model import ResultsFormatError

        try:
            existing = load_results(target)
        except ResultsFormatError:
            return target
        if existing.not_a_real_run() is not None:
            return target
        kind = run.kind if run.kind != "run" else "partial"
        beside = target.with_name(f"{target.name.split('.')[0]}.{kind}.json")
        self.summary_lines.append(
            f"results: {problem}, so it went to {_relative(beside, Path.cwd())}, not over the "
            f"complete run in {_relative(target, Path.cwd())} (--llm-gate-overwrite-results)"
        )
        return beside

    def write_artifacts(self, run: RunResult) -> None:
        from pytest_llmgate.reporting.artifacts import write_reports
        from pytest_llmgate.results.model import atomic_write_text, results_text, stored_file

        settings = self.settings
        target = self.results_target(run)
        self._publish_rows(target)  # streamed rows first: the JSON points into that file
        if self.worker_rows:  # xdist workers' rows, folded into the run's companion file
            from pytest_llmgate.results.storedrows import store_run

            run = self._run = store_run(run, target)
            for path in self.worker_rows:
                path.unlink(missing_ok=True)
            self.worker_rows.clear()
        text = results_text(run)  # serialised once, written to both paths
        self.written_json = target
        atomic_write_text(target, text)
        if settings.save_path is not None:
            problem = run.not_a_real_run()
            if problem is None and stored_file(run) is not None:
                from pytest_llmgate.results.io import write_results

                write_results(run, settings.save_path)  # with a copy of the rows file
            elif problem is None:
                atomic_write_text(settings.save_path, text)
            else:
                self.summary_lines.append(f"--llm-gate-save: not saved: {problem}")
        write_reports(run, settings, baseline=self.baseline, diff=self._diff())

    def _diff(self) -> Any:
        """The run's diff against the baseline, computed once for reports and the terminal."""
        if self.baseline is None or self._run is None:
            return None
        if self._run_diff is None:
            from pytest_llmgate.verdict.compare import diff_runs

            self._run_diff = diff_runs(self._run, self.baseline)
        return self._run_diff

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or self._run is None:
            return
        from pytest_llmgate.reporting.text import WIDTH, render_summary

        verbose = self.config.get_verbosity() > 0
        terminalreporter.section("llm-gate")
        terminalreporter.write_line(render_summary(self._run, self._diff(), verbose=verbose))
        if self._run.incomplete:
            why = "; ".join(self.lost_lines()) or "interrupted before every item ran"
            terminalreporter.write_line(
                f"llm-gate: INCOMPLETE: {why}; not usable as a baseline", red=True
            )
        if self.baseline is not None:
            from pytest_llmgate.reporting.difftext import render_diff

            terminalreporter.write_line(
                render_diff(self._diff(), problems_only=not verbose, max_width=WIDTH)
            )
        if self.config.getoption("llm_gate_compare_variants", default=False):
            from pytest_llmgate.reporting.text import render_variants

            terminalreporter.write_line(render_variants(self._run))
        from pytest_llmgate.reporting._common import printable

        for line in self.summary_lines:
            terminalreporter.write_line(printable(line))
        for warning in self._run.warnings:  # may quote data (a metric name, a file's text)
            terminalreporter.write_line(f"warning: {printable(warning)}", yellow=True)
        written = getattr(self, "written_json", self.settings.json_path)
        terminalreporter.write_line(f"results: {_relative(written, Path.cwd())}")


def _sigterm_to_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum} (SIGTERM)")


def _scores_whole_item(item: GateItem) -> bool:
    try:
        evaluators = item.suite.evaluators_for(item.subject_name)
    except GateError:
        return False
    return any(callable(getattr(e.fn, "aggregate", None)) for e in evaluators)


def _relative(path: Path | None, root: Path) -> str:
    if path is None:
        return ""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _distance(values: list[float | None], bound: float | None) -> float:
    present = [v for v in values if v is not None]
    if not present or bound is None:
        return 0.0
    return abs(sum(present) / len(present) - bound)


def adaptive_rerun(
    rows: Any, results: list[Any], verdict: Any, policy: Policy, decide: Any, run_jobs: Any
) -> tuple[list[Any], Any]:
    """`on_inconclusive: rerun`: add repeats to the rows nearest the bound until every such
    check is decided or its budget (extra repeats per row) is spent; then the check stands as
    inconclusive (which fails, like any check that cannot tell)."""
    from pytest_llmgate.verdict.gate import row_groups

    rules = {
        r.metric: r for rs in policy.rules.values() for r in rs if r.on_inconclusive == "rerun"
    }
    spent = 0
    while True:
        pending = [c for c in verdict.checks if c.verdict == "inconclusive" and c.metric in rules]
        if not pending:
            return results, verdict
        rule = rules[pending[0].metric]
        if spent >= rule.rerun_budget:
            return results, verdict
        spent += 1
        bound = rule.min if rule.min is not None else rule.max
        ids = list(dict.fromkeys(r.id for r in results))
        groups = dict(zip(ids, row_groups(results, rule.metric), strict=True))

        # the half of the rows closest to the bound carry the uncertainty: re-sample those
        nearest = sorted(ids, key=lambda i: _distance(groups[i], bound))[: max(1, len(ids) // 2)]
        index_of = {row.id: i for i, row in enumerate(rows)}
        next_repeat = {i: 0 for i in ids}
        for r in results:
            next_repeat[r.id] = max(next_repeat[r.id], r.repeat + 1)
        jobs = [(index_of[i], next_repeat[i]) for i in nearest if i in index_of]
        results = results + list(run_jobs(jobs))
        results.sort(key=lambda r: (index_of.get(r.id, 0), r.repeat))
        verdict = decide(results)


class XdistHooks:
    """Hooks that exist only when pytest-xdist is installed (pluggy rejects unknown hooks)."""

    def __init__(self, gate: GateSession) -> None:
        self.gate = gate

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        self.gate.merge_worker(node, error)

    def pytest_handlecrashitem(self, crashitem: str, report: Any, sched: Any) -> None:
        # called after pytest_testnodedown: fill in the item the lost worker was running
        worker = getattr(getattr(report, "node", None), "gateway", None)
        name = getattr(worker, "id", None) or str(getattr(report, "node", "?"))
        error = self.gate.crashed.get(name, ("", "no results"))[1]
        self.gate.crashed[name] = (crashitem, error)
