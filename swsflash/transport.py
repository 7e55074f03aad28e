"""The serial port and the one clock every wait goes through.

A real port waits in real time; the bench's ``sim://`` port brings its own virtual clock,
so that the same code runs a two-minute job in seconds and can still report how long a
real adapter would have taken.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

import serial

from .errors import PortError

log = logging.getLogger("swsflash.trace")

# pyserial finds URL handlers by package name; naming it is all the host knows of the bench.
BENCH_URL_HANDLERS = "swsflash.bench.urlhandler"
if BENCH_URL_HANDLERS not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append(BENCH_URL_HANDLERS)


UNPLUGGED_HINT = (
    "is the adapter still plugged in? Plug it back in and run the same command again: "
    "what is already written and verified is recognised and skipped"
)


def _open_hint(url: str) -> str:
    if url.startswith("sim://"):
        return (
            "fix the sim:// URL: 'swsflash simulate --help' and docs/bench.md list its "
            "scenarios and options"
        )
    return (
        "check the port name with 'swsflash ports'; on Linux you may need to be in the "
        "'dialout' group"
    )


class Clock(Protocol):
    def now(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class RealClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


# A long stream goes out in bursts, never more than MAX_AHEAD characters ahead of the line,
# and whatever has come back is read while waiting between them: so neither the OS's
# transmit buffer nor its receive buffer (4 KB on Linux' n_tty and Windows' default) ever
# has to hold a whole 4 KB flash read (~41,000 characters each way).
MAX_AHEAD = 2048
BURST = 1000  # a multiple of a SWire word (10 characters): a late burst leaves a gap
# between words, never inside one


class Transport:
    """Bytes in and out of the adapter, with timeouts measured on the port's clock."""

    def __init__(self, port: Any, trace: bool = False) -> None:
        # Any pyserial port: URL handlers are SerialBase subclasses, not serial.Serial.
        self.port = port
        self.clock: Clock = getattr(port, "virtual_clock", None) or RealClock()
        self.trace = trace
        self._usb_id: tuple[int, int] | None
        self.max_ahead = MAX_AHEAD
        self._rx = bytearray()  # read from the port while a stream was being written
        self._line_busy_until = 0.0  # when what we wrote will have left TX, at line rate

    @classmethod
    def open(cls, url: str, baud: int, trace: bool = False) -> Transport:
        try:
            port = serial.serial_for_url(url, baudrate=baud, timeout=0.05, do_not_open=True)
            # Asserted RTS/DTR pull the adapter pins low; a wired RST would hold the chip.
            port.rts = False
            port.dtr = False
            port.open()
        except (serial.SerialException, ValueError, OSError) as exc:
            raise PortError(f"cannot open {url}: {exc}", _open_hint(url)) from exc
        return cls(port, trace)

    @property
    def baud(self) -> int:
        return int(self.port.baudrate)

    @property
    def char_time(self) -> float:
        """Seconds one UART character takes on the line."""
        return 10.0 / self.baud

    @property
    def usb_id(self) -> tuple[int, int] | None:
        """The adapter's USB VID:PID when the port is a real USB serial port."""
        if self.simulated:
            return None
        if not hasattr(self, "_usb_id"):
            from serial.tools import list_ports

            name = getattr(self.port, "port", None)
            found = [p for p in list_ports.comports() if p.device == name and p.vid is not None]
            self._usb_id = (found[0].vid, found[0].pid) if found else None
        return self._usb_id

    @property
    def simulated(self) -> bool:
        """Does this port run on the bench's virtual clock (its seconds are simulated)?"""
        return not isinstance(self.clock, RealClock)

    def echo_timeout(self, chars: int, slack: float = 0.05) -> float:
        """How long ``chars`` characters may take to come back: their line time with half
        as much again for adapter latency, plus ``slack`` for the USB round trip."""
        return chars * self.char_time * 1.5 + slack

    def write(self, data: bytes) -> None:
        """Send ``data`` in bursts that stay within ``max_ahead`` characters of the line,
        reading what comes back while waiting for room (see MAX_AHEAD)."""
        if self.trace:
            log.debug("TX %s", data.hex())
        for i in range(0, len(data), BURST):
            chunk = data[i : i + BURST]
            now = self.clock.now()
            ahead = max(0.0, self._line_busy_until - now)
            wait = ahead + len(chunk) * self.char_time - self.max_ahead * self.char_time
            if wait > 0:
                self._collect(wait)
                now = self.clock.now()
            try:
                self.port.write(chunk)
            except serial.SerialException as exc:
                raise PortError(f"write to the port failed: {exc}", UNPLUGGED_HINT) from exc
            self._line_busy_until = max(now, self._line_busy_until) + len(chunk) * self.char_time

    def _collect(self, seconds: float) -> None:
        """Read whatever arrives during ``seconds`` into our own buffer."""
        self._rx += self._read_port(1 << 16, seconds)

    def _read_port(self, size: int, timeout: float) -> bytes:
        try:
            self.port.timeout = timeout
            return bytes(self.port.read(size))
        except serial.SerialException as exc:
            raise PortError(f"read from the port failed: {exc}", UNPLUGGED_HINT) from exc

    def read(self, size: int, timeout: float) -> bytes:
        """Up to ``size`` bytes, waiting at most ``timeout`` seconds for all of them."""
        data = bytes(self._rx[:size])
        del self._rx[:size]
        if len(data) < size:
            data += self._read_port(size - len(data), timeout)
        if self.trace:
            log.debug("RX %s", data.hex())
        return data

    def read_available(self) -> bytes:
        """Whatever has arrived, without waiting: for reading an echo while streaming."""
        return self.read(4096, timeout=0)

    def discard_input(self) -> None:
        self._rx.clear()
        self.port.reset_input_buffer()

    def drain_input(self, quiet: float = 0.003, limit: float = 0.1) -> None:
        """Throw away input until the line has been silent for ``quiet`` seconds: after a
        malformed answer the rest of it may still be on its way."""
        deadline = self.clock.now() + limit
        while self.clock.now() < deadline:
            if not self.read(4096, timeout=quiet):
                break

    def set_line(self, name: str, asserted: bool) -> None:
        """Drive RTS or DTR (asserted = pin low), e.g. to hold the chip's RST pad."""
        try:
            if name == "rts":
                self.port.rts = asserted
            elif name == "dtr":
                self.port.dtr = asserted
        except (serial.SerialException, OSError) as exc:
            raise PortError(
                f"this port cannot drive {name.upper()}: {exc}",
                "use --power-window instead of --reset on ports without modem lines",
            ) from exc

    def close(self) -> None:
        self.port.close()
