"""The hook-up as SVG drawings (wiring/*.svg): one adapter and one board, or the jig.

Written by hand as text rather than through an XML library, so that the committed files are
small, stable and readable in a diff. Every label comes from ``hookup.connections``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from .hookup import (
    ADAPTERS,
    FIXTURE,
    JIG_ADAPTER,
    JIG_CHANNELS,
    WARNINGS,
    Adapter,
    Board,
    Connection,
    Signal,
    checklist,
    connections,
    get_adapter,
    get_board,
    joins,
    pin_labels,
)

FONT = 14
CHAR_W = 8.4  # width of one character of the monospace font at FONT px
ROW = 36
COLOURS: dict[Signal, str] = {
    "TX": "#c0561a",
    "RX": "#1f5fa8",
    "GND": "#222222",
    "VCC": "#b3202a",
    "RST": "#6d3d99",
}
STYLE = """\
  <style>
    text {
      font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace;
      font-size: 14px;
      fill: #222;
    }
    .title { font-size: 20px; font-weight: bold; }
    .head { font-weight: bold; }
    .small { font-size: 12px; fill: #555; }
    .box { fill: #f7f7f2; stroke: #333; stroke-width: 2; }
    .pad { fill: #e9c46a; stroke: #333; }
    .pin { fill: #fff; stroke: #333; }
    .wire { fill: none; stroke-width: 3; stroke-linecap: round; }
    .optional { stroke-dasharray: 8 6; }
    .resistor { fill: #fff; stroke: #333; stroke-width: 2; }
    .never { stroke: #b3202a; stroke-width: 3; }
  </style>"""


def _attrs(**kw: str | float) -> str:
    parts = []
    for key, value in kw.items():
        text = f"{value:g}" if isinstance(value, float) else str(value)
        parts.append(f'{key.rstrip("_").replace("_", "-")}="{escape(text, {chr(34): "&quot;"})}"')
    return " ".join(parts)


def _text(x: float, y: float, text: str, cls: str = "", anchor: str = "") -> str:
    extra = (f' class="{cls}"' if cls else "") + (f' text-anchor="{anchor}"' if anchor else "")
    return f'<text x="{x:g}" y="{y:g}"{extra}>{escape(text)}</text>'


def _width(text: str, extra: int = 0) -> int:
    """Room for ``text`` plus ``extra`` pixels, rounded up to whole tens."""
    return -(-(round(len(text) * CHAR_W) + extra) // 10) * 10


@dataclass(frozen=True)
class _Channel:
    lines: list[str]
    height: int
    right: int  # x of the right edge of the board box


def _line(cls: str, colour: str, x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line class="{cls}" stroke="{colour}" {_attrs(x1=x1, y1=y1, x2=x2, y2=y2)}/>'


def _pin(edge: int, y: int, label: str) -> list[str]:
    """An adapter pin: its label and its round contact on the box's right edge."""
    return [
        "  " + _text(edge - 22, y + 5, label, anchor="end"),
        f'  <circle class="pin" {_attrs(cx=edge - 9, cy=y, r=5.0)}/>',
    ]


def _wire(c: Connection, joins_next: bool, edge: int, bx: int, y: int) -> list[str]:
    """One connection at height ``y``: pin, resistor, wire, and the pad (or the join below)."""
    colour = COLOURS[c.signal]
    cls = "wire optional" if c.optional else "wire"
    out = [f'<g class="connection" id="{escape(c.signal.lower())}">']
    out.append(f"  <title>{escape(c.summary)}</title>")
    out += _pin(edge, y, c.adapter_pin)
    start = edge - 4
    if c.resistor:
        rx = edge + 60
        out.append("  " + _line(cls, colour, start, y, rx, y))
        out.append(f'  <rect class="resistor" {_attrs(x=rx, y=y - 10, width=70, height=20)}/>')
        out.append("  " + _text(rx + 35, y - 16, c.resistor, "small", "middle"))
        start = rx + 70
    join_x = edge + 230
    out.append("  " + _line(cls, colour, start, y, join_x if joins_next else bx + 4, y))
    if joins_next:
        out.append("  " + _line(cls, colour, join_x, y, join_x, y + ROW))
        out.append(f'  <circle fill="{colour}" {_attrs(cx=join_x, cy=y + ROW, r=5.0)}/>')
    else:
        out.append(f'  <rect class="pad" {_attrs(x=bx - 6, y=y - 8, width=16, height=16)}/>')
        out.append("  " + _text(bx + 20, y + 5, c.pad))
    if c.optional:
        out.append("  " + _text((edge + bx) / 2, y - 8, "optional", "small", "middle"))
    out.append("</g>")
    return out


def _free_pin(pin: str, edge: int, y: int) -> list[str]:
    """The adapter's 5 V pin, crossed out: it must stay unconnected."""
    cx = edge + 24
    return [
        '<g class="never-connect">',
        *_pin(edge, y, pin),
        f'  <line class="never" {_attrs(x1=cx - 7, y1=y - 7, x2=cx + 7, y2=y + 7)}/>',
        f'  <line class="never" {_attrs(x1=cx - 7, y1=y + 7, x2=cx + 7, y2=y - 7)}/>',
        "  " + _text(cx + 18, y + 5, "leave free: never 5 V", "small"),
        "</g>",
    ]


def _channel(
    adapter: Adapter, board: Board, conns: Sequence[Connection], x0: int, y0: int
) -> _Channel:
    """Adapter box, board box and the wires between them, top-left corner at (x0, y0)."""
    pins = pin_labels(adapter, conns)
    box_w = max(_width(adapter.title, 24), max(_width(p, 60) for p in pins))
    box_h = 44 + len(pins) * ROW
    bx = x0 + box_w + 330  # board box
    bw = max(_width(board.title, 24), max(_width(c.pad, 60) for c in conns))
    out = [
        f'<rect class="box" {_attrs(x=x0, y=y0, width=box_w, height=box_h, rx=8.0)}/>',
        _text(x0 + 12, y0 + 24, adapter.title, "head"),
        f'<rect class="box" {_attrs(x=bx, y=y0, width=bw, height=box_h, rx=8.0)}/>',
        _text(bx + 12, y0 + 24, board.title, "head"),
    ]
    edge = x0 + box_w
    for i, c in enumerate(conns):
        out += _wire(c, joins(conns, i)[1], edge, bx, y0 + 56 + i * ROW)
    if adapter.avoid:
        out += _free_pin(adapter.avoid, edge, y0 + 56 + len(conns) * ROW)
    return _Channel(out, box_h, bx + bw)


NOTE_CHARS = 92  # characters per line of a note


def _notes_block(
    x: int, y: int, heading: str, items: Sequence[str], numbered: bool
) -> tuple[list[str], int]:
    """A heading and a list from ``y`` down, continuation lines indented under the first
    one's text; returns the elements and the ``y`` below the last line."""
    out = [_text(x, y, heading, "head")]
    y += 24
    for n, item in enumerate(items, 1):
        mark = f"{n}. " if numbered else "- "
        for k, line in enumerate(textwrap.wrap(item, NOTE_CHARS - len(mark))):
            if k == 0:
                out.append(_text(x, y, mark + line))
            else:
                out.append(_text(x + round(len(mark) * CHAR_W), y, line))
            y += 20
    return out, y


def _document(width: int, height: int, title: str, desc: Sequence[str], body: list[str]) -> str:
    head = [
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f"  <title>{escape(title)}</title>",
        "  <desc>",
        *(f"    {escape(line)}" for line in desc),
        "  </desc>",
        STYLE,
        f'  <rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    return "\n".join([*head, *("  " + line for line in body), "</svg>"]) + "\n"


def _sections(y: int, sections: Sequence[tuple[str, Sequence[str], bool]]) -> tuple[list[str], int]:
    """The lists under a drawing, from ``y`` down; returns the elements and the new ``y``."""
    out: list[str] = []
    for heading, items, numbered in sections:
        if items:
            block, y = _notes_block(MARGIN, y, heading, items, numbered)
            out += block
            y += 20
    out.append(_text(MARGIN, y, f"Generated by: {REGENERATE}", "small"))
    return out, y + 20


MARGIN = 30
REGENERATE = "python -m swsflash.wiring --write-svgs wiring/"


def _finish(title: str, conns: Sequence[Connection], right: int, body: list[str], y: int) -> str:
    width = max(right, MARGIN + _width(title), MARGIN + _width("x" * NOTE_CHARS)) + MARGIN
    desc = [f"Generated from swsflash/wiring/ by: {REGENERATE}", *(c.summary for c in conns)]
    return _document(width, y, title, desc, [_text(MARGIN, 40, title, "title"), *body])


def render_svg(adapter: str = "ch340", board: str = "lywsd03mmc") -> str:
    """The hook-up of one adapter and one board as an SVG drawing."""
    a, b = get_adapter(adapter), get_board(board)
    conns = connections(a, b)
    channel = _channel(a, b, conns, MARGIN, 70)
    notes, y = _sections(
        70 + channel.height + 44,
        [
            ("Connect:", [c.summary for c in conns], True),
            ("On the board:", list(b.pad_notes.values()), False),
            ("Check:", checklist(a, b), False),
        ],
    )
    return _finish(
        f"Wiring: {a.title} to {b.title}", conns, channel.right, channel.lines + notes, y
    )


def render_jig_svg() -> str:
    """Several adapters on one USB hub, each wired to its own pogo-pin fixture."""
    a = ADAPTERS[JIG_ADAPTER]
    conns = connections(a, FIXTURE)
    hub_w, x0, y0 = 120, MARGIN + 180, 70
    body: list[str] = []
    y, right = y0, 0
    for n in range(1, JIG_CHANNELS + 1):
        ch = _channel(a, FIXTURE, conns, x0, y)
        mid = y + ch.height // 2
        body.append(f'<g class="channel" id="channel-{n}">')
        body.append(
            f'  <line class="wire" stroke="#555555" '
            f"{_attrs(x1=MARGIN + hub_w, y1=mid, x2=x0, y2=mid)}/>"
        )
        body.append(
            "  " + _text((MARGIN + hub_w + x0) // 2, mid - 8, f"USB {n}", "small", "middle")
        )
        body += ["  " + line for line in ch.lines]
        body.append("</g>")
        y += ch.height + 30
        right = max(right, ch.right)
    hub = [
        f'<rect class="box" {_attrs(x=MARGIN, y=y0, width=hub_w, height=y - 30 - y0, rx=8)}/>',
        _text(MARGIN + hub_w // 2, y0 + 24, "USB hub", "head", "middle"),
        _text(MARGIN + hub_w // 2, y0 + 44, "(powered)", "small", "middle"),
    ]
    notes, y = _sections(
        y + 14,
        [
            ("Each channel:", [c.summary for c in conns], True),
            ("Check:", [*FIXTURE.notes, *WARNINGS], False),
        ],
    )
    title = f"Jig: {JIG_CHANNELS} adapters on one USB hub, one pogo-pin fixture each"
    return _finish(title, conns, right, hub + body + notes, y)
