"""The llmgate command: pinned --help texts, exit statuses, and each command's effect."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest
from llmgate_runs import item, run, scored, threshold

from pytest_llmgate.cli.main import main
from pytest_llmgate.cli.scaffold import FILES, WORKFLOW
from pytest_llmgate.results.io import load_results, write_results
from pytest_llmgate.results.model import ItemResult, RunResult

REPO = Path(__file__).resolve().parents[2]

HELP = {
    (): """
        usage: llmgate [-h] COMMAND ...

        pytest-llmgate's command line: reports, baselines and checks for LLM gate results.

        positional arguments:
          COMMAND
            report    write reports from a results JSON
            diff      compare two results files
            merge     combine shard results into one file
            baseline  save a results file as a baseline
            validate  check suites, thresholds and datasets
            init      scaffold a gate into an existing repository
            noise     measure run-to-run spread per metric
            cache     inspect, prune or migrate the model call cache

        options:
          -h, --help  show this help message and exit

        Run the gate itself with `pytest suites/ --llm-gate`.
        """,
    ("cache", "prune"): """
        usage: llmgate cache prune [-h] [--dir DIR] [--older-than DATE] [--unused]

        delete entries not used since a date and/or not used by the last run (a run that read or wrote
        through --llm-gate-cache rw/refresh)

        options:
          -h, --help         show this help message and exit
          --dir DIR          cache directory (--llm-gate-cache-dir; default: .llmgate/cache)
          --older-than DATE  drop entries no run used since DATE (2026-01-31, 2026-01-31T12:00 UTC, or an
                             age: 30d, 12h, 2w)
          --unused           drop entries the last run did not use
        """,
    ("report",): """
        usage: llmgate report [-h] [--baseline PATH] [--html PATH] [--html-rows N] [--md PATH]
                              [--junit PATH] [--csv PATH]
                              RESULTS

        Write HTML, Markdown, JUnit and/or CSV reports from a results JSON (the files a gate run writes
        with --llm-gate-*).

        positional arguments:
          RESULTS          results JSON (.json or .json.gz)

        options:
          -h, --help       show this help message and exit
          --baseline PATH  show deltas against this results JSON
          --html PATH      write the self-contained HTML report
          --html-rows N    rows the HTML embeds at most (default 20000; all: every row); an item over its
                           share shows its errored, failing and worst rows and a sample by row id
          --md PATH        write the pull request Markdown
          --junit PATH     write JUnit XML
          --csv PATH       write per-row scores as CSV
        """,
    ("diff",): """
        usage: llmgate diff [-h] [--thresholds PATH] [--tolerance PCT] [--fail-on-regression] [--all]
                            [--md PATH]
                            BASE HEAD

        Decide HEAD against BASE exactly as the gate does, and show the diff item by item. Rules: the
        policy each HEAD item recorded; --thresholds replaces their regression rules; for files without a
        recorded policy ./thresholds.yaml, else every metric with a threshold may get at most --tolerance
        percent worse.

        positional arguments:
          BASE                  baseline results JSON
          HEAD                  results JSON to check

        options:
          -h, --help            show this help message and exit
          --thresholds PATH     thresholds.yaml whose regression rules to apply
          --tolerance PCT       default rule: allowed worsening in percent (default: 5)
          --fail-on-regression  exit with status 1 when an item regressed
          --all                 list every metric, not only rule results
          --md PATH             also write the Markdown diff
        """,
    ("merge",): """
        usage: llmgate merge [-h] -o RESULTS [--baseline PATH] [--fail-on-breach] [--allow-unsharded]
                             PART [PART ...]

        Combine every shard of one run (--llm-gate-shard I/N) into one results JSON, decided as the
        unsharded run would be. A missing or repeated shard, parts of different runs, or an item in two
        parts with different results is refused.

        positional arguments:
          PART                  results JSON of a shard

        options:
          -h, --help            show this help message and exit
          -o RESULTS, --output RESULTS
                                merged results JSON to write
          --baseline PATH       the baseline the shards ran with (re-checks regressions of split items)
          --fail-on-breach      exit with status 1 unless the merged run passes the gate
          --allow-unsharded     merge results of separate runs with disjoint items (not shards of one
                                run); an item in two parts is still refused
        """,
    ("baseline",): """
        usage: llmgate baseline [-h] -o PATH RESULTS

        Check a results JSON and save it as a baseline (an incomplete run is refused).

        positional arguments:
          RESULTS               results JSON of a complete run

        options:
          -h, --help            show this help message and exit
          -o PATH, --output PATH
                                baseline file to write
        """,
    ("validate",): """
        usage: llmgate validate [-h] [--rootdir DIR] [PATH ...]

        Check suite files (schema, datasets and their columns, subjects, evaluators), thresholds files and
        datasets without running anything. Errors are file:line: field: problem lines; exit status 1.

        positional arguments:
          PATH           files or directories (default: suites/ and thresholds.yaml)

        options:
          -h, --help     show this help message and exit
          --rootdir DIR  project root that suites resolve paths and imports from (default: .)
        """,
    ("init",): """
        usage: llmgate init [-h] [--ci {github,azure,jenkins}] [DIR]

        Add suites/, golden_datasets/, evaluators/, thresholds.yaml and the pull request gate of a CI
        system (.github/workflows/llm-gate.yml, azure-pipelines/llm-gate.yml or .jenkins/Jenkinsfile) to a
        repository. Existing files are never overwritten.

        positional arguments:
          DIR                   repository root (default: .)

        options:
          -h, --help            show this help message and exit
          --ci {github,azure,jenkins}
                                CI system to write the gate for (repeatable; default: github)
        """,
}


@pytest.mark.parametrize("command", list(HELP), ids=lambda c: " ".join(c) or "llmgate")
def test_help_is_pinned(command: tuple[str, ...], capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    expected = textwrap.dedent(HELP[command]).lstrip("\n")
    if sys.version_info >= (3, 13):  # argparse shortened "-o X, --output X" to "-o, --output X"
        for line in expected.splitlines():
            if "--output" not in line and line.strip():
                assert line.split()[0] in out
        return
    assert out == expected


def _write(path: Path, results) -> Path:
    write_results(results, path)
    return path


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    base = run(item("bot", "v1", rows=scored("r", [0.9, 0.9]), checks=[threshold("f1", 0.9, 0.5)]),
               item("bot", "gone", rows=scored("r", [1])), commit="b" * 40)
    head = run(item("bot", "v1", rows=scored("r", [0.6, 0.6]), checks=[threshold("f1", 0.6, 0.5)]),
               item("bot", "fresh", rows=scored("r", [1])))
    return _write(tmp_path / "base.json", base), _write(tmp_path / "head.json", head)


def test_diff_exit_status(pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no thresholds.yaml here: files without a policy get the default
    base, head = pair
    assert main(["diff", str(base), str(head)]) == 0
    out = capsys.readouterr().out
    assert "f1 mean" in out
    assert "FAIL" in out
    assert "1 regressed item(s), 1 new, 1 removed" in out
    assert main(["diff", str(base), str(head), "--fail-on-regression"]) == 1
    assert main(["diff", str(base), str(base), "--fail-on-regression"]) == 0
    # a 40% tolerance lets the 33% drop through
    assert main(["diff", str(base), str(head), "--fail-on-regression", "--tolerance", "40"]) == 0


def test_diff_reads_the_projects_thresholds_by_default(
    pair: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The gate reads ./thresholds.yaml; so does `llmgate diff`, or the two would disagree (a
    `severity: warn` rule there must not fail the diff)."""
    base, head = pair
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    (project / "thresholds.yaml").write_text("regression:\n  f1: {max_drop: 0.1, severity: warn}\n")
    assert main(["diff", str(base), str(head), "--fail-on-regression"]) == 0
    assert "WARN" in capsys.readouterr().out
    (project / "thresholds.yaml").write_text("regression:\n  f1: {max_drop: 0.1}\n")
    assert main(["diff", str(base), str(head), "--fail-on-regression"]) == 1


def test_diff_uses_the_policy_the_run_recorded(
    pair: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An item that recorded its policy is decided with it, whatever files lie around."""
    from dataclasses import replace

    from pytest_llmgate.config.thresholds import Policy, RegressionRule
    from pytest_llmgate.verdict.policy_data import policy_to_dict

    base, head = pair
    monkeypatch.chdir(tmp_path)
    (tmp_path / "thresholds.yaml").write_text("regression:\n  f1: {max_drop: 0.1}\n")
    lenient = policy_to_dict(Policy(regression={"f1": RegressionRule("f1", max_drop=0.5)}))
    run_ = load_results(head)
    recorded = replace(run_, items=tuple(replace(i, policy=lenient) for i in run_.items))
    write_results(recorded, head)
    assert main(["diff", str(base), str(head), "--fail-on-regression"]) == 0
    # --thresholds replaces the recorded regression rules
    assert main(["diff", str(base), str(head), "--fail-on-regression",
                 "--thresholds", str(tmp_path / "thresholds.yaml")]) == 1


def test_diff_with_thresholds_rules(pair: tuple[Path, Path], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    base, head = pair
    rules = tmp_path / "thresholds.yaml"
    rules.write_text("regression:\n  f1: {max_drop: 0.5}\n")
    assert main(["diff", str(base), str(head), "--thresholds", str(rules),
                 "--fail-on-regression", "--md", str(tmp_path / "d.md")]) == 0
    assert "no regression" in (tmp_path / "d.md").read_text()
    rules.write_text("regression:\n  f1: {max_drop: 0.1, severity: warn}\n")
    assert main(["diff", str(base), str(head), "--thresholds", str(rules),
                 "--fail-on-regression"]) == 0
    assert "WARN" in capsys.readouterr().out
    rules.write_text("regression:\n  f1: {max_drop: 0.1}\n")
    assert main(["diff", str(base), str(head), "--thresholds", str(rules),
                 "--fail-on-regression"]) == 1


def test_diff_refuses_incomplete_baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _write(tmp_path / "b.json", run(item(rows=scored("r", [1])), incomplete=True))
    head = _write(tmp_path / "h.json", run(item(rows=scored("r", [1]))))
    assert main(["diff", str(base), str(head)]) == 2
    assert "incomplete run" in capsys.readouterr().err


def test_unreadable_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["report", str(bad), "--md", str(tmp_path / "x.md")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("llmgate report: error: ")
    assert err.count("\n") == 1


def test_report_writes_every_format(pair: tuple[Path, Path], tmp_path: Path) -> None:
    base, head = pair
    out = {k: tmp_path / f"r.{k}" for k in ("html", "md", "junit", "csv")}
    args = ["report", str(head), "--baseline", str(base)]
    for key, path in out.items():
        args += [f"--{key}", str(path)]
    assert main(args) == 0
    assert "| item | metric | baseline | current |" in out["md"].read_text()
    assert out["html"].read_text().startswith("<!DOCTYPE html>")
    assert "<testsuites" in out["junit"].read_text()
    assert out["csv"].read_text().startswith("nodeid,suite,subject")
    assert main(["report", str(head)]) == 2  # nothing asked for


def _shard(*items: ItemResult, index: int, count: int, run_items: Sequence[str] | None = None,
           fingerprint: str = "f1", incomplete: bool = False) -> RunResult:
    from dataclasses import replace

    result = run(*items, incomplete=incomplete)
    ids = [i.nodeid for i in items]
    meta = {**result.meta, "shard": [index, count], "shard_items": ids,
            "run_items": list(run_items) if run_items is not None else ids,
            "fingerprint": fingerprint}
    return replace(result, meta=meta)


def test_merge_shards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = item("bot", "a", rows=scored("r", [1]))
    two = item("bot", "b", rows=scored("r", [0.5]))
    every = [one.nodeid, two.nodeid]
    p1 = _write(tmp_path / "1.json", _shard(one, index=1, count=2, run_items=every))
    p2 = _write(tmp_path / "2.json", _shard(two, index=2, count=2, run_items=every))
    out = tmp_path / "all.json"
    assert main(["merge", str(p1), str(p2), "-o", str(out), "--fail-on-breach"]) == 0
    merged = load_results(out)
    assert [i.variant for i in merged.items] == ["a", "b"]
    assert merged.meta["merged_from"] == [str(p1), str(p2)]
    assert merged.verdict == "passed"
    part = _write(tmp_path / "4.json", _shard(two, index=2, count=2, run_items=every,
                                               incomplete=True))
    assert main(["merge", str(p1), str(part), "-o", str(out)]) == 0
    assert load_results(out).incomplete


def test_merge_refuses_a_missing_shard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Shard 2 held the failing item: merging shard 1 alone must not pass."""
    one = item("bot", "a", rows=scored("r", [1]))
    p1 = _write(tmp_path / "1.json", _shard(one, index=1, count=2))
    out = tmp_path / "all.json"
    assert main(["merge", str(p1), "-o", str(out), "--fail-on-breach"]) == 2
    assert "shard(s) 2/2 missing" in capsys.readouterr().err
    assert not out.exists()


def test_merge_refuses_the_same_file_twice_and_unrelated_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = item("bot", "a", rows=scored("r", [1]))
    two = item("bot", "b", rows=scored("r", [0.5]))
    p1 = _write(tmp_path / "1.json", _shard(one, index=1, count=2))
    assert main(["merge", str(p1), str(p1), "-o", str(tmp_path / "x.json")]) == 2
    assert "given twice" in capsys.readouterr().err
    other = _write(tmp_path / "2.json", _shard(two, index=2, count=2, fingerprint="other"))
    assert main(["merge", str(p1), str(other), "-o", str(tmp_path / "x.json")]) == 2
    assert "different runs" in capsys.readouterr().err
    plain_a = _write(tmp_path / "a.json", run(one))
    plain_b = _write(tmp_path / "b.json", run(two))
    assert main(["merge", str(plain_a), str(plain_b), "-o", str(tmp_path / "x.json")]) == 2
    assert "not a shard" in capsys.readouterr().err
    # separate runs of disjoint items merge only when asked, and never with an item twice
    assert main(["merge", str(plain_a), str(plain_b), "-o", str(tmp_path / "x.json"),
                 "--allow-unsharded"]) == 0
    assert main(["merge", str(plain_a), str(plain_a), "-o", str(tmp_path / "x.json"),
                 "--allow-unsharded"]) == 2
    assert "given twice?" in capsys.readouterr().err


def test_merge_marks_an_assigned_item_without_result_as_error(tmp_path: Path) -> None:
    one = item("bot", "a", rows=scored("r", [1]))
    two = item("bot", "b", rows=scored("r", [1]))
    every = [one.nodeid, two.nodeid]
    first = _shard(one, index=1, count=2, run_items=every)
    from dataclasses import replace

    second = _shard(index=2, count=2, run_items=every)
    second = replace(second, meta={**second.meta, "shard_items": [two.nodeid]})
    p1, p2 = _write(tmp_path / "1.json", first), _write(tmp_path / "2.json", second)
    out = tmp_path / "all.json"
    assert main(["merge", str(p1), str(p2), "-o", str(out), "--fail-on-breach"]) == 1
    merged = load_results(out)
    assert merged.item(two.nodeid) is not None
    assert merged.item(two.nodeid).verdict == "error"  # type: ignore[union-attr]


def test_baseline_command(tmp_path: Path) -> None:
    good = _write(tmp_path / "r.json", run(item(rows=scored("r", [1]))))
    assert main(["baseline", str(good), "-o", str(tmp_path / "b" / "base.json")]) == 0
    assert load_results(tmp_path / "b" / "base.json").items[0].nodeid == "suites/demo.yaml::bot[v1-qa]"
    bad = _write(tmp_path / "i.json", run(item(), incomplete=True))
    assert main(["baseline", str(bad), "-o", str(tmp_path / "x.json")]) == 2
    assert not (tmp_path / "x.json").exists()


def _project(root: Path) -> None:
    (root / "suites").mkdir()
    (root / "data").mkdir()
    (root / "data" / "qa.jsonl").write_text(json.dumps({"id": "a", "question": "q", "response": "r"})
                                            + "\n")
    (root / "suites" / "ok.yaml").write_text(textwrap.dedent("""
        suite: ok
        datasets:
          qa: ../data/qa.jsonl
        subjects:
          rec: {type: recorded}
        evaluators: [length]
        """))
    (root / "thresholds.yaml").write_text("metrics:\n  length_chars: {max: 100}\n")


def test_validate_ok_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    _project(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    assert "ok suites/ok.yaml (suite, 1 item(s))" in out
    assert "ok thresholds.yaml (thresholds)" in out
    (tmp_path / "suites" / "bad.yaml").write_text("suite: bad\ndatasets:\n  qa: ../data/nope.jsonl\n"
                                                  "subjects:\n  rec: {type: recorded}\n")
    (tmp_path / "thresholds.yaml").write_text("metrics:\n  f1: {min: 2, max: 1}\n")
    (tmp_path / "data" / "broken.jsonl").write_text('{"id": "a"}\n{oops\n')
    assert main(["validate", "suites", "thresholds.yaml", "data/broken.jsonl"]) == 1
    captured = capsys.readouterr()
    errors = captured.err.splitlines()
    assert any(e.startswith("suites/bad.yaml:3: datasets.qa: file not found") for e in errors)
    assert any(e.startswith("thresholds.yaml:2: metrics.f1: min 2 is greater than max 1")
               for e in errors), errors
    assert any(e.startswith("data/broken.jsonl:2") for e in errors), errors
    assert "1 ok, 3 with errors" in captured.out


def test_init_scaffolds_and_never_overwrites(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "thresholds.yaml").write_text("# mine\n")
    assert main(["init", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "kept    thresholds.yaml (exists)" in out
    assert "created .github/workflows/llm-gate.yml" in out
    assert (tmp_path / "thresholds.yaml").read_text() == "# mine\n"
    for relative in FILES:
        assert (tmp_path / relative).exists()
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert main(["init", str(tmp_path)]) == 0
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    assert main(["init", str(tmp_path / "missing")]) == 2


def test_scaffolded_project_passes_the_gate(tmp_path: Path) -> None:
    assert main(["init", str(tmp_path)]) == 0
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/", "--llm-gate", "-p", "no:cacheprovider",
         "--llm-gate-md", "c.md"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "LLM gate passed" in (tmp_path / "c.md").read_text()
    # in a subprocess: validating imports the scaffold's `evaluators` package, which must not
    # shadow other tests' packages of the same name in this process
    proc = subprocess.run([sys.executable, "-m", "pytest_llmgate", "validate"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok suites/example.yaml (suite, 1 item(s))" in proc.stdout


def test_scaffold_workflow_is_the_repository_workflow() -> None:
    assert (REPO / ".github" / "workflows" / "llm-gate.yml").read_text("utf-8") == WORKFLOW


def test_python_dash_m() -> None:
    proc = subprocess.run([sys.executable, "-m", "pytest_llmgate", "--help"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: llmgate")


def test_noise_floor_reports_spread_across_runs() -> None:
    from pytest_llmgate.cli.noise import render_noise
    from pytest_llmgate.results.model import ItemResult, RunResult
    from pytest_llmgate.verdict.noise import noise_floor

    def run_with(mean: float) -> RunResult:
        item = ItemResult(nodeid="s.yaml::a[v-d]", suite="s", subject="a", variant="v",
                          dataset="d", verdict="passed", aggregates={"groundedness": {"mean": mean}})
        return RunResult(items=(item,))

    (row,) = noise_floor([run_with(m) for m in (4.0, 4.2, 3.8)])
    assert row.runs == 3
    assert row.mean == pytest.approx(4.0)
    assert row.std == pytest.approx(0.2)
    assert row.spread == pytest.approx(0.4)
    assert "groundedness" in render_noise([row])


def test_noise_command_runs_the_gate_repeatedly(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "golden_datasets").mkdir()
    (tmp_path / "golden_datasets/d.jsonl").write_text('{"response": "a b c"}\n{"response": "a"}\n')
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites/s.yaml").write_text(textwrap.dedent("""
        suite: s
        datasets: {d: ../golden_datasets/d.jsonl}
        subjects: {rec: {type: recorded}}
        evaluators: [length]
    """))
    monkeypatch.chdir(tmp_path)
    assert main(["noise", "-k", "2", "suites/"]) == 0
    out = capsys.readouterr().out
    assert "suites/s.yaml::rec[default-d]" in out
    assert "length_words" in out
