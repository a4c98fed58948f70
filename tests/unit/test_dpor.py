"""Partial-order reduction against its oracle: plain depth-first search.

Every outcome (a value, a deadlock) that the search of every interleaving
reaches, the reduced search must reach too, in no more executions: on the
soundness corpus, on synchronisation cases written for this test, on the
held-out cases, on the user library, and on seeded random programs."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from conftest import TEST_CASES
from racekit.case.loader import load_case
from racekit.options import ModeSpec
from racekit.records import PendingOp
from racekit.runtime.controlled.run import drive
from racekit.runtime.controlled.search import explore
from racekit.runtime.controlled.strategies.dfs import DepthFirst
from racekit.runtime.controlled.strategies.dpor import PartialOrder, conflict
from racekit.runtime.programs import compile_program

DFS_CAP = 1500  # executions; a case whose full DFS is longer is compared on what DFS reached


def _outcomes(variant, strategy, cap: int = 200_000) -> tuple[Counter, int, bool]:
    program = compile_program(variant, ModeSpec("controlled", strategy="exhaustive"))
    found: Counter = Counter()
    runs = 0
    for trial, _controller in drive(program, 0, 1, strategy):
        found[trial.outcome] += 1
        runs += 1
        if runs >= cap:
            return found, runs, False
    return found, runs, True


def _variants(path, names=None, slow=False, slow_names=()):
    case = load_case(path)
    return [pytest.param(path, v.name, id=f"{case.name}[{v.name}]",
                         marks=[pytest.mark.slow] if slow or v.name in slow_names else [])
            for v in case.variants if names is None or v.name in names]


CORPUS = (_variants(TEST_CASES / "soundness" / "corpus.yaml", slow=True)
          + _variants(TEST_CASES / "dpor" / "sync.yaml", slow_names={"two_locations", "dict_keys"})
          + _variants(TEST_CASES / "auto" / "heldout.yaml", slow=True)
          + _variants(TEST_CASES / "userlib" / "inventory_cases.yaml",
                      {"hits", "hits_locked", "cache_locked", "pool_locked", "transfer", "transfer_ordered"},
                      slow=True))


@pytest.mark.parametrize(("path", "name"), CORPUS)
def test_the_reduced_search_reaches_every_outcome_plain_dfs_reaches(path, name):
    variant = load_case(path).variant(name)
    plain, plain_runs, plain_complete = _outcomes(variant, DepthFirst(None), DFS_CAP)
    reduced, reduced_runs, reduced_complete = _outcomes(variant, PartialOrder())
    assert reduced_complete
    assert set(plain) <= set(reduced), f"missed {set(plain) - set(reduced)}"
    if plain_complete:
        assert set(reduced) == set(plain)  # and nothing DFS cannot reach
        assert reduced_runs <= plain_runs


STATEMENTS = ["box.v = {c}", "box.w = {c}", "box.v = box.w + {c}", "box.w = box.v + {c}", "x = box.v", "x = box.w",
              "with lock:\n    box.v = box.v + {c}"]


def _random_case(rng: random.Random, path) -> None:
    lines = ["racekit: 1", "name: generated", "setup: |", "  class Box:", "      v = 0", "      w = 0",
             "  box = Box()", "  lock = threading.Lock()", "threads:"]
    for thread in range(3):
        lines.append(f"  t{thread}: |")
        for _ in range(rng.randint(1, 3)):
            for line in rng.choice(STATEMENTS).format(c=rng.randint(1, 3)).splitlines():
                lines.append("    " + line)
    lines += ["outcome: (box.v, box.w)", "expect: {check: 'True'}"]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2))
def test_random_programs_reach_the_same_outcomes_reduced_or_not(tmp_path, seed):
    rng = random.Random(seed)
    for n in range(8):
        path = tmp_path / f"case{n}.yaml"
        _random_case(rng, path)
        variant = load_case(path).variants[0]
        plain, _, complete = _outcomes(variant, DepthFirst(None), DFS_CAP)
        reduced, _, _ = _outcomes(variant, PartialOrder())
        assert set(plain) <= set(reduced), (path.read_text(), set(plain) - set(reduced))
        if complete:
            assert set(reduced) == set(plain), path.read_text()


@pytest.mark.slow
def test_a_three_thread_lazy_init_is_searched_completely_in_few_executions():
    variant = load_case(TEST_CASES / "auto" / "heldout.yaml").variant("lazy_three")
    reduced, runs, complete = _outcomes(variant, PartialOrder())
    assert complete and set(reduced) == {"1", "2", "3"}
    # Plain DFS had not finished after 50,000 executions (benchmarks/dpor.py measures it).
    assert runs < 2_000


def test_the_search_finishes_with_the_reduction_and_says_so():
    program = compile_program(load_case(TEST_CASES / "userlib" / "inventory_cases.yaml").variant("singleton_locked"),
                              ModeSpec("controlled", strategy="exhaustive"))
    outcomes: Counter = Counter()
    summary = explore(program, 1, lambda t: outcomes.update([t.outcome]), 2000)
    assert summary.complete and summary.reduction == "dpor" and summary.reduced_from == 1
    assert set(outcomes) == {"1"} and summary.schedules < 400  # plain DFS: 16,650 schedules
    facts = summary.as_facts()
    assert facts["reduction"] == "dpor" and facts["complete"]


TWO_PREEMPTIONS = """
racekit: 1
name: two_preemptions
setup: |
  class Box:
      v = 0
      seen = ()
  box = Box()
threads:
  writer: |
    box.v = 1
    box.v = 2
  reader: |
    first = box.v
    second = box.v
    box.seen = (first, second)
outcome: box.seen
expect: {check: "outcome != (1, 2)"}
"""


def test_a_failure_beyond_the_small_bounds_is_found_and_not_called_the_fewest(tmp_path):
    # (1, 2) needs the reader between the writes and the writer between the reads:
    # two preemptions, beyond plain DFS's bounds 0 and 1.
    path = tmp_path / "two.yaml"
    path.write_text(TWO_PREEMPTIONS)
    program = compile_program(load_case(path).variants[0], ModeSpec("controlled", strategy="exhaustive"))
    wrong = []
    summary = explore(program, 1, lambda t: wrong.append(t) if not t.matches else None, 5000, stop_on_failure=True)
    assert [t.outcome for t in wrong] == ["(1, 2)"] and summary.stopped == "first_failure"
    assert summary.reduction == "dpor" and summary.first_wrong_preemptions is None
    assert summary.found_preemptions is not None and summary.found_preemptions >= 2


def op(kind, location=None, sync=None, thread=0):
    return PendingOp(thread, kind, "x", location, sync)


def test_conflicts_are_what_may_not_commute():
    assert conflict(op("write", (1, "v")), op("read", (1, "v")))
    assert not conflict(op("read", (1, "v")), op("read", (1, "v")))
    assert not conflict(op("write", (1, "v")), op("write", (1, "w")))
    assert not conflict(op("write", (1, "v")), op("write", (2, "v")))
    assert conflict(op("call", (1, "*")), op("read", (1, "k")))  # append vs an item read
    assert not conflict(op("read", (1, "*")), op("read", (1, "k")))
    assert conflict(op("acquire", sync=5), op("release", sync=5))
    assert not conflict(op("acquire", sync=5), op("acquire", sync=6))
    assert not conflict(op("acquire", sync=5), op("write", (1, "v")))
    assert conflict(op("join"), op("read", (1, "v")))  # what it cannot tell apart conflicts with everything
    assert conflict(op("sleep"), op("acquire", sync=5))
