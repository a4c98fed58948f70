#!/usr/bin/env python3
"""Transparency oracle (b) of issue 24: real test suites, run plainly and rewritten.

racekit's controlled mode rewrites the user's modules (an AST rewrite applied
by an import hook) so that every shared access becomes a scheduling point. The
rewrite must never change what a program computes. The strongest evidence we
can get that it does not is other people's tests: for each pure-Python PyPI
package in ``PACKAGES`` (pinned, chosen for threads, locks and heavy attribute
machinery), this script

1. makes a venv under a cache folder outside the repository
   (``~/.cache/racekit-transparency/`` unless ``--cache`` or
   ``$RACEKIT_TRANSPARENCY_CACHE`` says otherwise) and installs racekit from
   this checkout (``pip install -e``), the pinned package and its test needs;
2. gets the package's own test suite from its sdist on PyPI;
3. runs the suite plainly with pytest (``--junitxml``);
4. runs it again with ``-p racekit.transparency`` and
   ``RACEKIT_REWRITE=<the package's top-level modules>``: racekit's pytest
   plugin makes the import hook rewrite every module of those packages, with
   hooks that perform each operation and schedule nothing;
5. compares the per-test outcomes of the two runs and prints a table (and,
   with ``--json PATH``, a JSON summary). Any test that flips is a bug in
   racekit's rewrite, not in the package.

    python benchmarks/transparency.py                       # every package, both halves
    python benchmarks/transparency.py --packages attrs,cachetools --jobs 2
    python benchmarks/transparency.py --only plain          # the plain half (cached for later)
    python benchmarks/transparency.py --only rewritten      # compare with the cached plain half
    python benchmarks/transparency.py --list                # the pinned packages and why

What the plugin must do (the script only names it): install racekit's
import hook when pytest imports it (``-p`` plugins are imported before
entry-point plugins and conftest files, so before anything imports the
package), rewrite every module whose top-level name is in the comma-separated
``RACEKIT_REWRITE``, give the rewritten code hooks that perform each operation
and schedule nothing, and do the same in pytest-xdist workers (they inherit
the environment and the ``-p``). Saying in pytest's header how many modules it
rewrote makes a run whose hook never fired easy to spot in the logs.
``--plugin MODULE`` runs the rewritten half with another plugin (the
environment, ``PYTHONPATH`` included, reaches the suites unchanged).

Suites run one at a time (the machine is small and shared); ``--jobs N``
gives pytest-xdist ``-n N`` to the suites that tolerate it. A suite that
outlives ``--timeout`` is killed (its whole process group) and reported;
pytest-timeout ends a single hung test after ``--test-timeout``. The script
only writes under its cache folder and the ``--json`` path, and deletes
nothing it did not create there. It uses the standard library only: it runs
before anything else is installed.

Exit status: 0 when every selected package ran both halves and no test
flipped (or, with ``--only plain``, when every plain half ran); 1 when a test
flipped or a half could not run (a suite timed out, pytest crashed, the
plugin is missing); 2 for a bad option.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLUGIN = "racekit.transparency"
MARK = ".racekit-transparency"  # every folder this script makes carries it
DEFAULT_CACHE = Path.home() / ".cache" / "racekit-transparency"

# What every suite runs under, pinned like the packages.
TOOLS = ("pytest==9.2.0", "pytest-xdist==3.8.0", "pytest-timeout==2.4.0")


@dataclass(frozen=True)
class Package:
    """One pinned PyPI package whose own tests are the oracle."""

    name: str  # on PyPI
    version: str
    modules: tuple[str, ...]  # top-level import names: what RACEKIT_REWRITE names
    why: str  # what in it exercises the rewrite
    tests: tuple[str, ...] = ("tests",)  # paths inside the sdist handed to pytest
    deps: tuple[str, ...] = ()  # pinned test requirements besides TOOLS
    args: tuple[str, ...] = ()  # more pytest arguments (--ignore=..., -o addopts=...)
    notes: str = ""  # why those arguments (ignored tests, overridden options)
    xdist: bool = True  # the suite tolerates pytest-xdist's -n
    env: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"

    @property
    def spec(self) -> str:
        """Changes whenever this entry or the common tools change: a saved run from before is stale."""
        return digest(repr(self), *TOOLS)


PACKAGES: tuple[Package, ...] = (
    # Threads, locks, conditions, queues.
    Package(
        "cachetools", "8.0.3", ("cachetools",),
        "caches with private names (self.__size, self.__data), properties, a lock around "
        "@cached/@cachedmethod with a condition for stampede protection",
    ),
    Package(
        "tenacity", "9.2.1", ("tenacity",),
        "retrying with threading.local statistics, time.sleep/monotonic, decorators that copy "
        "attributes, asyncio and tornado retries",
        deps=("tornado==6.6.1",),
    ),
    Package(
        "pykka", "4.5.0", ("pykka",),
        "actors on threads: queue.Queue inboxes, threading.Event futures, a registry behind a "
        "class-level RLock, proxies built on __getattr__/__setattr__ and attribute introspection",
        deps=("pytest-mock==3.17.0",),
    ),
    Package(
        "fasteners", "0.20", ("fasteners",),
        "reader-writer locks on threading.Condition, inter-process file locks, lock decorators",
        deps=("diskcache==5.6.3", "more-itertools==11.2.1"),
        args=("--ignore=tests/test_eventlet.py",),
        notes="tests/test_eventlet.py is left out: it monkey-patches with eventlet in child processes "
              "(which the rewrite does not reach anyway) and eventlet needs greenlet, a C extension",
    ),
    Package(
        "readerwriterlock", "1.0.10", ("readerwriterlock",),
        "reader/writer locks (reader-, writer- and fair-priority, downgradable) built on "
        "threading.Lock, private names; the tests race writer and reader threads; an asyncio twin",
        args=("--deselect=tests/test_rwlock.py::TestRWLock::test_multi_thread",
              "--deselect=tests/test_rwlock_async.py::TestRWLock_Async::test_multi_async"),
        notes="the two stress tests are left out: each runs 250 threads (or tasks) for 30 s of wall "
              "time per lock class, minutes per test and many times the rest of the suite; their "
              "loops are bounded by time, not work, so they measure nothing a rewrite could flip "
              "that the other tests do not",
    ),
    Package(
        "janus", "2.0.0", ("janus",),
        "a queue shared by threads and asyncio: threading.Condition, asyncio.Condition, "
        "call_soon_threadsafe, properties",
        deps=("pytest-asyncio==1.5.0",),
        args=("-o", "addopts=", "--ignore=tests/test_benchmarks.py"),
        notes="addopts emptied (it asks for pytest-cov); tests/test_benchmarks.py needs a benchmark "
              "fixture (pytest-codspeed) and measures speed, not behaviour",
    ),
    Package(
        "blinker", "1.9.0", ("blinker",),
        "signals: receivers held by weakref with cleanup callbacks, cached_property, context "
        "managers that connect temporarily, async receivers",
        deps=("pytest-asyncio==1.5.0",),
        args=("-o", "asyncio_default_fixture_loop_scope=function"),
        notes="asyncio_default_fixture_loop_scope set: pytest-asyncio 1.x warns when it is unset and "
              "blinker's filterwarnings=error turns that warning into a crash at start-up",
    ),
    Package(
        "diskcache", "5.6.3", ("diskcache",),
        "a disk cache on sqlite shared by threads and processes: thread-local connections, "
        "retry loops on a busy database, Lock/RLock/BoundedSemaphore recipes keyed by thread id, "
        "Deque/Index with properties",
        args=("--ignore=tests/test_djangocache.py", "--ignore=tests/test_doctest.py"),
        notes="the Django cache backend's tests are left out (they need Django and a settings "
              "module the sdist does not ship); so is tests/test_doctest.py, which imports it",
    ),
    # Attribute machinery: descriptors, metaclasses, private names, frames, warnings.
    Package(
        "attrs", "26.1.0", ("attr", "attrs"),
        "class generation: generated __init__/__eq__/__hash__ via exec, __slots__ classes, "
        "descriptors, __set_name__, sys._getframe for __module__, cached_property, warnings",
        deps=("hypothesis==6.170.27", "pympler==1.1", "cloudpickle==3.1.3"),
    ),
    Package(
        "boltons", "26.2.0", ("boltons",),
        "many small utilities: LRU caches with RLocks, private names, __getattr__ proxies, "
        "sys._getframe (funcutils, tbutils), metaclasses and descriptors",
    ),
    Package(
        "pyparsing", "3.3.3", ("pyparsing",),
        "a parser combinator library with heavy operator overloading, properties, warnings with "
        "stacklevel and a traceback-depth check of parse-action arity",
        tests=("tests",),
        deps=("railroad-diagrams==3.0.1", "jinja2==3.1.6"),
    ),
    Package(
        "more-itertools", "11.2.1", ("more_itertools",),
        "generators and iterator classes everywhere (yield from, send, islice windows), "
        "__getitem__/__len__ on lazy sequences, locks in a thread-safe iterator wrapper, "
        "many small closures",
    ),
)


# -- small helpers -------------------------------------------------------------


def say(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def run_quiet(cmd: list[str], log: Path, cwd: Path | None = None, timeout: float = 1800) -> None:
    """Run a set-up command, its output appended to ``log``; raise with the log's tail if it fails."""
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        done = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    if done.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-25:])
        raise SetupError(f"{' '.join(cmd[:6])} ... failed (exit {done.returncode}); see {log}\n{tail}")


class SetupError(Exception):
    """A venv, download or install step failed: the package is reported, the others go on."""


def own_folder(path: Path) -> Path:
    """Make ``path`` (a folder this script owns), or check that an existing one is ours."""
    if path.exists():
        if not (path / MARK).exists():
            raise SetupError(f"{path} exists and was not made by this script; move it away or use --cache")
        return path
    path.mkdir(parents=True)
    (path / MARK).write_text("made by racekit benchmarks/transparency.py\n")
    return path


def digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


# -- preparing a package: venv, install, sdist ----------------------------------


@dataclass
class Prepared:
    pkg: Package
    home: Path  # <cache>/<name>-<version>
    python: Path  # the venv's interpreter
    suite: Path  # the extracted sdist: pytest's working folder


def prepare(pkg: Package, cache: Path, base_python: str) -> Prepared:
    home = own_folder(cache / pkg.key)
    log = home / "setup.log"
    python = make_venv(pkg, home, base_python, log)
    suite = get_suite(pkg, home, python, log)
    return Prepared(pkg, home, python, suite)


def make_venv(pkg: Package, home: Path, base_python: str, log: Path) -> Path:
    venv = home / "venv"
    python = venv / "bin" / "python"
    wanted = [f"{pkg.name}=={pkg.version}", *TOOLS, *pkg.deps]
    # Reinstall when the requirements, the interpreter or racekit's own dependencies change.
    stamp = digest(base_python, str(REPO), (REPO / "pyproject.toml").read_text(), *wanted)
    ready = venv / ".ready"
    if ready.exists() and ready.read_text().strip() == stamp:
        return python
    if not python.exists():
        say(f"  {pkg.key}: making a venv")
        run_quiet([base_python, "-m", "venv", str(venv)], log)
    say(f"  {pkg.key}: installing racekit (editable), {pkg.name}=={pkg.version} and its test needs")
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    run_quiet([*pip, "-e", str(REPO)], log)
    run_quiet([*pip, *wanted], log)
    freeze = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True)
    (home / "freeze.txt").write_text(freeze.stdout)
    ready.write_text(stamp + "\n")
    return python


def get_suite(pkg: Package, home: Path, python: Path, log: Path) -> Path:
    """Extract the sdist (downloaded once) into ``home/suite``; hide a flat-layout copy of the package."""
    suite = home / "suite"
    if (suite / MARK).exists():
        return suite
    if suite.exists():
        raise SetupError(f"{suite} is half made (no {MARK}); it is ours, remove it by hand to start over")
    sdist = download_sdist(pkg, own_folder(home / "sdist"), python, log)
    staging = home / "suite.partial"
    if staging.exists():
        raise SetupError(f"{staging} is left from an interrupted run; remove it by hand to start over")
    staging.mkdir()
    root = extract(sdist, staging)
    hide_source_copy(pkg, root)
    root.rename(suite)
    staging.rmdir()  # empty now, and ours
    (suite / MARK).write_text(f"extracted from {sdist.name}\n")
    return suite


def download_sdist(pkg: Package, into: Path, python: Path, log: Path) -> Path:
    """``pip download`` the sdist; when its build requirements cannot be had, take it from PyPI's JSON API."""
    found = [p for p in into.iterdir() if p.name != MARK]
    if found:
        return found[0]
    say(f"  {pkg.key}: downloading the sdist")
    try:
        run_quiet([str(python), "-m", "pip", "download", "--disable-pip-version-check", "-q",
                   "--no-binary", ":all:", "--no-deps", "-d", str(into), f"{pkg.name}=={pkg.version}"], log)
    except SetupError:
        say(f"  {pkg.key}: pip download failed (see {log}); asking PyPI's JSON API instead")
        return fetch_sdist_json(pkg, into)
    found = [p for p in into.iterdir() if p.name != MARK]
    if len(found) != 1:
        raise SetupError(f"expected one sdist in {into}, found {[p.name for p in found]}")
    return found[0]


def fetch_sdist_json(pkg: Package, into: Path) -> Path:
    url = f"https://pypi.org/pypi/{pkg.name}/{pkg.version}/json"
    with urllib.request.urlopen(url, timeout=60) as answer:
        files = json.load(answer)["urls"]
    sdists = [f for f in files if f["packagetype"] == "sdist"]
    if not sdists:
        raise SetupError(f"{pkg.key} has no sdist on PyPI")
    meta = sdists[0]
    with urllib.request.urlopen(meta["url"], timeout=120) as answer:
        data = answer.read()
    if hashlib.sha256(data).hexdigest() != meta["digests"]["sha256"]:
        raise SetupError(f"{meta['filename']}: sha256 does not match PyPI's")
    path = into / meta["filename"]
    path.write_bytes(data)
    return path


def extract(sdist: Path, into: Path) -> Path:
    """Unpack ``sdist`` into the empty folder ``into``; return its single top folder."""
    if sdist.name.endswith(".zip"):
        with zipfile.ZipFile(sdist) as archive:
            archive.extractall(into)
    else:
        with tarfile.open(sdist) as archive:
            if hasattr(tarfile, "data_filter"):
                archive.extractall(into, filter="data")
            else:  # pragma: no cover - Pythons before 3.11.4
                archive.extractall(into)
    tops = list(into.iterdir())
    if len(tops) != 1 or not tops[0].is_dir():
        raise SetupError(f"{sdist.name}: expected one top folder, found {[t.name for t in tops]}")
    return tops[0]


def hide_source_copy(pkg: Package, root: Path) -> None:
    """Rename a flat-layout copy of the package out of the import path.

    pytest puts the sdist's root on ``sys.path`` when the tests are a package,
    so ``import boltons`` would find the sdist's copy rather than the installed
    pinned release. Both are the same code, but the suite should test what pip
    installed; a ``src/`` layout needs nothing.
    """
    for module in pkg.modules:
        for candidate in (root / module, root / f"{module}.py"):
            inside = any((root / t).resolve().is_relative_to(candidate.resolve()) for t in pkg.tests)
            if candidate.exists() and not inside:
                candidate.rename(candidate.with_name(candidate.name + ".sdist-copy"))


# -- running a suite -------------------------------------------------------------


@dataclass
class Run:
    """One pytest run of one suite."""

    half: str  # "plain" or "rewritten"
    status: str  # ok | timeout | no-report | no-plugin | setup-error | not-run | stale
    seconds: float = 0.0
    exit_code: int | None = None
    outcomes: dict[str, str] = field(default_factory=dict)  # test id -> passed/failed/error/skipped
    log: str = ""
    message: str = ""
    spec: str = ""  # Package.spec when it ran
    command: str = ""

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes.values() if o == outcome)

    def counts(self) -> dict[str, int]:
        return {o: self.count(o) for o in ("passed", "failed", "error", "skipped")}


def pytest_command(prep: Prepared, half: str, junit: Path, args: argparse.Namespace) -> list[str]:
    cmd = [str(prep.python), "-m", "pytest", *prep.pkg.tests, *prep.pkg.args,
           f"--junitxml={junit}", "-p", "no:cacheprovider", f"--timeout={args.test_timeout:g}", "-q"]
    if args.jobs > 0 and prep.pkg.xdist:
        cmd += ["-n", str(args.jobs)]
    if half == "rewritten":
        cmd += ["-p", args.plugin]
    return cmd


def plugin_missing(prep: Prepared, plugin: str, env: dict[str, str]) -> str:
    """Why ``-p <plugin>`` cannot load in this venv, or "" when it can."""
    probe = subprocess.run([str(prep.python), "-c", f"import {plugin}"], capture_output=True, text=True,
                           cwd=prep.home, env=env)
    if probe.returncode == 0:
        return ""
    last = (probe.stderr.strip().splitlines() or ["?"])[-1]
    if plugin == PLUGIN:
        return (f"racekit's pytest plugin {PLUGIN} cannot be imported from {REPO} ({last}); "
                f"issue 24 asks racekit to provide it. The rewritten half was not run.")
    return f"the plugin {plugin} cannot be imported in the venv ({last}). The rewritten half was not run."


def suite_env(prep: Prepared, half: str) -> dict[str, str]:
    env = {**os.environ, **dict(prep.pkg.env), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("RACEKIT_REWRITE", None)
    if half == "rewritten":
        env["RACEKIT_REWRITE"] = ",".join(prep.pkg.modules)
    return env


def run_suite(prep: Prepared, half: str, args: argparse.Namespace) -> Run:
    runs = own_folder(prep.home / "runs")
    junit, log = runs / f"{half}.xml", runs / f"{half}.log"
    env = suite_env(prep, half)
    if half == "rewritten":
        missing = plugin_missing(prep, args.plugin, env)
        if missing:
            return Run(half, "no-plugin", message=missing)
    if junit.exists():
        junit.unlink()  # ours, from an earlier run: never read a stale report
    cmd = pytest_command(prep, half, junit, args)
    say(f"  {prep.pkg.key}: {half} run ({' '.join(cmd[3:])})")
    start = time.monotonic()
    code, timed_out = run_with_timeout(cmd, prep.suite, env, log, args.timeout)
    run = Run(half, "ok", time.monotonic() - start, code, log=str(log), spec=prep.pkg.spec, command=" ".join(cmd))
    if timed_out:
        run.status, run.message = "timeout", f"killed after {args.timeout:g} s; see {log}"
    elif junit.exists():
        run.outcomes = read_junit(junit)
    else:
        run.status, run.message = "no-report", f"pytest exited {code} without a junit report; see {log}"
    if half == "rewritten" and "Error importing plugin" in tail(log):
        run.status, run.message = "no-plugin", f"pytest could not load {args.plugin}; see {log}"
    (runs / f"{half}.json").write_text(json.dumps(run_summary(run), indent=1))
    return run


def run_with_timeout(cmd: list[str], cwd: Path, env: dict[str, str], log: Path,
                     timeout: float) -> tuple[int | None, bool]:
    """Run ``cmd`` in its own process group; kill the whole group if it outlives ``timeout``."""
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            return proc.wait(timeout=timeout), False
        except subprocess.TimeoutExpired:
            kill_group(proc)
            return proc.returncode, True
        except BaseException:  # Ctrl-C: do not leave the suite running
            kill_group(proc)
            raise


def kill_group(proc: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def read_junit(path: Path) -> dict[str, str]:
    """Test id -> outcome, from a pytest junit report (a test seen twice gets ``#2``...)."""
    outcomes: dict[str, str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        key, n = name, 1
        while key in outcomes:
            n += 1
            key = f"{name}#{n}"
        outcomes[key] = case_outcome(case)
    return outcomes


def case_outcome(case: ET.Element) -> str:
    tags = {child.tag for child in case}
    if "error" in tags:
        return "error"  # also a passed test whose teardown failed
    if "failure" in tags:
        return "failed"
    if "skipped" in tags:
        return "skipped"  # xfail too
    return "passed"


def run_summary(run: Run) -> dict:
    return {"status": run.status, "seconds": round(run.seconds, 1), "exit_code": run.exit_code,
            "tests": len(run.outcomes), **run.counts(), "log": run.log, "message": run.message,
            "spec": run.spec, "command": run.command, "outcomes": run.outcomes}


def cached_plain(pkg: Package, home: Path) -> Run:
    """The last plain run saved for this package (``--only rewritten`` compares with it)."""
    saved = home / "runs" / "plain.json"
    if not saved.exists():
        return Run("plain", "not-run", message=f"no earlier plain run in {saved.parent}: run --only plain first")
    data = json.loads(saved.read_text())
    if data.get("spec") != pkg.spec:
        return Run("plain", "stale", message=f"{saved} was made for another entry of {pkg.key} "
                                             f"(or other pinned tools): run --only plain again")
    return Run("plain", data["status"], data["seconds"], data["exit_code"], data["outcomes"], data["log"],
               data["message"], data["spec"], data["command"])


# -- comparing --------------------------------------------------------------------


@dataclass
class Result:
    pkg: Package
    plain: Run
    rewritten: Run
    error: str = ""

    def compared(self) -> bool:
        return self.plain.status == "ok" and self.rewritten.status == "ok"

    def flips(self) -> dict[str, list[str]]:
        """Tests whose outcome differs: pass->fail (incl. missing when rewritten), fail->pass, other."""
        found: dict[str, list[str]] = {"pass_to_fail": [], "fail_to_pass": [], "other": []}
        if not self.compared():
            return found
        after = self.rewritten.outcomes
        for test, before in self.plain.outcomes.items():
            now = after.get(test, "missing")
            if before == now:
                continue
            if before == "passed":
                found["pass_to_fail"].append(f"{test} ({now})")
            elif now == "passed":
                found["fail_to_pass"].append(f"{test} (was {before})")
            else:
                found["other"].append(f"{test} ({before} -> {now})")
        for test in after.keys() - self.plain.outcomes.keys():
            found["other"].append(f"{test} (only rewritten: {after[test]})")
        return found

    def clean(self) -> bool:
        return self.compared() and not any(self.flips().values())


def table(results: list[Result]) -> str:
    head = ("package", "version", "tests", "passed plain", "passed rewritten", "pass->fail", "fail->pass",
            "other", "plain s", "rewritten s")
    rows = [head]
    for r in results:
        f = r.flips()
        rewritten_ok = r.rewritten.status == "ok"
        rows.append((
            r.pkg.name, r.pkg.version,
            str(len(r.plain.outcomes)) if r.plain.status == "ok" else r.plain.status,
            str(r.plain.count("passed")) if r.plain.status == "ok" else "-",
            str(r.rewritten.count("passed")) if rewritten_ok else r.rewritten.status,
            str(len(f["pass_to_fail"])) if r.compared() else "-",
            str(len(f["fail_to_pass"])) if r.compared() else "-",
            str(len(f["other"])) if r.compared() else "-",
            f"{r.plain.seconds:.0f}" if r.plain.status in ("ok", "timeout") else "-",
            f"{r.rewritten.seconds:.0f}" if r.rewritten.status in ("ok", "timeout") else "-",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def details(results: list[Result], show: int) -> str:
    """The first flipped tests of each package, and why a half did not run."""
    out: list[str] = []
    for r in results:
        notes = [f"{run.half}: {run.message}" for run in (r.plain, r.rewritten) if run.message]
        if r.error:
            notes.insert(0, r.error)
        flips = r.flips()
        for kind, tests in flips.items():
            if tests:
                shown = "".join(f"\n      {t}" for t in tests[:show])
                more = f"\n      ... and {len(tests) - show} more" if len(tests) > show else ""
                notes.append(f"{kind.replace('_', ' ')} ({len(tests)}):{shown}{more}")
        if notes:
            out.append(f"{r.pkg.key}:\n" + "\n".join(f"  {n}" for n in notes))
    return "\n".join(out)


def summary(results: list[Result], args: argparse.Namespace) -> dict:
    return {
        "racekit": {"repo": str(REPO), "commit": git_commit()},
        "python": args.python, "plugin": args.plugin,
        "jobs": args.jobs, "timeout": args.timeout, "test_timeout": args.test_timeout,
        "packages": [{
            "name": r.pkg.name, "version": r.pkg.version, "modules": list(r.pkg.modules), "why": r.pkg.why,
            "notes": r.pkg.notes, "error": r.error,
            "plain": {k: v for k, v in run_summary(r.plain).items() if k != "outcomes"},
            "rewritten": {k: v for k, v in run_summary(r.rewritten).items() if k != "outcomes"},
            "flips": r.flips(), "clean": r.clean(),
        } for r in results],
    }


def git_commit() -> str:
    try:
        done = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
        return done.stdout.strip()
    except OSError:
        return ""


# -- the command -------------------------------------------------------------------


def check_one(pkg: Package, args: argparse.Namespace) -> Result:
    halves = ("plain", "rewritten") if args.only is None else (args.only,)
    home = args.cache / pkg.key
    try:
        prep = prepare(pkg, args.cache, args.python)
    except (SetupError, OSError, subprocess.SubprocessError) as exc:
        failed = Run("plain", "setup-error"), Run("rewritten", "setup-error")
        return Result(pkg, *failed, error=f"setup failed: {exc}")
    runs = {half: run_suite(prep, half, args) for half in halves}
    if args.only == "rewritten":
        runs["plain"] = cached_plain(pkg, home)
    runs.setdefault("rewritten", Run("rewritten", "not-run"))
    return Result(pkg, runs["plain"], runs["rewritten"])


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--packages", help="comma-separated names from the pinned list (default: all)")
    p.add_argument("--only", choices=("plain", "rewritten"),
                   help="run one half; the other is read from the cache's last run")
    p.add_argument("--jobs", type=int, default=0, metavar="N",
                   help="pytest-xdist -n N inside suites that tolerate it (default 0: no xdist)")
    p.add_argument("--timeout", type=float, default=900, metavar="S", help="seconds per suite run (default 900)")
    p.add_argument("--test-timeout", type=float, default=300, metavar="S",
                   help="pytest-timeout seconds per test (default 300)")
    p.add_argument("--cache", type=Path, default=Path(os.environ.get("RACEKIT_TRANSPARENCY_CACHE", DEFAULT_CACHE)),
                   help=f"where venvs, sdists and reports go (default {DEFAULT_CACHE}, or $RACEKIT_TRANSPARENCY_CACHE)")
    p.add_argument("--python", default=sys.executable, help="interpreter for the venvs (default: this one)")
    p.add_argument("--plugin", default=PLUGIN, metavar="MODULE",
                   help=f"the pytest plugin of the rewritten half (default {PLUGIN})")
    p.add_argument("--json", type=Path, metavar="PATH", help="write a JSON summary there")
    p.add_argument("--show", type=int, default=5, metavar="N", help="flipped tests listed per package (default 5)")
    p.add_argument("--list", action="store_true", help="print the pinned packages and exit")
    args = p.parse_args(argv)
    known = {pkg.name: pkg for pkg in PACKAGES}
    names = args.packages.split(",") if args.packages else list(known)
    unknown = [n for n in names if n.strip() not in known]
    if unknown:
        p.error(f"not in the pinned list: {', '.join(unknown)} (known: {', '.join(known)})")
    args.selected = [known[n.strip()] for n in names]
    args.cache = args.cache.expanduser().resolve()
    if args.cache.is_relative_to(REPO):
        p.error(f"--cache must be outside the repository ({REPO})")
    return args


def list_packages() -> str:
    lines = []
    for pkg in PACKAGES:
        lines.append(f"{pkg.name}=={pkg.version}  rewrite: {','.join(pkg.modules)}  tests: {' '.join(pkg.tests)}")
        lines.append(f"    why: {pkg.why}")
        if pkg.deps:
            lines.append(f"    test deps: {' '.join(pkg.deps)}")
        if pkg.args:
            lines.append(f"    pytest args: {' '.join(pkg.args)}")
        if pkg.notes:
            lines.append(f"    notes: {pkg.notes}")
        if not pkg.xdist:
            lines.append("    runs without xdist whatever --jobs says")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.list:
        print(list_packages())
        return 0
    say(f"racekit transparency oracle: {len(args.selected)} package(s), cache {args.cache}")
    results = []
    for pkg in args.selected:
        say(f"{pkg.key}:")
        results.append(check_one(pkg, args))
    print(table(results))
    notes = details(results, args.show)
    if notes:
        print("\n" + notes)
    if args.json:
        args.json.write_text(json.dumps(summary(results, args), indent=2) + "\n")
        say(f"summary written to {args.json}")
    if args.only == "plain":
        return 0 if all(r.plain.status == "ok" for r in results) else 1
    return 0 if all(r.clean() for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
