"""Two evaluations of the same problems compared as the demo compares its models: the mean of the
per-problem differences of pass@1 with its standard error, and the verdict (`r1lab.report`).

    python tools/paired.py runs/a/heldout.json runs/b/heldout.json [--key maj@8]

Each argument is a benchmark JSON an evaluate run wrote (`r1lab evaluate <recipe> --model M
--out DIR/heldout.json`, or a demo stage's `eval_<model>/heldout.json`). It says how much the
first beats the second; a comparison across other problems is refused.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from r1lab.report import paired, verdict


def compare(better: dict, worse: dict, key: str = "pass@1") -> str:
    """One line: both scores, their paired difference ± its s.e., and the verdict."""
    delta, noise, how = paired(better, worse, key)
    return (
        f"{key} {100 * better[key]:.1f}% vs {100 * worse[key]:.1f}% ({100 * delta:+.1f} pts; s.e. "
        f"of the {how} difference {100 * noise:.1f}): {verdict(delta, noise)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("better", help="the evaluation claimed to be better (its JSON)")
    parser.add_argument("worse", help="the evaluation it is compared with")
    parser.add_argument("--key", default="pass@1", help="pass@1 (default) or maj@<k>")
    args = parser.parse_args(argv)
    a, b = (json.loads(Path(p).read_text()) for p in (args.better, args.worse))
    print(f"{args.better} over {args.worse}: {compare(a, b, args.key)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
