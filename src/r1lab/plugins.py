"""Load a user's function by dotted path (`pkg.module:attr` or `pkg.module.attr`) without editing r1lab."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def load_callable(path: str) -> Callable[..., Any]:
    """The callable at `path`; a ValueError saying why when it cannot be imported or called."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(f"'{path}' cannot be loaded: {err}") from None
    if not callable(obj):
        raise ValueError(f"'{path}' is not callable")
    return obj
