"""Controlled mode's figures, each against a baseline measured in the same run.

1. Scheduling steps per second (the unlocked balance, iterations=1000, random
   strategy: 4000 visible operations per trial), against the bare cost of the
   mechanism underneath: two threads handing a token back and forth through
   one semaphore each. Measured with the process free and pinned to one CPU.
2. The exhaustive search of two threads doing `x.v += 1` twice (70
   interleavings), in process.
3. Time to the first failure of the unlocked balance with the random
   strategy: from `run()` (worker start-up included) to the first wrong trial,
   and in process for one trial.
4. Determinism: 100 replays of one failing schedule, counted by distinct trace.

Run: python benchmarks/controlled.py [--rounds N] [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from racekit.case.loader import load_case, parse_case  # noqa: E402
from racekit.engine import RunOptions, replay_schedule, run  # noqa: E402
from racekit.runtime.controlled.run import execute  # noqa: E402
from racekit.runtime.controlled.strategies.random import RandomStrategy  # noqa: E402
from racekit.runtime.controlled.search import explore  # noqa: E402
from racekit.options import ModeSpec  # noqa: E402
from racekit.runtime.programs import compile_program  # noqa: E402

TWICE = b"""racekit: 1
name: twice
setup: |
  class X:
      def __init__(self):
          self.v = 0
  x = X()
threads:
  a: |
    for _ in range(2):
        x.v += 1
  b: |
    for _ in range(2):
        x.v += 1
outcome: x.v
expect: 4
"""

TARGETS = {"steps": 40_000, "search": 0.2, "first": 0.2}


def handoffs_per_second(n: int = 40_000) -> float:
    """Two threads, one semaphore each, passing a token n times: the floor cost of a step."""
    mine, theirs = threading.Semaphore(0), threading.Semaphore(0)

    def partner() -> None:
        for _ in range(n // 2):
            theirs.acquire()
            mine.release()

    thread = threading.Thread(target=partner)
    thread.start()
    started = time.perf_counter()
    for _ in range(n // 2):
        theirs.release()
        mine.acquire()
    elapsed = time.perf_counter() - started
    thread.join()
    return n / elapsed


def steps_per_second(program, trials: int = 5) -> float:
    steps = 0
    started = time.perf_counter()
    for i in range(trials):
        trial, _ = execute(program, i, i, RandomStrategy(i))
        steps += trial.steps or 0
    return steps / (time.perf_counter() - started)


class pinned:
    """Run the block with this process on one CPU (restored afterwards)."""

    def __enter__(self):
        self.before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(self.before)})

    def __exit__(self, *exc):
        os.sched_setaffinity(0, self.before)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    os.environ["RACEKIT_DATABASE"] = "off"
    balance = load_case(ROOT / "cases" / "balance.yaml")
    unlocked = balance.variant("unlocked")
    program = compile_program(unlocked, ModeSpec("controlled"))

    raw = {"free": [], "pinned": []}
    steps = {"free": [], "pinned": []}
    for _ in range(args.rounds):  # alternate, so load changes touch both alike
        raw["free"].append(handoffs_per_second())
        steps["free"].append(steps_per_second(program))
        with pinned():
            raw["pinned"].append(handoffs_per_second())
            steps["pinned"].append(steps_per_second(program))

    twice = parse_case(TWICE, "twice.yaml").variants[0]
    search_times, counts = [], set()
    for _ in range(args.rounds):
        search_program = compile_program(twice, ModeSpec("controlled", strategy="exhaustive"))
        outcomes: list[str] = []
        started = time.perf_counter()
        summary = explore(search_program, 1, lambda t: outcomes.append(t.outcome), 1000, iterate=False)
        search_times.append(time.perf_counter() - started)
        counts.add((summary.schedules, tuple(sorted((o, outcomes.count(o)) for o in set(outcomes)))))

    first_end_to_end, first_in_process = [], []
    for attempt in range(args.rounds):
        found: list[float] = []
        started = time.perf_counter()

        def progress(_planned, trial, found=found, started=started):
            if not trial.matches and not found:
                found.append(time.perf_counter() - started)

        run([balance], RunOptions(modes=("controlled",), runs=50, variants=("unlocked",), seed=attempt, workers=1,
                                  stop_on_failure=True), progress=progress)
        first_end_to_end.append(found[0] if found else float("inf"))
        fresh = compile_program(unlocked, ModeSpec("controlled"))
        started = time.perf_counter()
        trial, _ = execute(fresh, 0, attempt, RandomStrategy(attempt))
        first_in_process.append(time.perf_counter() - started if not trial.matches else float("inf"))

    schedule = "2:b803a2000"
    traces = set()
    started = time.perf_counter()
    for _ in range(100):
        v = replay_schedule(balance, "unlocked", schedule).variants[0]
        traces.add(json.dumps([v.outcomes, v.trace, v.story], sort_keys=True))
    replay_time = (time.perf_counter() - started) / 100

    med = statistics.median
    print(f"racekit controlled-mode benchmark · Python {sys.version.split()[0]} · {os.cpu_count()} CPUs · "
          f"{args.rounds} rounds")
    print()
    print("1. scheduling steps per second (unlocked balance, 4000 visible operations per trial)")
    for where in ("free", "pinned"):
        print(f"   {where:7} racekit {med(steps[where]):>9,.0f} steps/s   bare semaphore hand-off "
              f"{med(raw[where]):>9,.0f}/s   ratio {med(steps[where]) / med(raw[where]):.2f}")
    print(f"2. exhaustive search, 2 threads x 2 increments: {med(search_times) * 1000:.0f} ms median "
          f"(min {min(search_times) * 1000:.0f}); schedules and outcomes: {sorted(counts)}")
    print(f"3. first failure, random strategy: {med(first_end_to_end) * 1000:.0f} ms median from run() "
          f"(one worker started), {med(first_in_process) * 1000:.0f} ms for the failing trial in process")
    print(f"4. 100 replays of {schedule}: {len(traces)} distinct trace(s); {replay_time * 1000:.0f} ms per replay "
          "(a run() each, worker start-up included)")
    best_steps = max(med(steps["free"]), med(steps["pinned"]))
    results = {
        "steps": (best_steps >= TARGETS["steps"], f"{best_steps:,.0f} steps/s (target >= 40,000)"),
        "search": (med(search_times) < TARGETS["search"], f"{med(search_times) * 1000:.0f} ms (target < 200 ms)"),
        "first": (med(first_end_to_end) < TARGETS["first"],
                  f"{med(first_end_to_end) * 1000:.0f} ms from run() (target < 200 ms)"),
        "replay": (len(traces) == 1, f"{len(traces)} distinct trace(s) in 100 replays (target 1)"),
    }
    print()
    for name, (ok, text) in results.items():
        print(f"   {'met   ' if ok else 'MISSED'}  {name:7} {text}")
    return 1 if args.check and not all(ok for ok, _ in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
