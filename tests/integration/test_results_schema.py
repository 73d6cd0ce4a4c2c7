"""The results JSON that real runs write is valid against its published JSON Schema, in every
shape a run can take: passing, failing, errored rows, a crashed item, a shard, a baseline diff."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import Project

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "pytest_llmgate" / "config" / "schema" / "results.schema.json").read_text()
)


def _valid(data: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    errors = sorted(
        jsonschema.Draft202012Validator(SCHEMA).iter_errors(data), key=lambda e: list(e.path)
    )
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def test_results_of_real_runs_match_the_schema(project: Project) -> None:
    pytester = project.pytester
    # failing variant, passing variant, and an errored row from a broken evaluator
    project.write("suites/support.yaml", (project.path / "suites/support.yaml").read_text()
                  + '  - "evaluators.custom:nan_score"\n')
    pytester.runpytest("--llm-gate", "-p", "no:xdist", "--llm-gate-json", "a.json")
    first = json.loads((project.path / "a.json").read_text())
    assert any(r.get("errors") for i in first["items"] for r in i["rows"])
    _valid(first)
    # a baseline comparison and a shard of a sharded run
    pytester.runpytest("--llm-gate", "-p", "no:xdist", "--llm-gate-json", "b.json",
                       "--llm-gate-baseline", "a.json")
    pytester.runpytest("--llm-gate", "-p", "no:xdist", "--llm-gate-json", "c.json",
                       "--llm-gate-shard", "1/2")
    for name in ("b.json", "c.json"):
        _valid(json.loads((project.path / name).read_text()))
    # a dry run
    pytester.runpytest("--llm-gate", "-p", "no:xdist", "--llm-gate-json", "d.json",
                       "--llm-gate-dry-run")
    _valid(json.loads((project.path / "d.json").read_text()))


def test_the_schema_rejects_what_is_not_a_results_file() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"format": "pytest-llmgate/results", "version": 2}, SCHEMA)
    bad_check = {"kind": "threshold", "metric": "m", "aggregate": "mean", "value": 1,
                 "verdict": "maybe", "severity": "fail", "message": ""}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad_check, {**SCHEMA, "$ref": "#/$defs/check"})
