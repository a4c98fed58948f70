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
