#!/usr/bin/env python
"""The case library as pytest items: ``pytest cases -n 0`` against ``-n 2``.

    python benchmarks/xdist.py                      # 5 rounds of -n 0 and -n 2
    python benchmarks/xdist.py --auto               # -n auto as well
    python benchmarks/xdist.py --python /path/to/python --rounds 9
    python benchmarks/xdist.py --extra "--racekit-runs 1"
    python benchmarks/xdist.py --phases             # where each run's time goes

Every run is a subprocess started in the repository root,

    PYTHON -m pytest cases -q -p no:cacheprovider --racekit-seed SEED -n N [EXTRA...]

so it pays everything a developer's ``pytest cases -n N`` pays: interpreter
and pytest start-up, xdist's workers, collection, racekit's worker processes,
the trials, and shutting all of it down. The settings take turns within each
round (the order flips every round), so a change in the machine's load touches
all of them alike. The report gives, per setting, the wall time (median, min,
max), the CPU time of the run and all its descendants, the speed-up of
``-n 2`` over ``-n 0`` (the median of the rounds' own ratios), the items and
trials (from the plugin's "racekit" summary line), and the interpreter.

``--phases`` adds a tiny timing plugin (written to a temporary folder and
loaded with ``-p``) that stamps, in every pytest process, when the first item
starts, when the last one finishes and how long the terminal summary takes,
and prints the median of each phase. ``--workers-per-pool K`` is an
experiment: it makes racekit's ``default_workers()`` return K in every pytest
process of the run (racekit itself has no such option), to see what more or
fewer racekit worker processes would do.

It is a measurement, not a test: the exit status is 0 whatever happens (a
run that fails or cannot start is reported, not raised; a bad option prints
the usage error and still exits 0). See
benchmarks/README.md, section "The case library under pytest-xdist".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUN_TIMEOUT = 900.0  # seconds; a run that takes longer is reported as such

SUMMARY = re.compile(r"(\d+) racekit tests?: (\d+) showed a race or deadlock, (\d+) trials in all")
FINAL = re.compile(r"^=*\s*(.*?) in ([0-9.]+)s", re.MULTILINE)
COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)")

PROBE = """\
import importlib.metadata, json, os, platform, sys
info = {"version": platform.python_version(), "implementation": platform.python_implementation(),
        "executable": sys.executable, "cpu_count": os.cpu_count(),
        "gil": getattr(sys, "_is_gil_enabled", lambda: True)(),
        "dont_write_bytecode": sys.flags.dont_write_bytecode}
for name in ("pytest", "xdist", "racekit", "hypothesis"):
    try:
        module = __import__(name)
        info[name] = getattr(module, "__version__", "?")
    except Exception:
        info[name] = None
info["entry_point"] = any(ep.value.startswith("racekit.pytest_plugin")
                          for ep in importlib.metadata.entry_points(group="pytest11"))
print(json.dumps(info))
"""


# Loaded into every pytest process of a run with --phases / --workers-per-pool.
PLUGIN_NAME = "racekit_bench_xdist_plugin"
PLUGIN = """\
import atexit, os, time
import pytest

_LOG = os.environ.get("RACEKIT_BENCH_PHASES")
_WHO = os.environ.get("PYTEST_XDIST_WORKER", "controller")

if os.environ.get("RACEKIT_BENCH_WORKERS"):
    from racekit.runtime import pool as _pool
    _workers = int(os.environ["RACEKIT_BENCH_WORKERS"])
    _pool.default_workers = lambda: _workers


def _log(event, detail=""):
    if _LOG:
        with open(_LOG, "a") as f:
            f.write(f"{time.time():.6f}\\t{_WHO}\\t{event}\\t{detail}\\n")


_log("imported")
atexit.register(_log, "exit")


def pytest_runtest_logstart(nodeid, location):
    _log("item_start", nodeid)


def pytest_runtest_logfinish(nodeid, location):
    _log("item_finish", nodeid)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter):
    _log("summary_start")
    yield
    _log("summary_end")
"""

PHASES = (
    ("start-up: launch to the first item", "startup"),
    ("items: first item starts to last item ends", "items"),
    ("  of which one xdist worker idle, the other busy", "tail"),
    ("end: last item to exit", "end"),
    ("  terminal summary in the xdist workers (longest)", "worker_summary"),
    ("  terminal summary in the controller", "summary"),
)


@dataclass
class Run:
    setting: str
    wall: float  # s, around the subprocess
    cpu: float  # s, user + system of the run and every descendant it waited for
    status: int | None  # pytest's exit status; None when the run timed out
    items: int | None = None  # racekit tests, from the plugin's summary line
    trials: int | None = None
    races: int | None = None
    outcome: str = ""  # pytest's final line, e.g. "9 passed"
    reported: float | None = None  # pytest's own "in X s" (its session, without interpreter start-up)
    phases: dict[str, float] = field(default_factory=dict)  # with --phases


def read_phases(log: Path, launched: float, wall: float) -> dict[str, float]:
    """Phase durations of one run from the timing plugin's log (empty if it is incomplete)."""
    starts: dict[str, list[float]] = defaultdict(list)
    ends: dict[str, list[float]] = defaultdict(list)
    summary: dict[str, list[float]] = defaultdict(list)
    try:
        lines = log.read_text().splitlines()
    except OSError:
        return {}
    for line in lines:
        stamp, who, event, _detail = (line.split("\t") + ["", "", ""])[:4]
        t = float(stamp)
        if event == "item_start":
            starts[who].append(t)
        elif event == "item_finish":
            ends[who].append(t)
        elif event in ("summary_start", "summary_end"):
            summary[who].append(t)
    runners = [w for w in starts if w != "controller"] or ["controller"]
    if not all(starts[w] and ends[w] for w in runners):
        return {}
    first = min(min(starts[w]) for w in runners)
    last_ends = sorted(max(ends[w]) for w in runners)
    phases = {"startup": first - launched, "items": last_ends[-1] - first,
              "end": launched + wall - last_ends[-1]}
    if len(runners) > 1:
        phases["tail"] = last_ends[-1] - last_ends[0]
        spans = [summary[w][-1] - summary[w][0] for w in runners if len(summary[w]) >= 2]
        if spans:
            phases["worker_summary"] = max(spans)
    if len(summary["controller"]) >= 2:
        phases["summary"] = summary["controller"][-1] - summary["controller"][0]
    return phases


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def command(python: str, setting: str, seed: int, extra: list[str]) -> list[str]:
    return [python, "-m", "pytest", "cases", "-q", "-p", "no:cacheprovider", "--racekit-seed", str(seed),
            "-n", setting, *extra]


def run_once(python: str, setting: str, seed: int, extra: list[str], env: dict[str, str] | None = None,
             phase_log: Path | None = None) -> Run:
    cmd = command(python, setting, seed, extra)
    if phase_log is not None:
        phase_log.unlink(missing_ok=True)
    cpu_before = children_cpu()
    launched = time.time()
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT, env=env, check=False)
    except subprocess.TimeoutExpired:
        return Run(setting, time.perf_counter() - start, children_cpu() - cpu_before, None,
                   outcome=f"timed out after {RUN_TIMEOUT:g} s")
    wall = time.perf_counter() - start
    out = done.stdout.decode(errors="replace")
    result = Run(setting, wall, children_cpu() - cpu_before, done.returncode)
    if phase_log is not None:
        result.phases = read_phases(phase_log, launched, wall)
    summary = SUMMARY.search(out)
    if summary:
        result.items, result.races, result.trials = (int(g) for g in summary.groups())
    finals = FINAL.findall(out)
    if finals:
        text, seconds = finals[-1]
        result.outcome = ", ".join(f"{n} {w}" for n, w in COUNT.findall(text)) or text.strip()
        result.reported = float(seconds)
    if done.returncode not in (0, 1) or result.items is None:
        tail = "\n".join(out.rstrip().splitlines()[-15:])
        progress(f"    -n {setting} exited with {done.returncode}; last lines of its output:\n{tail}")
    return result


def probe(python: str) -> dict:
    try:
        done = subprocess.run([python, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=60,
                              check=False)
        return json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:  # say what went wrong and go on
        return {"error": f"{type(exc).__name__}: {exc}"}


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def spread(values: list[float], unit: str = "s", digits: int = 2) -> str:
    if not values:
        return "-"
    return (f"{statistics.median(values):.{digits}f} {unit} (min {min(values):.{digits}f}, "
            f"max {max(values):.{digits}f})")


def revision() -> str:
    """The checkout measured: commit, and whether racekit/ or cases/ have uncommitted changes."""
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "racekit", "cases"],
                               capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown revision"
    if not commit:
        return "unknown revision"
    return f"commit {commit}" + (" + uncommitted changes in racekit/ or cases/" if dirty else "")


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--rounds", type=int, default=5, help="measured rounds; each runs every setting once (default 5)")
    add("--python", default=sys.executable, help="interpreter to run pytest with (default: this one)")
    add("--extra", action="append", default=[], metavar="ARGS",
        help="extra pytest arguments, split like a shell would; may be repeated "
             "(e.g. --extra '--racekit-runs 1')")
    add("--auto", action="store_true", help="measure -n auto as well")
    add("--seed", type=int, default=20261126, help="--racekit-seed of every run (default 20261126)")
    add("--warmup", type=int, default=1, help="unmeasured runs of each setting first (default 1)")
    add("--phases", action="store_true",
        help="time the phases of every run (start-up, items, end) with a small plugin loaded by -p")
    add("--workers-per-pool", type=int, metavar="K",
        help="experiment: racekit worker processes per pytest process (patches default_workers in the runs)")
    try:
        args = parser.parse_args(argv)
        if args.rounds < 1:
            parser.error(f"--rounds must be at least 1, got {args.rounds}")
        if args.warmup < 0:
            parser.error(f"--warmup must be at least 0, got {args.warmup}")
        if args.workers_per_pool is not None and args.workers_per_pool < 1:
            parser.error(f"--workers-per-pool must be at least 1, got {args.workers_per_pool}")
    except SystemExit:  # --help, or a usage error already printed: exit 0 all the same
        return 0
    extra = [word for chunk in args.extra for word in shlex.split(chunk)]
    settings = ["0", "2"] + (["auto"] if args.auto else [])

    info = probe(args.python)
    if "error" in info:
        print(f"cannot measure with {args.python}: {info['error']}")
        return 0
    if not info.get("xdist") or not info.get("racekit"):
        missing = " and ".join(n for n in ("racekit", "xdist") if not info.get(n))
        print(f"cannot measure with {args.python}: it cannot import {missing} (install racekit and pytest-xdist there)")
        return 0
    plugin_note = ""
    if not info.get("entry_point"):
        # An editable install made before racekit had its pytest11 entry point:
        # pytest would collect nothing from cases/. Load the plugin by name.
        extra = ["-p", "racekit.pytest_plugin", *extra]
        plugin_note = ("racekit's pytest11 entry point is not registered for this interpreter (an install older "
                       "than the plugin?), so every run loads it with -p racekit.pytest_plugin")
        progress(f"  note: {plugin_note}")

    env = None
    phase_log = None
    scratch = tempfile.TemporaryDirectory(prefix="racekit-bench-xdist-")
    if args.phases or args.workers_per_pool:
        folder = Path(scratch.name)
        (folder / f"{PLUGIN_NAME}.py").write_text(PLUGIN)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), env.get("PYTHONPATH")) if p)
        extra = [*extra, "-p", PLUGIN_NAME]
        if args.phases:
            phase_log = folder / "phases.log"
            env["RACEKIT_BENCH_PHASES"] = str(phase_log)
        if args.workers_per_pool:
            env["RACEKIT_BENCH_WORKERS"] = str(args.workers_per_pool)

    measured = revision()  # before the runs: the checkout may change while they go on
    load_before = load_average()
    started = time.perf_counter()
    for w in range(args.warmup):
        for setting in settings:
            r = run_once(args.python, setting, args.seed, extra, env, phase_log)
            progress(f"  warm-up {w + 1}/{args.warmup}: -n {setting} {r.wall:.2f} s")
    runs: dict[str, list[Run]] = {s: [] for s in settings}
    for i in range(args.rounds):
        order = settings if i % 2 == 0 else settings[::-1]
        for setting in order:
            runs[setting].append(run_once(args.python, setting, args.seed, extra, env, phase_log))
        progress(f"  round {i + 1}/{args.rounds}: "
                 + ", ".join(f"-n {s} {runs[s][-1].wall:.2f} s" for s in order))
    progress("")

    # -- the report --
    print(f"racekit {info['racekit']} ({measured}): the case library under pytest-xdist ({REPO / 'cases'})")
    print(f"Python {info['version']} ({info['implementation']}, {info['executable']}), "
          f"{'GIL enabled' if info['gil'] else 'free-threaded'}; os.cpu_count()={info['cpu_count']}")
    print(f"pytest {info['pytest']}, pytest-xdist {info['xdist']}, hypothesis {info['hypothesis'] or 'not installed'}; "
          f"bytecode cache {'off (PYTHONDONTWRITEBYTECODE)' if info['dont_write_bytecode'] else 'on'}")
    print("command: " + shlex.join(command(args.python, "N", args.seed, extra)))
    if args.workers_per_pool:
        print(f"EXPERIMENT: racekit's default_workers() patched to return {args.workers_per_pool} in every pytest "
              f"process (racekit's own choice: one per core, 1 inside an xdist worker)")
    if plugin_note:
        print(f"note: {plugin_note}")
    print(f"{args.rounds} rounds after {args.warmup} warm-up(s), settings alternating; load average before "
          f"{load_before}, after {load_average()}; took {time.perf_counter() - started:.0f} s")
    print()
    print(f"  {'setting':<10}{'wall: median (min, max)':<34}{'CPU: median':<14}{'pytest says':<14}"
          f"{'items':<7}{'trials':<13}outcome")
    for setting in settings:
        rs = runs[setting]
        walls = [r.wall for r in rs]
        cpus = [r.cpu for r in rs]
        reported = [r.reported for r in rs if r.reported is not None]
        items = sorted({r.items for r in rs if r.items is not None})
        trials = sorted({r.trials for r in rs if r.trials is not None})
        outcomes = sorted({r.outcome or f"exit {r.status}" for r in rs})
        print(f"  {'-n ' + setting:<10}{spread(walls):<34}{statistics.median(cpus):.2f} s{'':<8}"
              f"{(f'{statistics.median(reported):.2f} s' if reported else '-'):<14}"
              f"{'/'.join(map(str, items)) or '?':<7}{'/'.join(map(str, trials)) or '?':<13}{'; '.join(outcomes)}")
    print()
    blind = [r for rs in runs.values() for r in rs if r.items is None]
    if blind:
        statuses = sorted({str(r.status) for r in blind})
        print(f"  WARNING: {len(blind)} of {sum(map(len, runs.values()))} runs printed no racekit summary (exit "
              f"status {', '.join(statuses)}): their times do not measure the case library")
        print()
    base = runs["0"]
    for setting in settings[1:]:
        ratios = [b.wall / r.wall for b, r in zip(base, runs[setting])]
        verdict = "faster" if statistics.median(ratios) > 1 else "slower"
        print(f"  speed-up -n {setting} vs -n 0: {statistics.median(ratios):.2f}x "
              f"(rounds {min(ratios):.2f}-{max(ratios):.2f}; above 1 means -n {setting} is faster; "
              f"here it is {verdict})")
    print()
    print("  per round (wall s):")
    for i in range(args.rounds):
        print(f"    {i + 1:>2}: " + ", ".join(f"-n {s} {runs[s][i].wall:.2f}" for s in settings))
    if args.phases:
        print()
        print("  phases, median (min-max) over the rounds:")
        print((f"    {'':<52}" + "".join(f"{'-n ' + s:<22}" for s in settings)).rstrip())
        for label, key in PHASES:
            cells = []
            for setting in settings:
                values = [r.phases[key] for r in runs[setting] if key in r.phases]
                cells.append(f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"
                             if values else "-")
            print((f"    {label:<52}" + "".join(f"{c:<22}" for c in cells)).rstrip())
    scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
