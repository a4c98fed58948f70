"""`--format html`: one self-contained page a teacher can project.

The page is checked twice: its markup as written (no network, the case's
texts escaped, the description rendered, a timeline row per step with its
source), and as a real browser shows it (Debian's chromium, headless: the
script steps the timeline; a screenshot is kept in the test's folder). The
browser test skips where no chromium is installed.
"""

from __future__ import annotations

import html.parser
import os
import re
import shutil
import subprocess

import pytest

from conftest import CASES, TEST_CASES, racekit

# Page layout is not version-sensitive: the main suite runs it, the per-version fast suites do not.
pytestmark = pytest.mark.slow


class _Dom(html.parser.HTMLParser):
    """Tags with their attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data):
        self.text.append(data)


def _page(tmp_path, *args: str, name: str = "report.html", code: int = 0) -> tuple[str, _Dom]:
    out = tmp_path / name
    proc = racekit("run", *args, "-f", "html", "-o", str(out), env={"RACEKIT_DATABASE": "off"})
    assert proc.returncode == code, proc.stderr
    assert re.search(r"1 variant run|1 个变体运行", proc.stdout)  # with -o, the terminal still gets the text report
    page = out.read_text(encoding="utf-8")
    dom = _Dom()
    dom.feed(page)
    return page, dom


def test_the_page_is_self_contained_and_shows_the_case_and_its_interleaving(tmp_path):
    page, dom = _page(tmp_path, str(CASES / "check_then_act.yaml"), "-m", "controlled", "--seed", "1", "-V", "unlocked")
    assert page.startswith("<!doctype html>")
    for tag, attrs in dom.tags:  # nothing fetched from anywhere
        assert tag not in ("link", "img", "iframe"), tag
        assert "src" not in attrs and not attrs.get("href", "").startswith(("http", "//")), (tag, attrs)
    assert ("html", {"lang": "en"}) in dom.tags
    text = " ".join(" ".join(dom.text).split())
    assert "check_then_act" in text and "RACE ✓" in text
    # The header says what the mode does, as the terminal's header does.
    assert "mode controlled: one thread at a time, racekit picks who moves at each shared access" in text
    assert "In this schedule that gap let the outcome go wrong: -60" in text
    steps = [attrs for tag, attrs in dom.tags if tag == "tr" and attrs.get("class") == "step"]
    assert [int(a["data-step"]) for a in steps] == sorted(int(a["data-step"]) for a in steps) and len(steps) >= 4
    assert re.search(r'<td class="num">36</td><td class="source"><code>self.balance -= amount</code></td>', page)
    assert "racekit replay" in text and "--schedule 2:" in text
    assert '<div class="description">' in page and "<code>" in page  # the Markdown rendered


def test_the_page_shows_what_the_terminal_prints_under_the_story(tmp_path):
    # The sentence "a raised …:" ends in a colon: the traceback follows, as in the terminal.
    page, dom = _page(tmp_path, str(TEST_CASES / "teach" / "raising.yaml"), "--seed", "1", code=1)  # meant correct
    text = " ".join(dom.text)
    assert "a raised IndexError: pop from empty list (line 13):" in " ".join(text.split())
    assert re.search(r'<pre class="detail">a:\n  File &quot;.*raising.yaml&quot;, line 13, in a\n', page)
    page, dom = _page(tmp_path, str(CASES / "deadlock.yaml"), "-V", "opposite_order", name="deadlock.html")
    assert "No thread can move:" in " ".join(dom.text) and '<pre class="detail">' in page


def test_the_page_is_as_readable_as_any_new_file_for_a_course_site(tmp_path):
    _page(tmp_path, str(CASES / "balance.yaml"), "-V", "locked", "-n", "2")
    mask = os.umask(0o022)
    os.umask(mask)
    assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's private 0600


def test_the_chinese_page_is_chinese(tmp_path):
    _page_text, dom = _page(tmp_path, str(CASES / "balance.yaml"), "-m", "controlled", "--seed", "3", "-V", "unlocked",
                            "-n", "20", "--lang", "zh")
    assert ("html", {"lang": "zh-CN"}) in dom.tags
    text = "".join(dom.text)
    assert "共享余额的丢失更新" in text and "讲义中的示例 5" in text and "逐步的交错执行" in text
    assert "用 ← 和 →" in text


def test_a_cases_own_markup_is_shown_as_text_never_run(tmp_path):
    case = tmp_path / "hostile.yaml"
    case.write_text(
        "racekit: 1\nname: hostile\ntitle: '<script>alert(1)</script>'\n"
        "description: |\n  <img src=x onerror=alert(2)> **bold**\n"
        "setup: |\n  class Box:\n      v = 0\n"
        "threads:\n  a: Box.v += 1\n  b: Box.v += 1\noutcome: Box.v\nexpect: 2\nracy: true\n", encoding="utf-8")
    page, dom = _page(tmp_path, str(case), "-m", "controlled", "--seed", "1")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not any(tag == "img" for tag, _ in dom.tags) and "<strong>bold</strong>" in page
    assert sum(1 for tag, _ in dom.tags if tag == "script") == 1  # racekit's own, only


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_in_chromium_the_arrow_keys_walk_the_interleaving(tmp_path):
    _page(tmp_path, str(CASES / "check_then_act.yaml"), "-m", "controlled", "--seed", "1", "-V", "unlocked")
    url = f"file://{tmp_path / 'report.html'}#step=3"
    browser = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run([*browser, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    rows = re.findall(r'<tr class="step( current| future)?" data-step="(\d+)"', dom)
    assert rows, dom[:2000]
    state = {int(step): mark.strip() for mark, step in rows}
    # The page opened at step 3: it is current, the earlier ones plain, the later ones still to come.
    assert state[3] == "current"
    assert all(mark == "" for step, mark in state.items() if step < 3)
    assert all(mark == "future" for step, mark in state.items() if step > 3)
    shot = tmp_path / "report.png"
    subprocess.run([*browser, "--window-size=1280,1000", f"--screenshot={shot}", url], capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 10_000


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_in_chromium_a_link_to_a_step_opens_that_step_not_that_row(tmp_path):
    # balance's trace leaves thousands of steps out: its third row is step 1230 or so, not step 3.
    page, _ = _page(tmp_path, str(CASES / "balance.yaml"), "-m", "controlled", "--seed", "1", "-V", "unlocked")
    numbers = [int(n) for n in re.findall(r'data-step="(\d+)"', page)]
    wanted = numbers[2]
    assert wanted != 3, numbers[:5]
    browser = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + str(tmp_path / "profile")]
    url = f"file://{tmp_path / 'report.html'}#step={wanted}"
    dom = subprocess.run([*browser, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    current = re.findall(r'<tr class="step current" data-step="(\d+)"', dom)
    assert current == [str(wanted)], dom[:2000]


def test_the_chinese_page_names_a_chinese_font_this_linux_machine_has(tmp_path):
    """Chinese shows as boxes where no font in the page's stack has the glyphs.
    CI installs a Debian CJK font; the stack must name it (and the other common ones)."""
    if shutil.which("fc-list") is None:
        pytest.skip("no fontconfig here")
    installed = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True).stdout
    families = {name.strip() for line in installed.splitlines() for name in line.split(",") if name.strip()}
    if not families:
        pytest.skip("no Chinese font installed (CI installs fonts-wqy-zenhei)")
    page, _ = _page(tmp_path, str(CASES / "balance.yaml"), "--lang", "zh", "-V", "locked", "-n", "2")
    stack = re.search(r"body \{ font: [^;]*;", page).group(0)
    assert any(f'"{family}"' in stack for family in families), (sorted(families), stack)
