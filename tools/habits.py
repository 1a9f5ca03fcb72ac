"""What an evaluated tiny arithmetic model does: how often it works step by step, and how often
each habit is right. The demo's findings are differences of pass@1; this says where they come
from (a GRPO run that only moved the habit, or one that also made the working more accurate).

    python tools/habits.py runs/sft_grpo/tiny/eval_base/heldout runs/sft_grpo/tiny/eval_r1_zero/heldout

Each argument is one benchmark folder of an evaluate run (it holds `samples/` and
`results.parquet`). A completion "works" when its reasoning holds at least one `a op b = c` step;
otherwise it answers directly (`<think> </think> <answer> 21 </answer>`). Worked answers are also
split by their first step's value: in 0-9 (a one-digit intermediate) or not.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

STEP = re.compile(r"-?\d+ [-+*] -?\d+ = -?\d+")
FIRST_VALUE = re.compile(r"<think> -?\d+ [-+*] -?\d+ = (-?\d+)")


def works(completion: str) -> bool:
    """Whether the completion's reasoning shows at least one worked step."""
    thinking = completion.split("</think>", 1)[0]
    return bool(STEP.search(thinking))


def one_digit_first(completion: str) -> bool:
    """Whether a worked completion's first step gives a value in 0-9."""
    found = FIRST_VALUE.match(completion)
    return bool(found) and 0 <= int(found.group(1)) <= 9


def habits(folder: str | Path) -> dict[str, float]:
    """Share of worked completions and pass@1 of each habit, over every sample in `folder`."""
    folder = Path(folder)
    samples = pd.concat(pd.read_parquet(f) for f in sorted((folder / "samples").glob("*.parquet")))
    results = pd.read_parquet(folder / "results.parquet")
    rows = samples.merge(
        results[["prompt_id", "sample", "correct"]], on=["prompt_id", "sample"], validate="1:1"
    )
    worked = rows["completion"].map(works)
    small = worked & rows["completion"].map(one_digit_first)
    nan = float("nan")

    def rate(mask: pd.Series) -> float:
        return float(rows["correct"][mask].mean()) if mask.any() else nan

    return {
        "samples": float(len(rows)),
        "worked": float(worked.mean()),
        "pass@1 worked": rate(worked),
        "pass@1 direct": rate(~worked),
        "pass@1 worked, first value 0-9": rate(small),
        "pass@1 worked, first value not 0-9": rate(worked & ~small),
        "pass@1": float(rows["correct"].mean()),
    }


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    print(
        "| run | samples | worked | pass@1 worked | pass@1 direct | pass@1 | worked, first "
        "value 0-9 / not |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for folder in argv:
        h = habits(folder)
        print(
            f"| {folder} | {h['samples']:.0f} | {100 * h['worked']:.1f}% | "
            f"{100 * h['pass@1 worked']:.1f}% | {100 * h['pass@1 direct']:.1f}% | "
            f"{100 * h['pass@1']:.1f}% | {100 * h['pass@1 worked, first value 0-9']:.1f}% / "
            f"{100 * h['pass@1 worked, first value not 0-9']:.1f}% |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
