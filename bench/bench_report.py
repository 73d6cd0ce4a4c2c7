"""Benchmark the reports on a 50,000-row run: HTML under 10 s, Markdown under GitHub's limit,
and (with --browser) the page open and filtering in Chromium under 2 s (the goal of issue 14).

    python bench/bench_report.py [--rows 50000] [--items 10] [--browser]
    python bench/bench_report.py --streamed --rows 200000 --items 1 [--html-rows N|all]

Prints the time and size of every renderer (with a baseline, so deltas are computed too). With
--browser and Chromium + websocket-client installed, also loads the page headless and times how
long until it is rendered and how long the "failing rows" filter takes.

--streamed writes a run whose rows are in the companion file (as `--llm-gate-stream-rows` does),
one row at a time, then renders its HTML in a fresh process the way `llmgate report` does and
prints that process's peak RSS (before and while rendering), the time and the page size.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pytest_llmgate.reporting.csv import render_csv
from pytest_llmgate.reporting.html import render_html
from pytest_llmgate.reporting.junit import render_junit
from pytest_llmgate.reporting.markdown import COMMENT_LIMIT, render_markdown
from pytest_llmgate.results.io import write_results
from pytest_llmgate.results.model import Check, ItemResult, RowResult, RunResult
from pytest_llmgate.results.rowstream import MetricAccumulator, RowWriter, companion_path
from pytest_llmgate.results.storedrows import RowsFile, StoredRows
from pytest_llmgate.verdict.compare import diff_runs
from pytest_llmgate.verdict.gate import aggregates_for

WORDS = [
    "plan", "renew", "monthly", "refund", "password", "reset", "export", "invoice", "account",
    "billing", "support", "settings", "page", "email", "link", "days", "business", "team", "admin",
    "user", "data", "csv", "report",
]


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def _rows(rng: random.Random, index: int, per_item: int, shift: float) -> Iterator[RowResult]:
    for n in range(per_item):
        rrng = random.Random(n)  # the same data in every variant and in the baseline
        data = {"id": f"row-{n:06d}", "question": _text(rrng, 10),
                "context": _text(rrng, 60), "ground_truth": _text(rrng, 15)}
        errors = ("model call timed out after 30s",) if rng.random() < 0.005 else ()
        f1 = min(1.0, max(0.0, rng.gauss(0.75 + shift - index * 0.02, 0.15)))
        metrics = {} if errors else {
            "f1_score": f1, "contains": float(rng.random() < 0.95),
            "length_chars": float(rng.randint(40, 400)),
            "latency_ms": rng.uniform(200, 1500), "cost_usd": rng.uniform(1e-4, 1e-3)}
        yield RowResult(
            id=data["id"], line=n + 1, data=data, inputs={"question": data["question"]},
            output=_text(rng, 25), metrics=metrics, errors=errors,
            latency_ms=metrics.get("latency_ms", 0.0))


def _item(index: int, per_item: int, rows: Sequence[RowResult], aggs: dict[str, Any],
          errored: int, passing: int, cost: float) -> ItemResult:
    subject, variant = f"bot{index % 2}", f"v{index}"
    f1_mean = aggs["f1_score"]["mean"]
    checks = (
            Check(kind="threshold", metric="f1_score", aggregate="pass_rate(>= 0.5)",
                  value=passing / per_item, verdict="pass" if passing / per_item >= 0.8 else "fail",
                  min=0.8),
            Check(kind="threshold", metric="f1_score", aggregate="mean", value=f1_mean,
                  verdict="pass" if f1_mean >= 0.7 else "fail", min=0.7,
                  message="" if f1_mean >= 0.7 else f"f1_score mean = {f1_mean:.4g}, needs >= 0.7"),
            Check(kind="errors", metric="error_rate", aggregate="rate",
                  value=errored / per_item, verdict="fail" if errored else "pass", max=0.0,
                  message=f"{errored} of {per_item} rows errored"),
        )
    verdict = "failed" if any(c.verdict == "fail" for c in checks) else "passed"
    return ItemResult(
        nodeid=f"suites/bench.yaml::{subject}[{variant}-qa]", suite="bench", subject=subject,
        variant=variant, dataset="qa", verdict=verdict, dataset_sha256="a" * 64,
        dataset_rows=per_item, rows=rows, aggregates=aggs, checks=checks,
        usage={"subject": {"cost_usd": cost}}, duration_s=12.5)


META = {"started_at": "2026-01-01T00:00:00+00:00", "git": {"commit": "f" * 40, "branch": "bench"}}


def make_run(rows: int, items: int, seed: int, shift: float = 0.0) -> RunResult:
    rng = random.Random(seed)
    per_item = rows // items
    out = []
    for index in range(items):
        row_results = list(_rows(rng, index, per_item, shift))
        errored = sum(1 for r in row_results if r.errors)
        passing = sum(1 for r in row_results if r.metrics.get("f1_score", 0.0) >= 0.5)
        cost = sum(r.metrics.get("cost_usd", 0.0) for r in row_results)
        out.append(_item(index, per_item, tuple(row_results), aggregates_for(row_results),
                         errored, passing, cost))
    return RunResult(items=tuple(out), meta=META)


def write_streamed_run(rows: int, items: int, seed: int, results: Path) -> None:
    """`make_run`'s run with its rows in the companion file, written one row at a time (the
    generating process never holds them either)."""
    rng = random.Random(seed)
    per_item = rows // items
    target = companion_path(results)
    where = RowsFile(target)
    out = []
    with RowWriter(target) as writer:
        for index in range(items):
            offset = writer.start_item()
            acc = MetricAccumulator()
            passing, cost, nodeid = 0, 0.0, f"suites/bench.yaml::bot{index % 2}[v{index}-qa]"
            for row in _rows(rng, index, per_item, 0.0):
                writer.write(nodeid, row)
                acc.add(row)
                passing += row.metrics.get("f1_score", 0.0) >= 0.5
                cost += row.metrics.get("cost_usd", 0.0)
            stored = StoredRows(where, nodeid, offset, per_item)
            out.append(_item(index, per_item, stored, acc.aggregates(), acc.errored, passing,
                             cost))
        writer.end_item()
    where.rows = writer.rows
    write_results(RunResult(items=tuple(out), meta=META), results)


def _memory_mib(field: str) -> float:
    """VmHWM (peak) or VmRSS (now) of this process. Not ru_maxrss: on Linux that survives
    fork + exec, so a child started by a big parent reports the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def streamed_figures(rows: int, items: int, html_rows: str | None, where: Path | None) -> None:
    """Render a streamed run's HTML in a fresh process (as `llmgate report` does): peak RSS.
    With `where`, the run is kept there and reused by the next call with the same sizes."""
    with tempfile.TemporaryDirectory() as tmp:
        results = (where or Path(tmp)) / f"results-{rows}x{items}.json"
        if not results.is_file():
            results.parent.mkdir(parents=True, exist_ok=True)
            _timed(f"write streamed run ({rows:,} rows)", write_streamed_run, rows, items, 1,
                   results)
        size = companion_path(results).stat().st_size
        print(f"rows file: {size / 1e6:.1f} MB")
        code = ("import sys, time; sys.argv = sys.argv[:1]; import bench_report as b; "
                f"b.render_streamed({str(results)!r}, {html_rows!r})")
        subprocess.run([sys.executable, "-c", code], check=True,
                       cwd=Path(__file__).parent)


def render_streamed(results: str, html_rows: str | None) -> None:
    from pytest_llmgate.results.io import load_results

    run = load_results(Path(results))
    before = _memory_mib("VmRSS")
    kwargs: dict[str, Any] = {}
    if html_rows is not None:  # only pages that know a row budget take one
        kwargs["row_budget"] = None if html_rows == "all" else int(html_rows)
    start = time.perf_counter()
    page = render_html(run, **kwargs)
    took = time.perf_counter() - start
    peak = _memory_mib("VmHWM")
    print(f"render_html (loaded run)           {took:7.2f} s  {len(page.encode()) / 1e6:.1f} MB"
          f" page; RSS {before:.0f} MiB after loading, peak {peak:.0f} MiB while rendering "
          f"(+{peak - before:.0f} MiB)")


def _timed(label: str, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    elapsed = time.perf_counter() - start
    size = f"{len(value):>12,} chars" if isinstance(value, str) else ""
    print(f"{label:<34} {elapsed:7.2f} s  {size}")
    return value, elapsed


def browser_figures(page: Path, repeat: int = 3) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import websocket
    except ImportError:
        websocket = None
    if chromium is None or websocket is None:
        print("browser: skipped (needs chromium and websocket-client)")
        return
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--remote-debugging-port=0",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 60
            while not (port_file.is_file() and port_file.read_text().strip()):
                if time.monotonic() > deadline:
                    raise TimeoutError("chromium did not start")
                time.sleep(0.1)
            port = int(port_file.read_text().split()[0])
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            targets = json.loads(opener.open(f"http://127.0.0.1:{port}/json/list").read())
            url = next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"]
            ws = websocket.create_connection(url, timeout=120, suppress_origin=True)
            counter = iter(range(1, 1_000_000))

            def call(method: str, **params: object) -> dict:
                ident = next(counter)
                ws.send(json.dumps({"id": ident, "method": method, "params": params}))
                while True:
                    message = json.loads(ws.recv())
                    if message.get("id") == ident:
                        return message.get("result", {})

            def js(expression: str) -> object:
                return call("Runtime.evaluate", expression=expression, returnByValue=True,
                            awaitPromise=True)["result"].get("value")

            opens, in_page = [], []
            for attempt in range(repeat):
                call("Page.navigate", url="about:blank")
                start, wall = time.perf_counter(), time.time()
                call("Page.navigate", url=page.as_uri())
                # done once painted (older pages only say "rendered" and time nothing after)
                done = ("document.body && document.body.dataset.rendered === 'true' && (document"
                        ".body.dataset.timing.includes('painted') || !document.body.dataset.timing"
                        ".includes('renderedAt'))")
                while not js(done):
                    time.sleep(0.02)
                polled = time.perf_counter() - start
                phases = json.loads(str(js("document.body.dataset.timing")))
                origin = float(js("performance.timeOrigin")) / 1000
                nav = js("(() => { const n = performance.getEntriesByType('navigation')[0];"
                         " return [n.responseEnd, n.domInteractive, n.loadEventEnd]; })()")
                print(f"  navigation started after {origin - wall:.2f} s; file read "
                      f"{nav[0]:.0f} ms, parsed {nav[1]:.0f} ms, load event {nav[2]:.0f} ms; "
                      f"polled {polled:.2f} s")
                opens.append(phases["paintedAt"] / 1000 - wall if "paintedAt" in phases
                             else polled)
                # pages from before the columnar data only timed their own script
                phases.setdefault("sinceNavigation", float(js("performance.now()")))
                in_page.append(phases["sinceNavigation"])
                print(f"{'browser: open #' + str(attempt + 1):<34} {opens[-1]:7.2f} s  (in page "
                      f"{phases['sinceNavigation'] / 1000:.2f} s from navigation start)")
                print("  phases (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in phases.items()))
            print(f"{'browser: OPEN (median)':<34} {statistics.median(opens):7.2f} s  (in page "
                  f"{statistics.median(in_page) / 1000:.2f} s; goal 2 s)")
            took = js("(() => { const t = performance.now(); const f = document.getElementById("
                      "'filter'); f.value = 'failing'; f.dispatchEvent(new Event('change'));"
                      " return performance.now() - t; })()")
            shown = js("document.getElementById('row-status').textContent")
            print(f"{'browser: failing-rows filter':<34} {float(took) / 1000:7.2f} s  ({shown})")
            took = js("(() => { const t = performance.now(); const s = document.getElementById("
                      "'search'); s.value = 'refund invoice'; const f = document.getElementById("
                      "'filter'); f.value = 'all'; f.dispatchEvent(new Event('change'));"
                      " return performance.now() - t; })()")
            shown = js("document.getElementById('row-status').textContent")
            print(f"{'browser: search (cold)':<34} {float(took) / 1000:7.2f} s  ({shown})")
            for mode in ("changed", "regressed", "failing"):
                took = js("(() => { const t = performance.now(); const f = document."
                          f"getElementById('matrix-filter'); f.value = '{mode}';"
                          " f.dispatchEvent(new Event('change')); return performance.now() - t;"
                          " })()")
                shown = js("document.getElementById('matrix-status').textContent")
                print(f"{'browser: matrix ' + mode:<34} {float(took) / 1000:7.2f} s  ({shown})")
            took = js("(() => { const t = performance.now(); document.getElementById('next')"
                      ".click(); return performance.now() - t; })()")
            print(f"{'browser: next page':<34} {float(took) / 1000:7.2f} s")
            ws.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--browser", action="store_true", help="also time the page in Chromium")
    parser.add_argument("--repeat", type=int, default=3, help="page opens to time (median)")
    parser.add_argument("--page", type=Path, help="only time this saved report in Chromium")
    parser.add_argument("--streamed", action="store_true",
                        help="render a streamed run in a fresh process and print its peak RSS")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="--streamed: keep the written run in DIR and reuse it")
    parser.add_argument("--html-rows", metavar="N|all", default=None,
                        help="the HTML row budget (default: the renderer's)")
    args = parser.parse_args()
    if args.streamed:
        streamed_figures(args.rows, args.items, args.html_rows, args.keep)
        return 0
    if args.page is not None:
        browser_figures(args.page, args.repeat)
        return 0

    head, _ = _timed(f"build run ({args.rows:,} rows)", make_run, args.rows, args.items, 1)
    base, _ = _timed("build baseline", make_run, args.rows, args.items, 2, 0.03)
    diff, _ = _timed("diff_runs", diff_runs, head, base)
    budget: dict[str, Any] = {}
    if args.html_rows is not None:
        budget["row_budget"] = None if args.html_rows == "all" else int(args.html_rows)
    html, html_s = _timed("render_html (with baseline)", render_html, head, diff=diff, **budget)
    md, _ = _timed("render_markdown (with baseline)", render_markdown, head, diff=diff)
    md_plain, _ = _timed("render_markdown (no baseline)", render_markdown, head)
    _timed("render_junit (with baseline)", render_junit, head, diff=diff)
    _timed("render_csv", render_csv, head)
    print(f"HTML size: {len(html.encode()) / 1e6:.1f} MB; render {html_s:.2f} s (limit 10 s)")
    print(f"Markdown: {len(md):,} / {len(md_plain):,} chars (limit {COMMENT_LIMIT:,})")
    ok = html_s < 10 and len(md) < COMMENT_LIMIT and len(md_plain) < COMMENT_LIMIT
    if args.browser:
        with tempfile.TemporaryDirectory() as tmp:
            page = Path(tmp) / "report.html"
            page.write_text(html, encoding="utf-8")
            write_results(head, Path(tmp) / "results.json")
            browser_figures(page, args.repeat)
    print("OK" if ok else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
