"""`python -m pytest_llmgate` runs the `llmgate` command."""

from __future__ import annotations

from pytest_llmgate.cli.main import main

raise SystemExit(main())
