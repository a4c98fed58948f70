"""racekit against interleave-test (PyPI), side by side, on the same models.

interleave-test is the closest peer: a controlled scheduler for Python
threads (sys.monitoring, so 3.12+) with random, PCT and bounded DFS
strategies. The five models are written once for each tool
(benchmarks/models/side_by_side.yaml and interleave_models.py, the same
program in both). For every model and seed the script times each command
from process start to exit, stopping at the first failure:

- interleave-test random:   it.explore(model, seed=S)            (its default)
- racekit controlled:       racekit run ... -m controlled --seed S -x
- racekit auto:             racekit run ... --seed S -x          (racekit's default)
- interleave-test dfs:      it.explore(model, strategy="dfs", max_preemptions=2)
- racekit exhaustive:       racekit run ... -m controlled --strategy exhaustive -x

and prints the medians over the seeds, the time each tool spent inside its
search (interleave-test: explore(); racekit: the variant's `duration`), the
ratios (interleave-test / racekit: above 1 means racekit is faster), and
the size of the artefact that replays the failure (interleave-test's
Schedule JSON, racekit's schedule string). Every run must find the race:
a model a tool did not fail on is reported, not hidden in a median.

Run (Python 3.12+, both tools installed in the same environment):
    pip install -e . interleave-test
    python benchmarks/interleave.py [--seeds 10] [--models overdraft,...]
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
MODELS_DIR = Path(__file__).resolve().parent / "models"
CASE = MODELS_DIR / "side_by_side.yaml"
MODELS = ("overdraft", "lazy_three", "increments_2x2", "balance_2000", "dict_counter_600")
LARGER = {"balance_2000", "dict_counter_600"}  # thousands of operations per execution

# Runs one interleave-test exploration in a fresh interpreter and prints what it found as JSON.
INTERLEAVE_RUN = """
import json, sys, time
started = time.perf_counter()
import interleave_test as it
import interleave_models
model = getattr(interleave_models, sys.argv[1])
strategy, seed = sys.argv[2], int(sys.argv[3])
options = {"max_preemptions": 2} if strategy == "dfs" else {}
try:
    result = it.explore(model, iterations=100_000, seed=seed, strategy=strategy, **options)
    print(json.dumps({"found": False, "inside": time.perf_counter() - started}))
except it.InterleaveError as err:
    print(json.dumps({"found": True, "inside": time.perf_counter() - started,
                      "artefact": len(err.failure.schedule.to_json())}))
"""


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):  # racekit exits 1 on a race; anything else is a failure of the harness
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def interleave_test(python: str, model: str, strategy: str, seed: int, env) -> dict:
    elapsed, out = timed([python, "-c", INTERLEAVE_RUN, model, strategy, str(seed)], MODELS_DIR, env)
    found = json.loads(out.strip().splitlines()[-1])
    return {"wall": elapsed, "inside": found["inside"], "found": found["found"], "artefact": found.get("artefact")}


def racekit(python: str, model: str, seed: int, mode_args: list[str], env) -> dict:
    command = [python, "-m", "racekit", "run", str(CASE), "-V", model, "--seed", str(seed), "-x",
               "--format", "json", *mode_args]
    elapsed, out = timed(command, ROOT, env)
    variant = json.loads(out)["cases"][0]["variants"][0]
    schedule = variant.get("schedule") or ""
    return {"wall": elapsed, "inside": variant["duration"], "found": variant["verdict"] == "race",
            "artefact": len(schedule.encode()) if schedule else None}


TOOLS = {
    "it_random": lambda py, m, s, env: interleave_test(py, m, "random", s, env),
    "rk_controlled": lambda py, m, s, env: racekit(py, m, s, ["-m", "controlled"], env),
    "rk_auto": lambda py, m, s, env: racekit(py, m, s, [], env),
    "it_dfs": lambda py, m, s, env: interleave_test(py, m, "dfs", s, env),
    "rk_exhaustive": lambda py, m, s, env: racekit(py, m, s, ["-m", "controlled", "--strategy", "exhaustive"], env),
}
DETERMINISTIC = {"it_dfs", "rk_exhaustive"}  # the seed does not change the search: three runs suffice


def median_ms(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs) * 1000


def median_bytes(runs: list[dict]) -> float:
    """The median size of the artefacts that replay a failure (0 when no run failed)."""
    sizes = [r["artefact"] for r in runs if r["artefact"]]
    return statistics.median(sizes) if sizes else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per model and random tool (default 10)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated (default: all five)")
    parser.add_argument("--python", default=sys.executable, help="interpreter with both tools installed")
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    unknown = set(models) - set(MODELS)
    if unknown or args.seeds < 1:
        parser.error(f"unknown model(s) {sorted(unknown)}; choose from {', '.join(MODELS)}" if unknown
                     else "--seeds must be at least 1")
    probe = subprocess.run([args.python, "-c", "import sys, interleave_test; print(sys.version.split()[0])"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        sys.exit("interleave-test is not importable by " + args.python +
                 ": pip install interleave-test (it needs Python 3.12+)")
    env = {**os.environ, "RACEKIT_DATABASE": "off", "PYTHONPATH": str(MODELS_DIR)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    print(f"Python {probe.stdout.strip()}, {os.cpu_count()} cores; {args.seeds} seeds per model; medians in ms,"
          " from process start to exit (in brackets: inside the search)", flush=True)
    # One untimed run of each tool first: bytecode caches (racekit's rewrite cache too) are then warm for both.
    for tool in ("it_random", "rk_controlled"):
        TOOLS[tool](args.python, models[0], 1, env)
    rows = []
    for model in models:
        figures = {}
        for tool, measure in TOOLS.items():
            seeds = range(1, (3 if tool in DETERMINISTIC else args.seeds) + 1)
            runs = [measure(args.python, model, seed, env) for seed in seeds]
            figures[tool] = runs
            print(f"  {model:<17} {tool:<14} {median_ms(runs, 'wall'):8.0f} ms"
                  f"  found in {sum(r['found'] for r in runs)}/{len(runs)}", file=sys.stderr, flush=True)
        rows.append((model, figures))

    def cell(runs):
        missed = sum(not r["found"] for r in runs)
        text = f"{median_ms(runs, 'wall'):6.0f} ({median_ms(runs, 'inside'):5.0f})"
        return text + (f" MISSED {missed}/{len(runs)}" if missed else "")

    print()
    print(f"{'model':<17} {'it random':>14} {'rk controlled':>14} {'ratio':>6} {'rk auto':>14} {'ratio':>6}"
          f" {'it dfs':>14} {'rk exhaustive':>14} {'ratio':>6} {'replay bytes it / rk':>22}")
    for model, f in rows:
        it_ms, ctl_ms, auto_ms = (median_ms(f[t], "wall") for t in ("it_random", "rk_controlled", "rk_auto"))
        dfs_ms, exh_ms = median_ms(f["it_dfs"], "wall"), median_ms(f["rk_exhaustive"], "wall")
        it_bytes, rk_bytes = median_bytes(f["it_random"]), median_bytes(f["rk_controlled"])
        sizes = f"{it_bytes:,.0f} / {rk_bytes:,.0f}" + (f" ({it_bytes / rk_bytes:,.0f}x)" if rk_bytes else "")
        print(f"{model + ('*' if model in LARGER else ''):<17} {cell(f['it_random']):>14} {cell(f['rk_controlled']):>14}"
              f" {it_ms / ctl_ms:6.2f} {cell(f['rk_auto']):>14} {it_ms / auto_ms:6.2f}"
              f" {cell(f['it_dfs']):>14} {cell(f['rk_exhaustive']):>14} {dfs_ms / exh_ms:6.2f} {sizes:>22}")
    print("\nratio = interleave-test's median / racekit's (above 1: racekit is faster); * = larger model;"
          " replay bytes: interleave-test's Schedule JSON against racekit's schedule string")


if __name__ == "__main__":
    main()
