"""Import user code named as `package.module:attr` or `path/to/file.py:attr`."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pytest_llmgate.errors import SpecError

__all__ = ["ImportTargetError", "import_target"]


class ImportTargetError(SpecError):
    """The target could not be imported; the message says why in one line."""


def _add_paths(paths: Iterable[Path]) -> None:
    for path in paths:
        text = str(path)
        if text not in sys.path:
            sys.path.insert(0, text)


def _load_file(path: Path) -> Any:
    name = "llmgate_user_" + "_".join(path.with_suffix("").parts[-3:]).replace("-", "_")
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportTargetError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ImportTargetError(f"importing {path} raised {type(exc).__name__}: {exc}") from None
    return module


def import_target(
    target: str, search_paths: Iterable[Path] = (), base_dir: Path | None = None
) -> Any:
    """Resolve `module:attr` (attr may be dotted) after adding `search_paths` to sys.path."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ImportTargetError(f"expected 'module:attr', got {target!r}")
    _add_paths(search_paths)
    if module_name.endswith(".py") or "/" in module_name:
        path = Path(module_name)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise ImportTargetError(f"file not found: {path}")
        module = _load_file(path.resolve())
    else:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise ImportTargetError(f"cannot import {module_name!r}: {exc}") from None
        except Exception as exc:
            raise ImportTargetError(
                f"importing {module_name!r} raised {type(exc).__name__}: {exc}"
            ) from None
    value: Any = module
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ImportTargetError(f"{module_name!r} has no attribute {attr!r}") from None
    return value
