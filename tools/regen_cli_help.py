"""Rewrite the pinned `llmgate ... --help` texts in tests/unit/test_cli.py after an intended change.

    python tools/regen_cli_help.py && git diff tests/unit/test_cli.py   # review, then commit
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests" / "unit" / "test_cli.py"


def main() -> None:
    os.environ["COLUMNS"] = "100"
    sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "unit")]
    from pytest_llmgate.cli.main import main as llmgate
    from tests.unit.test_cli import HELP

    source = TESTS.read_text("utf-8")
    start = source.index("HELP = {")
    end = source.index("\n}\n", start) + 3
    parts = ["HELP = {\n"]
    for command in HELP:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            llmgate([*command, "--help"])
        indented = textwrap.indent(out.getvalue(), " " * 8)
        body = "\n".join(line.rstrip() for line in indented.splitlines())
        quoted = ", ".join(f'"{c}"' for c in command)
        key = f"({quoted},)" if len(command) == 1 else f"({quoted})"
        parts.append(f'    {key}: """\n{body}\n        """,\n')
    parts.append("}\n")
    TESTS.write_text(source[:start] + "".join(parts) + source[end:], "utf-8")


if __name__ == "__main__":
    main()
