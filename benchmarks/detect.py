#!/usr/bin/env python
"""How fast racekit finds the balance race, how many trials it runs per second,
and how fast ``racekit --help`` answers: each against a naive baseline measured
in the same run, on the same interpreter.

    python benchmarks/detect.py              # full run, about a minute on 2 cores
    python benchmarks/detect.py --quick      # fewer repeats and rounds, smaller caps
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
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # measure this checkout, installed or not

from racekit import __version__  # noqa: E402
from racekit.case.loader import load_case  # noqa: E402
from racekit.engine import RunOptions, run  # noqa: E402
from racekit.runtime.pool import default_workers  # noqa: E402
from racekit.records import Status  # noqa: E402

CASE = REPO / "cases" / "balance.yaml"
VARIANT = "unlocked"
ITERATIONS = 1000
SWITCH_INTERVAL = 1e-6  # racekit's default, and the notes' "make it switch often"
MODES = ("native", "line", "opcode")

# Targets (the maintainers' performance goals).
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
        if trial.status is not Status.DONE:  # type: ignore[attr-defined]
            raise RuntimeError(f"a {mode} trial ended in {trial.status.value}: {trial.outcome}")  # type: ignore[attr-defined]
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
    in_trial: float  # mean seconds per trial inside the trial itself (racekit: Trial.duration, in a worker)
    first: float = 0.0  # racekit: seconds from run() to the first trial's result (worker start-up)
    tail: float = 0.0  # racekit: seconds from the last trial's result until run() returned (shut-down, grading)
    parent_cpu: float = 0.0  # racekit: CPU seconds this (the parent) process used during run()
    cpu: float = 0.0  # CPU seconds in all: this process (every thread), plus racekit's worker processes

    @property
    def cpu_per_trial(self) -> float:
        return self.cpu / self.trials

    @property
    def rate(self) -> float:
        return self.trials / self.seconds


def children_cpu() -> float:
    """CPU seconds of this process's finished (waited-for) child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def naive_throughput(trials: int) -> Throughput:
    cpu = time.process_time()
    start = time.perf_counter()
    with switch_interval(SWITCH_INTERVAL):
        for _ in range(trials):
            naive_trial()
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    return Throughput(trials, seconds, seconds / trials, cpu=cpu)


def racekit_throughput(cases: list, trials: int, seed: int, workers: int | None = None) -> Throughput:
    options = RunOptions(modes=("native",), runs=trials, params={"iterations": ITERATIONS}, seed=seed,
                         variants=(VARIANT,), switch_interval=SWITCH_INTERVAL, workers=workers)
    durations: list[float] = []
    stamps: list[float] = []

    def on_trial(_planned: object, trial: object) -> None:
        stamps.append(time.perf_counter())
        durations.append(trial.duration)  # type: ignore[attr-defined]

    cpu, workers_cpu = time.process_time(), children_cpu()
    start = time.perf_counter()
    result = run(cases, options, progress=on_trial)  # its workers have exited (and were waited for) on return
    end = time.perf_counter()
    cpu, workers_cpu = time.process_time() - cpu, children_cpu() - workers_cpu
    runs = result.variants[0].runs
    if runs != trials:
        raise RuntimeError(f"racekit ran {runs} of {trials} trials")
    return Throughput(runs, end - start, statistics.fmean(durations), stamps[0] - start, end - stamps[-1], cpu,
                      cpu + workers_cpu)


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


def revision() -> str:
    """The checkout measured: commit, and whether racekit/ has uncommitted changes."""
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "racekit"], capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown revision"
    if not commit:
        return "unknown revision"
    return f"commit {commit}" + (" + uncommitted changes in racekit/" if dirty else "")


def bytecode_note() -> str:
    """Whether racekit's modules load from a bytecode cache: without one, every
    worker and every `racekit --help` compiles them from source."""
    import importlib.util

    import racekit.engine

    cached = os.path.exists(importlib.util.cache_from_source(racekit.engine.__file__))
    if cached:
        return "racekit loads from .pyc"
    why = " (PYTHONDONTWRITEBYTECODE is set)" if sys.dont_write_bytecode else ""
    return f"no .pyc for racekit{why}: each worker compiles it from source"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


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


def never_text(attempts: list[Attempt], cap_trials: int, cap_seconds: float) -> str:
    trials = sum(a.trials for a in attempts)
    timed_out = sum(a.capped_by == "time" for a in attempts)
    text = f"never in {len(attempts)} attempts x {cap_trials} trials / {cap_seconds:g} s ({trials} trials in all"
    return text + (f"; {timed_out} attempts hit the time cap)" if timed_out else ")")


def detection_summary(attempts: list[Attempt], cap_trials: int, cap_seconds: float) -> str:
    m = median_or_none(attempts)
    found = sum(a.found for a in attempts)
    if not found:
        return never_text(attempts, cap_trials, cap_seconds)
    if m is None:
        return f"found in only {found} of {len(attempts)} attempts: median beyond the cap"
    return f"median {fmt_s(m)}"


def median_of(rounds: list[Throughput], attr: str) -> float:
    return statistics.median(getattr(t, attr) for t in rounds)


def paired_ratio(rounds: list[Throughput], baseline: list[Throughput]) -> float:
    return statistics.median(t.rate / b.rate for t, b in zip(rounds, baseline))


def progress_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--repeats", type=int, help="attempts per scheduler for the time to the first lost update (default 15; 5 with --quick)")
    add("--quick", action="store_true",
        help="about 10 s: 5 repeats, caps of 200 trials / 10 s, 1 throughput round, 5 --help runs")
    add("--check", action="store_true", help="exit 1 when a target is missed")
    add("--cap-trials", type=int, help="trials per attempt before giving up (default 400)")
    add("--cap-seconds", type=float, help="seconds per attempt before giving up (default 20)")
    add("--trials", type=int, help="trials per throughput measurement (default 2000)")
    add("--rounds", type=int, help="throughput rounds, each running every contender back to back (default 5; 1 with --quick)")
    add("--help-runs", type=int, help="runs each of `racekit --help` and `python -c pass` (default 10; 5 with --quick)")
    add("--seed", type=int, default=1, help="base seed of racekit runs (attempt i uses seed + i)")
    args = parser.parse_args(argv)

    def pick(value: float | None, full: float, quick: float) -> float:
        return value if value is not None else (quick if args.quick else full)

    repeats = int(pick(args.repeats, 15, 5))
    cap_trials = int(pick(args.cap_trials, 400, 200))
    cap_seconds = pick(args.cap_seconds, 20.0, 10.0)
    trials = int(pick(args.trials, 2000, 2000))
    rounds = int(pick(args.rounds, 5, 1))
    help_runs = int(pick(args.help_runs, 10, 5))
    for name, value in (("--repeats", repeats), ("--cap-trials", cap_trials), ("--trials", trials),
                        ("--rounds", rounds), ("--help-runs", help_runs)):
        if value < 1:
            parser.error(f"{name} must be at least 1, got {value}")
    if cap_seconds <= 0:
        parser.error(f"--cap-seconds must be more than 0, got {cap_seconds}")

    cases = [load_case(CASE)]
    load_before = load_average()
    started = time.perf_counter()

    # a/b. Time to the first lost update. Schedulers take turns within each
    # repeat, so drift in the machine's load touches all of them alike.
    kinds: dict[str, Callable[[int], Attempt]] = {"naive": lambda _i: naive_attempt(cap_trials, cap_seconds)}
    for mode in MODES:
        kinds[mode] = lambda i, mode=mode: racekit_attempt(cases, mode, args.seed + i, cap_trials, cap_seconds)
    attempts: dict[str, list[Attempt]] = {name: [] for name in kinds}
    for i in range(repeats):
        for name, attempt in kinds.items():
            attempts[name].append(attempt(i))
        progress_line(f"  detection repeat {i + 1}/{repeats}: "
                      + ", ".join(f"{n} {fmt_s(a[-1].seconds) if a[-1].found else '-'}" for n, a in attempts.items()))

    # c. Throughput, alternating naive and racekit rounds. The one-worker pool
    # is for reference only: it shows what the second worker buys.
    naive_rounds: list[Throughput] = []
    racekit_rounds: list[Throughput] = []
    single_rounds: list[Throughput] = []
    for r in range(rounds):
        naive_rounds.append(naive_throughput(trials))
        racekit_rounds.append(racekit_throughput(cases, trials, args.seed + 1000 + r))
        single_rounds.append(racekit_throughput(cases, trials, args.seed + 2000 + r, workers=1))
        progress_line(f"  throughput round {r + 1}/{rounds}: naive {naive_rounds[-1].rate:.0f}/s, racekit native "
                      f"{racekit_rounds[-1].rate:.0f}/s, with 1 worker {single_rounds[-1].rate:.0f}/s")

    # d. Start-up, alternating the two commands after one unmeasured warm-up each.
    help_cmd = help_command()
    help_label = " ".join([Path(help_cmd[0]).name, *help_cmd[1:]])
    pass_cmd = [sys.executable, "-c", "pass"]
    wall(help_cmd)  # warm-ups: file caches, not measured
    wall(pass_cmd)
    help_times, pass_times = [], []
    for _ in range(help_runs):
        help_times.append(wall(help_cmd))
        pass_times.append(wall(pass_cmd))
    progress_line("")

    # -- the report --
    print(f"racekit {__version__} ({revision()}) detection benchmark: {CASE.relative_to(REPO)} [{VARIANT}], "
          f"iterations={ITERATIONS}")
    print(f"Python {platform.python_version()} ({platform.python_implementation()}, {sys.executable})")
    print(f"os.cpu_count()={os.cpu_count()}, racekit workers={default_workers()}, "
          f"switch interval {SWITCH_INTERVAL * 1e6:g} µs, {bytecode_note()}")
    print(f"load average before {load_before}, after {load_average()}; the benchmark took "
          f"{time.perf_counter() - started:.0f} s")
    print()
    caps = (cap_trials, cap_seconds)
    report_detection(attempts, caps)
    ratio = report_throughput(naive_rounds, racekit_rounds, single_rounds)
    help_med, pass_med = statistics.median(help_times), statistics.median(pass_times)
    print(f"3. Start-up: median of {help_runs} runs each")
    print(f"   {'python -c pass (baseline)':<36}{fmt_s(pass_med):>8}")
    print(f"   {help_label:<36}{fmt_s(help_med):>8}   {help_med / pass_med:.1f}x python -c pass, "
          f"{fmt_s(help_med - pass_med)} more")
    print()

    opcode_med = median_or_none(attempts["opcode"])
    naive = attempts["naive"]
    baseline = detection_summary(naive, *caps)
    if any(a.found for a in naive):
        baseline += f", found in {sum(a.found for a in naive)} of {len(naive)} attempts"
    targets = [
        ("opcode first lost update < 0.5 s median", opcode_med is not None and opcode_med < TARGET_FIRST_LOSS,
         f"{detection_summary(attempts['opcode'], *caps)} (baseline: {baseline})"),
        ("native throughput >= 0.9x naive", ratio >= TARGET_THROUGHPUT,
         f"{ratio:.2f}x naive ({median_of(racekit_rounds, 'rate'):.0f} vs {median_of(naive_rounds, 'rate'):.0f} trials/s)"),
        (f"{help_label} < 0.5 s", help_med < TARGET_HELP,
         f"{fmt_s(help_med)} (baseline python -c pass: {fmt_s(pass_med)}; {help_med / pass_med:.1f}x)"),
    ]
    print("Targets")
    for label, met, detail in targets:
        print(f"   {'met   ' if met else 'MISSED'}  {label:<42} {detail}")
    missed = sum(not met for _, met, _ in targets)
    print(f"   {len(targets) - missed} of {len(targets)} targets met")
    return 1 if args.check and missed else 0


def report_detection(attempts: dict[str, list[Attempt]], caps: tuple[int, float]) -> None:
    print(f"1. Time to the first lost update: {len(attempts['naive'])} attempts per scheduler, each from its start "
          f"(racekit: run(), worker start-up included) to the first wrong outcome, capped at {caps[0]} trials / {caps[1]:g} s")
    labels = {"naive": "naive threads (baseline)", "native": "racekit native", "line": "racekit line",
              "opcode": "racekit opcode"}
    print(f"   {'scheduler':<26}{'found':>7}  {'median':>8}  {'min':>8}  {'max':>8}  {'trials to find':>14}  "
          f"{'run() done':>10}")
    for name, atts in attempts.items():
        hits = [a for a in atts if a.found]
        row = f"   {labels[name]:<26}{len(hits):>3}/{len(atts):<3}  "
        if hits:
            median = median_or_none(atts)
            row += (f"{fmt_s(median) if median is not None else '> cap':>8}  {fmt_s(min(a.seconds for a in hits)):>8}  "
                    f"{fmt_s(max(a.seconds for a in hits)):>8}  {statistics.median(a.trials for a in hits):>14g}  "
                    f"{fmt_s(statistics.median(a.done for a in hits)):>10}")
        else:
            row += never_text(atts, *caps)
        print(row)
    print()


def report_throughput(naive: list[Throughput], racekit: list[Throughput], single: list[Throughput]) -> float:
    """Prints the throughput figures; returns racekit's ratio to the naive loop."""
    trials, rounds = naive[0].trials, len(naive)
    print(f"2. Trial throughput: {trials} trials, median of {rounds} round{'s' if rounds != 1 else ''}, wall clock "
          f"(racekit: the whole run() call, worker start-up and shut-down included)")
    print("   ratio: the median of the rounds' own ratios (a round runs each contender back to back); "
          "CPU: every thread and process")
    print(f"   {'naive in-process loop (baseline)':<36}{median_of(naive, 'rate'):>6.0f} trials/s{'':<14}"
          f"CPU {median_of(naive, 'cpu_per_trial') * 1e6:>4.0f} µs per trial; "
          f"{median_of(naive, 'in_trial') * 1e6:.0f} µs wall per trial")
    for label, rounds_ in ((f"racekit native, {default_workers()} workers", racekit),
                           ("racekit native, 1 worker (reference)", single)):
        ratios = sorted(t.rate / n.rate for t, n in zip(rounds_, naive))
        spread = f" (rounds {ratios[0]:.2f}-{ratios[-1]:.2f}x)" if len(ratios) > 1 else ""
        print(f"   {label:<36}{median_of(rounds_, 'rate'):>6.0f} trials/s {paired_ratio(rounds_, naive):>5.2f}x naive   "
              f"CPU {median_of(rounds_, 'cpu_per_trial') * 1e6:>4.0f} µs per trial, of which parent "
              f"{median_of(rounds_, 'parent_cpu') / trials * 1e6:.0f}{spread}")
        print(f"   {'':<36}{median_of(rounds_, 'in_trial') * 1e6:>6.0f} µs wall per trial inside a worker; "
              f"first result after {fmt_s(median_of(rounds_, 'first'))}, "
              f"last result to return {fmt_s(median_of(rounds_, 'tail'))}")
    print()
    return paired_ratio(racekit, naive)

if __name__ == "__main__":
    sys.exit(main())
