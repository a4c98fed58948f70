"""``kind: script``: run a demo program as it is, many times, and histogram what it prints.

A teacher can take any demo (the lecture notes' examples as printed) and show
the distribution of its output. The outcome is the program's stdout, its last
line, its exit code, or a regex capture, after ``normalize`` rules (``re.sub``,
in order) replaced what differs from run to run for uninteresting reasons
(process ids, timings). Each run is a subprocess in its own session, so a run
that hangs past the timeout is killed with everything it started.
"""

from __future__ import annotations

import inspect
import os
import re
import signal
import subprocess
import sys
import time
from typing import Any

from racekit.case.model import Variant
from racekit.options import ModeSpec
from racekit.runtime.forcing import Forcing, Scope
from racekit.records import Note, Status, Trial
from racekit.runtime.judging import Prepared, judge_against, judged
from racekit.runtime.trial import Program

# Popen(process_group=0) (3.11+) starts the child in a group of its own without
# a preexec_fn, which is unsafe in a process with threads.
_POPEN_HAS_PROCESS_GROUP = "process_group" in inspect.signature(subprocess.Popen).parameters


class ScriptProgram(Program):
    @classmethod
    def compile(cls, variant: Variant, mode: ModeSpec, roots: tuple[str, ...] = ()) -> ScriptProgram:
        # Runs as it is; a mode asked for (mode.ignored) is only noted.
        return cls(variant, Forcing(ModeSpec("native", ignored=mode.ignored), Scope([], [])))

    def run(self, index: int, seed: int, schedule: str | None = None) -> Trial:
        v = self.variant
        assert v.script is not None
        started = time.perf_counter()
        env = {**os.environ, "RACEKIT_SEED": str(seed), "PYTHONUNBUFFERED": "1"}
        # A process group of its own (still in the worker's session, which
        # racekit ends whole when it stops a worker): what the script starts
        # is ended with it.
        group = {"process_group": 0} if _POPEN_HAS_PROCESS_GROUP else {"preexec_fn": os.setpgrp}
        process = subprocess.Popen([sys.executable, v.script, *v.script_args], cwd=os.path.dirname(v.script),
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=env, **group)  # type: ignore[call-overload]
        try:
            stdout, stderr = process.communicate(timeout=v.timeout)
            _kill_group(process)  # anything it left running (a detached child writing to /dev/null)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            stdout, stderr = process.communicate()
            detail = (f"{os.path.basename(v.script)} was still running after the {v.timeout:g} s timeout and was "
                      f"stopped; it had printed:\n{_tail(stdout)}")
            trial = Trial(index, seed, Status.DEADLOCK, "deadlock", detail=detail.rstrip())
        else:
            streams = {"stdout": stdout, "stderr": stderr, "both": stdout + stderr}
            output = streams[v.output].decode("utf-8", "replace")
            outcome = self._capture(output, process.returncode)
            errors = []
            if isinstance(outcome, _NoMatch):
                errors = [(0.0, outcome, f"{os.path.basename(v.script)}:\n{outcome}")]
            prepared = Prepared(threads=[], outcome=lambda: outcome, judge=self._judge)
            trial = judged(index, seed, prepared, errors)
            if process.returncode and v.capture != "exit_code":
                trial.errors.append(f"{os.path.basename(v.script)} exited with code {process.returncode}:\n"
                                    f"{_tail(stderr)}".rstrip())
            if not trial.matches:
                trial.output = _tail(stdout) + ("\n--- stderr ---\n" + _tail(stderr) if stderr.strip() else "")
        trial.duration = time.perf_counter() - started
        if self.forcing.spec.ignored:
            trial.warnings = [Note.of("script", mode=self.forcing.spec.ignored)]
        return trial

    def _capture(self, output: str, code: int) -> Any:
        v = self.variant
        for pattern, replacement in v.normalize:
            output = re.sub(pattern, replacement, output)
        if v.capture == "exit_code":
            return code
        if v.capture == "last_line":
            lines = [line for line in output.splitlines() if line.strip()]
            return lines[-1] if lines else ""
        if isinstance(v.capture, dict):
            match = re.search(v.capture["regex"], output, re.MULTILINE)
            if match is None:
                return _NoMatch(f"the output has no match for {v.capture['regex']!r}")
            return match.group(1) if match.groups() else match.group(0)
        return output.rstrip("\n")

    def _judge(self, outcome: Any) -> int | bool:
        expect = self.variant.expect
        if expect.kind == "check" and expect.check is not None:
            code = compile(expect.check.parse("eval"), expect.check.path, "eval")
            return bool(eval(code, {"outcome": outcome, "re": re}))
        return judge_against(expect.values, outcome)


class _NoMatch(Exception):
    kind = "NoMatch"
    case_bug = True  # the capture pattern does not fit the output: the case's mistake, not a race


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:  # the group is empty
        if process.poll() is None:
            process.kill()


def _tail(data: bytes, limit: int = 2000) -> str:
    return data.decode("utf-8", "replace")[-limit:].rstrip()
