"""The TLSR825x SWire slave: tells cells apart by their low/high proportion, assembles words,
runs write and read transactions on the chip's bus, and drives its answers onto the line.

It sees only line edges and its own timers; it knows nothing of UART characters.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol

from .wire import HIGH, LOW

START_DATA = 0x5A
END_DATA = 0xFF


class SwireBus(Protocol):
    """What the slave needs from the chip."""

    def swire_read(self, addr: int, t: int) -> int: ...
    def swire_write(self, addr: int, value: int, t: int) -> None: ...
    def swire_unit_ps(self) -> int: ...
    def swire_fifo_mode(self) -> bool: ...
    def swire_slave_id(self) -> int: ...


@dataclass(frozen=True)
class SlaveTiming:
    """Timing facts of the slave that the reference does not settle (see docs/bench.md)."""

    answer_delay_ps: int  # from "high has outlasted low" to the first driven edge
    resync_idle_ps: int  # a line idle this long restarts the word count
    addr_bytes: int = 3  # 24-bit addresses on the TLSR825x


# Transaction phases.
IDLE, ADDR, RW_ID, WRITE, READ = range(5)


class SwireSlave:
    def __init__(self, bus: SwireBus, timing: SlaveTiming) -> None:
        self.bus = bus
        self.timing = timing
        self.active = False
        # Planned line drive: (time, level) with None meaning "release the line".
        self.drive: deque[tuple[int, int | None]] = deque()
        self.driving = False
        self.last_answer = 0
        self._reset_state()

    # -- state -------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self._cell = "idle"  # idle | low | high
        self._t_fall = 0
        self._t_rise = 0
        self._zero_at: int | None = None  # when high outlasts low: the cell is a 0
        self._resync_at: int | None = None
        self._nbits = 0
        self._word = 0
        self.phase = IDLE
        self.addr = 0
        self._addr_left = 0

    def set_active(self, active: bool, t: int, line_level: int) -> None:
        """The chip powers the slave up or down (reset, power, firmware taking the pin)."""
        if active == self.active:
            return
        self.active = active
        self._reset_state()
        self.drive.clear()
        self.driving = False
        if active and line_level == LOW:
            self._cell, self._t_fall = "low", t

    @property
    def quiet(self) -> bool:
        """Waiting for a falling edge with nothing undecided and nothing to drive."""
        return self._cell == "idle" and not self.drive and not self.driving

    @property
    def expects_request(self) -> bool:
        """A short low pulse now would be a read request."""
        return self.phase == READ and self._nbits == 0

    @property
    def at_word_start(self) -> bool:
        return self._nbits == 0

    def fast_word(self, cmd: int, data: int, t0: int, bit_ps: int) -> None:
        """The outcome of ten back-to-back 0x80/0xFE characters from ``t0`` on a quiet line,
        exactly as the cell-by-cell path reaches it: the last cell (0xFE: 2 bit-times low)
        is decided when its high part outlasts its low part."""
        self._t_fall = t0 + 90 * bit_ps
        self._t_rise = self._t_fall + 2 * bit_ps
        self._cell = "idle"
        self._zero_at = None
        self._resync_at = self._t_rise + self.timing.resync_idle_ps
        self._on_word(cmd, data, self._t_rise + 2 * bit_ps + 1)

    def next_deadline(self) -> int | None:
        if not self.active or self.driving:
            return None
        times = [t for t in (self._zero_at, self._resync_at) if t is not None]
        return min(times) if times else None

    # -- line input --------------------------------------------------------------------------
    def on_edge(self, t: int, level: int) -> None:
        if not self.active or self.driving:
            return
        if level == LOW:
            if self._cell == "high":
                low = self._t_rise - self._t_fall
                high = t - self._t_rise
                self._cell = "idle"
                self._zero_at = None
                self._bit(1 if high <= low else 0, t)
            if self.drive or self.driving:  # the bit started an answer
                return
            self._cell, self._t_fall = "low", t
            self._resync_at = None
        elif self._cell == "low":
            self._cell, self._t_rise = "high", t
            self._zero_at = t + (t - self._t_fall) + 1
            self._resync_at = t + self.timing.resync_idle_ps

    def on_deadline(self, t: int) -> None:
        if self._zero_at is not None and t >= self._zero_at:
            self._zero_at = None
            self._cell = "idle"
            self._bit(0, t)
        if self._resync_at is not None and t >= self._resync_at:
            self._resync_at = None
            self._nbits = self._word = 0

    def on_release(self, t: int, line_level: int) -> None:
        """The answer is over; from now on the slave listens to the line again."""
        self.driving = False
        self._resync_at = t + self.timing.resync_idle_ps
        if line_level == LOW:
            self._cell, self._t_fall = "low", t
            self._resync_at = None

    # -- words and transactions --------------------------------------------------------------
    def _bit(self, bit: int, t: int) -> None:
        if bit == 0 and self.expects_request:
            self._answer(t)
            return
        self._word = (self._word << 1) | bit
        self._nbits += 1
        if self._nbits == 10:
            cmd, data = self._word >> 9, (self._word >> 1) & 0xFF
            self._nbits = self._word = 0
            self._on_word(cmd, data, t)

    def _on_word(self, cmd: int, data: int, t: int) -> None:
        if cmd:
            if data == START_DATA:
                self.phase, self.addr, self._addr_left = ADDR, 0, self.timing.addr_bytes
            else:  # END, or anything unexpected, closes the transaction
                self.phase = IDLE
            return
        if self.phase == ADDR:
            self.addr = (self.addr << 8) | data
            self._addr_left -= 1
            if self._addr_left == 0:
                self.phase = RW_ID
        elif self.phase == RW_ID:
            if (data & 0x7F) != self.bus.swire_slave_id():
                self.phase = IDLE
            else:
                self.phase = READ if data & 0x80 else WRITE
        elif self.phase == WRITE:
            self.bus.swire_write(self.addr, data, t)
            self._advance_addr()

    def _advance_addr(self) -> None:
        if not self.bus.swire_fifo_mode():
            self.addr = (self.addr + 1) & ((1 << (8 * self.timing.addr_bytes)) - 1)

    def _answer(self, t: int) -> None:
        """Drive 8 data cells MSB first and one short low end unit, in the chip's own unit."""
        value = self.bus.swire_read(self.addr, t)
        self.last_answer = value
        self._advance_addr()
        start = t + self.timing.answer_delay_ps
        self.drive.extend(answer_edges(value, self.bus.swire_unit_ps(), start))
        self.driving = True
        self._cell = "idle"
        self._zero_at = self._resync_at = None

    def fast_answer(self, t_fall: int, t_rise: int, t_zero: int, t_release: int) -> int:
        """The state a read request (a short low pulse from ``t_fall`` to ``t_rise``) and
        the whole answer leave behind, without planning the answer's edges one by one."""
        value = self.bus.swire_read(self.addr, t_zero)
        self.last_answer = value
        self._advance_addr()
        self._t_fall, self._t_rise = t_fall, t_rise
        self._cell = "idle"
        self._zero_at = None
        self._resync_at = t_release + self.timing.resync_idle_ps
        return value

    def replan_answer(self, value: int, unit: int, start: int) -> None:
        """Hand an answer decided by ``fast_answer`` back to edge-by-edge driving."""
        self.drive.extend(answer_edges(value, unit, start))
        self.driving = True
        self._resync_at = None


def answer_edges(value: int, unit: int, start: int) -> list[tuple[int, int | None]]:
    """The line the chip drives for one read byte from ``start``: 8 cells MSB first (1 =
    4 units low, 1 high; 0 = 1 low, 4 high), one low end unit, then release (None)."""
    edges: list[tuple[int, int | None]] = []
    at = start
    for i in range(7, -1, -1):
        low = 4 * unit if (value >> i) & 1 else unit
        edges.append((at, LOW))
        edges.append((at + low, HIGH))
        at += 5 * unit
    edges.append((at, LOW))
    edges.append((at + unit, None))
    return edges
