"""Partial-order reduction against plain depth-first search, measured in one run.

For each model: the executions and the seconds a complete search takes with
plain DFS (every interleaving) and with DPOR (one per class of equivalent
interleavings), the outcomes each reached (they must be the same), and the
ratio of executions. DFS stops at --cap executions and is then reported as
not complete (the ratio is then a lower bound, printed with ">").

Run: python benchmarks/dpor.py [--cap N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from racekit.case.loader import load_case  # noqa: E402
from racekit.options import ModeSpec  # noqa: E402
from racekit.runtime.controlled.run import drive  # noqa: E402
from racekit.runtime.controlled.strategies.dfs import DepthFirst  # noqa: E402
from racekit.runtime.controlled.strategies.dpor import PartialOrder  # noqa: E402
from racekit.runtime.programs import compile_program  # noqa: E402

INCREMENTS = """
racekit: 1
name: increments
setup: |
  class X:
      v = 0
  x = X()
threads:
  t: {code: "for _ in range(2):\\n    x.v += 1", count: 3}
outcome: x.v
expect: 6
"""

TESTS = ROOT / "tests" / "cases"


def search(variant, strategy, cap: int) -> tuple[int, float, set[str], bool]:
    program = compile_program(variant, ModeSpec("controlled", strategy="exhaustive"))
    started = time.perf_counter()
    outcomes: set[str] = set()
    runs = 0
    for trial, _controller in drive(program, 0, 1, strategy):
        outcomes.add(trial.outcome)
        runs += 1
        if runs >= cap:
            return runs, time.perf_counter() - started, outcomes, False
    return runs, time.perf_counter() - started, outcomes, True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap", type=int, default=20_000, help="executions plain DFS may run (default 20,000)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="racekit-dpor-"))
    (folder / "increments.yaml").write_text(INCREMENTS)
    models = [
        ("3 threads x 2 `x.v += 1`", folder / "increments.yaml", None),
        ("3-thread lazy init", TESTS / "auto" / "heldout.yaml", "lazy_three"),
        ("3-thread locked singleton (double-checked)", TESTS / "userlib" / "inventory_cases.yaml", "singleton_locked"),
        ("oversold stock (check-then-act)", TESTS / "auto" / "heldout.yaml", "oversold"),
        ("three threads, two locations", TESTS / "dpor" / "sync.yaml", "two_locations"),
    ]
    print(f"{'model':45} {'DFS runs':>10} {'DFS s':>7} {'DPOR runs':>10} {'DPOR s':>7} {'ratio':>8}  same outcomes")
    for title, path, name in models:
        case = load_case(path)
        variant = case.variant(name) if name else case.variants[0]
        dfs_runs, dfs_time, dfs_outcomes, complete = search(variant, DepthFirst(None), args.cap)
        dpor_runs, dpor_time, dpor_outcomes, _ = search(variant, PartialOrder(), 10 ** 9)
        ratio = f"{'' if complete else '>'}{dfs_runs / dpor_runs:.1f}x"
        same = dfs_outcomes == dpor_outcomes if complete else dfs_outcomes <= dpor_outcomes
        print(f"{title:45} {dfs_runs:>10,} {dfs_time:>7.2f} {dpor_runs:>10,} {dpor_time:>7.2f} {ratio:>8}  "
              f"{'yes' if same else 'NO'}{'' if complete else ' (DFS not complete: its outcomes are a subset)'}")


if __name__ == "__main__":
    main()
