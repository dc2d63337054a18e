"""Run output with ANSI escape codes: colours and bold rendered as spans, every other
control sequence dropped, and all text escaped."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

# CSI sequences (colours, cursor moves, erasing) and OSC sequences (window titles, links)
_ESCAPES = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.")
_COLOURS = {
    30: "black",
    31: "red",
    32: "green",
    33: "yellow",
    34: "blue",
    35: "magenta",
    36: "cyan",
    37: "white",
}


def strip_ansi(text: str) -> str:
    return _ESCAPES.sub("", text)


def ansi_to_html(text: str) -> Markup:
    """``text`` escaped, with SGR colours (30-37, 90-97) and bold as ``<span>`` classes."""
    out: list[str] = []
    classes: list[str] = []
    open_span = False
    position = 0
    for match in _ESCAPES.finditer(text):
        out.append(str(escape(text[position : match.start()])))
        position = match.end()
        if match.group(2) != "m":
            continue  # not a colour: dropped
        classes = _apply(classes, match.group(1))
        if open_span:
            out.append("</span>")
            open_span = False
        if classes:
            out.append(f'<span class="{" ".join(classes)}">')
            open_span = True
    out.append(str(escape(text[position:])))
    if open_span:
        out.append("</span>")
    return Markup("".join(out))


def _apply(classes: list[str], params: str) -> list[str]:
    current = list(classes)
    for part in (params or "0").split(";"):
        if not part.isdigit():
            continue
        code = int(part)
        if code == 0:
            current = []
        elif code == 1:
            current = [c for c in current if c != "a-bold"] + ["a-bold"]
        elif code in _COLOURS or code - 60 in _COLOURS:
            name = _COLOURS.get(code) or _COLOURS[code - 60]
            current = [c for c in current if not c.startswith("a-fg-")] + [f"a-fg-{name}"]
        elif code == 39:
            current = [c for c in current if not c.startswith("a-fg-")]
    return current
