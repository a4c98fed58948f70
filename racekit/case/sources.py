"""The code a variant runs beyond its own text, as files: what its results depend on.

A shard's results are only worth adding to another shard's when both ran the
same program. The case file's code says only part of that: a case that does
``import shop`` runs ``shop.py`` beside it, a case written in Python is its
module, a script case its script, and ``instrument:`` names packages whose code
racekit rewrites. This finds those files without importing anything (an
import runs code, and runs it in the parent, which never runs case code), so
it knows them *where it can*: the modules of the case's folder its code
imports by name, and the packages ``instrument:`` (or ``--instrument``) names;
the code racekit rewrites. Installed packages it only imports are not read
(numpy's files on every run would cost more than the run).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.machinery
import os
from collections.abc import Iterator
from pathlib import Path

from racekit.case.model import Source, Variant

MAX_FILES = 2000  # a package's files read for one fingerprint, at most
MAX_BYTES = 50 * 2**20  # and their bytes


def digest(variant: Variant, known: dict[tuple[str, ...], str] | None = None) -> str:
    """A digest of the files ``variant`` runs besides its own text (empty text when
    none are known). ``known``: digests already made in this run, by their files
    (a case's variants and modes run the same modules: read once)."""
    paths = tuple(sorted(set(_files(variant))))
    if known is not None and paths in known:
        return known[paths]
    result = _digest_of(paths)
    if known is not None:
        known[paths] = result
    return result


def _digest_of(paths: tuple[str, ...]) -> str:
    h = hashlib.blake2b(digest_size=12)
    files = 0
    read = 0
    for path in paths:
        if files >= MAX_FILES or read >= MAX_BYTES:
            h.update(b"\0more files than racekit reads")
            break
        try:
            with open(path, "rb") as f:
                content = f.read(MAX_BYTES - read + 1)
        except OSError:
            content = b"\0unreadable"
        files += 1
        read += len(content)
        h.update(os.path.basename(path).encode() + b"\0" + hashlib.blake2b(content).digest())
    return h.hexdigest() if files else ""


def _files(variant: Variant) -> Iterator[str]:
    if variant.target is not None:
        yield variant.target.path
    if variant.script:
        yield variant.script
    folder = os.path.dirname(os.path.abspath(variant.target.path if variant.target else variant.path))
    for name in sorted({n.partition(".")[0] for n in _imported_names(variant)}):
        yield from _module_files(name, [folder])
    for name in sorted({n.partition(".")[0] for n in variant.instrument}):
        yield from _module_files(name, None)


def _imported_names(variant: Variant) -> Iterator[str]:
    sources: list[Source] = [s for s in (variant.setup, *(t.code for t in variant.threads)) if s is not None]
    if isinstance(variant.outcome, Source):
        sources.append(variant.outcome)
    elif isinstance(variant.outcome, dict):
        sources.extend(variant.outcome.values())
    sources.extend(variant.work.values())
    for source in sources:
        try:
            tree = ast.parse(source.text)
        except (SyntaxError, ValueError):
            continue  # the loader reports it; a fingerprint need not
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                yield from (alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield node.module


def _module_files(name: str, path: list[str] | None) -> Iterator[str]:
    """The source files of top-level module ``name`` found on ``path`` (None: sys.path)."""
    try:
        spec = importlib.machinery.PathFinder.find_spec(name, path)
    except (ImportError, ValueError, OSError):
        return
    if spec is None:
        return
    if spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            yield from (str(p) for p in sorted(Path(location).rglob("*.py")))
    elif spec.origin and spec.origin.endswith(".py"):
        yield spec.origin
