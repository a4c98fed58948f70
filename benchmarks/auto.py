"""Mode auto against opcode on cases racekit was not tuned to, measured in one run.

For each variant of the held-out cases (tests/cases/auto/heldout.yaml, written
from the README alone) and each seed: whether the verdict was right, and the
wall time of the whole `racekit run` command, under `auto` (the default) and
under `opcode` with the same number of runs. Prints the right verdicts out of
all and the median time ratio auto / opcode.

Run: python benchmarks/auto.py [--seeds N] [--runs N] [FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELDOUT = ROOT / "tests" / "cases" / "auto" / "heldout.yaml"


def run(path: Path, mode: str, seed: int, runs: int | None) -> tuple[float, dict[str, bool]]:
    """One `racekit run` as a user types it; (seconds, variant -> right verdict)."""
    command = [sys.executable, "-m", "racekit", "run", str(path), "-m", mode, "--seed", str(seed), "-f", "json"]
    if runs:
        command += ["--runs", str(runs)]
    env = {**os.environ, "RACEKIT_DATABASE": "off", "PYTHONPATH": str(ROOT)}  # no run replays another's failure
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    elapsed = time.perf_counter() - started
    doc = json.loads(proc.stdout)
    return elapsed, {v["name"]: v["ok"] for c in doc["cases"] for v in c["variants"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=HELDOUT)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=None, help="runs per variant (default: the case's own)")
    args = parser.parse_args()
    right = {"auto": 0, "opcode": 0}
    total = 0
    times: dict[str, list[float]] = {"auto": [], "opcode": []}
    missed: dict[str, list[str]] = {"auto": [], "opcode": []}
    for seed in range(1, args.seeds + 1):
        for mode in ("auto", "opcode"):  # alternating, so that load falls on both alike
            elapsed, verdicts = run(args.file, mode, seed, args.runs)
            times[mode].append(elapsed)
            right[mode] += sum(verdicts.values())
            missed[mode] += [f"{name} (seed {seed})" for name, ok in verdicts.items() if not ok]
            if mode == "auto":
                total += len(verdicts)
        print(f"seed {seed}: auto {times['auto'][-1]:.2f} s, opcode {times['opcode'][-1]:.2f} s", file=sys.stderr)
    print(f"racekit auto vs opcode · {args.file.name} · Python {sys.version.split()[0]} · {os.cpu_count()} CPUs · "
          f"{args.seeds} seeds")
    for mode in ("auto", "opcode"):
        print(f"  {mode:7} right {right[mode]}/{total}   median {statistics.median(times[mode]):.2f} s per command"
              + (f"   wrong: {', '.join(missed[mode])}" if missed[mode] else ""))
    ratio = statistics.median(a / o for a, o in zip(times["auto"], times["opcode"]))
    print(f"  time ratio auto / opcode (median of the seeds' ratios): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
