"""Regenerate the pinned `llmgate --help` texts in tests/unit/test_cli.py (after an intended change)."""
import io, re, sys, textwrap, contextlib, os
sys.path.insert(0, os.getcwd()); sys.path.insert(0, os.path.join(os.getcwd(), "tests", "unit"))
os.environ["COLUMNS"] = "100"
from pytest_llmgate.cli import main
import tests.unit.test_cli as t
src = open("tests/unit/test_cli.py").read()
start = src.index("HELP = {")
end = src.index("\n}\n", start) + 3
parts = ["HELP = {\n"]
for command in t.HELP:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            main([*command, "--help"])
        except SystemExit:
            pass
    body = textwrap.indent(buf.getvalue(), " " * 8)
    body = "\n".join(l.rstrip() for l in body.splitlines())
    parts.append(f"    {command!r}: \"\"\"\n{body}\n    \"\"\",\n")
parts.append("}\n")
open("tests/unit/test_cli.py", "w").write(src[:start] + "".join(parts) + src[end:])
