#!/usr/bin/env python
"""How fast racekit finds the balance race, how many trials it runs per second,
and how fast ``racekit --help`` answers: each against a naive baseline measured
in the same run, on the same interpreter.

    python benchmarks/detect.py              # full run (a few minutes)
    python benchmarks/detect.py --quick      # fewer repeats, smaller caps
    python benchmarks/detect.py --check      # exit 1 when a target is missed

The subject is ``cases/balance.yaml``, variant ``unlocked``, iterations=1000:
two threads doing ``account.balance += 1`` / ``-= 1`` a thousand times each.
The naive baseline is the lecture notes' program (example 5, without its lock
and prints): plain ``threading.Thread`` objects started and joined in this
process, under ``sys.setswitchinterval(1e-6)``.

It is a measurement, not a test: the exit status is 0 unless ``--check`` is
given and a target is missed. See benchmarks/README.md for what each figure
means and the figures measured on each supported CPython.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # measure this checkout, installed or not

from racekit import __version__  # noqa: E402
from racekit.case.loader import load_case  # noqa: E402
from racekit.engine import RunOptions, run  # noqa: E402
from racekit.runtime.pool import default_workers  # noqa: E402

CASE = REPO / "cases" / "balance.yaml"
VARIANT = "unlocked"
ITERATIONS = 1000
SWITCH_INTERVAL = 1e-6  # racekit's default, and the notes' "make it switch often"
MODES = ("native", "line", "opcode")

# Targets (DESIGN.md / the maintainers' performance goals).
TARGET_FIRST_LOSS = 0.5  # s, median, opcode mode
TARGET_THROUGHPUT = 0.9  # racekit native trials/s as a fraction of the naive loop's
TARGET_HELP = 0.5  # s, median wall time of `racekit --help`


# -- the naive baseline: the lecture notes' program, one trial ----------------


def naive_trial(iterations: int = ITERATIONS) -> int:
    """One run of the notes' example 5 without its lock (and prints): the same
    setup as balance.yaml (a fresh class, account and lock per trial) and the
    same two threads, started and joined in this process. Returns the balance."""

    class Account:
        def __init__(self) -> None:
            self.balance = 0

        def add(self) -> None:
            for _ in range(iterations):
                self.balance += 1

        def delete(self) -> None:
            for _ in range(iterations):
                self.balance -= 1

    account = Account()
    threading.Lock()  # balance.yaml's setup creates one too (the unlocked variant ignores it)
    thread1 = threading.Thread(target=account.add)
    thread2 = threading.Thread(target=account.delete)
    thread1.start()
    thread2.start()
    thread1.join()
    thread2.join()
    return account.balance


class switch_interval:
    """``sys.setswitchinterval`` for a block, restored afterwards."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        self.previous = sys.getswitchinterval()
        sys.setswitchinterval(self.seconds)

    def __exit__(self, *exc: object) -> None:
        sys.setswitchinterval(self.previous)


# -- one attempt to find the race ---------------------------------------------


@dataclass
class Attempt:
    found: bool
    seconds: float  # to the first wrong outcome; to the cap when not found
    trials: int  # trials finished up to the first wrong outcome (or in all)
    done: float  # when the attempt returned (racekit: run() after stopping its workers)
    capped_by: str = ""  # "trials" or "time" when not found


class _TimeCap(Exception):
    """Raised from racekit's progress callback to end an attempt at the time cap."""


def naive_attempt(cap_trials: int, cap_seconds: float) -> Attempt:
    start = time.perf_counter()
    with switch_interval(SWITCH_INTERVAL):
        for n in range(1, cap_trials + 1):
            wrong = naive_trial() != 0
            now = time.perf_counter() - start
            if wrong:
                return Attempt(True, now, n, now)
            if now >= cap_seconds:
                return Attempt(False, now, n, now, "time")
    now = time.perf_counter() - start
    return Attempt(False, now, cap_trials, now, "trials")


def racekit_attempt(cases: list, mode: str, seed: int, cap_trials: int, cap_seconds: float) -> Attempt:
    options = RunOptions(modes=(mode,), runs=cap_trials, stop_on_failure=True, params={"iterations": ITERATIONS},
                         seed=seed, variants=(VARIANT,), switch_interval=SWITCH_INTERVAL)
    seen = 0
    first: float | None = None
    first_trials = 0

    def on_trial(_planned: object, trial: object) -> None:
        nonlocal seen, first, first_trials
        seen += 1
        now = time.perf_counter() - start
        if first is None and not trial.matches:  # type: ignore[attr-defined]
            first, first_trials = now, seen
        if first is None and now >= cap_seconds:
            raise _TimeCap

    start = time.perf_counter()
    try:
        result = run(cases, options, progress=on_trial)
    except _TimeCap:
        done = time.perf_counter() - start
        return Attempt(False, done, seen, done, "time")
    done = time.perf_counter() - start
    if first is not None:
        return Attempt(True, first, first_trials, done)
    variant = result.variants[0]
    if variant.wrong:  # pragma: no cover - the callback saw every trial
        raise RuntimeError("racekit reported a wrong outcome the progress callback did not see")
    return Attempt(False, done, variant.runs, done, "trials")


# -- throughput ---------------------------------------------------------------


@dataclass
class Throughput:
    trials: int
    seconds: float
    in_trial: float = 0.0  # mean seconds per trial spent inside the trial itself (racekit: Trial.duration)

    @property
    def rate(self) -> float:
        return self.trials / self.seconds


def naive_throughput(trials: int) -> Throughput:
    start = time.perf_counter()
    with switch_interval(SWITCH_INTERVAL):
        for _ in range(trials):
            naive_trial()
    seconds = time.perf_counter() - start
    return Throughput(trials, seconds, seconds / trials)


def racekit_throughput(cases: list, trials: int, seed: int) -> Throughput:
    options = RunOptions(modes=("native",), runs=trials, params={"iterations": ITERATIONS}, seed=seed,
                         variants=(VARIANT,), switch_interval=SWITCH_INTERVAL)
    durations: list[float] = []
    start = time.perf_counter()
    result = run(cases, options, progress=lambda _p, t: durations.append(t.duration))
    seconds = time.perf_counter() - start
    runs = result.variants[0].runs
    if runs != trials:
        raise RuntimeError(f"racekit ran {runs} of {trials} trials")
    return Throughput(runs, seconds, statistics.fmean(durations))


# -- start-up -----------------------------------------------------------------


def help_command() -> list[str]:
    script = Path(sys.executable).with_name("racekit")
    if script.exists():
        return [str(script), "--help"]
    found = shutil.which("racekit")
    if found and Path(found).resolve().parent == Path(sys.executable).resolve().parent:
        return [found, "--help"]
    return [sys.executable, "-m", "racekit", "--help"]


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}: {done.stderr.decode(errors='replace')}")
    return seconds


# -- reporting ----------------------------------------------------------------


def fmt_s(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def median_or_none(attempts: list[Attempt]) -> float | None:
    """The median time to find, counting attempts that did not find as +inf
    (censored): None when at least half of them found nothing."""
    times = sorted(a.seconds if a.found else float("inf") for a in attempts)
    m = statistics.median(times)
    return None if m == float("inf") else m


def never_text(attempts: list[Attempt]) -> str:
    trials = sum(a.trials for a in attempts)
    longest = max(a.seconds for a in attempts)
    timed_out = sum(a.capped_by == "time" for a in attempts)
    text = f"never in {len(attempts)} attempts, {trials} trials"
    if timed_out:
        text += f" ({timed_out} hit the {fmt_s(longest)} time cap)"
    return text


def detection_summary(attempts: list[Attempt]) -> str:
    m = median_or_none(attempts)
    found = sum(a.found for a in attempts)
    if not found:
        return never_text(attempts)
    if m is None:
        return f"found in only {found} of {len(attempts)} attempts: median beyond the cap"
    return f"median {fmt_s(m)}"


def progress_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=None, help="attempts per scheduler for time-to-first-loss (default 15; 5 with --quick)")
    parser.add_argument("--quick", action="store_true", help="smaller figures, about a minute: 5 repeats, caps 200 trials / 10 s, 500 throughput trials, 5 --help runs")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--cap-trials", type=int, default=None, help="trials per attempt before giving up (default 400)")
    parser.add_argument("--cap-seconds", type=float, default=None, help="seconds per attempt before giving up (default 20)")
    parser.add_argument("--trials", type=int, default=None, help="trials per throughput measurement (default 2000)")
    parser.add_argument("--rounds", type=int, default=None, help="throughput measurements of each kind, alternating (default 3)")
    parser.add_argument("--help-runs", type=int, default=None, help="subprocess runs of `racekit --help` and `python -c pass` (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="base seed of racekit runs (attempt i uses seed + i)")
    args = parser.parse_args(argv)
    q = args.quick
    repeats = args.repeats or (5 if q else 15)
    cap_trials = args.cap_trials or (200 if q else 400)
    cap_seconds = args.cap_seconds or (10.0 if q else 20.0)
    trials = args.trials or (500 if q else 2000)
    rounds = args.rounds or (1 if q else 3)
    help_runs = args.help_runs or (5 if q else 10)
    for name, value in (("--repeats", repeats), ("--cap-trials", cap_trials), ("--trials", trials),
                        ("--rounds", rounds), ("--help-runs", help_runs)):
        if value < 1:
            parser.error(f"{name} must be at least 1, got {value}")
    if cap_seconds <= 0:
        parser.error(f"--cap-seconds must be more than 0, got {cap_seconds}")

    cases = [load_case(CASE)]
    started = time.perf_counter()

    # a/b. Time to the first lost update. Schedulers take turns within each
    # repeat, so drift in the machine's load touches all of them alike.
    kinds: list[tuple[str, Callable[[int], Attempt]]] = [
        ("naive", lambda i: naive_attempt(cap_trials, cap_seconds)),
        *[(mode, (lambda m: lambda i: racekit_attempt(cases, m, args.seed + i, cap_trials, cap_seconds))(mode)) for mode in MODES],
    ]
    attempts: dict[str, list[Attempt]] = {name: [] for name, _ in kinds}
    for i in range(repeats):
        for name, attempt in kinds:
            attempts[name].append(attempt(i))
        progress_line(f"  detection repeat {i + 1}/{repeats}: "
                      + ", ".join(f"{n} {fmt_s(a[-1].seconds) if a[-1].found else '-'}" for n, a in attempts.items()))

    # c. Throughput, alternating naive and racekit rounds.
    naive_rounds: list[Throughput] = []
    racekit_rounds: list[Throughput] = []
    for r in range(rounds):
        naive_rounds.append(naive_throughput(trials))
        racekit_rounds.append(racekit_throughput(cases, trials, args.seed + 1000 + r))
        progress_line(f"  throughput round {r + 1}/{rounds}: naive {naive_rounds[-1].rate:.0f}/s, "
                      f"racekit native {racekit_rounds[-1].rate:.0f}/s")

    # d. Start-up, alternating the two commands after one unmeasured warm-up each.
    help_cmd = help_command()
    pass_cmd = [sys.executable, "-c", "pass"]
    wall(help_cmd), wall(pass_cmd)
    help_times, pass_times = [], []
    for _ in range(help_runs):
        help_times.append(wall(help_cmd))
        pass_times.append(wall(pass_cmd))
    progress_line("")

    # -- the report --
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"racekit {__version__} detection benchmark: {CASE.relative_to(REPO)} [{VARIANT}], iterations={ITERATIONS}")
    print(f"Python {platform.python_version()} ({platform.python_implementation()}, {sys.executable})")
    print(f"os.cpu_count()={os.cpu_count()}, racekit workers={default_workers()}, "
          f"switch interval {SWITCH_INTERVAL * 1e6:g} µs, load average at end {load}, "
          f"benchmark took {time.perf_counter() - started:.0f} s")
    print()
    print(f"1. Time to the first lost update: {repeats} attempts per scheduler, each from the start of the attempt "
          f"(racekit: run(), worker start-up included) to the first wrong outcome, capped at {cap_trials} trials / {fmt_s(cap_seconds)}")
    labels = {"naive": "naive threads (baseline)", "native": "racekit native", "line": "racekit line", "opcode": "racekit opcode"}
    print(f"   {'scheduler':<26}{'found':>7}  {'median':>8}  {'min':>8}  {'max':>8}  {'trials to find':>14}  {'run() done':>10}")
    for name, atts in attempts.items():
        hits = [a for a in atts if a.found]
        med = median_or_none(atts)
        row = f"   {labels[name]:<26}{len(hits):>3}/{len(atts):<3}  "
        if hits:
            row += (f"{fmt_s(med) if med is not None else '> cap':>8}  {fmt_s(min(a.seconds for a in hits)):>8}  "
                    f"{fmt_s(max(a.seconds for a in hits)):>8}  {statistics.median(a.trials for a in hits):>14g}  "
                    f"{fmt_s(statistics.median(a.done for a in hits)):>10}")
        else:
            row += never_text(atts)
        print(row)
    print()
    naive_rate = statistics.median(t.rate for t in naive_rounds)
    racekit_rate = statistics.median(t.rate for t in racekit_rounds)
    ratio = racekit_rate / naive_rate
    naive_in = statistics.median(t.in_trial for t in naive_rounds)
    racekit_in = statistics.median(t.in_trial for t in racekit_rounds)
    print(f"2. Trial throughput: {trials} trials, median of {rounds} round{'s' if rounds != 1 else ''}, wall clock "
          f"(racekit: the whole run() call, worker start-up and shut-down included)")
    print(f"   {'naive in-process loop (baseline)':<36}{naive_rate:>8.0f} trials/s   {naive_in * 1e6:>6.0f} µs per trial")
    print(f"   {'racekit native, ' + str(default_workers()) + ' workers':<36}{racekit_rate:>8.0f} trials/s   "
          f"{racekit_in * 1e6:>6.0f} µs per trial inside the worker   {ratio:.2f}x naive")
    print()
    help_med, pass_med = statistics.median(help_times), statistics.median(pass_times)
    print(f"3. Start-up: median of {help_runs} runs each")
    print(f"   {'python -c pass (baseline)':<36}{fmt_s(pass_med):>8}")
    print(f"   {' '.join(Path(help_cmd[0]).name if i == 0 else c for i, c in enumerate(help_cmd)):<36}{fmt_s(help_med):>8}"
          f"   {help_med / pass_med:.1f}x python -c pass, {fmt_s(help_med - pass_med)} more")
    print()

    opcode_med = median_or_none(attempts["opcode"])
    naive_found = sum(a.found for a in attempts["naive"])
    baseline = (never_text(attempts["naive"]).replace("attempts, ", "x ").replace(" trials", f" trials / {fmt_s(cap_seconds)} each", 1)
                if not naive_found else f"{detection_summary(attempts['naive'])}, found in {naive_found}/{repeats}")
    targets = [
        ("opcode first lost update < 0.5 s median",
         opcode_med is not None and opcode_med < TARGET_FIRST_LOSS,
         f"{detection_summary(attempts['opcode'])} (baseline: {baseline})"),
        ("native throughput >= 0.9x naive", ratio >= TARGET_THROUGHPUT,
         f"{ratio:.2f}x naive ({racekit_rate:.0f} vs {naive_rate:.0f} trials/s)"),
        ("racekit --help < 0.5 s", help_med < TARGET_HELP,
         f"{fmt_s(help_med)} (baseline python -c pass: {fmt_s(pass_med)}; {help_med / pass_med:.1f}x)"),
    ]
    print("Targets")
    for label, met, detail in targets:
        print(f"   {'met   ' if met else 'MISSED'}  {label:<42} {detail}")
    missed = sum(not met for _, met, _ in targets)
    print(f"   {len(targets) - missed} of {len(targets)} targets met")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
