"""The scheduler-aware stand-ins, each under an exhaustive search: every
interleaving ends in one of the outcomes the object's contract allows, and
all of those that some order produces are reached (the oracle is the
contract itself, worked out by hand for two threads)."""

from __future__ import annotations

import json

from conftest import racekit

CASE = """\
racekit: 1
name: standins
title: Stand-ins keep their contracts under every interleaving
setup: |
  import queue
variants:
  lifo:
    setup: |
      q = queue.LifoQueue()
      out = []
    threads:
      putter: |
        q.put(1)
        q.put(2)
      getter: |
        out.append(q.get())
        out.append(q.get())
    outcome: out
    expect: {any_of: [[2, 1], [1, 2]]}
  priority:
    setup: |
      q = queue.PriorityQueue()
      out = []
    threads:
      putter: |
        q.put(3)
        q.put(1)
      getter: |
        out.append(q.get())
        out.append(q.get())
    outcome: out
    expect: {any_of: [[1, 3], [3, 1]]}
  bounded:
    setup: |
      sem = threading.BoundedSemaphore(1)
      state = {"inside": 0, "most": 0}
    threads:
      one: |
        with sem:
            state["inside"] += 1
            state["most"] = max(state["most"], state["inside"])
            state["inside"] -= 1
      two: |
        with sem:
            state["inside"] += 1
            state["most"] = max(state["most"], state["inside"])
            state["inside"] -= 1
    outcome: state["most"]
    expect: 1
  over_release:
    setup: |
      sem = threading.BoundedSemaphore(1)
      out = []
    threads:
      one: |
        try:
            sem.release()
            out.append("released")
        except ValueError:
            out.append("refused")
    outcome: out
    expect: ["refused"]
  barrier:
    setup: |
      gate = threading.Barrier(2)
      log = []
    threads:
      one: |
        log.append("a1")
        gate.wait()
        log.append("a2")
      two: |
        log.append("b1")
        gate.wait()
        log.append("b2")
    outcome: sorted(log[:2]) == ["a1", "b1"]
    expect: true
"""


def _search(tmp_path) -> dict:
    path = tmp_path / "standins.yaml"
    path.write_text(CASE, encoding="utf-8")
    proc = racekit("run", str(path), "-m", "controlled", "--strategy", "exhaustive", "-f", "json", "--seed", "1")
    assert proc.returncode in (0, 1), proc.stderr
    return {v["name"]: v for v in json.loads(proc.stdout)["cases"][0]["variants"]}


def test_every_stand_in_keeps_its_contract_in_every_interleaving(tmp_path):
    found = _search(tmp_path)
    for name, variant in found.items():
        assert variant["search"]["complete"], name
        assert variant["wrong"] == 0 and variant["verdict"] == "no race observed", (name, variant["outcomes"])
    # LIFO: both orders happen (a get between the puts, or after both); PriorityQueue: smallest first
    # once both are in, the other order only when a get comes between the puts.
    assert set(found["lifo"]["outcomes"]) == {"[2, 1]", "[1, 2]"}
    assert set(found["priority"]["outcomes"]) == {"[1, 3]", "[3, 1]"}
    assert set(found["bounded"]["outcomes"]) == {"1"}
    assert set(found["over_release"]["outcomes"]) == {"['refused']"}
    assert set(found["barrier"]["outcomes"]) == {"True"}
