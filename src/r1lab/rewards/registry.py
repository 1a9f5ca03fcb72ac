"""Rewards by name: the registry, parameter checking, dotted-path plug-ins, the TRL wrapper.

Recipes name rewards (`rewards: {accuracy: 1.0, format: 0.2}`), so every reward is built here
from a name and keyword parameters, and every mistake (unknown name, unknown parameter, bad
value) is a `RewardError` at `r1lab check` time, not a crash at step 1 of a long run.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from r1lab.errors import RecipeError, closest
from r1lab.plugins import load_callable
from r1lab.rewards.text import completion_text

logger = logging.getLogger("r1lab.rewards")

# Keyword arguments TRL itself passes; anything else a reward reads is a dataset column.
TRL_ARGUMENTS = frozenset(
    {
        "completions",
        "prompts",
        "completion_ids",
        "trainer_state",
        "log_extra",
        "log_metric",
        "environments",
    }
)


class RewardError(RecipeError):
    """A reward that cannot be built or run as configured; the message says what to change."""


@dataclass
class Batch:
    """One call's completions as text, plus what TRL passed alongside them."""

    texts: list[str]
    prompts: list[Any] | None
    completion_ids: list[Any] | None
    columns: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)

    def column(self, name: str) -> list[Any]:
        """A dataset column, one value per completion; a clear error if TRL did not pass it."""
        values = self.columns.get(name)
        if values is None:
            raise RewardError(
                f"this reward reads the dataset column '{name}', which the batch does not have "
                f"(columns: {', '.join(sorted(self.columns)) or 'none'})"
            )
        if len(values) != len(self.texts):
            raise RewardError(f"column '{name}' has {len(values)} values for {len(self.texts)}")
        return list(values)


Scorer = Callable[[Batch], Sequence[float | None]]


@dataclass(frozen=True)
class Spec:
    """How to build one named reward: `factory(**params)` returns a scorer."""

    name: str
    factory: Callable[..., Scorer]
    columns: Callable[[dict[str, Any]], set[str]]
    doc: str
    verifier: bool = False  # judges the answer itself: full marks (1.0) means solved


_REGISTRY: dict[str, Spec] = {}


def register(
    name: str,
    columns: Callable[[dict[str, Any]], set[str]] | set[str] = frozenset(),
    verifier: bool = False,
) -> Callable[[Callable[..., Scorer]], Callable[..., Scorer]]:
    """Decorator: register `factory` (keyword parameters with defaults) under `name`.

    `verifier`: the reward checks the answer (accuracy, countdown, code), so evaluation can count
    a sample solved when it gives full marks (1.0); partial credit is never a pass.
    """

    def decorate(factory: Callable[..., Scorer]) -> Callable[..., Scorer]:
        cols = columns if callable(columns) else (lambda params, fixed=set(columns): set(fixed))
        doc = (inspect.getdoc(factory) or "").split("\n\n")[0]
        _REGISTRY[name] = Spec(name, factory, cols, doc, verifier)
        return factory

    return decorate


class Reward:
    """A TRL reward function: text in, one finite float (or None) per completion out.

    It is a module-level class (picklable by name and parameters) whose `__name__` is the registered
    name, so TRL logs `rewards/<name>/mean`. Whatever the completion text, it returns a list
    of the right length of finite floats or None.
    """

    def __init__(self, name: str, scorer: Scorer, params: dict[str, Any]) -> None:
        self.__name__ = name
        self.name = name
        self.params = params
        self._scorer = scorer

    def __reduce__(self) -> tuple:
        # Pickled by name and parameters (TRL's async GRPO sends rewards to a spawned process).
        return (_rebuild, (self.name, self.params))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"Reward({self.name}{', ' if args else ''}{args})"

    def __call__(
        self,
        completions: Sequence[Any],
        prompts: Sequence[Any] | None = None,
        completion_ids: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        log_metric = kwargs.get("log_metric")
        columns = {k: v for k, v in kwargs.items() if k not in TRL_ARGUMENTS}
        batch = Batch(
            texts=[completion_text(c) for c in completions],
            prompts=list(prompts) if prompts is not None else None,
            completion_ids=list(completion_ids) if completion_ids is not None else None,
            columns=columns,
        )
        return guarded(
            self.name, lambda: self._scorer(batch), batch.metrics, len(batch.texts), log_metric
        )


def guarded(
    name: str,
    compute: Callable[[], Sequence[float | None]],
    metrics: dict[str, float],
    n: int,
    log_metric: Any = None,
) -> list[float | None]:
    """The safety net every reward runs in, built-in or plug-in: an exception scores the batch
    0.0 (logged, `failed_frac` metric) instead of ending the run; NaN/inf become 0.0; a wrong
    number of values is an error; the reward's metrics go to TRL's `log_metric`."""
    try:
        values = list(compute())
    except RewardError:
        raise
    except Exception:  # a bug must not take a long run down; it is logged every time
        logger.exception("reward '%s' failed on a batch; scoring it 0.0", name)
        values = [0.0] * n
        metrics["failed_frac"] = 1.0
    if len(values) != n:
        raise RewardError(f"reward '{name}' returned {len(values)} values for {n}")
    if callable(log_metric):
        for key, value in metrics.items():
            log_metric(f"rewards/{name}/{key}", float(value))
    return [_clean(v) for v in values]


# The modules that register the built-in rewards (`register_built_in`; r1lab.rewards runs it)
BUILT_IN: tuple[str, ...] = (
    "r1lab.rewards.accuracy",
    "r1lab.rewards.choice",
    "r1lab.rewards.code_exec",
    "r1lab.rewards.countdown",
    "r1lab.rewards.language",
    "r1lab.rewards.length",
    "r1lab.rewards.shape",
)


def register_built_in() -> None:
    """Import the modules that register the built-in rewards (each registers itself once)."""
    import importlib

    for module in BUILT_IN:
        importlib.import_module(module)


def _rebuild(name: str, params: dict[str, Any]) -> Reward:
    """Unpickling in a fresh process (TRL's async scorer): register the built-ins, then build."""
    register_built_in()
    return get_reward(name, **params)


def _clean(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else 0.0


def reward_names() -> list[str]:
    """The registered reward names, sorted."""
    return sorted(_REGISTRY)


def _known() -> str:
    return ", ".join(reward_names())


def _spec(name: str) -> Spec:
    if name not in _REGISTRY:
        raise RewardError(
            f"unknown reward '{name}'{closest(name, _REGISTRY)}; known rewards: {_known()}, "
            "or a dotted path 'my_pkg.module:function'"
        )
    return _REGISTRY[name]


def _check_params(spec: Spec, params: dict[str, Any]) -> None:
    accepted = [
        p.name
        for p in inspect.signature(spec.factory).parameters.values()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    for key in params:
        if key not in accepted:
            raise RewardError(
                f"reward '{spec.name}' has no parameter '{key}'{closest(key, accepted)}; "
                f"its parameters: {', '.join(accepted) or 'none'}"
            )


def is_plugin(name: str) -> bool:
    """Whether `name` is a dotted path to a user function rather than a registered name."""
    return name not in _REGISTRY and ("." in name or ":" in name)


def get_reward(name: str, **params: Any) -> Callable[..., list[float | None]]:
    """The TRL reward function `name` configured with `params` (see docs/rewards.md)."""
    if is_plugin(name):
        return _plugin(name, params)
    spec = _spec(name)
    _check_params(spec, params)
    try:
        scorer = spec.factory(**params)
    except RewardError:
        raise
    except (TypeError, ValueError) as err:
        raise RewardError(f"reward '{name}': {err}") from None
    return Reward(name, scorer, params)


def is_verifier(name: str) -> bool:
    """Whether reward `name` judges answers; a plug-in says so with `fn.verifier = True`."""
    if is_plugin(name):
        return bool(getattr(_load_plugin(name), "verifier", False))
    return _spec(name).verifier


def verifier_names() -> list[str]:
    return sorted(n for n, spec in _REGISTRY.items() if spec.verifier)


def accepts(name: str, param: str) -> bool:
    """Whether registered reward `name` takes keyword parameter `param` (False for plug-ins)."""
    if is_plugin(name) or name not in _REGISTRY:
        return False
    return param in inspect.signature(_REGISTRY[name].factory).parameters


def required_columns(name: str, **params: Any) -> set[str]:
    """Dataset columns the reward reads, for `r1lab check` to verify before any model loads."""
    if is_plugin(name):
        fn = _load_plugin(name)
        declared = getattr(fn, "required_columns", None)
        if declared is not None:
            return set(declared)
        return _signature_columns(fn, params)
    spec = _spec(name)
    _check_params(spec, params)
    return set(spec.columns(params))


# ---- plug-ins -----------------------------------------------------------------------------


def _load_plugin(path: str) -> Callable[..., Any]:
    try:
        return load_callable(path)
    except ValueError as err:
        raise RewardError(
            f"reward {err}; known rewards: {_known()}, or a dotted path 'my_pkg.module:function' "
            "importable from the run"
        ) from None


def _signature_columns(fn: Callable[..., Any], params: dict[str, Any]) -> set[str]:
    """Required (no default) keyword parameters of a plug-in that are neither TRL's nor bound."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return set()
    return {
        p.name
        for p in parameters
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        and p.default is p.empty
        and p.name not in TRL_ARGUMENTS
        and p.name not in params
    }


class PluginReward:
    """A user's reward function loaded by dotted path, with its parameters bound by keyword."""

    def __init__(self, name: str, fn: Callable[..., Any], params: dict[str, Any]) -> None:
        self.__name__ = name
        self.name = name
        self.fn = fn
        self.params = params

    def __call__(self, completions: Sequence[Any], *args: Any, **kwargs: Any) -> list[float | None]:
        return guarded(
            self.name,
            lambda: self.fn(*args, completions=completions, **{**kwargs, **self.params}),
            {},
            len(completions),
            kwargs.get("log_metric"),
        )


def _plugin(name: str, params: dict[str, Any]) -> PluginReward:
    fn = _load_plugin(name)
    try:
        accepted = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        accepted = {}
    takes_any = any(p.kind == p.VAR_KEYWORD for p in accepted.values())
    for key in params:
        if key not in accepted and not takes_any:
            raise RewardError(
                f"reward '{name}' has no parameter '{key}'; its parameters: {', '.join(accepted)}"
            )
    return PluginReward(name, fn, params)
