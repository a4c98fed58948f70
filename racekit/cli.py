"""The ``racekit`` command: parse, call the library, render, exit.

Exit codes (the results contract): 0 every variant met its expectation, 1 at
least one did not, 2 bad input or usage (a message naming file:line:col, never
a traceback), 130 interrupted (results gathered so far are still written).
Heavy modules load inside commands so that ``racekit --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from racekit.options import STRATEGIES

if TYPE_CHECKING:
    from racekit.analysis.results import RunResult

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_RACEKIT_FAILED = 3  # racekit itself failed in some run: a bug in racekit, nothing known of the program

app = typer.Typer(
    name="racekit",
    help="Find and teach race conditions in Python: run concurrency cases under schedulers that force thread switches.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)


class Format(str, Enum):
    text = "text"
    json = "json"
    html = "html"


class Lang(str, Enum):
    en = "en"
    zh = "zh"


Paths = Annotated[list[Path], typer.Argument(help="Case files, or folders to search for *.yaml case files.", show_default=False, metavar="FILE_OR_DIR")]
FormatOpt = Annotated[Optional[Format], typer.Option("--format", "-f", help="text (default), json, or html (one self-contained page: -o FILE.html).")]


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(EXIT_USAGE)


def _words(lang: Optional[Lang]) -> str:
    """The report's language: --lang, else English."""
    return lang.value if lang else "en"


def _message(exc: Exception, lang: str = "en") -> str:
    """File problems are already ``path:line:col: error: …`` lines; a schedule
    that does not fit is worded by the report; others get the prefix."""
    from racekit.errors import CaseError, ScheduleError

    if isinstance(exc, CaseError):
        return str(exc)
    if isinstance(exc, ScheduleError):
        from racekit.report.sentences import schedule_misfit

        return schedule_misfit(exc.why, lang)
    return f"error: {exc}"


def _load(paths: list[Path]):
    from racekit.case.loader import load_paths
    from racekit.errors import RacekitError

    try:
        return load_paths(paths)
    except RacekitError as exc:
        raise _fail(_message(exc)) from None


def _split(values: Optional[list[str]]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values or () for part in value.split(",") if part.strip())


def _module_names(names: tuple[str, ...]) -> tuple[str, ...]:
    for name in names:
        if not all(part.isidentifier() for part in name.split(".")):
            raise _fail(f"error: --instrument expects a module or package name such as shop or shop.cache, got {name!r}")
    return names


def _parse_params(values: Optional[list[str]]) -> dict[str, Any]:
    import yaml

    params: dict[str, Any] = {}
    for item in values or ():
        name, sep, raw = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise _fail(f"error: --param expects NAME=VALUE, got {item!r}")
        try:
            params[name.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            params[name.strip()] = raw
    return params


@app.command()
def run(
    paths: Paths,
    mode: Annotated[Optional[list[str]], typer.Option("--mode", "-m", metavar="MODE", help="auto, native, line, opcode, yield or controlled (default: the case's `mode:`, else auto: the controlled search, then real threads); several, comma-separated or repeated, are compared side by side.")] = None,
    runs: Annotated[Optional[int], typer.Option("--runs", "-n", min=1, metavar="N", help="Trials per variant and mode (default: the case's `runs`).")] = None,
    max_runs: Annotated[Optional[int], typer.Option("--max-runs", min=1, metavar="N", help="At most N trials per variant and mode; variants that ask for fewer keep their own `runs` (a script or timing case stays quick).")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", min=0, metavar="SEED", help="Base seed; the default is random and printed.")] = None,
    variant: Annotated[Optional[list[str]], typer.Option("--variant", "-V", metavar="NAME", help="Only these variants (comma-separated or repeated).")] = None,
    param: Annotated[Optional[list[str]], typer.Option("--param", "-p", metavar="NAME=VALUE", help="Override a case param: NAME=VALUE (VALUE read as YAML).")] = None,
    format: FormatOpt = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", metavar="PATH", help="Write the report (in --format) to this file; with json, the text report still goes to the terminal.")] = None,
    config: Annotated[Optional[str], typer.Option("--config", "-c", metavar="PROFILE", help="A run profile: quick, ci, lecture, or a path to a profile YAML file.")] = None,
    switch_interval: Annotated[Optional[float], typer.Option("--switch-interval", metavar="SECONDS", help="sys.setswitchinterval during trials, in seconds (default 1e-6).")] = None,
    timeout: Annotated[Optional[float], typer.Option("--timeout", metavar="SECONDS", help="Seconds a trial may take before it counts as a deadlock (default: the case's).")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, metavar="N", help="Worker processes (default: one per core).")] = None,
    lang: Annotated[Optional[Lang], typer.Option("--lang", help="Language of the report: en or zh.")] = None,
    verbose: Annotated[Optional[bool], typer.Option("--verbose", "-v", help="Show every failure sample and the case's notes.")] = None,
    fail_fast: Annotated[Optional[bool], typer.Option("--fail-fast", "-x", help="Stop a variant at its first wrong outcome.")] = None,
    shard: Annotated[Optional[str], typer.Option("--shard", metavar="K/N", help="Run only the K-th of N disjoint parts of every variant's trials (merge the parts with `racekit merge`).")] = None,
    strategy: Annotated[Optional[str], typer.Option("--strategy", metavar="NAME", help=f"controlled mode: {', '.join(STRATEGIES)} (default random).")] = None,
    depth: Annotated[Optional[int], typer.Option("--depth", min=1, metavar="D", help="pct strategy: the bug depth (default 3).")] = None,
    preemptions: Annotated[Optional[int], typer.Option("--preemptions", min=0, metavar="K", help="exhaustive strategy: explore schedules with at most K preemptions (default: grow the bound until the search is complete).")] = None,
    start_method: Annotated[Optional[str], typer.Option("--start-method", metavar="METHOD", help="kind: processes: start the children with fork, spawn or forkserver, whatever the case names (default: the case's `start_method`, else this Python's default).")] = None,
    save_schedules: Annotated[Optional[Path], typer.Option("--save-schedules", metavar="PATH", help="controlled mode: write each failing variant's schedule to this file (one line each).")] = None,
    instrument: Annotated[Optional[list[str]], typer.Option("--instrument", metavar="PKG", help="controlled and yield modes: rewrite this module or package too, even when installed in site-packages (the case's folder and the project always are); comma-separated or repeated.")] = None,
) -> None:
    """Run cases and report which outcomes appeared, how often, and whether each variant behaved as expected."""
    from racekit.errors import RacekitError

    try:
        from racekit.profiles import settings as merged_settings

        profile = _profile(config)
        if "mode" in profile:
            profile = {**profile, "mode": _split([profile["mode"]])}
        settings = merged_settings({
            "mode": _split(mode) or None, "runs": runs, "max_runs": max_runs, "seed": seed, "switch_interval": switch_interval,
            "timeout": timeout, "jobs": jobs, "format": format.value if format else None,
            "lang": lang.value if lang else None, "verbose": verbose, "fail_fast": fail_fast, "strategy": strategy,
        }, profile)
        cases = _load(paths)
        from racekit.engine import RunOptions, plan

        options = RunOptions(
            modes=settings["mode"] or (), runs=settings["runs"], max_runs=settings["max_runs"], seed=settings["seed"], variants=_split(variant),
            params=_parse_params(param), switch_interval=settings["switch_interval"], timeout=settings["timeout"],
            workers=settings["jobs"], stop_on_failure=settings["fail_fast"], shard=_parse_shard(shard),
            strategy=settings["strategy"], depth=depth or 3, preemptions=preemptions,
            start_method=start_method, instrument=_module_names(_split(instrument)),
        )
        planned = plan(cases, options)
        # Before the first trial: a report that could not be written would throw the run away.
        from racekit import output_files

        inputs = [c.path for c in cases]
        for option, path in (("--output", output), ("--save-schedules", save_schedules)):
            if path is not None:
                output_files.check(path, option, inputs)
    except RacekitError as exc:
        raise _fail(_message(exc)) from None
    from racekit import interrupts
    from racekit.report.console import write_stdout
    from racekit.report.messages import message
    from racekit.report.notes import say_note

    if interrupts.received():  # stopped while starting: nothing ran, nothing to report
        typer.echo("interrupted", err=True)
        raise typer.Exit(interrupts.exit_code())
    # The text report goes to the terminal unless JSON goes there instead.
    settings["terminal_text"] = settings["format"] == "text" or output is not None
    from racekit.engine import header_facts

    settings["header"] = header_facts(planned, options)  # a text report file starts as the terminal's does
    result = _execute(cases, options, planned, settings)
    for warning in result.warnings:
        typer.echo(message(settings["lang"], "stderr_warning", text=say_note(warning, settings["lang"])), err=True)
    unwritten = _emit(result, settings, output)
    if save_schedules is not None:
        lines = [f"{v.file} {v.id} {v.schedule}\n" for v in result.variants if v.schedule]
        reason = output_files.write(save_schedules, output_files.SCHEDULES_HEADER + "".join(lines))
        if reason:
            write_stdout("".join(lines))
            unwritten = unwritten or f"--save-schedules {str(save_schedules)!r}: {reason} (the schedules are printed above)"
    if unwritten:
        typer.echo(f"error: could not write {unwritten}", err=True)
        raise typer.Exit(EXIT_USAGE)
    if result.interrupted:
        from racekit import interrupts

        raise typer.Exit(interrupts.exit_code())
    raise typer.Exit(_exit_code(result))


def _exit_code(result: Any) -> int:
    if result.racekit_failed:
        return EXIT_RACEKIT_FAILED
    return EXIT_OK if result.ok else EXIT_FAILED


@app.command()
def replay(
    path: Annotated[Path, typer.Argument(help="The case file.", show_default=False, metavar="FILE")],
    schedule: Annotated[str, typer.Option("--schedule", "-s", metavar="SCHEDULE", help="The schedule a controlled run printed, e.g. 2:b803a2000.")],
    variant: Annotated[Optional[str], typer.Option("--variant", "-V", metavar="NAME", help="The variant (needed when the case has several).")] = None,
    param: Annotated[Optional[list[str]], typer.Option("--param", "-p", metavar="NAME=VALUE", help="The same param overrides as the run that found the schedule.")] = None,
    format: FormatOpt = None,
    lang: Annotated[Optional[Lang], typer.Option("--lang", help="Language of the report: en or zh.")] = None,
    instrument: Annotated[Optional[list[str]], typer.Option("--instrument", metavar="PKG", help="The same --instrument as the run that found the schedule.")] = None,
) -> None:
    """Run one controlled trial that follows SCHEDULE: the same operations, in the same order, every time."""
    from racekit.errors import RacekitError

    cases = _load([path])
    case = cases[0]
    names = [v.name for v in case.variants]
    if variant is None and len(names) > 1:
        raise _fail(f"error: {case.name} has several variants ({', '.join(names)}): choose one with --variant")
    try:
        from racekit.engine import replay_schedule

        result = replay_schedule(case, variant or names[0], schedule, _parse_params(param),
                                 _module_names(_split(instrument)))
    except RacekitError as exc:
        raise _fail(_message(exc, _words(lang))) from None
    replayed = result.variants[0]
    _emit(result, {"format": (format.value if format else "text"), "lang": _words(lang),
                   "verbose": False, "reproduce": False}, None)  # its schedule line says how to replay it
    # 1 when the replayed interleaving fails (what one usually replays), 0 when it passes.
    raise typer.Exit(EXIT_FAILED if replayed.wrong else EXIT_OK)


def _live_case(path: Path, command: str):
    """The one case file a full-screen command opens, once it is sure it can draw."""
    import importlib.util

    if importlib.util.find_spec("textual") is None:
        raise _fail(f"error: racekit {command} draws with Textual, an optional extra: pip install 'racekit[teach]' "
                    "(in a clone of racekit: pip install -e '.[teach]')")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise _fail(f"error: racekit {command} is a full-screen view and needs a terminal; for a report to print or "
                    "save, use racekit run (or racekit replay --schedule)")
    return _load([path])[0]


@app.command()
def lecture(
    path: Annotated[Path, typer.Argument(help="The case file.", show_default=False, metavar="FILE")],
    variant: Annotated[Optional[str], typer.Option("--variant", "-V", metavar="NAME", help="The variant (default: the case's first racy one).")] = None,
    schedule: Annotated[Optional[str], typer.Option("--schedule", "-s", metavar="SCHEDULE", help="Walk this schedule (default: the failing schedule racekit finds with the fewest preemptions).")] = None,
    param: Annotated[Optional[list[str]], typer.Option("--param", "-p", metavar="NAME=VALUE", help="Override a case param: NAME=VALUE (fewer iterations make a shorter walk).")] = None,
    lang: Annotated[Optional[Lang], typer.Option("--lang", help="Language of the view: en or zh.")] = None,
) -> None:
    """Walk a class through one interleaving, step by step, full screen: each thread's code, the shared values, what each step did."""
    case, params = _live_case(path, "lecture"), _parse_params(param)

    def make(pool):
        from racekit.report.live import LectureApp
        from racekit.teach import prepare_lecture

        with _busy("racekit is recording the interleaving…" if schedule else
                   "racekit is searching for the failing schedule with the fewest preemptions…"):
            lesson = prepare_lecture(case, variant, schedule, params, pool)
        return LectureApp(lesson, _words(lang))

    _run_live(make, lang)


@app.command()
def play(
    path: Annotated[Path, typer.Argument(help="The case file.", show_default=False, metavar="FILE")],
    variant: Annotated[Optional[str], typer.Option("--variant", "-V", metavar="NAME", help="The variant (default: the case's first racy one).")] = None,
    param: Annotated[Optional[list[str]], typer.Option("--param", "-p", metavar="NAME=VALUE", help="Override a case param: NAME=VALUE.")] = None,
    lang: Annotated[Optional[Lang], typer.Option("--lang", help="Language of the view: en or zh.")] = None,
) -> None:
    """Be the scheduler: choose which thread moves at every step, and try to make the case go wrong."""
    case, params = _live_case(path, "play"), _parse_params(param)

    def make(pool):
        from racekit.report.live import PlayApp
        from racekit.teach import PlaySession

        with _busy("racekit is starting the threads and searching for its own answer…"):
            session = PlaySession(case, variant, params, pool)
            session.search()  # the end of the game compares with it: found now, never while keys are pressed
        return PlayApp(session, _words(lang), str(path))

    _run_live(make, lang)


def _run_live(make_app, lang: Optional[Lang]) -> None:
    """Build and run a full-screen app with one worker process of its own; a
    SIGTERM or SIGHUP that ended it is the exit status (128 + its number)."""
    from racekit.errors import RacekitError
    from racekit.runtime.pool import Pool

    from racekit import interrupts

    pool = Pool(1)
    try:
        try:
            # Ctrl-C while racekit searches or records stops it at once (130), not after.
            with interrupts.running():
                app = make_app(pool)
        except KeyboardInterrupt:
            raise typer.Exit(interrupts.exit_code()) from None
        if interrupts.received():  # noted where it could not stop the work: said now
            raise typer.Exit(interrupts.exit_code())
        app.run()
    except RacekitError as exc:
        if interrupts.received():
            raise typer.Exit(interrupts.exit_code()) from None
        raise _fail(_message(exc, _words(lang))) from None
    finally:
        pool.close()
    if app.signalled:
        raise typer.Exit(128 + app.signalled)


def _busy(what: str):
    """A spinner on stderr while a full-screen command gets ready (it may take a second or two)."""
    from rich.console import Console

    return Console(stderr=True).status(what)


def _parse_shard(value: Optional[str]) -> Optional[tuple[int, int]]:
    from racekit.errors import UsageError

    if value is None:
        return None
    k, sep, n = value.partition("/")
    if not sep or not k.strip().isdigit() or not n.strip().isdigit():
        raise UsageError(f"--shard expects K/N such as 1/4, got {value!r}")
    return int(k), int(n)


def _profile(config: Optional[str]) -> dict[str, Any]:
    if not config:
        return {}
    from racekit.profiles import load_profile

    return load_profile(config)


def _execute(cases, options, planned, settings) -> RunResult:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from racekit.engine import header_facts
    from racekit.engine import run as run_cases
    from racekit.report.console import report_console
    from racekit.report.terminal import TerminalReport

    stderr = Console(stderr=True)
    if settings["terminal_text"]:
        TerminalReport(report_console(), settings["lang"], settings["verbose"]).header(header_facts(planned, options))
    total = sum(p.runs for p in planned)
    if not stderr.is_terminal or total == 0:
        return run_cases(cases, options, planned=planned)
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=stderr, transient=True,
    )
    task = progress.add_task("running", total=total)

    def on_trial(p, _trial) -> None:
        progress.update(task, advance=1, description=f"{p.variant.id} · {p.mode.name}")

    with progress:
        result = run_cases(cases, options, progress=on_trial, planned=planned)
    return result


def _emit(result: RunResult, settings: dict[str, Any], output: Optional[Path]) -> str | None:
    """Print and write the report; what could not be written, and why (the
    report is then printed instead, so the run is never lost)."""
    import io

    from racekit import output_files
    from racekit.report.console import report_console, write_stdout
    from racekit.report.terminal import TerminalReport

    def text_report(file=None) -> None:
        console = report_console(file)
        TerminalReport(console, settings["lang"], settings["verbose"], settings.get("reproduce", True)).render(result)
        console.file.flush()

    if settings["format"] in ("json", "html"):
        if settings["format"] == "json":
            from racekit.report.json_report import results_json

            document, what = results_json(result), "JSON"
        else:
            from racekit.report.html_report import html_report

            document, what = html_report(result, settings["lang"], settings["verbose"]), "HTML"
        if output is None:
            write_stdout(document)
            return None
        reason = output_files.write(output, document)
        text_report()
        if reason:
            write_stdout(document)
            return f"--output {str(output)!r}: {reason} (the {what} is printed above)"
        return None
    reason = None
    if output is not None:
        buffer = io.StringIO()
        # Its first line names racekit, as every report racekit writes does: a
        # second run to the same file may then replace it (racekit replaces only its own).
        header = settings.get("header")
        if header is not None:
            TerminalReport(report_console(buffer), settings["lang"], False).header(header)
        else:
            from racekit import __version__
            from racekit.report.messages import message

            buffer.write(message(settings["lang"], "file_header", version=__version__) + "\n\n")
        text_report(buffer)
        reason = output_files.write(output, buffer.getvalue())
    text_report()
    return f"--output {str(output)!r}: {reason} (the report is printed above)" if reason else None


@app.command()
def merge(
    files: Annotated[list[Path], typer.Argument(help="JSON results of `racekit run --shard K/N --format json`.", show_default=False, metavar="RESULT_JSON")],
    format: FormatOpt = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", metavar="PATH", help="Write the merged report (in --format) to this file.")] = None,
    lang: Annotated[Optional[Lang], typer.Option("--lang", help="Language of the report: en or zh.")] = None,
) -> None:
    """Combine shard results: histograms add up, verdicts are recomputed."""
    from racekit.analysis.merge import merge_documents
    from racekit.errors import RacekitError

    from racekit import output_files

    if output is not None:
        try:
            output_files.check(output, "--output", [str(f) for f in files])
        except RacekitError as exc:
            raise _fail(_message(exc)) from None
    from racekit.analysis.merge import read_results

    documents = []
    for path in files:
        try:
            documents.append((str(path), read_results(path.read_text(encoding="utf-8"))))
        except OSError as exc:
            raise _fail(f"error: cannot read {str(path)!r}: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise _fail(f"error: {path}: not valid JSON ({exc})") from None
        except ValueError as exc:
            raise _fail(f"error: {path}: {exc}") from None
    try:
        result = merge_documents(documents)
    except RacekitError as exc:
        raise _fail(_message(exc)) from None
    unwritten = _emit(result, {"format": (format.value if format else "text"),
                               "lang": _words(lang), "verbose": False}, output)
    if unwritten:
        typer.echo(f"error: could not write {unwritten}", err=True)
        raise typer.Exit(EXIT_USAGE)
    raise typer.Exit(_exit_code(result))


@app.command()
def validate(paths: Paths) -> None:
    """Check case files without running them: every problem, as file:line:col."""
    cases = _load(paths)
    variants = sum(len(c.variants) for c in cases)
    typer.echo(f"ok: {len(cases)} case{'s' if len(cases) != 1 else ''}, {variants} variant{'s' if variants != 1 else ''}")


@app.command("list")
def list_cases(paths: Paths, format: FormatOpt = None) -> None:
    """List cases and their variants."""
    if format is Format.html:
        raise _fail("error: racekit list prints text or json (--format html is for run, replay and merge)")
    cases = _load(paths)
    if format is Format.json:
        document = [
            {"name": c.name, "file": c.path, "title": c.title, "kind": c.kind,
             "variants": [{"name": v.name, "racy": v.racy, "threads": v.thread_count(), "runs": v.runs,
                           "params": v.params, "mode": list(v.modes)} for v in c.variants]}
            for c in cases
        ]
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False, default=str))
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold", padding=(0, 2, 0, 0))
    for column in ("CASE", "KIND", "VARIANT", "RACY", "THREADS", "RUNS", "MODE"):
        table.add_column(column, justify="right" if column in ("THREADS", "RUNS") else "left", no_wrap=True)
    for c in cases:
        for i, v in enumerate(c.variants):
            threads = str(v.thread_count()) if c.kind in ("threads", "processes") else "-"
            table.add_row(c.name if i == 0 else "", c.kind if i == 0 else "", v.name, "yes" if v.racy else "no",
                          threads, str(v.runs), ",".join(v.modes) or "-")
    from racekit.report.console import report_console

    report_console().print(table)


@app.command()
def schema(
    results: Annotated[bool, typer.Option("--results", help="The schema of results files (racekit run --format json) instead, which racekit merge checks.")] = False,
) -> None:
    """Print the JSON Schema of case files (for editors' YAML language servers), or of results files."""
    if results:
        from racekit.analysis.results_schema import RESULTS_SCHEMA

        typer.echo(json.dumps(RESULTS_SCHEMA, indent=2))
        return
    from racekit.case.format import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


def _version(value: bool) -> None:
    if value:
        from racekit import __version__

        typer.echo(f"racekit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
) -> None:
    """racekit: find and teach race conditions."""


def main() -> None:
    from racekit import interrupts

    interrupts.install()  # again: `racekit.cli:main` may be called directly
    from racekit.errors import OutputError, RacekitError

    if sys.argv[1:2] in (["run"], ["replay"]) and not {"--help", "-h"} & set(sys.argv):
        from racekit.runtime.pool import prestart

        prestart()  # the workers start while the arguments are parsed and the case is read
    try:
        app()
    except SystemExit as exc:
        if interrupts.received() and exc.code in (0, None):  # a signal noted while a quick command ran
            sys.exit(interrupts.exit_code())
        raise
    except RacekitError as exc:  # a fault of the machine found while running (no worker could start)
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(interrupts.exit_code())
    except BrokenPipeError:
        # `racekit run … | head`: the reader left; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_FAILED)
    except OutputError as exc:
        # `racekit run … > /dev/full`, a full disk under a redirect: no verdict
        # to give (exit 1 would say "a variant failed"), one line, no traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.stderr.write(f"error: could not write the report to standard output: {exc} (use --output FILE to keep it)\n")
        sys.exit(EXIT_USAGE)
