"""How a report names a mode's settings: "sys.monitoring INSTRUCTION events,
switch interval 1 µs", "strategy exhaustive: every interleaving", in the
report's language. The runtime gives the facts
(:func:`racekit.runtime.modes.facts`); only here are they words."""

from __future__ import annotations

from typing import Any

from racekit.report.messages import has_message, message
from racekit.report.sentences import format_interval


def describe_mode(facts: dict[str, Any], lang: str = "en") -> str:
    def t(key: str, **fields: object) -> str:
        return message(lang, key, **fields)

    name = facts.get("name")
    interval = t("switch_interval", interval=format_interval(facts.get("switch_interval") or 1e-6))
    if name == "controlled":
        strategy = str(facts.get("strategy", "random"))
        if strategy == "exhaustive" and facts.get("preemptions") is not None:
            detail = t("strategy_exhaustive_bound", bound=facts["preemptions"])
        elif has_message("strategy_" + strategy):
            detail = t("strategy_" + strategy, depth=facts.get("depth", 3))
        else:
            detail = strategy  # a strategy the report has no words for yet is named as it is
        return t("strategy_line", strategy=strategy, detail=detail)
    if name == "auto":
        backend = t("backend_" + str(facts.get("backend", "tracing_opcode")))
        return t("auto_detail", cap=f"{facts.get('search_cap', 0):,}", share=f"{facts.get('real_thread_share', 0.5):.0%}",
                 backend=backend)
    if name == "yield":
        return t("yield_detail", share=f"{facts.get('yield_probability', 0.5):.0%}", interval=interval)
    backend = facts.get("backend")
    return t("backend_and_interval", backend=t("backend_" + backend), interval=interval) if backend else interval


