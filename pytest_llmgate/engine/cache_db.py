"""The call cache's storage: one SQLite file, shared by every process of a run and by later runs.

Why one file: a CI system restores and saves it as one blob (thousands of small files made the
cache slow to carry), and `git add` of a committed replay cache is one line. Why SQLite: it ships
with Python, and in WAL mode readers never wait for the writer while writers of several processes
(xdist workers) take turns through `busy_timeout`; a crash mid-transaction leaves the last commit.

Tables: `entries(key, value, meta, created, used, run)`: `value`/`meta` are JSON text, `used` the
last time a run wrote or read the entry and `run` that run's id; `runs(run, started, mode)`: every
run that wrote or read through a writing cache, so "not used by the last run" has a meaning;
`info(name, value)`: the schema version and the migration marker.

Today's layout replaced the one-file-per-entry layout `<root>/v1/<key[:2]>/<key>.json`; opening a
cache whose root still holds that directory imports it once (`migrate_legacy`) and deletes the
files it imported.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DB_NAME",
    "LEGACY_DIR",
    "CacheSummary",
    "connect",
    "last_run",
    "migrate_legacy",
    "prune",
    "summary",
]

DB_NAME = "cache.sqlite3"
LEGACY_DIR = "v1"
SCHEMA_VERSION = "1"
BUSY_TIMEOUT_S = 60.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries(
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    used REAL NOT NULL,
    run TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_used ON entries(used);
CREATE TABLE IF NOT EXISTS runs(run TEXT PRIMARY KEY, started REAL NOT NULL, mode TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS info(name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def connect(path: Path, *, create: bool) -> sqlite3.Connection:
    """An autocommit connection (transactions are explicit) with WAL and a long busy timeout.

    `create=False` opens only an existing file (a read-only cache never creates one).
    """
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.is_file():
        raise FileNotFoundError(str(path))
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    try:
        if create:
            # journal_mode is stored in the file: set once, every later connection inherits it.
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)
            conn.execute(
                "INSERT OR IGNORE INTO info(name, value) VALUES('schema', ?)", (SCHEMA_VERSION,)
            )
        # WAL + NORMAL: a commit survives a process crash; only a power loss may drop the
        # newest entries, which the next run pays to re-create (never a corrupt file).
        conn.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


def write_batch(
    conn: sqlite3.Connection,
    entries: Sequence[tuple[str, str, str, float]],
    used: Iterable[str],
    *,
    run: str,
    started: float,
    mode: str,
) -> None:
    """Store `(key, value_json, meta_json, created)` entries and mark `used` keys, in one
    transaction (one commit for a whole batch: commits, not rows, are what costs)."""
    now = time.time()
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "INSERT INTO runs(run, started, mode) VALUES(?, ?, ?) "
            "ON CONFLICT(run) DO UPDATE SET started = min(started, excluded.started)",
            (run, started, mode),
        )
        conn.executemany(
            "INSERT OR REPLACE INTO entries(key, value, meta, created, used, run) "
            "VALUES(?, ?, ?, ?, ?, ?)",
            [(key, value, meta, created, now, run) for key, value, meta, created in entries],
        )
        conn.executemany(
            "UPDATE entries SET used = ?, run = ? WHERE key = ?", [(now, run, k) for k in used]
        )
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


def legacy_path(root: Path, key: str) -> Path:
    """Where the one-file-per-entry layout kept `key`."""
    return root / LEGACY_DIR / key[:2] / f"{key}.json"


def migrate_legacy(conn: sqlite3.Connection, root: Path) -> tuple[int, int]:
    """Import `<root>/v1/*/*.json` into the database; returns (imported, skipped as corrupt).

    Runs in one write transaction, so concurrent processes opening the same cache import once
    (the others find nothing left, or re-insert the same entries: `INSERT OR IGNORE`). An entry
    already in the database wins. Imported files (and stray temporaries) are deleted after the
    commit; corrupt ones too, since a corrupt entry always read as a miss.
    """
    base = root / LEGACY_DIR
    if not base.is_dir():
        return 0, 0
    imported = skipped = 0
    rows: list[tuple[str, str, str, float, float]] = []
    done: list[Path] = []
    try:
        paths = sorted(base.glob("*/*"))
    except FileNotFoundError:  # another process migrated meanwhile and removed the old layout
        paths = []
    for path in paths:
        if path.suffix == ".tmp":
            done.append(path)
            continue
        if path.suffix != ".json":
            continue
        done.append(path)
        try:
            entry = json.loads(path.read_bytes())
            key = entry["key"]
            value = entry["value"]
            if key != path.stem or not isinstance(value, dict):
                raise ValueError("entry does not match its key")
            created = float(entry.get("created") or path.stat().st_mtime)
            meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
        except (OSError, ValueError, KeyError, TypeError):
            skipped += 1
            continue
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        meta_text = json.dumps(meta, ensure_ascii=False, separators=(",", ":"))
        rows.append((key, text, meta_text, created, created))
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = conn.total_changes
        conn.executemany(
            "INSERT OR IGNORE INTO entries(key, value, meta, created, used) VALUES(?, ?, ?, ?, ?)",
            rows,
        )
        imported = conn.total_changes - before
        conn.execute(
            "INSERT OR REPLACE INTO info(name, value) VALUES('migrated_v1', ?)",
            (json.dumps({"at": round(time.time(), 3), "imported": imported, "corrupt": skipped}),),
        )
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    for path in done:
        with contextlib.suppress(OSError):
            path.unlink()
    with contextlib.suppress(OSError):  # another process may be removing the same directories
        for shard in sorted(base.glob("*"), reverse=True):
            with contextlib.suppress(OSError):
                shard.rmdir()
        base.rmdir()
    return imported, skipped


def last_run(conn: sqlite3.Connection) -> tuple[str, float] | None:
    """(run id, start time) of the newest run that went through a writing cache."""
    row = conn.execute("SELECT run, started FROM runs ORDER BY started DESC LIMIT 1").fetchone()
    return (str(row[0]), float(row[1])) if row else None


def prune(conn: sqlite3.Connection, *, before: float | None = None, unused: bool = False) -> int:
    """Delete entries not used (written or read by a writing cache) since `before`, and/or
    (`unused`) not used by the last run; returns how many were deleted."""
    clauses: list[str] = []
    params: list[Any] = []
    if before is not None:
        clauses.append("used < ?")
        params.append(before)
    if unused:
        newest = last_run(conn)
        if newest is None:
            raise LookupError(
                "no run is recorded in this cache: nothing says what the last run used"
            )
        clauses.append("run != ?")
        params.append(newest[0])
    if not clauses:
        return 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        deleted = conn.execute(
            "DELETE FROM entries WHERE " + " OR ".join(clauses), params
        ).rowcount
        conn.execute("DELETE FROM runs WHERE run NOT IN (SELECT DISTINCT run FROM entries) "
                     "AND started < (SELECT max(started) FROM runs)")
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return int(deleted)


def compact(conn: sqlite3.Connection) -> None:
    """Give deleted space back to the file system and fold the WAL into the main file."""
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@dataclass(frozen=True)
class CacheSummary:
    """What `llmgate cache stats` prints."""

    path: str
    entries: int
    file_bytes: int
    value_bytes: int
    by_model: tuple[tuple[str, str, int], ...]  # (op, model, entries)
    oldest_created: float | None
    newest_used: float | None
    runs: int
    last_run: str | None
    last_run_started: float | None
    used_by_last_run: int


def summary(conn: sqlite3.Connection, path: Path) -> CacheSummary:
    count, size, oldest, newest = conn.execute(
        "SELECT count(*), coalesce(sum(length(value)), 0), min(created), max(used) FROM entries"
    ).fetchone()
    by_model = conn.execute(
        "SELECT coalesce(json_extract(meta, '$.op'), '?'), "
        "coalesce(json_extract(meta, '$.model'), '?'), count(*) "
        "FROM entries GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"
    ).fetchall()
    runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    newest_run = last_run(conn)
    used_by_last = 0
    if newest_run is not None:
        used_by_last = conn.execute(
            "SELECT count(*) FROM entries WHERE run = ?", (newest_run[0],)
        ).fetchone()[0]
    size_on_disk = sum(
        os.path.getsize(p) for p in (str(path), f"{path}-wal") if os.path.exists(p)
    )
    return CacheSummary(
        path=str(path),
        entries=int(count),
        file_bytes=size_on_disk,
        value_bytes=int(size),
        by_model=tuple((str(o), str(m), int(n)) for o, m, n in by_model),
        oldest_created=oldest,
        newest_used=newest,
        runs=int(runs),
        last_run=newest_run[0] if newest_run else None,
        last_run_started=newest_run[1] if newest_run else None,
        used_by_last_run=int(used_by_last),
    )
