"""`llmgate cache stats | prune | migrate | clear`: look after the call cache file.

A CI job that saves the cache typically runs `llmgate cache prune --unused` after the gate, so the
saved file holds what the last run used and nothing else; `--older-than DATE` drops entries no run
has used since DATE. Both shrink the file (VACUUM), so the saved blob shrinks with them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sqlite3
import sys
from pathlib import Path
from typing import Any

from pytest_llmgate.engine import cache_db
from pytest_llmgate.engine.cache import DEFAULT_CACHE_DIR
from pytest_llmgate.errors import GateError

__all__ = ["add_cache_parser", "parse_when"]

OK, USAGE = 0, 2
_RELATIVE = re.compile(r"^(\d+)([dhw])$")


class CacheCommandError(GateError):
    """One line for stderr (exit 2)."""


def parse_when(text: str, *, now: dt.datetime | None = None) -> float:
    """`2026-01-31`, `2026-01-31T12:00` (UTC unless an offset is given) or an age: `30d`, `12h`,
    `2w`. Returns a POSIX timestamp."""
    now = now or dt.datetime.now(dt.timezone.utc)
    match = _RELATIVE.match(text.strip())
    if match:
        count, unit = int(match.group(1)), match.group(2)
        delta = {"h": dt.timedelta(hours=count), "d": dt.timedelta(days=count),
                 "w": dt.timedelta(weeks=count)}[unit]
        return (now - delta).timestamp()
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date (2026-01-31), a date and time (2026-01-31T12:00) or an age (30d, "
            f"12h, 2w), got {text!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def _when(value: float | None) -> str:
    if value is None:
        return "-"
    return dt.datetime.fromtimestamp(value, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def _connect(root: Path) -> sqlite3.Connection:
    """The cache file of `root` (importing an old one-file-per-entry cache first)."""
    path = root / cache_db.DB_NAME
    legacy = root / cache_db.LEGACY_DIR
    if not path.is_file() and not legacy.is_dir():
        raise CacheCommandError(f"{root}: no call cache here (no {cache_db.DB_NAME})")
    try:
        conn = cache_db.connect(path, create=True)
        imported, corrupt = cache_db.migrate_legacy(conn, root)
    except (OSError, sqlite3.Error) as exc:
        raise CacheCommandError(f"{path}: cannot open the cache: {exc}") from None
    if imported or corrupt:
        print(f"imported {imported} entries from the old layout ({legacy})"
              + (f", dropped {corrupt} corrupt" if corrupt else ""))
    return conn


def cmd_stats(args: argparse.Namespace) -> int:
    conn = _connect(args.dir)
    try:
        s = cache_db.summary(conn, args.dir / cache_db.DB_NAME)
    finally:
        conn.close()
    print(f"cache {s.path}: {s.entries} entries, {_size(s.file_bytes)} on disk "
          f"({_size(s.value_bytes)} of answers)")
    print(f"  oldest entry {_when(s.oldest_created)}, last used {_when(s.newest_used)}")
    if s.last_run is not None:
        print(f"  runs recorded: {s.runs}; last run {s.last_run[:12]} started "
              f"{_when(s.last_run_started)} used {s.used_by_last_run} entries "
              f"({s.entries - s.used_by_last_run} unused: `llmgate cache prune --unused`)")
    for op, model, count in s.by_model:
        print(f"  {count:>8}  {op:<6} {model}")
    return OK


def cmd_prune(args: argparse.Namespace) -> int:
    if args.older_than is None and not args.unused:
        raise CacheCommandError("nothing to prune by: give --older-than DATE and/or --unused")
    conn = _connect(args.dir)
    path = args.dir / cache_db.DB_NAME
    try:
        before = cache_db.summary(conn, path)
        try:
            removed = cache_db.prune(conn, before=args.older_than, unused=args.unused)
        except LookupError as exc:
            raise CacheCommandError(f"{path}: {exc}") from None
        cache_db.compact(conn)
        after = cache_db.summary(conn, path)
    finally:
        conn.close()
    print(f"pruned {removed} of {before.entries} entries ({after.entries} kept); "
          f"{_size(before.file_bytes)} -> {_size(after.file_bytes)}")
    return OK


def cmd_migrate(args: argparse.Namespace) -> int:
    conn = _connect(args.dir)
    try:
        count = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
        cache_db.compact(conn)
    finally:
        conn.close()
    print(f"cache {args.dir / cache_db.DB_NAME}: {count} entries, one file")
    return OK


def cmd_clear(args: argparse.Namespace) -> int:
    conn = _connect(args.dir)
    try:
        removed = conn.execute("DELETE FROM entries").rowcount
        conn.execute("DELETE FROM runs")
        cache_db.compact(conn)
    finally:
        conn.close()
    print(f"removed {removed} entries")
    return OK


def _run(args: argparse.Namespace) -> int:
    try:
        status: int = args.cache_func(args)
    except CacheCommandError as exc:
        print(f"llmgate cache: error: {exc}", file=sys.stderr)
        return USAGE
    return status


def add_cache_parser(sub: Any) -> None:
    """Add `cache` and its subcommands to the `llmgate` parser."""
    p = sub.add_parser("cache", help="inspect, prune or migrate the model call cache",
                       description="The model call cache is one SQLite file, "
                       f"{DEFAULT_CACHE_DIR / cache_db.DB_NAME} by default.")
    commands = p.add_subparsers(dest="cache_command", metavar="ACTION", required=True)

    def action(name: str, help_text: str, func: Any) -> argparse.ArgumentParser:
        q: argparse.ArgumentParser = commands.add_parser(name, help=help_text,
                                                         description=help_text)
        q.add_argument("--dir", type=Path, default=DEFAULT_CACHE_DIR, metavar="DIR",
                       help=f"cache directory (--llm-gate-cache-dir; default: {DEFAULT_CACHE_DIR})")
        q.set_defaults(func=_run, cache_func=func)
        return q

    action("stats", "entries, size, models, runs and what the last run used", cmd_stats)
    q = action("prune", "delete entries not used since a date and/or not used by the last run "
               "(a run that read or wrote through --llm-gate-cache rw/refresh)", cmd_prune)
    q.add_argument("--older-than", type=parse_when, metavar="DATE",
                   help="drop entries no run used since DATE (2026-01-31, 2026-01-31T12:00 UTC, "
                   "or an age: 30d, 12h, 2w)")
    q.add_argument("--unused", action="store_true",
                   help="drop entries the last run did not use")
    action("migrate", "import an old one-file-per-entry cache into the cache file", cmd_migrate)
    action("clear", "delete every entry", cmd_clear)
