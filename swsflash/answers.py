"""The host's hypothesis of how one SWire read slot looks on the adapter's RX, and a strict
decoder learned from known reads.

Why: how a chip answer arrives as UART characters depends on things the host cannot know in
advance (when the chip starts answering, its exact unit length, how the adapter's receiver
resynchronises after a framing error, where in a bit it samples). Instead of expecting one
fixed character shape per cell, the host fits those unknowns to reads of known bytes, builds
the character sequence every byte value must produce (a codebook) and accepts only exact
matches: a marginal setting shows as an error, never as wrong data.

Times are in UART bit-times T from the falling edge of the slot's read request. Written from
the protocol facts (swire-over-uart.md §3-§5, field-evidence.md §1), not from the bench.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache

REQUEST = 0xFE  # 2 T low: "one unit of low level" that asks for the next byte
FILLER = 0xFF  # 1 T low: the shortest character, covered by the chip's answer
CHAR_BITS = 10  # start + 8 data + stop
DATA_CELLS = 8
CELL_UNITS = 5  # a cell is 5 units: a 1 is 4 low + 1 high, a 0 is 1 low + 4 high
ANSWER_UNITS = DATA_CELLS * CELL_UNITS + 1  # eight cells and the short low end unit
IDLE = float("inf")


class Receiver(str, Enum):
    """What the adapter's UART does when the stop-bit sample is low (a framing error)."""

    WAIT_HIGH = "wait-high"  # waits for the line to go high before hunting a start bit
    RESTART = "restart"  # takes that low sample as the next frame's start bit (FT232)


class Drive(str, Enum):
    """How the chip drives SWS while it answers."""

    PUSH_PULL = "push-pull"  # chip drives both levels: TX through the resistor loses
    OPEN_DRAIN = "open-drain"  # chip only pulls low: TX's lows show through its highs


@dataclass(frozen=True)
class Hypothesis:
    """One guess of the unknowns of a read, all in bit-times T."""

    offset: float  # chip's first answer edge after the request's falling edge
    unit: float  # chip unit (clk_div / Fclk) in T
    receiver: Receiver = Receiver.RESTART
    phase: float = 0.5  # where in each bit the receiver samples (fraction of T)
    drive: Drive = Drive.PUSH_PULL

    @property
    def answer_end(self) -> float:
        """When the chip releases the line after its end unit."""
        return self.offset + ANSWER_UNITS * self.unit


def slot_tx(chars: int | None) -> bytes:
    """TX characters of one read slot: the request and fillers; None = a lone request
    (one round trip per byte, the line idles high after it)."""
    return bytes([REQUEST]) if chars is None else bytes([REQUEST] + [FILLER] * (chars - 1))


# -- line model -------------------------------------------------------------------------------


def _tx_lows(tx: bytes) -> list[tuple[float, float]]:
    """Low intervals of TX sending ``tx`` back to back from t = 0 (8N1, LSB first)."""
    lows: list[tuple[float, float]] = []
    for i, c in enumerate(tx):
        bits = [0, *((c >> k) & 1 for k in range(8)), 1]
        base = i * CHAR_BITS
        for k, b in enumerate(bits):
            if b == 0:
                _append(lows, base + k, base + k + 1)
    return lows


def _chip_lows(h: Hypothesis, value: int) -> list[tuple[float, float]]:
    lows: list[tuple[float, float]] = []
    for j in range(DATA_CELLS):
        s = h.offset + j * CELL_UNITS * h.unit
        low = 4 if (value >> (7 - j)) & 1 else 1
        _append(lows, s, s + low * h.unit)
    s = h.offset + DATA_CELLS * CELL_UNITS * h.unit
    _append(lows, s, s + h.unit)
    return lows


def _append(lows: list[tuple[float, float]], a: float, b: float) -> None:
    if lows and lows[-1][1] >= a:
        lows[-1] = (lows[-1][0], max(lows[-1][1], b))
    else:
        lows.append((a, b))


def _merge(xs: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(xs):
        if b > a:
            _append(out, a, b)
    return out


def line_lows(h: Hypothesis, value: int, tx: bytes) -> list[tuple[float, float]]:
    """The SWS line's low intervals during one slot: the chip's answer over TX's echo."""
    tx_lows = _tx_lows(tx)
    chip = _chip_lows(h, value)
    if h.drive is Drive.OPEN_DRAIN:
        return _merge(tx_lows + chip)
    a, b = h.offset, h.answer_end
    outside: list[tuple[float, float]] = []
    for lo, hi in tx_lows:  # TX shows only where the chip does not drive
        if lo < a:
            outside.append((lo, min(hi, a)))
        if hi > b:
            outside.append((max(lo, b), hi))
    return _merge(outside + chip)


class _Line:
    """Level queries on a piecewise-constant line (high outside the low intervals)."""

    def __init__(self, lows: list[tuple[float, float]]) -> None:
        self.starts = [a for a, _ in lows]
        self.lows = lows

    def _index(self, t: float) -> int:
        return bisect.bisect_right(self.starts, t) - 1

    def low(self, t: float) -> bool:
        i = self._index(t)
        return i >= 0 and t < self.lows[i][1]

    def next_low(self, t: float) -> float:
        """First time >= t the line is low (IDLE if never)."""
        i = self._index(t)
        if i >= 0 and t < self.lows[i][1]:
            return t
        return self.starts[i + 1] if i + 1 < len(self.starts) else IDLE

    def next_high(self, t: float) -> float:
        i = self._index(t)
        if i >= 0 and t < self.lows[i][1]:
            return self.lows[i][1]
        return t


@dataclass(frozen=True)
class SlotRx:
    """What RX reports for one slot, and when the receiver is free again."""

    chars: bytes
    free_at: float  # receiver hunting for a start bit on a high line from here on


def receive(
    lows: list[tuple[float, float]],
    receiver: Receiver,
    phase: float,
    until: float = IDLE,
    expect: bytes | None = None,
) -> SlotRx | None:
    """The UART receiver over a line: frames that start before ``until``. With ``expect``,
    returns None as soon as a character differs from it (cheap rejection while learning)."""
    line = _Line(lows)
    out = bytearray()
    t = 0.0
    while True:
        start = line.next_low(t)
        if start >= until:
            break
        if not line.low(start + phase):  # a glitch shorter than the start-bit sample
            t = start + phase
            continue
        value = 0
        for k in range(8):
            if not line.low(start + (1 + k + phase)):
                value |= 1 << k
        if expect is not None and (len(out) >= len(expect) or expect[len(out)] != value):
            return None
        out.append(value)
        t = start + (9 + phase)  # the stop-bit sample
        if receiver is Receiver.WAIT_HIGH:
            t = line.next_high(t)
        # RESTART: a low stop sample is itself the next start edge (next_low(t) == t)
    if expect is not None and len(out) != len(expect):
        return None
    return SlotRx(bytes(out), t)


def slot_rx(h: Hypothesis, value: int, tx: bytes) -> SlotRx:
    """RX characters of one slot answering ``value`` while TX sends ``tx``."""
    until = IDLE if len(tx) == 1 else len(tx) * CHAR_BITS
    rx = receive(line_lows(h, value, tx), h.receiver, h.phase, until)
    assert rx is not None
    return rx
