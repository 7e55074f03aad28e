"""How to wire a USB-UART adapter to a board's SWS pad: the hook-up as data, and two renderers.

One table of connections (``connections(adapter, board)``) is the only source: the terminal
text (``swsflash wiring``) and the SVG drawings in ``wiring/`` are both rendered from it, so
they cannot disagree. Regenerate the drawings with::

    python -m swsflash.wiring --write-svgs wiring/

Where each fact comes from is listed in wiring/README.md.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape

from .errors import UsageError

Signal = Literal["TX", "RX", "GND", "VCC", "RST"]
SIGNALS: tuple[Signal, ...] = ("TX", "RX", "GND", "VCC", "RST")


@dataclass(frozen=True)
class Adapter:
    """A USB-UART module, with the pin labels printed on it."""

    key: str
    title: str
    pins: dict[Signal, str]
    avoid: str  # the 5 V pin to leave free ("" when the module has none)
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Board:
    """A device (or a test fixture), with the pad each signal lands on."""

    key: str
    title: str
    pads: dict[Signal, str]
    pad_notes: dict[Signal, str]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Hookup:
    """What goes between adapter and board for one signal, whatever the adapter or board."""

    signal: Signal
    resistor: str  # "" = a direct wire
    optional: bool
    why: str


@dataclass(frozen=True)
class Connection:
    """One wire of one adapter-to-board hook-up."""

    signal: Signal
    adapter_pin: str
    pad: str
    resistor: str
    optional: bool
    why: str

    @property
    def via(self) -> str:
        return f"through a {self.resistor} resistor" if self.resistor else "direct wire"

    @property
    def summary(self) -> str:
        """The one line both renderers print for this wire."""
        text = f"{self.adapter_pin} to {self.pad}, {self.via}"
        return f"{text} (optional)" if self.optional else text


# -- the data ----------------------------------------------------------------------------------
HOOKUP: tuple[Hookup, ...] = (
    Hookup(
        "TX",
        "1 kOhm",
        False,
        "Any value from 1 to 1.8 kOhm. TX drives the line through it, so the chip's own "
        "output wins when the chip answers.",
    ),
    Hookup(
        "RX",
        "",
        False,
        "RX listens to the line directly: it hears the echo of everything TX sends, plus the "
        "chip's answers. swsflash checks that echo first.",
    ),
    Hookup("GND", "", False, "Common ground."),
    Hookup(
        "VCC",
        "",
        False,
        "3.3 V only, never 5 V: the TLSR825x is rated 1.8 to 3.6 V.",
    ),
    Hookup(
        "RST",
        "",
        True,
        "Only for --reset rts: swsflash pulls RTS low to hold the chip in reset and releases "
        "it as it starts talking. Without this wire, use --power-window and apply power when "
        "asked.",
    ),
)

ADAPTERS: dict[str, Adapter] = {
    "ch340": Adapter(
        key="ch340",
        title="CH340G / CH340 USB-TTL module",
        pins={"TX": "TXD", "RX": "RXD", "GND": "GND", "VCC": "3V3", "RST": "RTS"},
        avoid="5V",
        notes=(
            "Set the module's VCC jumper to 3V3: it picks the CH340's supply, and so also "
            "the level TXD drives.",
            "RTS is on the header of some boards only; otherwise solder to pin 14 (RTS#) of "
            "the CH340G chip, or wire DTR and use --reset dtr.",
            "These modules usually have TXD/RXD LEDs, and the CH340 has no LED pins, so the "
            "RX LED hangs on the RX line itself: if nothing comes back, remove that LED (or "
            "its resistor).",
        ),
    ),
    "cp2102": Adapter(
        key="cp2102",
        title="CP2102 USB-TTL module",
        pins={"TX": "TXD", "RX": "RXD", "GND": "GND", "VCC": "3V3", "RST": "RTS"},
        avoid="5V",
        notes=(
            "The 3V3 pin comes from the CP2102's own small regulator (sellers quote under "
            "40 mA): enough for one sensor.",
            "RTS, where present, is a pad at the board's edge; the 6-pin header usually "
            "offers DTR instead (wire it and use --reset dtr). A pin labelled RST resets the "
            "CP2102 itself: never use it for the chip.",
            "These modules carry status and TX/RX LEDs; results are mixed and depend on what "
            "sits on the RX input. If nothing comes back, remove the RX LED.",
        ),
    ),
    "pl2303": Adapter(
        key="pl2303",
        title="PL2303 (PL2303HX) USB-TTL adapter",
        pins={"TX": "TXD", "RX": "RXD", "GND": "GND", "VCC": "3V3", "RST": "RTS"},
        avoid="5V",
        notes=(
            "The cable kind has no 3.3 V wire (red 5V, black GND, green TXD, white RXD): "
            "leave the red wire free and run the board from its battery.",
            "Some PL2303 boards drive TXD at 5 V: measure TXD to GND while idle before you "
            "connect; it must read about 3.3 V.",
            "RTS is not on the usual header; it needs a wire soldered to the chip's RTS pin.",
            "Check for an LED on RXD; remove it if there is one.",
        ),
    ),
    "ft232": Adapter(
        key="ft232",
        title="FT232RL USB-TTL module",
        pins={"TX": "TXD", "RX": "RXD", "GND": "GND", "VCC": "VCC (3.3V jumper)", "RST": "RTS"},
        avoid="",
        notes=(
            "Set the voltage jumper to 3.3V: it sets both the VCC pin and the TXD level.",
            "FTDI parts are reported to fail at SWire over UART (gaps in a continuous "
            "stream, a receiver that votes several samples per bit); some users still "
            "succeed. Prefer a CH340 or PL2303; with an FT232 try --pacing safe.",
            "RTS is broken out on the larger breakouts; the 6-pin header has DTR instead "
            "(wire it and use --reset dtr).",
            "The FT232R drives its TX/RX LEDs from separate CBUS pins, so they do not load "
            "RX on the usual modules.",
        ),
    ),
}

BOARDS: dict[str, Board] = {
    "lywsd03mmc": Board(
        key="lywsd03mmc",
        title="Xiaomi LYWSD03MMC board",
        pads={
            "TX": "P14 (SWS)",
            "RX": "P14 (SWS)",
            "GND": "Gnd",
            "VCC": "battery +",
            "RST": "Reset",
        },
        pad_notes={
            "TX": "P14 (SWS) is the test pad next to the pads labelled Reset and Gnd.",
            "VCC": "battery + is the + contact of the battery holder: take the coin cell out "
            "while the adapter supplies 3.3 V, or leave this wire off and run from the battery.",
            "RST": "The pad labelled Reset is GPIO PA5, a button the firmware reads (z03mmc: "
            "hold it to Gnd for 3 s to reset the Zigbee settings), not the chip's reset pin: "
            "it cannot hold a hung or bricked chip, so use --power-window there.",
        },
        notes=("Pad names are from the B1.4 board; on other revisions go by the printed labels.",),
    ),
}

# The fixture of the multi-unit jig: pogo pins on the board's pads.
FIXTURE = Board(
    key="fixture",
    title="pogo-pin fixture",
    pads={"TX": "SWS", "RX": "SWS", "GND": "GND", "VCC": "3.3V", "RST": "RST"},
    pad_notes={},
    notes=(
        "One adapter per fixture; each is its own serial port (swsflash --port ...).",
        "Use a powered hub: each adapter's 3V3 feeds its own fixture.",
        "On a LYWSD03MMC the RST pin lands on the pad labelled Reset (GPIO PA5, not the "
        "chip's reset): switch 3.3 V per fixture for a power window instead.",
        "USB hubs are among the things one user found unreliable: run 'swsflash info' on "
        "each port before a batch.",
    ),
)
JIG_ADAPTER = "ch340"
JIG_CHANNELS = 3

WARNINGS: tuple[str, ...] = (
    "No LED on the adapter's RX: an LED (with its resistor) on the RX input loads the line "
    "so the 1 kOhm cannot pull it low. Remove it.",
    "3.3 V only, never 5 V: not on the supply, not on TXD.",
    "Keep the wires short (well under 20 cm): the 1 kOhm and the wire's capacitance round "
    "the edges at 1 to 3 Mbaud.",
    "RTS is optional: wire it only to use --reset rts.",
)


# -- lookups -----------------------------------------------------------------------------------
def _choices(names: Sequence[str]) -> str:
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def get_adapter(name: str) -> Adapter:
    found = ADAPTERS.get(name.strip().lower())
    if found is None:
        raise UsageError(
            f"unknown adapter {name!r}: choose {_choices(list(ADAPTERS))}",
            "pick the bridge chip printed on your adapter; 'swsflash ports' names it",
        )
    return found


def get_board(name: str) -> Board:
    found = BOARDS.get(name.strip().lower())
    if found is None:
        raise UsageError(f"unknown board {name!r}: choose {_choices(list(BOARDS))}")
    return found


def connections(adapter: Adapter, board: Board) -> tuple[Connection, ...]:
    """The hook-up table for one adapter and one board."""
    return tuple(
        Connection(
            signal=h.signal,
            adapter_pin=adapter.pins[h.signal],
            pad=board.pads[h.signal],
            resistor=h.resistor,
            optional=h.optional,
            why=" ".join(x for x in (h.why, board.pad_notes.get(h.signal, "")) if x),
        )
        for h in HOOKUP
    )


def _joins(conns: Sequence[Connection], i: int) -> tuple[bool, bool]:
    """Whether wire i shares its pad with the wire before / after it (TX and RX on SWS)."""
    before = i > 0 and conns[i - 1].pad == conns[i].pad
    after = i + 1 < len(conns) and conns[i + 1].pad == conns[i].pad
    return before, after


# -- terminal text -----------------------------------------------------------------------------
WIRE = 34  # characters between the boxes
JOIN = 22  # where wires to a shared pad meet


def _ascii_diagram(adapter: Adapter, board: Board, conns: Sequence[Connection]) -> list[str]:
    pins = [c.adapter_pin for c in conns] + ([adapter.avoid] if adapter.avoid else [])
    pin_w = max(len(p) for p in pins)
    pad_w = max(len(c.pad) for c in conns)
    left = f"+-{'-' * pin_w}-+"
    right = f"+-{'-' * pad_w}-+"
    lines = [
        f"{adapter.title:<{len(left) + WIRE}}{board.title}",
        f"{left}{' ' * WIRE}{right}",
    ]
    for i, c in enumerate(conns):
        before, after = _joins(conns, i)
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


def checklist(adapter: Adapter, board: Board) -> list[str]:
    """Everything to check besides the wires, most important first."""
    return [*WARNINGS, *adapter.notes, *board.notes]


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


# -- SVG ---------------------------------------------------------------------------------------
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


def _channel(
    adapter: Adapter, board: Board, conns: Sequence[Connection], x0: int, y0: int
) -> _Channel:
    """Adapter box, board box and the wires between them, top-left corner at (x0, y0)."""
    pins = [c.adapter_pin for c in conns] + ([adapter.avoid] if adapter.avoid else [])
    box_w = max(_width(adapter.title, 24), max(_width(p, 60) for p in pins))
    rows = len(pins)
    box_h = 44 + rows * ROW
    bx = x0 + box_w + 330  # board box
    bw = max(_width(board.title, 24), max(_width(c.pad, 60) for c in conns))
    out = [
        f'<rect class="box" {_attrs(x=x0, y=y0, width=box_w, height=box_h, rx=8.0)}/>',
        _text(x0 + 12, y0 + 24, adapter.title, "head"),
        f'<rect class="box" {_attrs(x=bx, y=y0, width=bw, height=box_h, rx=8.0)}/>',
        _text(bx + 12, y0 + 24, board.title, "head"),
    ]
    edge = x0 + box_w
    join_x = edge + 230
    for i, c in enumerate(conns):
        y = y0 + 56 + i * ROW
        _, after = _joins(conns, i)
        colour = COLOURS[c.signal]
        cls = "wire optional" if c.optional else "wire"
        out.append(f'<g class="connection" id="{escape(c.signal.lower())}">')
        out.append(f"  <title>{escape(c.summary)}</title>")
        out.append("  " + _text(edge - 22, y + 5, c.adapter_pin, anchor="end"))
        out.append(f'  <circle class="pin" {_attrs(cx=edge - 9, cy=y, r=5.0)}/>')
        start = edge - 4
        if c.resistor:
            rx = edge + 60
            out.append(
                f'  <line class="{cls}" stroke="{colour}" {_attrs(x1=start, y1=y, x2=rx, y2=y)}/>'
            )
            out.append(f'  <rect class="resistor" {_attrs(x=rx, y=y - 10, width=70, height=20)}/>')
            out.append("  " + _text(rx + 35, y - 16, c.resistor, "small", "middle"))
            start = rx + 70
        end = join_x if after else bx + 4
        out.append(
            f'  <line class="{cls}" stroke="{colour}" {_attrs(x1=start, y1=y, x2=end, y2=y)}/>'
        )
        if after:
            y_next = y + ROW
            out.append(
                f'  <line class="{cls}" stroke="{colour}" '
                f"{_attrs(x1=join_x, y1=y, x2=join_x, y2=y_next)}/>"
            )
            out.append(f'  <circle fill="{colour}" {_attrs(cx=join_x, cy=y_next, r=5.0)}/>')
        else:
            out.append(f'  <rect class="pad" {_attrs(x=bx - 6, y=y - 8, width=16, height=16)}/>')
            out.append("  " + _text(bx + 20, y + 5, c.pad))
        if c.optional:
            out.append("  " + _text((edge + bx) / 2, y - 8, "optional", "small", "middle"))
        out.append("</g>")
    if adapter.avoid:
        y = y0 + 56 + len(conns) * ROW
        out.append('<g class="never-connect">')
        out.append("  " + _text(edge - 22, y + 5, adapter.avoid, anchor="end"))
        out.append(f'  <circle class="pin" {_attrs(cx=edge - 9, cy=y, r=5.0)}/>')
        cx = edge + 24
        out.append(f'  <line class="never" {_attrs(x1=cx - 7, y1=y - 7, x2=cx + 7, y2=y + 7)}/>')
        out.append(f'  <line class="never" {_attrs(x1=cx - 7, y1=y + 7, x2=cx + 7, y2=y - 7)}/>')
        out.append("  " + _text(cx + 18, y + 5, "leave free: never 5 V", "small"))
        out.append("</g>")
    return _Channel(out, box_h, bx + bw)


NOTE_CHARS = 92  # characters per line of a note


def _notes_block(x: int, y: int, heading: str, items: Sequence[str], numbered: bool) -> list[str]:
    """A heading and a list; continuation lines are indented under the first one's text."""
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
    return out


def _notes_height(items: Sequence[str], numbered: bool = False) -> int:
    lines = 0
    for n, item in enumerate(items, 1):
        mark = f"{n}. " if numbered else "- "
        lines += len(textwrap.wrap(item, NOTE_CHARS - len(mark)))
    return 24 + 20 * lines


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
            out += _notes_block(MARGIN, y, heading, items, numbered)
            y += _notes_height(items, numbered) + 20
    out.append(_text(MARGIN, y, f"Generated by: {REGENERATE}", "small"))
    return out, y + 20


MARGIN = 30
REGENERATE = "python -m swsflash.wiring --write-svgs wiring/"


def _finish(title: str, conns: Sequence[Connection], right: int, body: list[str], y: int) -> str:
    width = max(right, MARGIN + _width(title), MARGIN + _width("x" * NOTE_CHARS)) + MARGIN
    desc = [f"Generated from swsflash/wiring.py by: {REGENERATE}", *(c.summary for c in conns)]
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


def svg_files() -> dict[str, str]:
    """File name -> content of every drawing in wiring/."""
    files = {
        f"{board}-{adapter}.svg": render_svg(adapter, board)
        for board in BOARDS
        for adapter in ADAPTERS
    }
    files["jig.svg"] = render_jig_svg()
    return files


def write_svgs(directory: Path) -> list[Path]:
    """(Re)write every drawing into ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in svg_files().items():
        path = directory / name
        path.write_text(content, encoding="utf-8", newline="\n")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m swsflash.wiring",
        description="Print the wiring, or regenerate the SVG drawings in wiring/.",
    )
    parser.add_argument("--write-svgs", metavar="DIR", type=Path, help="write the SVGs here")
    parser.add_argument("--adapter", default="ch340", choices=list(ADAPTERS))
    parser.add_argument("--board", default="lywsd03mmc", choices=list(BOARDS))
    args = parser.parse_args(argv)
    if args.write_svgs is not None:
        for path in write_svgs(args.write_svgs):
            print(path)
    else:
        print(render_text(args.adapter, args.board), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
