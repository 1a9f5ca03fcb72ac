"""The registry of kinds: one line per kind, naming the module that declares it.

Like torchtune's recipe registry, it lists each kind by name and module path and imports none of
them until a kind is asked for, so the modules below the kinds (checks, recipes, launchers) can
look a kind up without importing every kind, and no kind module imports this list back.
Everything that varies by kind is read from the `Kind` its module declares (`KIND = Kind(...)`).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping

from r1lab.errors import RecipeError, closest
from r1lab.kind import Kind

MODULES: dict[str, str] = {
    "sft": "r1lab.sft",
    "grpo": "r1lab.grpo",
    "grpo_async": "r1lab.grpo_async",
    "generate": "r1lab.generate",
    "evaluate": "r1lab.evaluate",
    "pipeline": "r1lab.pipeline",
}


class Registry(MutableMapping[str, Kind]):
    """Kind name -> Kind, importing a kind's module the first time the kind is asked for."""

    def __init__(self, modules: dict[str, str]) -> None:
        self._modules = dict(modules)
        self._loaded: dict[str, Kind] = {}

    def __getitem__(self, name: str) -> Kind:
        if name not in self._loaded:
            if name not in self._modules:
                raise KeyError(name)
            self._loaded[name] = importlib.import_module(self._modules[name]).KIND
        return self._loaded[name]

    def __setitem__(self, name: str, kind: Kind) -> None:  # a kind added at run time (tests)
        self._loaded[name] = kind

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self._loaded.pop(name, None)
        self._modules.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter({**self._modules, **self._loaded})

    def __len__(self) -> int:
        return len({**self._modules, **self._loaded})

    def __contains__(self, name: object) -> bool:
        return name in self._modules or name in self._loaded


KINDS: Registry = Registry(MODULES)


def get_kind(name: object) -> Kind:
    if not isinstance(name, str) or name not in KINDS:
        hint = closest(name, KINDS) if isinstance(name, str) else ""
        raise RecipeError(f"kind must be one of {', '.join(KINDS)}, got {name!r}{hint}")
    return KINDS[name]


def require_kind(recipe_name: str, recipe_kind: str, wanted: str) -> None:
    """The one message for a recipe run by the wrong command."""
    if recipe_kind != wanted:
        raise RecipeError(
            f"recipe '{recipe_name}' is a {recipe_kind} recipe, not {wanted}: run "
            f"`make {recipe_kind} RECIPE={recipe_name}` or `r1lab {recipe_kind} {recipe_name}`"
        )
