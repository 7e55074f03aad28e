"""The hook-up as data: adapters, boards, and what goes between them for each signal.

This table is the only source of the wiring help: the terminal text (``text.py``) and the
drawings (``svg.py``) are both rendered from ``connections(adapter, board)``, so they cannot
disagree. Where each fact comes from is listed in wiring/README.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..errors import UsageError

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
            "TX": "P14 (SWS) is the test pad near the edge opposite Reset and Gnd, beside P10 "
            "and the square footprints C24/C25 (B1.4); go by the printed label.",
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


def joins(conns: Sequence[Connection], i: int) -> tuple[bool, bool]:
    """Whether wire i shares its pad with the wire before / after it (TX and RX on SWS)."""
    before = i > 0 and conns[i - 1].pad == conns[i].pad
    after = i + 1 < len(conns) and conns[i + 1].pad == conns[i].pad
    return before, after


def pin_labels(adapter: Adapter, conns: Sequence[Connection]) -> list[str]:
    """The adapter pins a drawing shows, top to bottom: the wired ones, then the one to
    leave free."""
    return [c.adapter_pin for c in conns] + ([adapter.avoid] if adapter.avoid else [])


def checklist(adapter: Adapter, board: Board) -> list[str]:
    """Everything to check besides the wires, most important first."""
    return [*WARNINGS, *adapter.notes, *board.notes]
