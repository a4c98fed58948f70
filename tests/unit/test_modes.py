"""racekit.runtime.modes: each mode answers for itself what the worker, the pool
and the report's header ask of it."""

from __future__ import annotations

import sys

import pytest

from racekit.options import ENGINE_MODES, ModeSpec
from racekit.runtime import modes


@pytest.mark.parametrize("name", sorted(ENGINE_MODES))
def test_every_mode_is_registered_under_its_own_name_and_answers_the_protocol(name):
    mode = modes.mode(name)
    assert mode.name == name
    assert isinstance(mode.sees_every_deadlock, bool) and isinstance(mode.instrumented, bool)
    facts = modes.facts(ModeSpec(name))
    assert facts["name"] == name and "switch_interval" in facts


def test_only_the_controlled_scheduler_sees_every_deadlock_and_tells_progress():
    # A hung trial under it is no verdict on the case (it blocked where no scheduler
    # sees); under real threads it is a deadlock whose threads are stuck for good.
    assert {n for n in ENGINE_MODES if modes.mode(n).sees_every_deadlock} == {"controlled"}
    assert [n for n in sorted(ENGINE_MODES) if modes.mode(n).progress(None) is not None] == ["controlled"]  # type: ignore[arg-type]


def test_what_the_engine_plans_by_is_each_modes_own():
    # auto: phased, replays saved failures, one search no shard may split, real threads for
    # what the scheduler cannot steer; controlled: saved failures, and a search for a searching strategy.
    auto, controlled = modes.of("auto"), modes.of("controlled")
    assert auto.phased and auto.replays_saved and not auto.shardable and auto.fallback == "opcode"
    assert controlled.replays_saved and not controlled.phased and controlled.fallback is None
    assert controlled.searches(ModeSpec("controlled", strategy="exhaustive"))
    assert not controlled.searches(ModeSpec("controlled", strategy="random"))
    assert not any(modes.of(n).replays_saved or modes.of(n).searches(ModeSpec(n)) for n in ("native", "line", "opcode", "yield"))


def test_the_header_facts_say_what_each_mode_does_here():
    backend = "monitoring" if hasattr(sys, "monitoring") else "tracing"
    assert modes.facts(ModeSpec("opcode"))["backend"] == f"{backend}_opcode"
    assert modes.facts(ModeSpec("line"))["backend"] == f"{backend}_line"
    assert "backend" not in modes.facts(ModeSpec("native"))
    assert modes.facts(ModeSpec("controlled", strategy="pct", depth=3))["strategy"] == "pct"
    assert modes.facts(ModeSpec("yield", yield_probability=0.25))["yield_probability"] == 0.25
    auto = modes.facts(ModeSpec("auto"))
    assert auto["name"] == "auto" and auto["search_cap"] > 0 and auto["backend"] == f"{backend}_opcode"
