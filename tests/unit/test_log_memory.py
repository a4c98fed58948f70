"""What a controlled execution's log costs, and that nothing keeps it alive after.

Every step of an execution is kept to explain a failure, so the log is memory:
it has a budget (an execution that outgrows it ends inconclusive, never as a
failure), and a log nobody needs any more must be freed. It once was not: a
class the case defined stayed in a cache of racekit's, and with it the
execution's namespace, scheduler and log, so a worker grew by every execution
it ran (1.3 GB after a few runs of 160,000 steps).
"""

from __future__ import annotations

import gc
import textwrap
import weakref

import pytest

from racekit.case.loader import load_case
from racekit.options import ModeSpec
from racekit.records import Status
from racekit.runtime.controlled import controller as controller_module
from racekit.runtime.controlled import run as run_module
from racekit.runtime.controlled.run import run_controlled
from racekit.runtime.programs import compile_program

CASE = """\
racekit: 1
name: logs
title: a counter in a class the case defines
params:
  iterations: 40
  text: ""
setup: |
  class Box:
      def __init__(self):
          self.v = 0
          self.note = text
  box = Box()
threads:
  a: |
    for _ in range(iterations):
        box.v += 1
        seen = box.note
  b: |
    for _ in range(iterations):
        box.v += 1
outcome: box.v
expect: 2 * iterations
"""


def program(tmp_path, **params):
    path = tmp_path / "logs.yaml"
    path.write_text(CASE)
    variant = load_case(str(path)).variants[0].with_params(params)
    return compile_program(variant, ModeSpec("controlled", strategy="random"))


@pytest.fixture
def controllers(monkeypatch):
    """Weak references to every scheduler made, so the test sees which live on."""
    made: list[weakref.ref] = []
    original = controller_module.Controller.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(weakref.ref(self))

    monkeypatch.setattr(controller_module.Controller, "__init__", init)
    return made


def alive(made: list[weakref.ref]) -> int:
    return sum(1 for ref in made if ref() is not None)


def test_an_execution_whose_log_outgrows_its_budget_is_inconclusive_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(controller_module, "LOG_BUDGET", 2**20)
    # About 350 bytes a step: the 500 steps of 100 iterations fit in 1 MB, the 10,000 of 2,000 do not.
    small = run_controlled(program(tmp_path, iterations=100, text="n" * 300), 0, 1)
    assert small.status is Status.DONE
    trial = run_controlled(program(tmp_path, iterations=2000, text="n" * 300), 0, 1)
    assert trial.status is Status.INCONCLUSIVE
    assert trial.outcome == "inconclusive: memory budget"
    assert trial.why["kind"] == "memory_budget" and trial.why["megabytes"] == 1
    assert 0 < trial.why["steps"] < 8000  # it stopped on the way, not at the end (10,000 steps)


def test_no_execution_keeps_an_earlier_executions_log_alive(tmp_path, controllers):
    prog = program(tmp_path)
    for index in range(5):
        run_controlled(prog, index, index)
    run_module.finish_shrink(prog)
    gc.collect()
    # The last execution's namespace is the case module until the next one
    # replaces it; every earlier scheduler is gone.
    assert len(controllers) >= 6 and alive(controllers) <= 1


def test_dead_logs_are_collected_before_the_next_execution_not_left_to_pile_up(tmp_path, controllers,
                                                                               monkeypatch):
    """Without a collection, each execution's cycle (namespace, hooks, scheduler)
    waits for the cycle collector, which executions keep off."""
    monkeypatch.setattr(run_module._DeadLogs, "COLLECT_AFTER", 1)
    prog = program(tmp_path)
    for index in range(6):
        run_controlled(prog, index, index)
        # The trial just run (and its shrink's pending facts) may hold one; the
        # one before it was collected before this execution began.
        assert alive(controllers) <= 2
