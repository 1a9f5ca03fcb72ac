"""Print the mutation score per module from `mutmut results --all true` (run after `mutmut run`).

killed: a test failed (or timed out) with the mutant in place. Everything else is a survivor:
`survived` (the tests passed), `no tests` (no selected test reaches that function), `suspicious`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict

KILLED = {"killed", "timeout", "caught by type check"}
SKIPPED = {"skipped", "not checked"}


def main() -> int:
    mutmut = sys.argv[1] if len(sys.argv) > 1 else "mutmut"
    out = subprocess.run(
        [mutmut, "results", "--all", "true"], capture_output=True, text=True, check=True
    ).stdout
    by_module: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for line in out.splitlines():
        match = re.match(r"\s*(\S+): (.+)$", line)
        if not match:
            continue
        name, status = match.groups()
        module = re.split(r"\.x(?:_|ǁ)", name, maxsplit=1)[0]
        by_module[module][status.strip()].append(name)
    if not by_module:
        print("no mutation results: run `mutmut run` first")
        return 1
    total_killed = total = 0
    print(f"{'module':40} killed / total")
    for module in sorted(by_module):
        statuses = by_module[module]
        killed = sum(len(v) for k, v in statuses.items() if k in KILLED)
        tested = sum(len(v) for k, v in statuses.items() if k not in SKIPPED)
        if not tested:  # not in this run (`make mutate MUTANTS=...` runs one package)
            continue
        total_killed, total = total_killed + killed, total + tested
        print(f"{module:40} {killed:4} / {tested:<4} {100 * killed / max(tested, 1):5.1f}%")
    print(f"{'all':40} {total_killed:4} / {total:<4} {100 * total_killed / max(total, 1):5.1f}%")
    print("\nsurvivors (`mutmut show <name>` shows the change):")
    for module in sorted(by_module):
        for status, names in sorted(by_module[module].items()):
            if status not in KILLED | SKIPPED:
                for name in names:
                    print(f"  {status:10} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
