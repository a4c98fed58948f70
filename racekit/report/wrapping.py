"""Line breaking for Chinese (and mixed) text: between any two Chinese characters,
never inside an ASCII word, never a closing mark at a line's start.

rich breaks lines only at spaces; a Chinese sentence has none, so it was cut
at the one space it had (before ``a.lock``, say) or folded mid-identifier.
This follows the basic rules of Chinese typesetting (禁则): ``，。：）`` may not
begin a line and ``（“`` may not end one; identifiers, numbers and code stay
whole. Widths are terminal cells (a Chinese character takes two).
"""

from __future__ import annotations

import re

from rich.cells import cell_len

_WIDE = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f\u2018-\u201d\u2026"
_TOKENS = re.compile(rf"[{_WIDE}]|\s+|[^\s{_WIDE}]+")
NO_LINE_START = set("，。、；：？！）」』”’》〉】…,.;:?!)]}%")
NO_LINE_END = set("（「『“‘《〈【([{")


def wrap(text: str, width: int) -> str:
    """``text`` with line breaks so that no line is wider than ``width`` cells
    (except a single word that is wider by itself); each paragraph's leading
    indentation is kept on its continuation lines."""
    return "\n".join(line for paragraph in text.split("\n") for line in _wrap_line(paragraph, max(width, 8)))


def _wrap_line(line: str, width: int) -> list[str]:
    indent = line[: len(line) - len(line.lstrip())]
    tokens = _TOKENS.findall(line[len(indent):])
    lines: list[str] = []
    current: list[str] = []
    used = cell_len(indent)
    for token in tokens:
        size = cell_len(token)
        if token.isspace():
            if current:
                current.append(token)
                used += size
            continue
        if used + size > width and current and (token[0] not in NO_LINE_START or len(current) > 1):
            carried: list[str] = []
            if token[0] in NO_LINE_START:
                # A closing mark may not start a line, and must not stick out past the
                # width (the terminal would crop it): the character before it comes along.
                while len(current) > 1 and (not carried or carried[0][0] in NO_LINE_START):
                    while len(current) > 1 and current[-1].isspace():
                        current.pop()
                    carried.insert(0, current.pop())
            while len(current) > 1 and current[-1] and current[-1][-1] in NO_LINE_END:
                carried.insert(0, current.pop())
            lines.append(indent + "".join(current).rstrip())
            current = carried
            used = cell_len(indent) + sum(cell_len(c) for c in carried)
        current.append(token)
        used += size
    lines.append(indent + "".join(current).rstrip())
    return lines


# A line break inside a paragraph (and the next line's indentation), unless
# the next line starts a list item.
_SOFT_BREAK = re.compile(r"(?<=\S)\n[ \t]*(?![-*+] |\d+[.)] )(?=\S)")
_WIDE_CHAR = re.compile(rf"[{_WIDE}]")


def wrap_markdown(text: str, width: int) -> str:
    """Markdown with its Chinese paragraphs broken at sensible points.

    In Markdown a line break inside a paragraph is a space, which Chinese
    does not put between words, and rich breaks lines only at spaces: a
    description written over several YAML lines printed "一千次， 两者" and
    broke where the source did. The paragraph's lines are joined, then broken
    by :func:`wrap` and kept as hard breaks (two trailing spaces)."""
    out: list[str] = []
    for prose, block in _outside_code(text):
        if not prose:
            out.append(block)
            continue
        joined = _SOFT_BREAK.sub(lambda m: "" if _between_wide(m) else " ", block)
        out.append("\n".join(line if not line.strip() or line.lstrip().startswith(("|", "#"))
                             else "  \n".join(_wrap_line(line, max(width, 8))) for line in joined.split("\n")))
    return "\n".join(out)


def join_wide_lines(text: str) -> str:
    """Markdown whose line breaks between two Chinese characters are gone (a
    browser shows a soft break as a space: "每个 线程"); a break between Chinese
    and Latin stays, shown as the one space that belongs there."""
    return "\n".join(block if not prose else _SOFT_BREAK.sub(lambda m: "" if _between_wide(m) else m.group(0), block)
                     for prose, block in _outside_code(text))


def _between_wide(match: re.Match) -> bool:
    """A soft break with a Chinese character (or full-width mark) on both sides."""
    text = match.string
    return bool(_WIDE_CHAR.match(text, match.start() - 1) and _WIDE_CHAR.match(text, match.end()))


def _outside_code(text: str) -> list[tuple[bool, str]]:
    """The text in runs of prose and of fenced code blocks (left as written)."""
    runs: list[tuple[bool, list[str]]] = []
    fenced = False
    for line in text.split("\n"):
        fence = line.lstrip().startswith(("```", "~~~"))
        prose = not (fenced or fence)
        if runs and runs[-1][0] == prose:
            runs[-1][1].append(line)
        else:
            runs.append((prose, [line]))
        if fence:
            fenced = not fenced
    return [(prose, "\n".join(lines)) for prose, lines in runs]
