"""The HTML report's data on the wire: columnar, dictionary-encoded and (when big) gzipped.

`html.report_data` builds the report as rows of arrays, which is easy to read and test; a 50,000-row
run in that shape is a 34 MB page that takes seconds just to parse. `pack_report` turns the row
tables into columns, where repeated values (row ids shared by every variant, statuses, empty error
lists, identical failing-metric lists, an item index per row) are sent once and referenced by a
small integer or a run length; `unpack_report` is its exact inverse (tests and tools read reports
with it; `report.js` does the same column by column and builds a row only when it is drawn).

`embed` writes the packed document into the page's `<script type="application/json">`: as JSON
when it is small (readable in the page source), else as base64 of its gzip, which the page
inflates with the browser's own `DecompressionStream` (no network, nothing outside the page).
Base64 has no character that could close the script element.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Callable, Sequence
from itertools import chain, compress, pairwise
from operator import ne
from typing import Any

__all__ = [
    "COMPRESS_OVER",
    "decode_column",
    "embed",
    "encode_column",
    "json_for_script",
    "pack_report",
    "read_embedded",
    "unpack_report",
]

COMPRESS_OVER = 256_000  # characters of packed JSON; a smaller report stays readable in source
ROW_FIELDS = ("item", "id", "status", "metrics", "output", "data", "inputs", "errors", "details",
              "failing", "line", "repeat", "latency", "cost")
BASE_FIELDS = ("output", "metrics", "errors")


def json_for_script(data: Any) -> str:
    """JSON that is safe inside a <script type="application/json"> element."""
    return _script_safe(json.dumps(data, ensure_ascii=False, separators=(",", ":"),
                                   allow_nan=False))


def _script_safe(text: str) -> str:
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _key(value: Any) -> Any:
    """A hashable identity that tells JSON types apart (1, 1.0 and True render differently)."""
    kind = type(value)
    if kind in (str, int, float, bool) or value is None:
        return (kind, value)
    if not value:
        return (kind, "")
    return (kind, json.dumps(value, ensure_ascii=False, allow_nan=False))


_PLAIN_TYPES = frozenset((str, int, float, type(None)))


def encode_column(values: Sequence[Any]) -> dict[str, Any]:
    """The smallest of three encodings: runs `{"r": [[v, count], ...]}`, a dictionary
    `{"d": [distinct...], "i": [index per row]}`, or plain `{"p": [...]}`."""
    count = len(values)
    if not count:
        return {"p": []}
    types = set(map(type, values))
    # one plain type (or numbers with null): values are their own keys; otherwise tag by type
    keys: Sequence[Any] = values if len(types - {type(None)}) <= 1 and types <= _PLAIN_TYPES \
        else [_key(v) for v in values]
    seen = dict.fromkeys(keys)
    if len(seen) * 2 > count:  # mostly distinct: then there are more than count / 4 runs too
        return {"p": list(values)}
    slots = {key: slot for slot, key in enumerate(seen)}
    index = list(map(slots.__getitem__, keys))
    starts = [0, *compress(range(1, count), map(ne, index, index[1:])), count]
    if (len(starts) - 1) * 4 <= count:
        return {"r": [[values[a], b - a] for a, b in pairwise(starts)]}
    first = dict(zip(reversed(keys), reversed(values), strict=True))  # the first one wins
    distinct = [first[key] for key in seen]
    return {"d": distinct, "i": index}


def decode_column(column: dict[str, Any], count: int) -> list[Any]:
    if "p" in column:
        values = list(column["p"])
    elif "r" in column:
        values = [value for value, times in column["r"] for _ in range(times)]
    else:
        distinct = column["d"]
        values = [distinct[i] for i in column["i"]]
    if len(values) != count:
        raise ValueError(f"report data: a column has {len(values)} values for {count} rows")
    return values


def _encode_metrics(dicts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One column per metric name; null where a row has no such metric, and a list of the rows
    whose value is present but not finite (sent as null too)."""
    names = dict.fromkeys(chain.from_iterable(dicts))
    any_null = None in chain.from_iterable(m.values() for m in dicts)  # rare: skip the scan
    columns, nulls = [], []
    for name in names:
        values = [m.get(name) for m in dicts]
        columns.append(encode_column(values))
        nulls.append([i for i, m in enumerate(dicts) if name in m and m[name] is None]
                     if any_null else [])
    return {"names": list(names), "cols": columns, "nulls": nulls}


def _decode_metrics(packed: dict[str, Any], count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{} for _ in range(count)]
    for name, column, nulls in zip(packed["names"], packed["cols"], packed["nulls"], strict=True):
        for metrics, value in zip(out, decode_column(column, count), strict=True):
            if value is not None:
                metrics[name] = value
        for i in nulls:
            out[i][name] = None
    return out


def _table(rows: Sequence[Sequence[Any]], fields: Sequence[str],
           special: dict[str, Callable[[Sequence[Any]], Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(rows)}
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in fields]
    for name, values in zip(fields, columns, strict=True):
        out[name] = special[name](values) if name in special else encode_column(values)
    return out


def pack_report(data: dict[str, Any]) -> dict[str, Any]:
    """`report_data`'s document with its row tables in columns (see the module docstring)."""
    packed = dict(data)
    rows = data["rows"]
    # a row's cost is its cost_usd metric (html._row_data): not sent twice
    table = _table([r[:13] for r in rows], ROW_FIELDS[:13], {"metrics": _encode_metrics})
    packed["rows"] = table
    base: list[list[Any]] = []
    for item, by_id in data["baseRows"].items():
        for row_id, (output, metrics, errors) in by_id.items():
            base.append([int(item), row_id, output, metrics, errors])
    packed["baseRows"] = _table(base, ("item", "id", *BASE_FIELDS), {"metrics": _encode_metrics})
    packed["baseItems"] = [int(item) for item in data["baseRows"]]  # with or without rows
    packed["version"] = 2
    return packed


def _untable(table: dict[str, Any], fields: Sequence[str]) -> list[list[Any]]:
    count = table["n"]
    columns = [_decode_metrics(table[name], count) if name == "metrics"
               else decode_column(table[name], count) for name in fields]
    return [list(values) for values in zip(*columns, strict=True)] if columns else []


def unpack_report(packed: dict[str, Any]) -> dict[str, Any]:
    """The inverse of `pack_report`: `unpack_report(pack_report(d)) == d` for every report."""
    if packed.get("version") != 2:
        return packed
    data = dict(packed)
    rows = _untable(packed["rows"], ROW_FIELDS[:13])
    for row in rows:
        row.append(row[3].get("cost_usd"))
    data["rows"] = rows
    base: dict[str, dict[str, list[Any]]] = {str(item): {} for item in data.pop("baseItems")}
    for item, row_id, *rest in _untable(packed["baseRows"], ("item", "id", *BASE_FIELDS)):
        base.setdefault(str(item), {})[row_id] = rest
    data["baseRows"] = base
    data["version"] = 1
    return data


def embed(packed: dict[str, Any], *, compress: bool | None = None) -> str:
    """The script element's text: the packed JSON, or `{"gzip": base64}` once it is big (or when
    `compress` says so)."""
    text = json.dumps(packed, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if compress is False or (compress is None and len(text) < COMPRESS_OVER):
        return _script_safe(text)
    # level 5: a third of level 6's time for a page 10% bigger (measured on the bench's run)
    raw = gzip.compress(text.encode("utf-8"), compresslevel=5, mtime=0)
    return json.dumps({"gzip": base64.b64encode(raw).decode("ascii")})


_ELEMENT = re.compile(r'<script type="application/json" id="llmgate-data">(.*?)</script>', re.S)


def read_embedded(page: str) -> dict[str, Any]:
    """The report document of a rendered page, in `report_data`'s row shape."""
    found = _ELEMENT.search(page)
    if found is None:
        raise ValueError("not an llm-gate HTML report: no llmgate-data element")
    document: dict[str, Any] = json.loads(found.group(1))
    if "gzip" in document:
        document = json.loads(gzip.decompress(base64.b64decode(document["gzip"])).decode("utf-8"))
    return unpack_report(document)
