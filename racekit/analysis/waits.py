"""Why no thread can move: the wait-for facts of a deadlock, read as one cause.

A deadlock is not always "each waits for a lock another holds". One thread
may wait for a lock it holds itself (a ``Lock`` is not re-entrant); a
consumer may wait for a notification that was given before it began to
wait, by a thread that has since finished; a barrier may wait for parties
that do not exist. Each needs a different explanation and a different fix,
so the cause is chosen from what the scheduler recorded, never assumed.

Input: ``waiting`` (one entry per thread that cannot move: ``thread``,
``kind`` of the operation it waits to perform, ``what``, and where known the
lock's ``holder``, the ``notified_before`` it (threads whose notification
woke nobody before it began to wait), ``notified_others`` (threads whose
notification, while it waited, woke another waiter), a barrier's ``arrived``/``parties``),
``finished`` (threads that ran to their end). Output: a dict with ``kind``
and the names the report words it with.
"""

from __future__ import annotations

from typing import Any


def deadlock_cause(waiting: list[dict[str, Any]], finished: list[str]) -> dict[str, Any]:
    """The one cause of this deadlock the facts show, most specific first."""
    for entry in waiting:
        if entry["kind"] == "acquire" and entry.get("holder") == entry["thread"]:
            return {"kind": "self", "thread": entry["thread"], "lock": entry["what"]}
    cycle = _lock_cycle(waiting)
    if cycle:
        return {"kind": "cycle", "links": cycle}
    for entry in waiting:
        holder = entry.get("holder")
        if entry["kind"] == "acquire" and holder in finished:
            return {"kind": "held_by_finished", "thread": entry["thread"], "lock": entry["what"], "holder": holder}
    for entry in waiting:
        if entry["kind"] == "be-notified" and entry.get("notified_before"):
            return {"kind": "notified_before", "thread": entry["thread"], "condition": entry["what"],
                    "notifiers": entry["notified_before"],
                    "finished": [name for name in entry["notified_before"] if name in finished]}
    for entry in waiting:
        if entry["kind"] == "be-notified" and entry.get("notified_others"):
            return {"kind": "notified_other", "thread": entry["thread"], "condition": entry["what"],
                    "notifiers": entry["notified_others"]}
    for entry in waiting:
        if entry["kind"] == "pass" and entry.get("parties"):
            at_barrier = [e["thread"] for e in waiting if e["kind"] == "pass" and e["what"] == entry["what"]]
            return {"kind": "missing_party", "barrier": entry["what"], "parties": entry["parties"],
                    "arrived": entry.get("arrived", len(at_barrier)), "threads": at_barrier}
    return {"kind": "nobody_left", "threads": [e["thread"] for e in waiting], "finished": list(finished)}


def _lock_cycle(waiting: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Threads each waiting for a lock the next one holds, round to the first:
    one link per thread (``thread`` waits for ``lock``, held by ``holder``)."""
    waits_for = {e["thread"]: e for e in waiting if e["kind"] == "acquire" and e.get("holder")}
    for start in waits_for:
        path: list[str] = []
        thread = start
        while thread in waits_for and thread not in path:
            path.append(thread)
            thread = waits_for[thread]["holder"]
        if thread in path:
            ring = path[path.index(thread):]
            return [{"thread": name, "lock": waits_for[name]["what"], "holder": waits_for[name]["holder"]}
                    for name in ring]
    return []
