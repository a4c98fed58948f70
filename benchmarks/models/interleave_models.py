"""The models of side_by_side.yaml, written for interleave-test (PyPI).

Each function builds its state, starts the same threads as the racekit
variant of the same name, joins them and asserts the expected outcome.
Run by benchmarks/interleave.py in a process of its own per seed."""

import interleave_test as it


def overdraft():
    account = {"balance": 100}

    def withdraw():
        if account["balance"] >= 80:
            account["balance"] -= 80

    tasks = [it.spawn(withdraw), it.spawn(withdraw)]
    for task in tasks:
        task.join()
    assert account["balance"] == 20


def lazy_three():
    class Lazy:
        instance = None
        made = 0

    def get():
        if Lazy.instance is None:
            Lazy.made += 1
            Lazy.instance = object()
        return Lazy.instance

    tasks = [it.spawn(get) for _ in range(3)]
    for task in tasks:
        task.join()
    assert Lazy.made == 1


def increments_2x2():
    class Box:
        v = 0

    def twice():
        Box.v += 1
        Box.v += 1

    tasks = [it.spawn(twice), it.spawn(twice)]
    for task in tasks:
        task.join()
    assert Box.v == 4


def balance_2000():
    class Box:
        v = 0

    def add_many(n, d):
        for _ in range(n):
            Box.v += d

    tasks = [it.spawn(add_many, 1000, 1), it.spawn(add_many, 1000, -1)]
    for task in tasks:
        task.join()
    assert Box.v == 0


def dict_counter_600():
    counts = {}

    def bump_many(n):
        for _ in range(n):
            counts["k"] = counts.get("k", 0) + 1

    tasks = [it.spawn(bump_many, 300), it.spawn(bump_many, 300)]
    for task in tasks:
        task.join()
    assert counts["k"] == 600
