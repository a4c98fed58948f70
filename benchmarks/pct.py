"""What PCT finds once it knows the run length, against PCT with a fixed guess.

PCT (probabilistic concurrency testing) places its d-1 priority change points
at random steps in 1..k, where k should be the length of a run. Before racekit
learnt k (from a serial run, then from every trial), k was fixed at 100, so in a
run of thousands of steps every change point fell in its first hundred steps and
a bug late in the run was never found. This script measures, on a case whose
check-then-act (with a stretch of locked work between the check and the act)
comes after a long stretch of locked work, the share of trials
that fail: PCT with k = 100 (the old behaviour), PCT with the learnt k, and the
random strategy, all in one run on one interpreter.

Run: python benchmarks/pct.py [--trials N] [--prefix P] [--window W]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from racekit.case.loader import parse_case  # noqa: E402
from racekit.runtime.controlled.run import _run_length, execute  # noqa: E402
from racekit.runtime.controlled.strategies.pct import PCTStrategy
from racekit.runtime.controlled.strategies.random import RandomStrategy  # noqa: E402
from racekit.options import ModeSpec  # noqa: E402
from racekit.runtime.programs import compile_program  # noqa: E402

LATE_BUG = """racekit: 1
name: late_bug
params: {prefix: 300, window: 30}
setup: |
  class Shop:
      def __init__(self):
          self.stock = 1
          self.sold = 0
          self.work = 0
  shop = Shop()
  lock = threading.Lock()
threads:
  buyer:
    count: 2
    code: |
      for _ in range(prefix):
          with lock:
              shop.work += 1
      if shop.stock > 0:
          for _ in range(window):  # the check and the act, far apart
              with lock:
                  shop.work += 1
          shop.stock -= 1
          shop.sold += 1
outcome: shop.sold
expect: 1
"""


def failures(program, strategy_for, trials: int) -> int:
    wrong = 0
    for seed in range(trials):
        trial, _ = execute(program, seed, seed, strategy_for(seed))
        wrong += not trial.matches
    return wrong


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--prefix", type=int, default=300)
    parser.add_argument("--window", type=int, default=30)
    args = parser.parse_args()
    case = parse_case(LATE_BUG.replace("prefix: 300", f"prefix: {args.prefix}").replace("window: 30", f"window: {args.window}"), "late_bug.yaml")
    program = compile_program(case.variants[0], ModeSpec("controlled", strategy="pct", depth=2))
    length = _run_length(program, 0)
    print(f"racekit PCT benchmark · Python {sys.version.split()[0]} · late check-then-act after {args.prefix} locked "
          f"iterations per thread · a run is {length} steps · {args.trials} trials each")
    rows = []
    for label, make in (("PCT, d=2, k=100 (the old fixed guess)", lambda s: PCTStrategy(s, 2, expected_steps=100)),
                        (f"PCT, d=2, k={length} (learnt)", lambda s: PCTStrategy(s, 2, expected_steps=length)),
                        ("random", lambda s: RandomStrategy(s))):
        started = time.perf_counter()
        wrong = failures(program, make, args.trials)
        rows.append((label, wrong, time.perf_counter() - started))
    width = max(len(r[0]) for r in rows)
    for label, wrong, seconds in rows:
        print(f"  {label:<{width}}  {wrong:>4}/{args.trials} failing  ({100 * wrong / args.trials:5.1f} %, {seconds:.1f} s)")
    old, learnt = rows[0][1], rows[1][1]
    ratio = "infinite" if old == 0 and learnt else f"{learnt / old:.1f}x" if old else "n/a"
    print(f"  learnt k finds the bug in {learnt} trials where k=100 finds it in {old}: {ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
