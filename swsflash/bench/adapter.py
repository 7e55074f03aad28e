"""The USB-UART adapter: USB packets in both directions, latency, gaps in a continuous
stream, an LED on RX, random bit errors. It turns host writes into timed characters on TX
and received characters into bytes the host can read.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from .wire import PS_PER_S

US = PS_PER_S // 1_000_000


@dataclass(frozen=True)
class AdapterConfig:
    """One adapter's parameters; ``adapter_presets.py`` names the sets real adapters have.

    The defaults are CH340-like (the adapter most users report working)."""

    usb_packet: int = 32  # bytes per USB bulk packet (IN payload; OUT too unless out_packet)
    out_packet: int | None = None  # OUT packet size where it differs (gaps fall between them)
    out_latency_us: float = 125.0  # host write() to first character on TX
    in_latency_us: float = 1000.0  # an RX packet is sent this long after its first byte
    receiver: str = "wait-high"  # after a framing error: wait-high | restart (wire.py)
    sample_phase: float = 0.5  # where in each bit the receiver samples (fraction of a bit)
    baud_table: tuple[tuple[int, int], ...] = ()  # (highest request, rate served), ascending
    min_baud: int = 50
    max_baud: int = 3_000_000
    gap_us: float = 0.0  # idle line between OUT packets of a continuous stream
    max_write: int | None = None  # an adapter that cannot stream sends only this much
    wired: bool = True  # TX (through the resistor) and RX both reach SWS
    rx_led: bool = False  # an LED on RX loads the line: TX can no longer pull it low
    bit_error_rate: float = 0.0  # per bit, on both TX and RX
    seed: int = 1
    rx_buffer: int | None = None  # the host's receive buffer: what arrives beyond it is lost


def line_baud(config: AdapterConfig, requested: int) -> int:
    """The rate the adapter actually puts on the line for a requested baud rate.

    Raises ValueError for a rate the adapter (or its driver) refuses."""
    if not config.min_baud <= requested <= config.max_baud:
        raise ValueError(
            f"{requested} baud is outside this adapter's range {config.min_baud}..{config.max_baud}"
        )
    for highest, served in config.baud_table:
        if requested <= highest:
            return served
    return requested


@dataclass
class TxRun:
    """Characters that go out back to back, the first at ``start``."""

    start: int
    data: bytes
    pos: int = 0


class Adapter:
    def __init__(self, config: AdapterConfig, bit_ps: int) -> None:
        self.config = config
        self.tx: deque[TxRun] = deque()
        self._bit_ps = bit_ps
        self.tx_end = 0  # when the last queued character has left TX
        # One generator per direction: which received bits are garbled must not depend on
        # when the host happened to write (the fast path receives some characters earlier).
        self._rng_tx = random.Random(config.seed)
        self._rng_rx = random.Random(config.seed + 1)
        self._ready: deque[tuple[int, bytes]] = deque()  # (available from, bytes)
        self._in_latency = round(config.in_latency_us * US)
        self._open: bytearray = bytearray()
        self._open_since = 0

    @property
    def bit_ps(self) -> int:
        return self._bit_ps

    @bit_ps.setter
    def bit_ps(self, bit_ps: int) -> None:
        """A new baud rate: characters not yet started go out at the new rate, the next one
        when it was due at the old rate, idle gaps between queued runs kept as they were."""
        old_char = self.char_ps
        self._bit_ps = bit_ps
        shift = 0
        runs: deque[TxRun] = deque()
        for run in self.tx:
            start = run.start + run.pos * old_char + shift
            rest = run.data[run.pos :]
            runs.append(TxRun(start, rest))
            shift = start + len(rest) * self.char_ps - (run.start + len(run.data) * old_char)
        self.tx = runs
        if runs:
            self.tx_end = runs[-1].start + len(runs[-1].data) * self.char_ps

    @property
    def char_ps(self) -> int:
        return 10 * self.bit_ps

    # -- host to line ------------------------------------------------------------------------
    def host_write(self, data: bytes, t: int) -> None:
        cfg = self.config
        if cfg.max_write is not None:
            data = data[: cfg.max_write]
        if cfg.bit_error_rate:
            data = self._garble(data, self._rng_tx)
        start = max(t + round(cfg.out_latency_us * US), self.tx_end)
        gap = round(cfg.gap_us * US)
        packet = cfg.out_packet or cfg.usb_packet
        step = packet if gap else max(len(data), 1)
        for i in range(0, len(data), step):
            chunk = data[i : i + step]
            last = self.tx[-1] if self.tx else None
            if last is not None and last.start + len(last.data) * self.char_ps == start:
                last.data += chunk  # continuous with what is already queued
            else:
                self.tx.append(TxRun(start, bytes(chunk)))
            start += len(chunk) * self.char_ps
            self.tx_end = start
            start += gap

    def pending_tx(self, t: int) -> int:
        """Characters written by the host that have not yet left TX at ``t``."""
        return sum(len(r.data) - r.pos for r in self.tx if r.start + r.pos * self.char_ps >= t)

    def _garble(self, data: bytes, rng: random.Random) -> bytes:
        out = bytearray(data)
        p = self.config.bit_error_rate
        for i in range(len(out)):
            for bit in range(8):
                if rng.random() < p:
                    out[i] ^= 1 << bit
        return bytes(out)

    # -- line to host ------------------------------------------------------------------------
    def receive(self, first: int, spacing: int, data: bytes) -> None:
        """Characters from the receiver (the first at ``first``, then every ``spacing``)
        into USB packets: a packet goes to the host when full or ``in_latency`` after its
        first byte."""
        if self.config.bit_error_rate:
            data = self._garble(data, self._rng_rx)
        latency = self._in_latency
        size = self.config.usb_packet
        i, n = 0, len(data)
        while i < n:
            t = first + i * spacing
            if self._open and t >= self._open_since + latency:
                self._close(self._open_since + latency)
            if not self._open:
                self._open_since = t
            room = size - len(self._open)
            due = self._open_since + latency
            in_time = n - i if spacing == 0 else -(-(due - t) // spacing)
            k = min(n - i, room, in_time)
            self._open += data[i : i + k]
            i += k
            if len(self._open) == size:
                self._close(first + (i - 1) * spacing)

    def receive_at(self, t0: int, offsets: tuple[int, ...], data: bytes) -> None:
        """Characters at ``t0 + offsets[i]`` (in time order): the same packets as
        ``receive`` one by one, in one pass."""
        if self.config.bit_error_rate:
            data = self._garble(data, self._rng_rx)
        latency = self._in_latency
        size = self.config.usb_packet
        opened = self._open
        for off, value in zip(offsets, data, strict=True):
            t = t0 + off
            if opened and t >= self._open_since + latency:
                self._close(self._open_since + latency)
                opened = self._open
            if not opened:
                self._open_since = t
            opened.append(value)
            if len(opened) == size:
                self._close(t)
                opened = self._open

    def _close(self, t: int) -> None:
        self._ready.append((t, bytes(self._open)))
        self._open = bytearray()

    def settle(self, t: int) -> None:
        """Send the open packet if its latency has run out by ``t``."""
        due = self._open_since + self._in_latency
        if self._open and t >= due:
            self._close(due)

    def _overflow(self, t: int) -> None:
        """Drop what arrived while the host's receive buffer already held ``rx_buffer``."""
        limit = self.config.rx_buffer
        if limit is None:
            return
        held = 0
        kept: deque[tuple[int, bytes]] = deque()
        for at, chunk in self._ready:
            if at <= t:
                chunk = chunk[: max(0, limit - held)]
                held += len(chunk)
            if chunk:
                kept.append((at, chunk))
        self._ready = kept

    def take(self, t: int, limit: int) -> bytes:
        """Bytes the host can read at ``t`` (at most ``limit``)."""
        self.settle(t)
        self._overflow(t)
        out = bytearray()
        while self._ready and self._ready[0][0] <= t and len(out) < limit:
            at, chunk = self._ready.popleft()
            room = limit - len(out)
            out += chunk[:room]
            if len(chunk) > room:
                self._ready.appendleft((at, chunk[room:]))
        return bytes(out)

    def available(self, t: int) -> int:
        self.settle(t)
        self._overflow(t)
        return sum(len(c) for at, c in self._ready if at <= t)

    def next_ready(self) -> int | None:
        """When the next byte becomes readable, if any is on its way."""
        if self._ready:
            return self._ready[0][0]
        if self._open:
            return self._open_since + round(self.config.in_latency_us * US)
        return None

    def discard_input(self, t: int) -> None:
        self.settle(t)
        while self._ready and self._ready[0][0] <= t:
            self._ready.popleft()

    def discard_output(self, t: int) -> None:
        """pyserial's reset_output_buffer: what has not reached TX yet is dropped."""
        kept: deque[TxRun] = deque()
        for run in self.tx:
            sent = max(0, min(len(run.data), -(-(t - run.start) // self.char_ps)))
            if sent > run.pos:
                kept.append(TxRun(run.start, run.data[:sent], run.pos))
        self.tx = kept
        self.tx_end = max([r.start + len(r.data) * self.char_ps for r in kept], default=t)
