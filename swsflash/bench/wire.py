"""The SWS line itself: UART characters as line levels, and a UART receiver that samples them.

Times are integer picoseconds everywhere in the bench, so that two runs of the model (the
line-level one and the fast path) can be compared for exact equality.
"""

from __future__ import annotations

from dataclasses import dataclass

PS_PER_S = 1_000_000_000_000

HIGH = 1
LOW = 0


def bit_time_ps(baud: int) -> int:
    """One UART bit-time, rounded to the picosecond."""
    return round(PS_PER_S / baud)


def char_levels(char: int) -> list[int]:
    """The ten line levels of one 8N1 character: start, bits LSB first, stop."""
    return [LOW, *((char >> i) & 1 for i in range(8)), HIGH]


def char_edges(char: int, t0: int, bit_ps: int) -> list[tuple[int, int]]:
    """Level changes of one character sent at ``t0`` on an idle-high line (stop bit included)."""
    edges: list[tuple[int, int]] = []
    level = HIGH
    for i, bit in enumerate(char_levels(char)):
        if bit != level:
            edges.append((t0 + i * bit_ps, bit))
            level = bit
    return edges


@dataclass
class RxChar:
    """One character as the adapter's receiver delivered it."""

    time: int  # when the stop bit was sampled (the character exists from then on)
    value: int
    framing_error: bool


RECEIVERS = ("wait-high", "restart")


class UartReceiver:
    """A UART receiver: a falling edge starts a frame, each bit is sampled ``phase`` of the way
    into it (0.5 = the middle; 16x oversampling receivers sample at 7/16..9/16).

    A stop bit sampled low is a framing error; the character itself is delivered as sampled
    (pyserial on Linux turns input parity checking off, so the tty layer passes
    framing-error characters through unchanged). What comes next depends on ``kind``:

    * ``wait-high``: the receiver waits for the line to go high before it looks for the
      next start bit;
    * ``restart``: the low seen at the stop-bit sample is taken as the next start bit at
      once, so the next frame starts at that sample (field evidence §1: FT232, and the
      CP2102 of capture A, behave this way).
    """

    def __init__(self, bit_ps: int, kind: str = "wait-high", phase: float = 0.5) -> None:
        if kind not in RECEIVERS:
            raise ValueError(f"receiver must be one of {', '.join(RECEIVERS)}, not {kind!r}")
        if not 0.0 < phase < 1.0:
            raise ValueError(f"sample phase must be between 0 and 1, not {phase}")
        self.kind = kind
        self.phase = phase
        self._restart = kind == "restart"
        self.level = HIGH
        self._start: int | None = None  # start of the frame being sampled
        self._bit = 0  # index of the next sample: 0 = start check, 1..8 data, 9 stop
        self._value = 0
        self._wait_high = False
        self.received: list[RxChar] = []
        self.bit_ps = bit_ps

    @property
    def bit_ps(self) -> int:
        return self._bit_ps

    @bit_ps.setter
    def bit_ps(self, bit_ps: int) -> None:
        self._bit_ps = bit_ps
        self._phase_ps = round(bit_ps * self.phase)

    @property
    def phase_ps(self) -> int:
        """From the start of a bit to its sample."""
        return self._phase_ps

    @property
    def idle(self) -> bool:
        """No frame in progress and the line is high: nothing in flight."""
        return self._start is None and not self._wait_high and self.level == HIGH

    def next_sample(self) -> int | None:
        if self._start is None:
            return None
        return self._start + self._bit * self._bit_ps + self._phase_ps

    def on_edge(self, t: int, level: int) -> None:
        self.level = level
        if level == HIGH:
            self._wait_high = False
        elif self._start is None and not self._wait_high:
            self._start, self._bit, self._value = t, 0, 0

    def on_sample(self, t: int, level: int) -> None:
        if self._bit == 0:
            if level == HIGH:  # a glitch, not a start bit
                self._start = None
                return
        elif self._bit <= 8:
            self._value |= level << (self._bit - 1)
        else:
            self.received.append(RxChar(t, self._value, framing_error=level == LOW))
            self._start = None
            if level == LOW:
                if self._restart:
                    self._start, self._bit, self._value = t, 0, 0
                    return
                self._wait_high = True
            return
        self._bit += 1
