"""``auto``, the default: a composite of the other modes. The engine runs it in
phases (:mod:`racekit.auto`): saved failures and a bounded search under
``controlled``, then PCT and random schedules if the search was cut short, then
real threads under ``opcode``. Here: what its header says about it."""

from __future__ import annotations

from racekit.options import AUTO_FALLBACK, AUTO_REAL_THREAD_SHARE, AUTO_SEARCH_CAP, ModeSpec
from racekit.runtime.modes.stress import OPCODE


class AutoMode:
    name = "auto"
    replays_saved = True  # its search phase replays them first
    phased = True
    shardable = False  # its search is one unit: `--shard` names the modes to split
    fallback = AUTO_FALLBACK  # a case the controlled scheduler cannot steer runs on real threads only

    def searches(self, spec: ModeSpec) -> bool:
        return False  # its search is a phase of its own

    def facts(self, spec: ModeSpec) -> dict[str, object]:
        return {"search_cap": AUTO_SEARCH_CAP, "real_thread_share": AUTO_REAL_THREAD_SHARE,
                "backend": OPCODE.facts(spec)["backend"]}


AUTO = AutoMode()
