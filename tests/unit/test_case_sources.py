"""racekit.case.sources: the files a variant runs besides its own text.

`racekit merge` refuses shards whose fingerprints differ; a shard run after
an edit of a module the case imports is another program, and must differ.
"""

from __future__ import annotations

import dataclasses

from racekit.case import sources
from racekit.case.loader import load_case

CASE = """\
racekit: 1
name: shop
setup: |
  import threading
  from shop import Stock
  stock = Stock()
threads:
  a: stock.take()
  b: stock.take()
outcome: stock.left
expect: 0
"""

SHOP = """\
class Stock:
    def __init__(self):
        self.left = 2

    def take(self):
        self.left -= 1
"""


def variant(folder):
    return load_case(str(folder / "case.yaml")).variants[0]


def test_an_edit_of_a_module_the_case_imports_changes_the_digest(tmp_path):
    (tmp_path / "case.yaml").write_text(CASE)
    (tmp_path / "shop.py").write_text(SHOP)
    (tmp_path / "unrelated.py").write_text("x = 1\n")
    before = sources.digest(variant(tmp_path))
    assert before and sources.digest(variant(tmp_path)) == before  # the same files, the same digest
    (tmp_path / "unrelated.py").write_text("x = 2\n")
    assert sources.digest(variant(tmp_path)) == before  # not imported: not the program's
    (tmp_path / "shop.py").write_text(SHOP.replace("-= 1", "-= 2"))
    assert sources.digest(variant(tmp_path)) != before


def test_the_standard_library_and_a_case_without_imports_add_nothing(tmp_path):
    (tmp_path / "case.yaml").write_text(CASE.replace("  from shop import Stock\n", "")
                                        .replace("stock = Stock()", "stock = None"))
    assert sources.digest(variant(tmp_path)) == ""


def test_an_instrumented_packages_files_count(tmp_path, monkeypatch):
    (tmp_path / "case.yaml").write_text(CASE)
    (tmp_path / "shop.py").write_text(SHOP)
    package = tmp_path / "lib" / "vendored"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "pool.py").write_text("size = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    plain = variant(tmp_path)
    instrumented = dataclasses.replace(plain, instrument=("vendored",))
    before = sources.digest(instrumented)
    assert before != sources.digest(plain)
    (package / "pool.py").write_text("size = 2\n")
    assert sources.digest(instrumented) != before
    assert sources.digest(plain) == sources.digest(plain)


def test_a_run_reads_the_files_its_variants_share_once(tmp_path):
    (tmp_path / "case.yaml").write_text(CASE)
    (tmp_path / "shop.py").write_text(SHOP)
    known: dict = {}
    first = sources.digest(variant(tmp_path), known)
    (tmp_path / "shop.py").write_text(SHOP.replace("-= 1", "-= 2"))  # within the run: not read again
    assert sources.digest(variant(tmp_path), known) == first and len(known) == 1
    assert sources.digest(variant(tmp_path)) != first  # a new run reads it afresh
