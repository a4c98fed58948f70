"""racekit as a pytest plugin: case files and ``@racekit.race_test`` functions as tests.

- Every ``*.yaml``/``*.yml`` file with a top-level ``racekit:`` key is collected,
  one item per variant: ``cases/balance.yaml::balance[unlocked]``. Other YAML
  files are ignored. A broken case file is one collection error listing the
  loader's ``path:line:col`` messages.
- A racy variant passes when a race (or deadlock) is observed, any other when
  none is. With several modes, a racy variant passes if some mode shows its
  failure, a safe one only if no mode does.
- Seeds: every item's seed derives from the session's base seed and its node
  id, so ``-n 0`` and ``-n auto`` make the same choices; the base seed is in
  the header and travels to xdist workers.
- Inside an xdist worker racekit starts one worker process, not one per core.

This module is imported by every pytest run in an environment where racekit is
installed, so it imports nothing heavy until a racekit test actually runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from racekit.options import MODES



def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("racekit", "racekit: concurrency cases as tests")
    group.addoption("--racekit-runs", metavar="N", default=None,
                    help="trials per variant (default: each case's `runs`; ini: racekit_runs)")
    group.addoption("--racekit-mode", metavar="MODE[,MODE]", default=None,
                    help="auto, native, line, opcode, yield or controlled, comma-separated (default: each case's `mode:`, else auto; ini: racekit_mode)")
    group.addoption("--racekit-seed", metavar="SEED", default=None,
                    help="base seed; each test's seed derives from it and the test's id (ini: racekit_seed)")
    group.addoption("--racekit-timeout", metavar="SECONDS", default=None,
                    help="seconds a trial may take before it counts as a deadlock (ini: racekit_timeout)")
    group.addoption("--racekit-budget", metavar="N|SECONDSs", default=None,
                    help="each racekit test's budget: N executions (at most N trials per mode, the search "
                         "included), or a time such as 10s or 500ms, after which no trial starts; a test stops "
                         "at its first failure either way (ini: racekit_budget; marker: "
                         "@pytest.mark.racekit(budget=...))")
    group.addoption("--racekit-instrument", metavar="PKG[,PKG]", default=None,
                    help="more modules or packages whose code the controlled and yield modes rewrite, even when "
                         "installed in site-packages (the project always is; ini: racekit_instrument)")
    parser.addini("racekit_instrument", "racekit: modules or packages (comma-separated) that controlled and yield "
                                        "modes rewrite besides the project", default=None)
    parser.addini("racekit_budget", "racekit: each test's budget, N executions or a time such as 10s", default=None)
    parser.addini("racekit_runs", "racekit: trials per variant (default: each case's `runs`)", default=None)
    parser.addini("racekit_mode", "racekit: scheduler mode(s), comma-separated (default auto)", default=None)
    parser.addini("racekit_seed", "racekit: base seed", default=None)
    parser.addini("racekit_timeout", "racekit: seconds per trial before it counts as a deadlock", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "racekit: a racekit concurrency test (a case-file variant or a @racekit.race_test function); "
        "added automatically, select with -m racekit or skip with -m 'not racekit'",
    )
    config.pluginmanager.register(RacekitSession(config), "racekit-session")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    from racekit.case.files import case_file_status

    if case_file_status(file_path) in ("case", "unreadable"):  # an unreadable YAML file is said, not skipped
        return CaseFile.from_parent(parent, path=file_path)
    return None


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed and report.nodeid.endswith(CASE_SUFFIX_IDS):
        _BROKEN_CASE_FILES.add(report.nodeid)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """A broken case file is one collection error for that file; it does not
    stop the user's whole session as pytest does for other collection errors
    (it would, once racekit is installed, for any YAML file with `racekit:`)."""
    if _BROKEN_CASE_FILES and session.testsfailed <= len(_BROKEN_CASE_FILES):
        session.config.option.continue_on_collection_errors = True


CASE_SUFFIX_IDS = (".yaml", ".yml")
_BROKEN_CASE_FILES: set[str] = set()


class Settings:
    """The session's racekit options, each validated with where it came from."""

    def __init__(self, config: pytest.Config):
        self.runs = self._get(config, "runs", _positive_int)
        self.modes = self._get(config, "mode", _modes) or ()  # (): each case's own `mode:`, else auto
        self.timeout = self._get(config, "timeout", _timeout)
        self.instrument = self._get(config, "instrument", _module_names) or ()
        self.budget = self._get(config, "budget", parse_budget) or Budget()
        seed = self._get(config, "seed", _seed)
        worker_input = getattr(config, "workerinput", None)
        if seed is None and worker_input is not None:
            seed = worker_input.get("racekit_seed")  # the controller's, so every worker agrees
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")

    @staticmethod
    def _get(config: pytest.Config, name: str, parse: Any) -> Any:
        option = config.getoption(f"racekit_{name}")
        if option is not None:
            return parse(option, f"--racekit-{name}")
        ini = config.getini(f"racekit_{name}")
        if ini not in (None, "", []):
            return parse(ini, f"racekit_{name} in the ini file ({config.inipath})")
        return None


def _positive_int(value: Any, source: str) -> int:
    """A number of runs, within what racekit allows (checked here, at parse time,
    not in every test, where the message would name the CLI's --runs)."""
    from racekit.engine import MAX_RUNS

    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_RUNS:
        raise pytest.UsageError(f"{source}: expected an integer from 1 to {MAX_RUNS:,}, got {value!r}")
    return number


def _timeout(value: Any, source: str) -> float:
    from racekit.engine import MAX_TIMEOUT

    try:
        number = float(str(value).strip())
    except ValueError:
        number = 0.0
    if not 0 < number <= MAX_TIMEOUT:  # NaN and inf too
        raise pytest.UsageError(f"{source}: expected a number of seconds more than 0 and at most {MAX_TIMEOUT:,}, "
                                f"got {value!r}")
    return number


def _seed(value: Any, source: str) -> int:
    text = str(value).strip()
    if not text.isdigit():
        raise pytest.UsageError(f"{source}: expected a non-negative integer, got {value!r}")
    return int(text)


def _modes(value: Any, source: str) -> tuple[str, ...]:
    modes = tuple(m.strip() for m in str(value).split(",") if m.strip())
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise pytest.UsageError(f"{source}: unknown mode {', '.join(map(repr, bad)) or repr(value)}; "
                                f"choose from {', '.join(MODES)}")
    return modes


@dataclasses.dataclass(frozen=True)
class Budget:
    """What one racekit test may spend: executions, or seconds (None: the case decides)."""

    executions: int | None = None
    seconds: float | None = None

    def option(self) -> str:
        return str(self.executions) if self.executions else f"{self.seconds:g}s" if self.seconds else ""


def parse_budget(value: Any, source: str) -> Budget:
    """``500`` (executions), ``10s``, ``2.5s`` or ``500ms`` (time)."""
    text = str(value).strip().lower()
    try:
        if text.endswith("ms"):
            budget = Budget(seconds=float(text[:-2]) / 1000)
        elif text.endswith("s"):
            budget = Budget(seconds=float(text[:-1]))
        else:
            budget = Budget(executions=int(text))
    except ValueError:
        budget = Budget(executions=0)
    if (budget.executions is not None and budget.executions < 1) or (budget.seconds is not None
                                                                      and not budget.seconds > 0):
        raise pytest.UsageError(f"{source}: expected a number of executions (500) or a time (10s, 500ms), "
                                f"got {value!r}")
    return budget


def _module_names(value: Any, source: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in str(value).replace("\n", ",").split(",") if n.strip())
    bad = [n for n in names if not all(part.isidentifier() for part in n.split("."))]
    if bad or not names:
        raise pytest.UsageError(f"{source}: expected module or package names such as shop or shop.cache, "
                                f"got {', '.join(map(repr, bad)) or repr(value)}")
    return names


def item_seed(base: int, nodeid: str) -> int:
    """A test's seed: the same in every process that runs it (xdist or not)."""
    return int.from_bytes(hashlib.blake2b(f"{base}:{nodeid}".encode(), digest_size=4).digest(), "big")


class RacekitSession:
    """Session state: settings, the shared worker pool, and the results for the summary."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.settings = Settings(config)
        self._pool: Any = None
        self.reports: list[dict[str, Any]] = []

    # -- xdist ------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["racekit_seed"] = self.settings.seed

    # -- reporting ------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> str:
        runs = self.settings.runs or "each case's own"
        modes = ",".join(self.settings.modes) or "each case's own (else auto)"
        header = f"racekit: base seed {self.settings.seed} (--racekit-seed), mode {modes}, runs {runs}"
        from racekit.runtime.forcing import interpreter_info

        python = interpreter_info()
        if not python["tested"]:
            from racekit.report.terminal import untested_sentence

            header += "\nracekit: " + untested_sentence(python, "en")
        return header

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        props = dict(report.user_properties)
        if "racekit_verdict" in props:
            self.reports.append({"nodeid": report.nodeid, "passed": report.passed, **props})

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.reports:
            return
        terminalreporter.section("racekit")
        found = [r for r in self.reports if r["racekit_verdict"] in ("race", "deadlock")]
        terminalreporter.write_line(
            f"{len(self.reports)} racekit test{'s' if len(self.reports) != 1 else ''}: "
            f"{len(found)} showed a race or deadlock, "
            f"{sum(int(r['racekit_runs']) for r in self.reports)} trials in all; base seed {self.settings.seed}"
        )
        for r in found:
            expected = "expected" if r["passed"] else "NOT expected"
            terminalreporter.write_line(
                f"  {r['racekit_verdict'].upper():8} {r['nodeid']}  wrong {r['racekit_wrong']}/{r['racekit_runs']} "
                f"({r['racekit_mode']}, seed {r['racekit_seed']}; {expected})"
            )

    # -- running --------------------------------------------------------------

    def pool(self) -> Any:
        if self._pool is None:
            from racekit.runtime.pool import Pool

            self._pool = Pool()
        return self._pool

    def pytest_sessionfinish(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def run(self, case: Any, variant: Any, nodeid: str, budget: Budget | None = None) -> tuple[list[Any], int]:
        from racekit.engine import RunOptions, run

        seed = item_seed(self.settings.seed, nodeid)
        budget = budget or self.settings.budget
        options = RunOptions(modes=self.settings.modes, runs=self.settings.runs, seed=seed,
                             variants=(variant.name,), timeout=self.settings.timeout,
                             scope=(str(self.config.rootpath),), instrument=self.settings.instrument,
                             max_runs=budget.executions, time_budget=budget.seconds,
                             stop_on_failure=budget != Budget())
        from racekit.errors import RacekitError

        try:
            result = run([case], options, pool=self.pool())
        except RacekitError as exc:
            pytest.fail(f"racekit: {exc}", pytrace=False)
        if result.interrupted:
            raise KeyboardInterrupt
        return result.variants, seed

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        spec = getattr(pyfuncitem.obj, "__racekit_case__", None)
        if spec is None:
            return None
        from racekit.pycase import python_case

        case = python_case(pyfuncitem.obj)
        run_item(self, pyfuncitem, case, case.variants[0])
        return True

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            if isinstance(item, CaseItem) or hasattr(getattr(item, "obj", None), "__racekit_case__"):
                item.add_marker("racekit")


def run_item(session: RacekitSession, item: pytest.Item, case: Any, variant: Any) -> None:
    """Run one variant for a test item; fail it with the report when the expectation is not met."""
    from racekit.report.terminal import replay_command

    marker = next((m for m in item.iter_markers("racekit") if "budget" in m.kwargs), None)
    budget = None
    if marker is not None:
        budget = parse_budget(marker.kwargs["budget"], f"@pytest.mark.racekit(budget=...) on {item.nodeid}")
    results, seed = session.run(case, variant, item.nodeid, budget)
    ok = any(r.ok for r in results) if variant.racy else all(r.ok for r in results)
    found = [r for r in results if r.verdict.value in ("race", "deadlock", "error")]
    shown = found[0] if found else results[0]
    item.user_properties.extend([
        ("racekit_verdict", shown.verdict.value),
        ("racekit_mode", ",".join(r.mode for r in results)),
        ("racekit_runs", sum(r.runs for r in results)),
        ("racekit_wrong", sum(r.wrong for r in results)),
        ("racekit_seed", seed),
        ("racekit_base_seed", session.settings.seed),
        ("racekit_outcomes", json.dumps({r.mode: r.outcomes for r in results}, ensure_ascii=False)),
    ])
    replayable = next((r for r in results if r.schedule and r.verdict.value in ("race", "deadlock")), None)
    if replayable is not None:  # the failing interleaving, to replay from a CI artefact
        item.user_properties.extend([("racekit_schedule", replayable.schedule),
                                     ("racekit_replay", replay_command(replayable))])
    if not ok:
        # The report is the whole story; a traceback into racekit would only hide it.
        pytest.fail(failure_report(results, item.nodeid, session.settings), pytrace=False)


def failure_report(results: list[Any], nodeid: str, settings: Settings) -> str:
    """The histogram(s), verdict, mode and seed, and the lines that reproduce the run."""
    from io import StringIO

    from rich.console import Console

    from racekit.report.terminal import TerminalReport, reproduce_command

    buffer = StringIO()
    report = TerminalReport(Console(file=buffer, width=100, no_color=True, highlight=False))
    for result in results:
        report.variant(result, show_mode=True, reproduce=False)
    first = next((r for r in results if not r.ok), results[0])
    if first.verdict.value == "error":
        headline = f"racekit: the case itself failed ({first.reason}), so it proves nothing"
    elif first.racy:
        headline = f"racekit: no race or deadlock in {sum(r.runs for r in results)} runs, but this case should show one"
    else:
        headline = (f"racekit: {first.verdict.value} in {first.wrong} of {first.runs} runs "
                    f"(mode {first.mode}, seed {first.seed}), but this case should have none")
    body = "\n".join(line.rstrip() for line in buffer.getvalue().rstrip().splitlines())
    command = f"  pytest '{nodeid}' --racekit-seed {settings.seed}"
    if settings.modes:
        command += f" --racekit-mode {','.join(settings.modes)}"
    if settings.runs:
        command += f" --racekit-runs {settings.runs}"
    if settings.timeout:
        command += f" --racekit-timeout {settings.timeout:g}"
    if settings.budget != Budget():
        command += f" --racekit-budget {settings.budget.option()}"
    lines = [headline, body, "", "reproduce:", command]
    lines += [f"  {reproduce_command(r)}" for r in results]
    return "\n".join(lines)


class CaseFile(pytest.File):
    def collect(self):
        from racekit.case.loader import load_case
        from racekit.errors import CaseError

        try:
            case = load_case(self.path)
        except CaseError as exc:
            raise self.CollectError(f"racekit could not load this case file:\n{exc}") from None
        except OSError as exc:
            raise self.CollectError(f"racekit could not read this case file: {exc.strerror or exc}") from None
        for variant in case.variants:
            yield CaseItem.from_parent(self, name=f"{case.name}[{variant.name}]", case=case, variant=variant)


class CaseItem(pytest.Item):
    def __init__(self, *, case: Any, variant: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.case = case
        self.variant = variant

    def runtest(self) -> None:
        session: RacekitSession = self.config.pluginmanager.get_plugin("racekit-session")
        run_item(session, self, self.case, self.variant)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"racekit: {self.name}{' (racy)' if self.variant.racy else ''}"
