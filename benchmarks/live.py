"""racekit play's cost per choice, against a plain replay of the same schedule, in one run.

Each choice a student makes is one replay of the schedule so far, paused at the
next choice, with every operation kept (a tape). The baseline is what racekit
already does to replay a schedule: one controlled trial that follows it (the
trial `racekit replay` runs), through the same worker. Both run on a kept
worker, as play keeps one, so the ratio is the tape's and the pause's cost.
Also prints the time from a command to racekit lecture's first screen's data
(the search for the failing schedule and the tape), which is what a class waits for.

Run: python benchmarks/live.py [--choices N] [--iterations N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from racekit.case.loader import load_case  # noqa: E402
from racekit.engine import RunOptions, plan, record_tape, run  # noqa: E402
from racekit.records import Replay  # noqa: E402
from racekit.runtime.pool import Pool  # noqa: E402
from racekit.teach import PlaySession, prepare_lecture  # noqa: E402


def plain_replay(case, variant: str, schedule: str, params: dict, pool: Pool) -> float:
    """One controlled trial that follows ``schedule``, on the kept worker: seconds."""
    options = RunOptions(modes=("controlled",), runs=1, seed=0, variants=(variant,), params=params,
                         replay_saved=False, workers=1, baseline=False)
    planned = plan([case], options)
    started = time.perf_counter()
    run([case], options, planned=planned, plans={0: [Replay(0, planned[0].seed, schedule)]}, pool=pool)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--choices", type=int, default=30)
    parser.add_argument("--iterations", type=int, default=1000)
    args = parser.parse_args()
    case = load_case(ROOT / "cases" / "balance.yaml")
    params = {"iterations": args.iterations}
    pool = Pool(1)
    try:
        session = PlaySession(case, "unlocked", params, pool)
        choice, taped, plain = [], [], []
        for _ in range(args.choices):
            started = time.perf_counter()
            session.go_on()
            choice.append(time.perf_counter() - started)
            # The whole run from this prefix: kept as a tape (what `e` does), and replayed plainly.
            started = time.perf_counter()
            whole = record_tape(case, "unlocked", session.schedule, params, then="go on", pool=pool)
            taped.append(time.perf_counter() - started)
            plain.append(plain_replay(case, "unlocked", whole.tape["schedule"], params, pool))
        started = time.perf_counter()
        prepare_lecture(case, None, None, params, pool)
        lecture = time.perf_counter() - started
    finally:
        pool.close()
    c, t, r = (statistics.median(x) for x in (choice, taped, plain))
    print(f"balance[unlocked], {args.iterations} iterations, {args.choices} choices from the start:")
    print(f"  one play choice (a paused replay, early in the run)  median {c * 1000:7.1f} ms")
    print(f"  a whole run kept as a tape (play's e, a lecture)     median {t * 1000:7.1f} ms")
    print(f"  the same whole run, replayed plainly (baseline)      median {r * 1000:7.1f} ms")
    print(f"  ratio tape / plain replay: {t / r:.2f}")
    print(f"  lecture's search and tape (time before its first screen, without the app): {lecture:.2f} s")


if __name__ == "__main__":
    main()
