"""The `load:` block of a suite file: what makes a suite a load test, checked before it runs.

    load:
      rate: 20            # requests per second at steady state (open loop), or
      concurrency: 8      # simultaneous users, each sending back to back (closed loop)
      ramp_s: 5           # linear ramp from 0 to the target
      duration_s: 60      # steady phase after the ramp
      max_requests: 2000  # hard bound on requests sent (default 1000)
      stream: true        # measure time to first token (default true)
      timeout_s: 60       # per request; the run ends at most this long after the schedule
      max_in_flight: 256  # rate mode: a request that would exceed it is an error row, not sent
      engine: builtin     # or locust (see pytest_llmgate.load.locust): workers:, users:

Every bound is finite: a run lasts at most ramp_s + duration_s + timeout_s and sends at most
max_requests requests. Each problem is one `file:line: load.<field>: problem` line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pytest_llmgate.util.yamlio import Key, Located

__all__ = ["MAX_SECONDS", "LoadSpec", "load_spec"]

MAX_SECONDS = 24 * 3600.0
_FIELDS = ("rate", "concurrency", "ramp_s", "duration_s", "max_requests", "stream", "timeout_s",
           "max_in_flight", "engine", "workers", "users")


@dataclass(frozen=True)
class LoadSpec:
    """A validated load schedule (see the module docstring)."""

    mode: str  # "rate" or "concurrency"
    duration_s: float
    rate: float | None = None
    concurrency: int | None = None
    ramp_s: float = 0.0
    max_requests: int = 1000
    stream: bool = True
    timeout_s: float = 60.0
    max_in_flight: int = 256
    engine: str = "builtin"
    workers: int = 2  # engine locust: local worker processes
    users: int | None = None  # engine locust: simulated users

    def describe(self) -> dict[str, Any]:
        """What the results record about the schedule."""
        out: dict[str, Any] = {"mode": self.mode, "ramp_s": self.ramp_s,
                               "duration_s": self.duration_s, "max_requests": self.max_requests,
                               "stream": self.stream, "timeout_s": self.timeout_s}
        if self.mode == "rate":
            out.update(rate=self.rate, max_in_flight=self.max_in_flight)
        else:
            out["concurrency"] = self.concurrency
        if self.engine != "builtin":
            out.update(engine=self.engine, workers=self.workers, users=self.users)
        return out


def _number(doc: Located, key: Key, value: Any, *, low: float, integer: bool = False,
            inclusive: bool = False) -> float:
    field = key[-1]
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
        integer and not isinstance(value, int)
    ):
        raise doc.error(key, f"{field} must be {kind}, not {value!r}")
    if not math.isfinite(value) or value > MAX_SECONDS * 1000:
        raise doc.error(key, f"{field} must be finite and at most {MAX_SECONDS * 1000:g}")
    if value < low or (value == low and not inclusive):
        sign = ">=" if inclusive else ">"
        raise doc.error(key, f"{field} must be {sign} {low:g}, not {value!r}")
    return float(value)


def load_spec(doc: Located, key: Key = ("load",)) -> LoadSpec:
    """Validate the `load:` mapping at `key` of a suite document."""
    raw = doc.data
    for part in key:
        raw = raw[part]
    if not isinstance(raw, dict):
        raise doc.error(key, "load must be a mapping (rate or concurrency, duration_s, ...)")
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        raise doc.error((*key, unknown[0]),
                        f"unknown load setting {unknown[0]!r} (known: {', '.join(_FIELDS)})")
    if ("rate" in raw) == ("concurrency" in raw):
        raise doc.error(key, "load needs exactly one of rate: (requests/s) or concurrency: (users)")
    if "duration_s" not in raw:
        raise doc.error(key, "load needs duration_s: (seconds of steady load after the ramp)")
    duration = _number(doc, (*key, "duration_s"), raw["duration_s"], low=0)
    ramp = _number(doc, (*key, "ramp_s"), raw.get("ramp_s", 0), low=0, inclusive=True)
    if ramp + duration > MAX_SECONDS:
        raise doc.error((*key, "duration_s"),
                        f"ramp_s + duration_s must be at most {MAX_SECONDS:g}")
    common: dict[str, Any] = dict(
        duration_s=duration,
        ramp_s=ramp,
        max_requests=int(_number(doc, (*key, "max_requests"), raw.get("max_requests", 1000),
                                 low=1, integer=True, inclusive=True)),
        timeout_s=_number(doc, (*key, "timeout_s"), raw.get("timeout_s", 60), low=0),
        max_in_flight=int(_number(doc, (*key, "max_in_flight"), raw.get("max_in_flight", 256),
                                  low=1, integer=True, inclusive=True)),
    )
    stream = raw.get("stream", True)
    if not isinstance(stream, bool):
        raise doc.error((*key, "stream"), f"stream must be true or false, not {stream!r}")
    common["stream"] = stream
    engine = raw.get("engine", "builtin")
    if engine not in ("builtin", "locust"):
        raise doc.error((*key, "engine"), f"engine must be builtin or locust, not {engine!r}")
    common["engine"] = engine
    for name in ("workers", "users"):
        if name in raw:
            if engine != "locust":
                raise doc.error((*key, name), f"{name} only applies to engine: locust")
            common[name] = int(_number(doc, (*key, name), raw[name], low=1, integer=True,
                                       inclusive=True))
    if "rate" in raw:
        rate = _number(doc, (*key, "rate"), raw["rate"], low=0)
        return LoadSpec(mode="rate", rate=rate, **common)
    users = int(_number(doc, (*key, "concurrency"), raw["concurrency"], low=1, integer=True,
                        inclusive=True))
    return LoadSpec(mode="concurrency", concurrency=users, **common)
