"""The one exception type users see for bad input, its messages, and the one way a command exits on it."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Iterable
from dataclasses import fields
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")


class RecipeError(ValueError):
    """A recipe, override or dataset that cannot work; the message says what to change."""


def closest(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest choice, or '' when nothing is close."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def unknown_key(
    where: str, key: str, valid: Iterable[str], owner: str | None = None
) -> RecipeError:
    """The one "unknown key" message: where, the closest valid key, and what is valid.

    `owner` names a class whose fields are the valid keys (TRL's configs: too many to list).
    """
    valid = list(valid)
    if owner:
        return RecipeError(f"{where}: {owner} has no field '{key}'{closest(key, valid)}")
    return RecipeError(
        f"{where}: unknown key '{key}'{closest(key, valid)}; valid keys: {', '.join(valid)}"
    )


def section_dataclass(cls: type[T], where: str, section: dict[str, Any], **overrides: Any) -> T:
    """Build dataclass `cls` from a recipe section; an unknown key is a RecipeError naming it."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    for key in section:
        if key not in names:
            raise unknown_key(f"{where}.{key}", key, names)
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return cls(**{**section, **given})
    except TypeError as err:  # a required key is missing
        raise RecipeError(f"{where}: {err}") from None


def exit_on_error(main: Callable[[], int | None]) -> NoReturn:
    """Run a command's main: bad input prints `error: <message>` and exits 2; Ctrl-C exits 130
    without a traceback; else its code."""
    try:
        code = main()
    except RecipeError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # the process that was working has said where it stopped
        sys.exit(130)
    sys.exit(code or 0)
