"""The hook-up for a terminal (``swsflash wiring``): an ASCII diagram, the wires, a checklist.

Plain ASCII on purpose: the text must survive any console encoding.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from .hookup import (
    Adapter,
    Board,
    Connection,
    checklist,
    connections,
    get_adapter,
    get_board,
    joins,
    pin_labels,
)

WIRE = 34  # characters between the boxes
JOIN = 22  # where wires to a shared pad meet


def _ascii_diagram(adapter: Adapter, board: Board, conns: Sequence[Connection]) -> list[str]:
    pins = pin_labels(adapter, conns)
    pin_w = max(len(p) for p in pins)
    pad_w = max(len(c.pad) for c in conns)
    left = f"+-{'-' * pin_w}-+"
    right = f"+-{'-' * pad_w}-+"
    lines = [
        f"{adapter.title:<{len(left) + WIRE}}{board.title}",
        f"{left}{' ' * WIRE}{right}",
    ]
    for i, c in enumerate(conns):
        before, after = joins(conns, i)
        fill = "- " if c.optional else "-"
        run = (fill * WIRE)[:WIRE]
        part = f"--[ {c.resistor} ]" if c.resistor else ""
        if after:
            wire = (part + run)[:JOIN] + ("+" if before else ".") + " " * (WIRE - JOIN - 1)
            pad = ""
        elif before:
            wire = (part + run)[:JOIN] + "+" + run[JOIN + 1 :]
            pad = c.pad
        else:
            wire = (part + run)[:WIRE]
            pad = c.pad
        tail = "  (optional)" if c.optional else ""
        lines.append(f"| {c.adapter_pin:<{pin_w}} |{wire}| {pad:<{pad_w}} |{tail}".rstrip())
    if adapter.avoid:
        free = "  x  leave free: never 5 V"
        lines.append(f"| {adapter.avoid:<{pin_w}} |{free:<{WIRE}}| {'':<{pad_w}} |")
    lines.append(f"{left}{' ' * WIRE}{right}")
    return lines


def _wrap(text: str, indent: str, width: int = 88) -> list[str]:
    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=" " * len(indent))


def render_text(adapter: str = "ch340", board: str = "lywsd03mmc") -> str:
    """The hook-up for a terminal: an ASCII diagram, the wires one by one, the warnings."""
    a, b = get_adapter(adapter), get_board(board)
    conns = connections(a, b)
    out = [f"Wiring: {a.title} to {b.title}", "", *_ascii_diagram(a, b, conns), ""]
    out.append("Connect:")
    for n, c in enumerate(conns, 1):
        out.append(f"{n:>3}. {c.summary}")
        out += _wrap(c.why, " " * 7)
    out += ["", "Check:"]
    for note in checklist(a, b):
        out += _wrap(note, "  - ")
    out += [
        "",
        "Then: swsflash info --port /dev/ttyUSB0 (a wiring fault shows as exit code 5).",
    ]
    return "\n".join(out) + "\n"
