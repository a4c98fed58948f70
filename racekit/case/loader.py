"""Case files in, :class:`Case` records out, or one error listing every problem.

Loading has three steps: compose the YAML (positions kept), read the top level
and each ``variants`` entry against the format spec (each node checked once, so
each problem is reported once), then merge every variant over the top level and
check what only the merged variant can tell (a missing ``threads``, ``expect``
names that ``outcome`` lacks).
"""

from __future__ import annotations

import difflib

import keyword
import os
import stat
from pathlib import Path
from typing import Any
from collections.abc import Iterable

import yaml

from racekit.case.format import CASE, MAX_THREADS
from racekit.case.files import case_file_status
from racekit.case.model import (
    DEFAULT_RUNS,
    TIMING_RUNS,
    DEFAULT_TIMEOUT,
    DEFAULT_VARIANT,
    PREIMPORTED,
    THREAD_LOCALS,
    Case,
    Expectation,
    Source,
    ThreadSpec,
    Variant,
)
from racekit.case.spec import INVALID
from racekit.case.yamlsource import MAX_FILE_BYTES, Reader, compose, position
from racekit.errors import CaseError, Problem

_INHERITED = ("title", "description", "notes", "challenge", "i18n", "params", "setup", "threads",
              "outcome", "expect", "timeout", "runs", "racy", "mode", "start_method", "script", "args",
              "output", "capture", "normalize", "work", "workers", "instrument")
# What each kind needs, and which keys belong to other kinds only.
_NEEDS = {
    "threads": (("threads", "the code each thread runs"), ("outcome", "an expression read after the threads end"),
                ("expect", "the correct outcome")),
    "processes": (("threads", "the code each process runs"), ("outcome", "an expression read after the processes end"),
                  ("expect", "the correct outcome")),
    "script": (("script", "the program to run"), ("expect", "the correct outcome")),
    "timing": (("work", "the work to time"),),
}
_ONLY = {"start_method": ("processes",), "script": ("script",), "args": ("script",), "capture": ("script",),
         "output": ("script",),
         "normalize": ("script",), "work": ("timing",), "workers": ("timing",),
         "threads": ("threads", "processes"), "outcome": ("threads", "processes"), "setup": ("threads", "processes"),
         "racy": ("threads", "processes", "script")}


def load_case(path: str | os.PathLike[str]) -> Case:
    """Load one case file; raises :class:`CaseError` listing every problem in it."""
    shown = _display_path(path)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise CaseError([Problem(shown, 1, 1, "not a regular file (a device, a pipe, a folder): racekit reads "
                                                  "case files only")])
        if info.st_size > MAX_FILE_BYTES:
            raise CaseError([Problem(shown, 1, 1, f"file is too large ({info.st_size} bytes; a case file may have at "
                                                  f"most {MAX_FILE_BYTES})")])
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)  # never more, whatever the file claims
    except OSError as exc:
        raise CaseError([Problem(shown, 1, 1, f"cannot read file: {exc.strerror or exc}")]) from None
    return parse_case(data, shown)


def parse_case(data: bytes | str, path: str = "<case>") -> Case:
    """Load a case from its bytes; ``path`` is used in messages and tracebacks."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    node, _text, problems = compose(path, data)
    if problems:
        raise CaseError(problems)
    reader = Reader(path)
    if node is None or _is_empty_document(node):
        raise CaseError([Problem(path, 1, 1, "the file is empty: a case needs at least `racekit: 1`, `name:`, `threads:`, `outcome:` and `expect:`")])
    if not isinstance(node, yaml.MappingNode):
        if not reader.foreign_tag(node):
            reader.error(node, "a case file must be a mapping of keys (racekit:, name:, threads:, …)")
        raise CaseError(reader.problems)
    top = CASE.load(node, reader, "")
    case = None
    if top is not INVALID:
        case = _build_case(top, node, reader)
    if reader.problems or case is None:
        raise CaseError(reader.problems)
    return case


def _is_empty_document(node: yaml.Node) -> bool:
    """A document with no content at all (a lone ``---``), as opposed to ``null``."""
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null" and node.value == "" and node.style is None


def discover(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Case files named directly, plus case files found in named directories (sorted)."""
    found: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            in_dir = []
            for folder, _dirs, files in os.walk(path, onerror=lambda exc: problems.append(
                    Problem(str(exc.filename), 1, 1, f"cannot read this folder: {exc.strerror}"))):
                for name in files:
                    candidate = Path(folder) / name
                    status = case_file_status(candidate)
                    if status == "case":
                        in_dir.append(candidate)
                    elif status == "unreadable":
                        problems.append(Problem(str(candidate), 1, 1, "cannot read this file (is it a case file?)"))
            in_dir.sort()
            if not in_dir and not problems:
                problems.append(Problem(str(raw), 1, 1, "no case files here (YAML files with a top-level `racekit:` key)"))
            found.extend(in_dir)
        elif path.exists():
            found.append(path)
        else:
            problems.append(Problem(str(raw), 1, 1, "no such file or directory"))
    if problems:
        raise CaseError(problems)
    unique: dict[Path, None] = {}
    for p in found:
        unique.setdefault(p.resolve(), None)
    return [Path(os.path.relpath(p)) if _is_under_cwd(p) else p for p in unique]


def load_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Case]:
    """Every case under ``paths``; one :class:`CaseError` for all problems of all files."""
    cases: list[Case] = []
    problems: list[Problem] = []
    files: list[str | os.PathLike[str]] = []
    for raw in paths:
        file, sep, only = str(raw).partition("::")
        if file.endswith(".py") and (sep or os.path.isfile(file)):
            from racekit.pycase import cases_in_file  # a Python file's @race_test functions

            try:
                cases.extend(cases_in_file(file, only or None))
            except CaseError as exc:
                problems.extend(exc.problems)
        else:
            files.append(raw)
    for path in discover(files) if files or not cases and not problems else ():
        try:
            cases.append(load_case(path))
        except CaseError as exc:
            problems.extend(exc.problems)
    seen: dict[str, Case] = {}
    for case in cases:
        if case.name in seen:
            line, col = case.name_at
            problems.append(Problem(case.path, line, col, f"case name {case.name!r} is already used by {seen[case.name].path}"))
        seen.setdefault(case.name, case)
    if problems:
        raise CaseError(problems)
    return cases


# -- building ---------------------------------------------------------------


def _build_case(top: dict[str, Any], root: yaml.MappingNode, r: Reader) -> Case | None:
    missing = [k for k in ("racekit", "name") if k not in top and k not in r.invalid]
    for key in missing:
        r.error(root, f"missing required key {key!r}" + (" (the format version: `racekit: 1`)" if key == "racekit" else ""))
    name = top.get("name")
    kind = top.get("kind", "threads")
    overlays: dict[str, dict[str, Any]] = top.get("variants") or {}
    if "variants" in top and not overlays and top["variants"] is not INVALID and "variants" not in r.invalid:
        r.error(r.positions["variants"], "variants is empty: remove it or add at least one variant")
    # Variants given but none readable (reported already): building a "default"
    # variant instead would only add errors about keys the variants were to give.
    names = list(overlays) or ([] if "variants" in r.invalid else [DEFAULT_VARIANT])
    variants = []
    for variant_name in names:
        where = f"variants.{variant_name}" if overlays else ""
        _check_added_threads(top, overlays.get(variant_name) or {}, r, where, variant_name)
        merged = _merge(top, overlays.get(variant_name) or {})
        anchor = r.positions.get(where, root)
        variant = _build_variant(merged, name or "?", variant_name, kind, r, anchor, where)
        if variant is not None:
            variants.append(variant)
    if missing or name is None:
        return None
    line, col = position(r.positions["name"]) if "name" in r.positions else (1, 1)
    return Case(
        name=name,
        path=r.path,
        kind=kind,
        title=top.get("title") or name,
        description=top.get("description") or "",
        notes=top.get("notes") or "",
        i18n=top.get("i18n") or {},
        variants=tuple(variants),
        name_at=(line, col),
    )


def _check_added_threads(top: dict[str, Any], overlay: dict[str, Any], r: Reader, where: str, variant: str) -> None:
    """A variant naming a thread the case does not have adds one: a typo
    (`depositer`) would silently start a third thread. A name close to an
    existing one, and not an extension of it (`worker2`), is an error."""
    base, added = top.get("threads"), overlay.get("threads")
    if not isinstance(base, dict) or not isinstance(added, dict):
        return
    for name in added:
        if name in base:
            continue
        close = [b for b in difflib.get_close_matches(name, list(base), n=3, cutoff=0.75)
                 if not (name.startswith(b) or b.startswith(name))]
        if close:
            r.error(_pos(r, where, f"threads.{name}"),
                    f"variant {variant!r} adds a thread {name!r} the case does not have (did you mean {close[0]!r}?); "
                    "to add a thread on purpose, give it a name not so close to an existing one")


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge a variant over the top level: mappings merge key by key,
    anything else (and ``expect`` always) replaces, and ``null`` removes."""
    merged = {k: base[k] for k in _INHERITED if k in base}
    merged["threads"] = _thread_mappings(merged.get("threads"))
    overlay = {**overlay, "threads": _thread_mappings(overlay.get("threads"))} if "threads" in overlay else overlay
    for key, value in overlay.items():
        merged[key] = _merge_value(merged.get(key), value, atomic=(key == "expect"))
    return {k: v for k, v in merged.items() if v is not None}


def _thread_mappings(threads: Any) -> Any:
    """``name: code`` as ``name: {code: code}``, so a variant can change only ``count``."""
    if not isinstance(threads, dict):
        return threads
    return {name: {"code": entry} if isinstance(entry, Source) else entry for name, entry in threads.items()}


def _merge_value(base: Any, value: Any, atomic: bool) -> Any:
    if atomic or not (isinstance(base, dict) and isinstance(value, dict)):
        return value
    out = dict(base)
    for key, child in value.items():
        out[key] = _merge_value(out.get(key), child, atomic=False)
    return {k: v for k, v in out.items() if v is not None}


def _build_variant(m: dict[str, Any], case: str, name: str, kind: str, r: Reader, anchor: Any, where: str) -> Variant | None:
    label = f"variant {name!r}" if where else "the case"
    ok = True
    for key, hint in _NEEDS.get(kind, ()):
        if m.get(key) in (None, {}) and not _invalid_somewhere(r, key, where):
            r.error(anchor, f"{label} has no {key!r} ({hint}); add it to the top level or to the variant")
            ok = False
    for key, kinds in _ONLY.items():
        if m.get(key) is not None and kind not in kinds:
            r.error(_pos(r, where, key), f"{key!r} is for kind: {' or '.join(kinds)}, not kind: {kind}")
            ok = False
    params = m.get("params") or {}
    for pname in params:
        if not pname.isidentifier():
            continue  # reported by the name pattern
        if keyword.iskeyword(pname):
            # The identifier pattern lets keywords through, but no code could use the param.
            r.error(_pos(r, where, f"params.{pname}"), f"param {pname!r} is a Python keyword, so code cannot use it; rename it")
            ok = False
        elif pname in PREIMPORTED or pname in THREAD_LOCALS or pname.startswith("_racekit"):
            r.error(_pos(r, where, f"params.{pname}"), f"param {pname!r} would hide a name racekit provides; rename it")
            ok = False
    outcome = m.get("outcome")
    expect = m.get("expect")
    if isinstance(outcome, dict) and isinstance(expect, Expectation) and expect.kind == "value" and isinstance(expect.values[0], dict):
        extra = sorted(set(expect.values[0]) - set(outcome))
        if extra:
            r.error(_pos(r, where, "expect"), f"expect names {', '.join(map(repr, extra))}, which outcome does not define")
            ok = False
    threads = m.get("threads") or {}
    specs = []
    for tname, entry in threads.items():
        if isinstance(entry, dict) and isinstance(entry.get("code"), Source):
            specs.append(ThreadSpec(tname, entry["code"], entry.get("count", 1)))
        elif isinstance(entry, dict) and "code" not in entry and not _invalid_somewhere(r, f"threads.{tname}.code", where):
            r.error(_pos(r, where, f"threads.{tname}"), f"thread {tname!r} has no 'code'")
            ok = False
        else:
            ok = False
    total = sum(s.count for s in specs)
    if total > MAX_THREADS:
        r.error(_pos(r, where, "threads"), f"{label} starts {total} threads; at most {MAX_THREADS} are allowed")
        ok = False
    if kind in ("threads", "processes") and not isinstance(outcome, (Source, dict)):
        return None
    if not ok or (kind != "timing" and not isinstance(expect, Expectation)):
        return None
    if kind == "timing" and isinstance(expect, Expectation) and expect.kind != "check":
        r.error(_pos(r, where, "expect"), "a timing case has no single correct outcome: give `expect: {check: "
                "EXPR}` over `speedup` (e.g. \"speedup['io']['threads'] > 2\"), or no expect")
        return None
    script = m.get("script")
    if script is not None:
        script = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(r.path)), script))
        if not os.path.isfile(script):
            r.error(_pos(r, where, "script"), f"script {m['script']!r} not found (looked for {script})")
            return None
    return Variant(
        case=case,
        name=name,
        path=r.path,
        kind=kind,
        params=dict(params),
        setup=m.get("setup"),
        threads=tuple(specs),
        outcome=outcome if kind in ("threads", "processes") else None,
        expect=expect if isinstance(expect, Expectation) else Expectation("check", label="measured only"),
        timeout=m.get("timeout", DEFAULT_TIMEOUT),
        runs=m.get("runs", TIMING_RUNS if kind == "timing" else DEFAULT_RUNS),
        racy=m.get("racy", False),
        title=m.get("title") or "",
        description=m.get("description") or "",
        notes=m.get("notes") or "",
        challenge=m.get("challenge") or "",
        i18n=m.get("i18n") or {},
        modes=m.get("mode") or (),
        instrument=tuple(m.get("instrument") or ()),
        start_method=m.get("start_method"),
        script=script,
        script_args=tuple(m.get("args") or ()),
        capture=m.get("capture", "stdout"),
        output=m.get("output", "stdout"),
        normalize=tuple((rule["pattern"], rule["replace"]) for rule in m.get("normalize") or ()),
        work=dict(m.get("work") or {}),
        workers=m.get("workers", 4),
    )


def _invalid_somewhere(r: Reader, key: str, where: str) -> bool:
    """Whether the key was given (in the variant or top level) but failed to read."""
    return any(p in r.invalid for p in (f"{where}.{key}" if where else key, key))


def _pos(r: Reader, where: str, key: str) -> Any:
    for candidate in (f"{where}.{key}" if where else key, key):
        if candidate in r.positions:
            return r.positions[candidate]
    return r.positions.get(where, (1, 1))


def _display_path(path: str | os.PathLike[str]) -> str:
    p = Path(path)
    if p.is_absolute() and _is_under_cwd(p):
        return os.path.relpath(p)
    return str(path)


def _is_under_cwd(p: Path) -> bool:
    try:
        p.resolve().relative_to(Path.cwd().resolve())
        return True
    except ValueError:
        return False
