"""Evaluators: the registry, the calling convention, and the built-ins grouped by family."""
