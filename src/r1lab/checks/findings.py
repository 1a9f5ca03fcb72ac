"""A check's findings and the one report that gathers every check's, errors first."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from r1lab.errors import RecipeError


@dataclass(frozen=True)
class Finding:
    status: str  # "error" | "warning" | "ok" | "skipped"
    message: str


def ok(message: str) -> Finding:
    return Finding("ok", message)


def skipped(message: str) -> Finding:
    return Finding("skipped", message)


def error(message: str) -> Finding:
    return Finding("error", message)


def warning(message: str) -> Finding:
    """Runs, but probably not as meant; the run goes ahead."""
    return Finding("warning", message)


def detail(message: str) -> Finding:
    """A line of a table printed under the findings (the memory plan)."""
    return Finding("detail", message)


Findings = Iterable[Finding] | None
Check = Callable[[Any], Findings]  # (r1lab.checks.context.Context) -> Findings


@dataclass
class Report:
    recipe: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        if finding.status == "detail":
            self.details.append(finding.message)
            return
        target = {
            "error": self.errors,
            "warning": self.warnings,
            "ok": self.passed,
            "skipped": self.skipped,
        }
        bucket = target[finding.status]
        if finding.message not in bucket:  # a shared fact that failed is reported once
            bucket.append(finding.message)

    def text(self) -> str:
        lines = [f"r1lab check {self.recipe}: " + ("FAILED" if self.errors else "ok")]
        lines += [f"  error    {m}" for m in self.errors]
        lines += [f"  warning  {m}" for m in self.warnings]
        lines += [f"  ok       {m}" for m in self.passed]
        lines += [f"  skipped  {m}" for m in self.skipped]
        lines += [f"    {m}" for m in self.details]
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        if self.errors:
            raise RecipeError(self.text())
