"""How one SWire read slot looks on the adapter's RX under a guess of the unknowns.

Why: the chip's answer timing, its unit length, the adapter receiver's resync rule and
sample phase are not known in advance; this module turns one guess of them into the line's
low intervals and the characters a UART receiver frames from them. Times are in UART
bit-times T from the falling edge of the slot's read request. Written from the protocol
facts (swire-over-uart.md §3-§5, field-evidence.md §1), not from the bench.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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
    (one round trip per byte: the line idles high after it)."""
    return bytes([REQUEST]) if chars is None else bytes([REQUEST] + [FILLER] * (chars - 1))


Lows = list[tuple[float, float]]


@lru_cache(maxsize=64)
def _tx_lows(tx: bytes) -> tuple[tuple[float, float], ...]:
    """Low intervals of TX sending ``tx`` back to back from t = 0 (8N1, LSB first)."""
    lows: Lows = []
    for i, c in enumerate(tx):
        bits = [0, *((c >> k) & 1 for k in range(8))]
        for k, b in enumerate(bits):
            if b == 0:
                _append(lows, i * CHAR_BITS + k, i * CHAR_BITS + k + 1)
    return tuple(lows)


def _append(lows: Lows, a: float, b: float) -> None:
    if lows and lows[-1][1] >= a:
        lows[-1] = (lows[-1][0], max(lows[-1][1], b))
    else:
        lows.append((a, b))


def line_lows(h: Hypothesis, values: Sequence[int], chars: int | None) -> Lows:
    """The SWS line's low intervals for consecutive slots: each request is answered
    ``h.offset`` after its falling edge; while the chip drives, TX shows only if it is
    open-drain (then TX's lows win over the chip's released highs)."""
    if chars is None and h.offset >= 2 and len(values) == 1:  # the common case, fast
        o, u, v = h.offset, h.unit, values[0]
        lows = [(0.0, 2.0)]  # the request's start bit and bit 0
        lows += [(s, s + (4 * u if (v >> (7 - j)) & 1 else u)) for j, s in _cells(o, u)]
        lows.append((o + 40 * u, o + 41 * u))
        return lows
    period = CHAR_BITS * (chars or 0)
    chip: Lows = []
    windows: Lows = []
    for i, value in enumerate(values):
        base = i * period + h.offset
        for j in range(DATA_CELLS):
            s = base + j * CELL_UNITS * h.unit
            chip.append((s, s + (4 if (value >> (7 - j)) & 1 else 1) * h.unit))
        s = base + DATA_CELLS * CELL_UNITS * h.unit
        chip.append((s, s + h.unit))
        windows.append((base, i * period + h.answer_end))
    tx = _tx_lows(slot_tx(chars) * len(values) if chars else slot_tx(None))
    if h.drive is Drive.PUSH_PULL:
        tx = tuple(_outside(tx, windows))
    out: Lows = []
    for a, b in sorted((*tx, *chip)):
        _append(out, a, b)
    return out


def _outside(lows: Iterable[tuple[float, float]], windows: Lows) -> Iterable[tuple[float, float]]:
    """The parts of ``lows`` outside every window (both sorted)."""
    w = 0
    for a, b in lows:
        while w < len(windows) and windows[w][1] <= a:
            w += 1
        k = w
        while k < len(windows) and windows[k][0] < b and a < b:
            if windows[k][0] > a:
                yield (a, windows[k][0])
            a = max(a, windows[k][1])
            k += 1
        if a < b:
            yield (a, b)


def _cells(o: float, u: float) -> list[tuple[int, float]]:
    return [(j, o + j * CELL_UNITS * u) for j in range(DATA_CELLS)]


def receive(
    lows: Lows, receiver: Receiver, phase: float, until: float = IDLE, expect: bytes | None = None
) -> tuple[bytes, float] | None:
    """The adapter's UART over a line: the characters of frames that start before
    ``until``, and from when it hunts for a start bit on a line that stays high until
    ``until``. With ``expect``: None as soon as a character differs (cheap rejection)."""
    starts = [a for a, _ in lows]
    ends = [b for _, b in lows]
    find = bisect.bisect_right

    def low(t: float) -> bool:
        i = find(starts, t) - 1
        return i >= 0 and t < ends[i]

    out = bytearray()
    t = 0.0
    while True:
        i = find(starts, t) - 1  # next start edge: now if low, else the next low interval
        start = t if i >= 0 and t < ends[i] else starts[i + 1] if i + 1 < len(starts) else IDLE
        if start >= until:
            break
        if not low(start + phase):  # a glitch shorter than the start-bit sample
            t = start + phase
            continue
        value = 0
        for k in range(8):
            if not low(start + (1 + k + phase)):
                value |= 1 << k
        if expect is not None and (len(out) >= len(expect) or expect[len(out)] != value):
            return None
        out.append(value)
        t = start + (9 + phase)  # the stop-bit sample
        if receiver is Receiver.WAIT_HIGH:
            i = find(starts, t) - 1
            if i >= 0 and t < ends[i]:
                t = ends[i]
        # RESTART: a low stop sample is itself the next start edge
    if expect is not None and len(out) != len(expect):
        return None
    return bytes(out), t


def burst_rx(h: Hypothesis, values: Sequence[int], chars: int | None) -> bytes:
    """RX characters of a whole read burst (or, with chars=None, of one lone request)."""
    got = receive(line_lows(h, values, chars), h.receiver, h.phase)
    assert got is not None
    return got[0]
