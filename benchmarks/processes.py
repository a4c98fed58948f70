"""What racekit costs per trial of a ``kind: processes`` case (for each start
method) and per run of a ``kind: script`` case, each against a naive loop
measured in the same run, on the same interpreter.

    python benchmarks/processes.py                 # 5 rounds, about 35 s on 2 cores
    python benchmarks/processes.py --rounds 3

1. ``kind: processes``: two children, each doing
   ``with total.get_lock(): total.value += 1`` on a ``multiprocessing.Value``,
   with ``start_method`` fork, spawn and forkserver. racekit runs the case
   through ``racekit.engine.run`` (native mode, one worker); the naive loop
   makes, per trial, a ``multiprocessing.get_context(method).Value``, starts two
   ``Process``es doing the same work and joins them.
2. ``kind: script``: a Python script that prints one line, run by racekit
   against a loop of ``subprocess.run([sys.executable, script], capture_output=True)``.

The headline figure is the wall time of the whole N-trial run divided by N: for
racekit the whole ``run()`` call, so starting and stopping its worker process
is included (once per run). The case files are written to a temporary
directory at run time. It is a measurement, not a test: the exit status is 0
whatever the figures are; a trial that goes wrong (a total other than 2, a
script that prints something else) stops the benchmark with an error. See
benchmarks/README.md.
"""

# A spawned child of the naive loop imports this file again (as
# __mp_main__), so the module level imports only what multiprocessing already
# imports: argparse, dataclasses, pathlib, platform and statistics would add
# 20-27 ms to every spawned child (measured with -X importtime). The rest is
# imported inside the functions that use it.
from __future__ import annotations

import multiprocessing
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = ("fork", "spawn", "forkserver")

PROCESSES_CASE = """\
racekit: 1
name: bench_processes
kind: processes
title: Two children each add 1 to a shared Value under its lock
setup: |
  total = multiprocessing.Value("i", 0)
threads:
  child:
    count: 2
    code: |
      with total.get_lock():
          total.value += 1
outcome: total.value
expect: 2
mode: native
timeout: 30
variants:
  fork: {start_method: fork}
  spawn: {start_method: spawn}
  forkserver: {start_method: forkserver}
"""

SCRIPT = 'print("hello from a script")\n'
SCRIPT_OUTPUT = "hello from a script"

SCRIPT_CASE = """\
racekit: 1
name: bench_script
kind: script
title: A script that prints one line
script: hello.py
expect: "hello from a script"
timeout: 30
"""


class Run:
    """One timed run of N trials."""

    def __init__(self, trials: int, seconds: float, in_trial: float, fixed: float):
        self.trials = trials
        self.seconds = seconds  # wall time of the whole run (racekit: the run() call)
        self.in_trial = in_trial  # mean seconds per trial inside the trial (racekit: Trial.duration, in the worker)
        self.fixed = fixed  # racekit: run() minus the sum of its trials' durations (start-up, shut-down, results, grading)

    @property
    def per_trial(self) -> float:
        return self.seconds / self.trials


# -- the naive baselines -------------------------------------------------------


def naive_child(total) -> None:  # a multiprocessing.Value
    with total.get_lock():
        total.value += 1


def naive_process_trial(context) -> int:  # a multiprocessing context
    """The minimum any tool pays for one trial: a fresh Value, two processes
    started and joined. Returns the total (2 when all went well)."""
    total = context.Value("i", 0)
    children = [context.Process(target=naive_child, args=(total,)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join()
    return total.value


def naive_processes(method: str, trials: int) -> Run:
    context = multiprocessing.get_context(method)
    start = time.perf_counter()
    for _ in range(trials):
        total = naive_process_trial(context)
        if total != 2:
            raise RuntimeError(f"naive {method} trial: total {total}, expected 2")
    seconds = time.perf_counter() - start
    return Run(trials, seconds, seconds / trials, 0.0)


def naive_script(script: str, runs: int) -> Run:
    import subprocess

    start = time.perf_counter()
    for _ in range(runs):
        done = subprocess.run([sys.executable, script], capture_output=True, check=False)
        if done.returncode != 0 or done.stdout.decode().strip() != SCRIPT_OUTPUT:
            raise RuntimeError(f"naive script run: exit {done.returncode}, stdout {done.stdout!r}, "
                               f"stderr {done.stderr!r}")
    seconds = time.perf_counter() - start
    return Run(runs, seconds, seconds / runs, 0.0)


# -- racekit --------------------------------------------------------------------


def racekit_run(case, variant: str, trials: int, seed: int) -> Run:  # a racekit Case
    import statistics

    from racekit.engine import RunOptions, run
    from racekit.records import Status

    durations: list[float] = []
    problems: list[str] = []

    def on_trial(_planned: object, trial) -> None:  # a racekit Trial
        durations.append(trial.duration)
        if trial.status is not Status.DONE or not trial.matches:
            problems.append(f"{trial.status.value}: {trial.outcome} {trial.errors} {trial.detail}")

    options = RunOptions(modes=("native",), runs=trials, seed=seed, workers=1, variants=(variant,))
    start = time.perf_counter()
    result = run([case], options, progress=on_trial)
    seconds = time.perf_counter() - start
    ran = result.variants[0].runs
    if problems or ran != trials:
        raise RuntimeError(f"racekit {variant}: ran {ran} of {trials} trials; problems: {problems[:3]}")
    return Run(trials, seconds, statistics.fmean(durations), seconds - sum(durations))


# -- reporting ------------------------------------------------------------------


def revision() -> str:
    import subprocess

    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "racekit"],
                               capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown revision"
    return f"commit {commit}" + (" + uncommitted changes in racekit/" if dirty else "") if commit else "unknown revision"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}" if seconds < 0.1 else f"{seconds * 1000:.0f}"


def spread(values: list[float], fmt=ms) -> str:
    import statistics

    return f"{fmt(statistics.median(values))} ({fmt(min(values))}-{fmt(max(values))})"


def ratio_text(values: list[float]) -> str:
    import statistics

    return f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f})"


def progress_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import platform
    import statistics
    import tempfile
    from pathlib import Path

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--rounds", type=int, default=5, help="rounds; each runs every contender once, naive then racekit (default 5)")
    add("--fork", type=int, default=40, help="trials per fork run (default 40)")
    add("--spawn", type=int, default=10, help="trials per spawn run (default 10)")
    add("--forkserver", type=int, default=20, help="trials per forkserver run (default 20)")
    add("--script", type=int, default=20, help="runs per script run (default 20)")
    add("--seed", type=int, default=1, help="racekit seed (round r uses seed + r)")
    args = parser.parse_args(argv)
    trials = {"fork": args.fork, "spawn": args.spawn, "forkserver": args.forkserver, "script": args.script}
    for name, value in (("--rounds", args.rounds), *((f"--{k}", v) for k, v in trials.items())):
        if value < 1:
            parser.error(f"{name} must be at least 1, got {value}")

    sys.path.insert(0, REPO)  # measure this checkout, installed or not
    os.environ["RACEKIT_DATABASE"] = "off"
    from racekit import __version__
    from racekit.case.loader import load_case

    load_before = load_average()
    started = time.perf_counter()
    naive: dict[str, list[Run]] = {k: [] for k in trials}
    racekit: dict[str, list[Run]] = {k: [] for k in trials}
    with tempfile.TemporaryDirectory(prefix="racekit-bench-") as tmp:
        folder = Path(tmp)
        (folder / "processes.yaml").write_text(PROCESSES_CASE)
        (folder / "script.yaml").write_text(SCRIPT_CASE)
        script = folder / "hello.py"
        script.write_text(SCRIPT)
        script = str(script)
        processes_case = load_case(folder / "processes.yaml")
        script_case = load_case(folder / "script.yaml")
        # racekit leaves a directory per process-case trial in the temporary
        # directory (racekit-processes-*, the children's fault dump files);
        # its worker processes put them here, so they go with this directory.
        (folder / "tmp").mkdir()
        os.environ["TMPDIR"] = str(folder / "tmp")

        contenders = {}
        for method in METHODS:
            contenders[method] = (lambda n, m=method: naive_processes(m, n),
                                  lambda n, seed, m=method: racekit_run(processes_case, m, n, seed))
        contenders["script"] = (lambda n: naive_script(script, n),
                                lambda n, seed: racekit_run(script_case, "default", n, seed))

        for naive_fn, racekit_fn in contenders.values():  # warm-up, not measured: file caches, forkserver
            naive_fn(2)
            racekit_fn(2, args.seed)
        for r in range(args.rounds):
            for name, (naive_fn, racekit_fn) in contenders.items():
                naive[name].append(naive_fn(trials[name]))
                racekit[name].append(racekit_fn(trials[name], args.seed + r))
            progress_line(f"  round {r + 1}/{args.rounds}: " + ", ".join(
                f"{name} {ms(naive[name][-1].per_trial)} / {ms(racekit[name][-1].per_trial)} ms" for name in trials))
    progress_line("")

    print(f"racekit {__version__} ({revision()}) process and script benchmark")
    print(f"Python {platform.python_version()} ({platform.python_implementation()}, {sys.executable})")
    print(f"os.cpu_count()={os.cpu_count()}, racekit workers=1, native mode; load average before {load_before}, "
          f"after {load_average()}; the benchmark took {time.perf_counter() - started:.0f} s")
    print(f"ms per trial: median of {args.rounds} rounds (min-max); ratio: median of the rounds' own "
          "racekit/naive ratios (min-max)")
    print("racekit per trial = wall time of the whole run() / N (one worker start-up and shut-down included);")
    print("in worker = mean Trial.duration; fixed = run() minus the sum of Trial.duration, per run() call")
    print()
    header = (f"   {'':<24}{'N':>4}  {'naive ms/trial':>20}  {'racekit ms/trial':>20}  {'ratio':>18}  "
              f"{'in worker ms':>18}  {'/naive':>6}  {'fixed ms':>16}")
    for title, names in (("1. kind: processes, two children, `with total.get_lock(): total.value += 1`", METHODS),
                         ("2. kind: script, a script that prints one line", ("script",))):
        print(title)
        print(header)
        for name in names:
            n, k = naive[name], racekit[name]
            label = f"start_method {name}" if name in METHODS else "script"
            ratios = [b.per_trial / a.per_trial for a, b in zip(n, k)]
            in_ratio = statistics.median(b.in_trial / a.per_trial for a, b in zip(n, k))
            print(f"   {label:<24}{trials[name]:>4}  {spread([r.per_trial for r in n]):>20}  "
                  f"{spread([r.per_trial for r in k]):>20}  {ratio_text(ratios):>18}  "
                  f"{spread([r.in_trial for r in k]):>18}  {in_ratio:>5.2f}x  {spread([r.fixed for r in k]):>16}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
