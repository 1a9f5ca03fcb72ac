"""Verified selection (rejection sampling) of teacher samples, the DeepSeek-R1 / open-r1 way.

The `generate` kind writes one row per sample (`prompt_id`, `sample`, the source columns,
`prompt`, `completion`, `finish_reason`, token counts, provenance). A recipe's `select:` section
says which samples make SFT data: the verifiers must pass (R1 kept only correct answers), R1's
filters drop mixed-language, long-paragraph and code-block chains of thought, duplicates and
truncated samples go, open-r1's pass-rate band keeps prompts of useful difficulty, and prompts
that overlap a benchmark are dropped before they can leak into training.

Every dropped sample gets exactly one reason, the first that applies in `REASONS` order, so the
counts in the report add up. Each reward is called once over all the rows it judges (batched,
as TRL calls it), never once per row.

The rooms: `config` (the `select:` section), `decontamination`, `filters` (R1's and the pass-rate
band), `selector` (the one pass), `report` (what it writes) and `checks`.
"""

from r1lab.selection.checks import check_select, check_select_columns
from r1lab.selection.config import REASONS, SelectConfig
from r1lab.selection.decontamination import Decontaminator, tokens
from r1lab.selection.report import summary_text, write_selection
from r1lab.selection.selector import Selection, select, select_rows

__all__ = [
    "REASONS",
    "Decontaminator",
    "SelectConfig",
    "Selection",
    "check_select",
    "check_select_columns",
    "select",
    "select_rows",
    "summary_text",
    "tokens",
    "write_selection",
]
