"""Every strategy against fake enabled sets: no case code, no threads, exact answers.

The fake program is N threads of a few operations each; a thread can move
while it has operations left. That is enough to check what each strategy
promises, and for depth-first search there is an oracle: two threads of k
operations have exactly C(2k, k) interleavings, and counting preemptions by
hand gives the number within each bound.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import pytest

from racekit.options import STRATEGIES
from racekit.runtime.controlled.strategies import Strategy, go_on, is_preemption, strategy_class
from racekit.runtime.controlled.strategies.dfs import DepthFirst
from racekit.runtime.controlled.strategies.pct import PCTStrategy
from racekit.runtime.controlled.strategies.random import RandomStrategy
from racekit.runtime.controlled.strategies.replay import ReplayStrategy, ScheduleMismatch
from racekit.runtime.controlled.strategies.reverse import ReverseRace
from racekit.runtime.controlled.strategies.serial import SerialStrategy, serial_orders
from racekit.runtime.controlled.strategies.shrink import Shrink


def run_fake(strategy: Strategy, ops: list[int]) -> list[int]:
    """One execution of a fake program: who performed each operation, in order.
    Like the controller, the strategy is asked only when two or more can move;
    ``current`` is None when the last thread to move has finished."""
    strategy.begin(len(ops))
    left = list(ops)
    current: int | None = None
    order: list[int] = []
    step = 0
    while any(left):
        enabled = [t for t, n in enumerate(left) if n]
        step += 1
        chosen = strategy.next_task(enabled, current, step) if len(enabled) > 1 else enabled[0]
        assert chosen in enabled
        left[chosen] -= 1
        order.append(chosen)
        current = chosen if left[chosen] else None
    return order


def every_execution(strategy: Strategy, ops: list[int]) -> list[tuple[int, ...]]:
    runs = []
    while strategy.new_execution():
        runs.append(tuple(run_fake(strategy, ops)))
        assert len(runs) < 10_000
    return runs


def preemptions(order: tuple[int, ...], ops: list[int]) -> int:
    left, count = list(ops), 0
    for previous, thread in zip((None, *order), order):
        if previous is not None and thread != previous and left[previous]:
            count += 1
        left[thread] -= 1
    return count


# -- the protocol ---------------------------------------------------------------------

def test_every_strategy_name_has_a_module_that_builds_it():
    for name in STRATEGIES:
        strategy = strategy_class(name).for_trial(7, depth=2, expected_steps=10, preemptions=1)
        assert isinstance(strategy, Strategy)
        assert strategy.new_execution()


def test_a_one_shot_strategy_runs_exactly_one_execution():
    strategy = RandomStrategy(1)
    assert strategy.new_execution() and not strategy.new_execution()


def test_going_on_and_preemption_are_what_the_controller_counts():
    assert go_on([0, 1], 1) == 1 and go_on([0, 1], None) == 0 and go_on([1, 2], 0) == 1
    assert is_preemption(1, [0, 1], 0) and not is_preemption(1, [1], 0) and not is_preemption(1, [0, 1], None)


# -- random --------------------------------------------------------------------------

def test_random_is_a_function_of_its_seed():
    ops = [5, 5, 5]
    assert run_fake(RandomStrategy(42), ops) == run_fake(RandomStrategy(42), ops)
    orders = {tuple(run_fake(RandomStrategy(seed), ops)) for seed in range(50)}
    assert len(orders) > 40  # 756,756 interleavings: 50 seeds almost never repeat one


def test_random_reaches_every_interleaving_of_a_small_program():
    # 2 threads of 2: 6 interleavings. Each has probability >= 1/8 per seed, so
    # missing one in 400 seeds has probability < 6 * (7/8)**400 < 1e-22.
    seen = Counter(tuple(run_fake(RandomStrategy(seed), [2, 2])) for seed in range(400))
    assert len(seen) == math.comb(4, 2)


# -- PCT -----------------------------------------------------------------------------

def test_pct_of_depth_one_never_preempts_it_runs_threads_by_priority():
    for seed in range(20):
        order = run_fake(PCTStrategy(seed, depth=1, expected_steps=12), [4, 4, 4])
        assert preemptions(tuple(order), [4, 4, 4]) == 0, order  # random would preempt almost always


def test_pct_of_depth_two_preempts_once_at_its_change_point():
    for seed in range(20):
        strategy = PCTStrategy(seed, depth=2, expected_steps=8)
        order = run_fake(strategy, [4, 4])
        (point,) = strategy.change_points
        assert preemptions(tuple(order), [4, 4]) <= 1
        if preemptions(tuple(order), [4, 4]) == 1:
            switch = next(i for i in range(1, len(order)) if order[i] != order[i - 1])
            assert switch + 1 == point  # the step at which the running thread dropped


def test_pct_finds_a_depth_two_ordering_as_often_as_its_bound_promises():
    # The "bug": thread 1 runs an operation between thread 0's first and second
    # (depth 2: one ordering constraint beyond the start). PCT's bound: >= 1/(n k^(d-1)) = 1/(2*4) per run; random
    # with two threads finds it with 1/4 too, so this checks the bound, and the
    # depth-one test above is what tells PCT from random. 400 runs: expected
    # >= 50, fewer than 20 has probability < 1e-7 (binomial tail).
    hits = 0
    for seed in range(400):
        order = run_fake(PCTStrategy(seed, depth=2, expected_steps=4), [2, 2])
        hits += order[:2] == [0, 1]
    assert hits >= 20


# -- replay, serial ---------------------------------------------------------------------

def test_replay_follows_the_schedule_then_goes_on():
    assert run_fake(ReplayStrategy([1, 0]), [2, 2]) == [1, 0, 0, 1]


def test_strict_replay_refuses_a_choice_the_run_cannot_make():
    strategy = ReplayStrategy([2])
    with pytest.raises(ScheduleMismatch) as found:
        strategy.next_task([0, 1], None, 1)
    assert (found.value.wanted, found.value.position, found.value.enabled) == (2, 1, [0, 1])
    assert ReplayStrategy([2], guided=True).next_task([0, 1], 1, 1) == 1


def test_serial_runs_each_thread_to_its_end_in_the_given_order():
    assert run_fake(SerialStrategy([2, 0, 1]), [2, 2, 2]) == [2, 2, 0, 0, 1, 1]


def test_serial_orders_are_every_permutation_when_few_else_each_thread_first_once():
    assert sorted(map(tuple, serial_orders(3))) == sorted(itertools.permutations(range(3)))
    assert [order[0] for order in serial_orders(5)] == [0, 1, 2, 3, 4]


# -- depth-first search: exact counts -----------------------------------------------------

@pytest.mark.parametrize("ops", [[1, 1], [2, 2], [3, 2], [3, 3], [2, 2, 1]])
def test_dfs_without_a_bound_runs_every_interleaving_once(ops):
    runs = every_execution(DepthFirst(None), ops)
    expected = math.factorial(sum(ops)) // math.prod(math.factorial(n) for n in ops)  # multinomial
    assert len(runs) == len(set(runs)) == expected


@pytest.mark.parametrize("bound", [0, 1, 2, 3])
def test_dfs_within_a_bound_runs_exactly_the_interleavings_within_it(bound):
    ops = [3, 3]
    every = set(itertools.permutations([0] * 3 + [1] * 3))
    within = {order for order in every if preemptions(order, ops) <= bound}
    strategy = DepthFirst(bound)
    runs = every_execution(strategy, ops)
    assert sorted(runs) == sorted(within)
    assert strategy.pruned == (within != every)  # what decides whether a search is complete


def test_dfs_schedule_names_the_execution_just_run():
    strategy = DepthFirst(None)
    assert strategy.new_execution()
    run_fake(strategy, [1, 1])
    assert strategy.schedule() == (0,)


# -- shrink, reverse ---------------------------------------------------------------------

def test_shrink_tries_fewer_preemptions_first_and_no_more_than_asked():
    strategy = Shrink(seed=3, choice_points=6, fewer_than=3, attempts=5)
    runs = every_execution(strategy, [3, 3])
    assert len(runs) == 1 + 5 + 5  # 0 preemptions once, then 1 and 2, five placements each
    assert preemptions(runs[0], [3, 3]) == 0
    assert all(preemptions(order, [3, 3]) <= 2 for order in runs)


class _FakeThread:
    def __init__(self) -> None:
        self.ops = 0


class _FakeController:
    def __init__(self, threads: int) -> None:
        self.threads = [_FakeThread() for _ in range(threads)]


def test_reverse_race_replays_up_to_the_point_then_runs_the_second_thread_first():
    controller = _FakeController(2)
    strategy = ReverseRace(choices=[0, 0, 0], at=1, runner=1, target_ops=1)
    strategy.bind(controller)  # type: ignore[arg-type]
    assert strategy.next_task([0, 1], None, 1) == 0  # as recorded
    assert strategy.next_task([0, 1], 0, 2) == 1  # the runner, before its access
    controller.threads[1].ops = 1
    assert strategy.next_task([0, 1], 1, 3) == 1 and strategy.reached  # made it: no more preemptions


# -- round robin ---------------------------------------------------------------------

def test_round_robin_hands_over_at_every_operation_and_its_seed_picks_who_starts():
    from racekit.runtime.controlled.strategies.round_robin import RoundRobin

    assert run_fake(RoundRobin(first=0), [2, 2, 2]) == [0, 1, 2, 0, 1, 2]
    assert run_fake(RoundRobin(first=1), [2, 2, 2]) == [1, 2, 0, 1, 2, 0]
    assert run_fake(RoundRobin(first=0), [3, 1]) == [0, 1, 0, 0]  # a finished thread is skipped
    assert run_fake(RoundRobin.for_trial(5), [1, 1]) == [1, 0]


def test_no_execution_takes_more_steps_than_memory_allows():
    """Every step is kept (the log explains a failure): a case whose serial run is
    long, or a budget asked for, is held to MAX_STEPS, past which a run is inconclusive."""
    from types import SimpleNamespace

    from racekit.runtime.controlled.run import MAX_STEPS, UNLIMITED, step_budget
    from racekit.runtime.controlled.state import ControlledState

    def program(run_length, asked=None):
        return SimpleNamespace(forcing=SimpleNamespace(spec=SimpleNamespace(step_limit=asked)),
                               controlled=ControlledState(run_length=run_length))

    assert step_budget(program(10)) == 1_000_000  # the default
    assert step_budget(program(60_000)) == 1_200_000  # 20 times a long serial run
    assert step_budget(program(10**7)) == MAX_STEPS == UNLIMITED  # not 200 million
    assert step_budget(program(10, asked=10**9)) == MAX_STEPS
