"""Regenerate `pytest_llmgate/evaluators/_perluniprops.py` from the perluniprops data that
sacremoses ships (`pip install sacremoses`, in the dev extra).

    python tools/gen_perluniprops.py            # rewrite the module
    python tools/gen_perluniprops.py --check    # exit 1 when the module differs

`tests/unit/test_lexical.py` runs the check, so the committed module is what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

TARGET = Path(__file__).resolve().parents[1] / "pytest_llmgate" / "evaluators" / "_perluniprops.py"
CATEGORIES = (("NUMBER", "Number"), ("PUNCTUATION", "Punctuation"), ("SYMBOL", "Symbol"))
CONTENT = 91  # characters of ranges per line (the lines stay under the line length of 100)

HEADER = '''"""The character classes NLTK's NIST tokenizer builds from its ``perluniprops`` data.

``NISTTokenizer.international_tokenize`` (azure's tokenizer for non-ASCII text) compiles
``[...]`` classes from ``nltk.corpus.perluniprops.chars("Number" | "Punctuation" | "Symbol")``,
data that NLTK downloads. These are the same character sets, as regex ranges, taken from the copy
``sacremoses`` ships (same Unicode::Tussle extraction, MIT licence); the data's quirks are kept on
purpose (its "Number" set holds letters and punctuation too, and NLTK's output depends on that).
``tests/unit/test_lexical.py`` checks these ranges against sacremoses and NLTK's tokenizer.

Generated; do not edit by hand.
"""
'''


def _ranges(chars: str) -> list[str]:
    """`\\uXXXX` and `\\uXXXX-\\uYYYY` pieces covering the (BMP) code points of `chars`."""
    points = sorted({ord(c) for c in chars if ord(c) <= 0xFFFF})
    pieces: list[str] = []
    start = prev = points[0]
    for point in [*points[1:], None]:
        if point is not None and point == prev + 1:
            prev = point
            continue
        pieces.append(f"\\u{start:04x}" if start == prev else f"\\u{start:04x}-\\u{prev:04x}")
        if point is not None:
            start = prev = point
    return pieces


def _constant(name: str, pieces: list[str]) -> str:
    lines: list[str] = []
    line = ""
    for piece in pieces:
        if line and len(line) + len(piece) > CONTENT:
            lines.append(line)
            line = ""
        line += piece
    lines.append(line)
    body = "\n".join(f'    r"{text}"' for text in lines)
    return f"{name} = (\n{body}\n)\n"


def render() -> str:
    from sacremoses.corpus import Perluniprops

    props = Perluniprops()
    parts = [HEADER]
    for name, category in CATEGORIES:
        # stripped, as NLTK reads it: the data file's trailing newline is no character
        parts.append(_constant(name, _ranges("".join(props.chars(category)).strip())))
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        same = TARGET.read_text(encoding="utf-8") == text
        print("up to date" if same else f"{TARGET} differs from the generator's output")
        return 0 if same else 1
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
