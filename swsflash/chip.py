"""The TLSR825x as reached over SWire: halting it, its registers, its clock, its SPI master."""

from __future__ import annotations

import logging
from collections.abc import Callable

from .answers import Fit
from .clock import REG_SWIRE_DIV, SCRATCH_SRAM, TLSR825X_ID, ClockFinder, ClockInfo
from .errors import ChipNotAnswering, WiringError
from .halt_stream import (
    HALT_FRAME,
    PROBE,
    PROBE_REQUEST_AT,
    PROBE_UNIT,
    EchoWatch,
    probe_answered,
)
from .link import END, SwireLink, write_frame
from .settings import POWER_OFF_DEFAULT_S

# Defined with the clock search, which needs them first; still the chip's to callers.
__all__ = ["REG_SWIRE_DIV", "TLSR825X_ID", "ClockInfo"]

log = logging.getLogger("swsflash.chip")

REG_SPI_DATA = 0x000C
REG_SPI_CTRL = 0x000D
REG_RESET = 0x006F
REG_CHIP_ID = 0x007E
REG_SWIRE_CTL = 0x00B3
REG_CPU = 0x0602
REG_WATCHDOG = 0x0622
REG_PC = 0x06BC

CPU_STOP = 0x05
RESET_MCU = 0x20
SPI_CS_LOW = 0x00
SPI_CS_HIGH = 0x01
SPI_AUTO_READ = 0x0A
FIFO_MODE = 0x80

KNOWN_IDS = {0x5562: "TLSR825x", 0x5325: "TLSR826x (not supported: 16-bit SWire addresses)"}

# The power window (see catch_at_boot).
PROBE_EVERY = 5  # every fifth halt of the stream carries a chip id request
ALIVE_MARGIN_S = 0.02  # stream on this long after the echo shows an answer
WINDOW_TAIL_S = 0.03  # the stream outlasts the window: power applied at its last moment

# The SPI master as frames, so that a whole flash command travels in one stream.
SPI_CS_LOW_FRAME = write_frame(REG_SPI_CTRL, bytes([SPI_CS_LOW]))
SPI_CS_HIGH_FRAME = write_frame(REG_SPI_CTRL, bytes([SPI_CS_HIGH]))
SPI_AUTO_READ_FRAME = write_frame(REG_SPI_CTRL, bytes([SPI_AUTO_READ]))
FIFO_ON_FRAME = write_frame(REG_SWIRE_CTL, bytes([FIFO_MODE]))
FIFO_OFF_FRAME = write_frame(REG_SWIRE_CTL, b"\x00")


def spi_out_frame(data: bytes) -> bytes:
    """Bytes clocked out to the flash (several need FIFO mode on)."""
    return write_frame(REG_SPI_DATA, data)


class Tlsr825x:
    def __init__(self, link: SwireLink) -> None:
        self.link = link
        self.clock: ClockInfo | None = None
        self.fifo: bool | None = None  # FIFO mode as we last set it; None: unknown
        self.fit: Fit | None = None  # what reads look like, learned by find_clock

    # -- getting hold of the CPU -------------------------------------------------------------
    def halt(self) -> None:
        self.link.send(HALT_FRAME)

    def catch_at_boot(
        self,
        window_s: float,
        reset_line: str | None = None,
        on_progress: Callable[[float], None] | None = None,
        *,
        power_line: str | None = None,
        off_s: float = POWER_OFF_DEFAULT_S,
    ) -> bool:
        """Stream halt commands across a reset or power-up, so one lands before the firmware
        takes the SWS pin (2-3 ms after boot); True when the chip was seen answering.

        The stream never pauses for a round trip: its echo is read as it arrives and
        matched by position (halt_stream.EchoWatch), so a chip that comes alive is noticed
        without a deaf moment, and nothing that happens to the echo during the window is a
        wiring fault. Once the chip answered, a little more stream, then END, one more halt
        and one probe on a quiet line: only an answer there ends the window early; a false
        alarm goes back to streaming. With ``power_line`` (an adapter pin feeding VCC) the
        unit is first switched off for ``off_s``; with ``reset_line`` it is held in reset
        and released 5 ms into the stream; with neither the user applies power.
        """
        t = self.link
        clock = t.clock
        if reset_line:
            t.set_line(reset_line, True)
        if power_line:
            self._power_off(power_line, off_s)
        start = clock.now()
        end = start + window_s + WINDOW_TAIL_S
        release_at = start + 0.005
        released = reset_line is None
        power_on = power_line
        while True:
            watch = EchoWatch()
            released = self._stream(
                watch, end, on_progress, reset_line, released, release_at, power_on
            )
            power_on = None
            if not released:
                t.set_line(reset_line or "rts", False)
                released = True
            self._settle(watch)
            if watch.alive:
                log.info("the chip answered a request inside the halt stream")
            elif watch.disturbed:
                log.info("the echo was disturbed %d times, no answer in it", watch.disturbed)
            t.send_unchecked(END + HALT_FRAME)
            if not watch.alive:
                return False
            if self._answers():
                return True
            log.info("no answer on a quiet line: a false alarm, streaming on")
            if clock.now() >= end:
                return False

    def _power_off(self, line: str, off_s: float) -> None:
        """Assert the line (pin low: the unit loses VCC) for ``off_s``, holding TX low
        meanwhile: a unit fed through TX and its resistor would stay half-powered."""
        t = self.link
        t.set_line(line, True)
        until = t.clock.now() + off_s
        n = max(1, round(off_s / t.char_time))
        t.send_blind(bytes(n))  # 0x00: nine of ten bit-times low; a live slave sees ENDs
        # the transport may already have waited for the line while sending: off means off_s
        t.clock.sleep(max(0.0, until - t.clock.now()))
        t.discard_input()

    def _stream(
        self,
        watch: EchoWatch,
        end: float,
        on_progress: Callable[[float], None] | None,
        reset_line: str | None,
        released: bool,
        release_at: float,
        power_on: str | None = None,
    ) -> bool:
        """Halts (every PROBE_EVERY-th with a chip id request) back to back until ``end``,
        or until a little after the echo shows an answer; returns whether RST is released.

        Each unit is followed by a short idle gap: a chip that wakes up in the middle of
        the stream restarts its word count on an idle line and takes the next halt whole."""
        t = self.link
        clock = t.clock
        gap = max(0.0002, 20 * t.char_time)
        t.discard_input()
        last_report = clock.now() - 1.0
        window_end = end - WINDOW_TAIL_S  # what the user is told is left
        n = 0
        while clock.now() < end:
            unit = PROBE_UNIT if n % PROBE_EVERY == 0 else HALT_FRAME
            t.send_blind(unit)
            watch.add(unit, PROBE_REQUEST_AT if unit is PROBE_UNIT else None)
            n += 1
            if power_on:
                t.set_line(power_on, False)  # the pin goes high: the unit gets its power
                power_on = None
            clock.sleep(len(unit) * t.char_time + gap)
            if not released and clock.now() >= release_at:
                t.set_line(reset_line or "rts", False)
                released = True
            alive = watch.alive
            watch.feed(t.transport.read_available())
            if watch.alive and not alive:
                # Whether a halt landed was decided in the chip's first milliseconds; a
                # little more stream covers a chip that answered just before it halted.
                end = min(end, clock.now() + ALIVE_MARGIN_S)
            if on_progress is not None and not watch.alive and clock.now() - last_report >= 0.05:
                last_report = clock.now()
                on_progress(max(0.0, window_end - clock.now()))
        return released

    def _settle(self, watch: EchoWatch) -> None:
        """Take in the rest of the stream's echo by count, so that what comes next on the
        line is ours alone; its last requests may still show an answer."""
        t = self.link
        t.clock.sleep(0.01)  # as the proven tool does before its END
        left = watch.outstanding
        if left:
            watch.feed(t.transport.read(left, timeout=t.transport.echo_timeout(left)))
        t.drain_input()

    def _answers(self) -> bool:
        """One chip id request on a quiet line: does the chip answer it at all (at whatever
        divider it has)? Asked again when noise spoils the echo before the request."""
        t = self.link
        request_at = len(PROBE) - len(END) - 1
        for _ in range(3):
            back = t.send_unchecked(PROBE, extra=16, slack=0.05)
            t.drain_input()
            verdict = probe_answered(PROBE, back, request_at)
            if verdict is not None:
                return verdict
        return False

    def watchdog_off(self) -> None:
        """A halted CPU is reset by its watchdog a second or two later unless this is done."""
        self.link.write(REG_WATCHDOG, b"\x00")

    def resync(self) -> None:
        """END closes any half-received transaction; the chip then takes the next START."""
        self.link.end()

    def find_clock(self) -> ClockInfo:
        """Scan the SWire dividers and choose one (see clock.ClockFinder)."""
        return ClockFinder(self).find()

    # -- registers ---------------------------------------------------------------------------
    def chip_id(self) -> int:
        return int.from_bytes(self.read(REG_CHIP_ID, 2), "little")

    def pc(self) -> int:
        return int.from_bytes(self.read(REG_PC, 4), "little")

    def fifo_frame(self, on: bool) -> bytes:
        """The frame that sets FIFO mode as wanted, or nothing when it already is: flash
        commands keep it on from one page to the next, register accesses need it off."""
        if self.fifo is on:
            return b""
        self.fifo = on
        return FIFO_ON_FRAME if on else FIFO_OFF_FRAME

    def read(self, addr: int, size: int, attempts: int = 3) -> bytes:
        """A register read, retried after a resync when the answer is malformed."""
        for attempt in range(attempts):
            try:
                return self.link.read(addr, size, before=self.fifo_frame(False))
            except ChipNotAnswering as exc:
                if attempt == attempts - 1:
                    raise
                log.info("read %06x failed (%s); retrying", addr, exc.message)
                self.resync()
        raise AssertionError("unreachable")

    def write(self, addr: int, data: bytes) -> None:
        self.link.send(self.fifo_frame(False) + write_frame(addr, data))

    def reboot(self) -> None:
        """Soft reset: the CPU starts the firmware in flash. No echo check: the chip resets
        while the END word is still on the line."""
        self.link.send_unchecked(write_frame(REG_RESET, bytes([RESET_MCU])))

    # -- SPI master --------------------------------------------------------------------------
    def spi_idle(self) -> None:
        """CS high and FIFO mode off: whatever an interrupted job left open is closed."""
        self.fifo = None
        self.link.send(SPI_CS_HIGH_FRAME + FIFO_OFF_FRAME)
        self.fifo = False

    # -- adapter check -----------------------------------------------------------------------
    def can_stream(self) -> bool:
        """Write a long run of 1 cells to SRAM in one go and read it back: an adapter that
        leaves gaps between USB packets stretches some of them into 0 cells."""
        pattern = bytes([0xFF] * 48 + [0x00] * 16)
        frame = self.fifo_frame(False) + write_frame(SCRATCH_SRAM, pattern)
        if self.link.send_unchecked(frame) != frame:
            self.resync()
            return False
        try:
            return self.read(SCRATCH_SRAM, len(pattern)) == pattern
        except (ChipNotAnswering, WiringError):
            return False
