"""The bench behind a pseudo-terminal, on real time, for programs that only know serial ports.

The door owns the pty master; a client opens the slave path like any serial port. Bench
time follows ``time.monotonic()`` since the door was made, plus an offset that only grows:

* bytes read from the master are written to the adapter at the current bench time, the
  bench is advanced to "now" and whatever the adapter lets the host read by then is
  written back to the master, so answers are paced by the bench (baud, USB packets,
  adapter latency) and not by this loop, give or take one poll tick (``tick_s``);
* the client's baud rate is read from the slave's terminal attributes (TCGETS2 on Linux,
  so BOTHER custom rates work too) whenever input arrives.

Assumptions (Linux pty semantics; a real adapter differs here and the door emulates it):

* **Backlog.** A writer on a pty is never held back by the line: ``write()`` and
  ``tcdrain()`` return at once, so a client streaming commands without reading would
  queue seconds of line time and see its echoes seconds late. A real adapter's driver
  blocks the writer instead. The door therefore never lets the adapter's TX backlog run
  more than ``max_backlog_s`` (default 2 ms) ahead of bench time: when it would, bench
  time jumps forward (the offset grows) rather than bytes being dropped. Bench time can
  thus run ahead of wall time, never behind it.
* **Open and close.** While nobody has the slave open, the master reports POLLHUP and
  reads give EIO; that is how an open is detected (polled every ``idle_poll_s``). What the
  bench sends while the port is closed is dropped, as a closed port's driver would.
* **A client that does not read.** Answers that do not fit into the client's input buffer
  (the pty holds a few tens of KB) are dropped, as a USB-serial driver drops what its full
  buffer cannot take; so a flush of the input buffer leaves nothing stale behind.
* **Raw line.** The slave is put in raw mode (through the master: termios calls on a pty
  master act on the slave) at the bench's baud rate, so a client that never configures the
  port still sees every byte unchanged.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import select
import struct
import sys
import termios
import time
from collections.abc import Callable

from .bench import Bench
from .wire import PS_PER_S

# struct termios2 (asm-generic): 4 flag words, c_line, c_cc[19], c_ispeed, c_ospeed.
_TERMIOS2_SIZE = 44
_TERMIOS2_SPEED_AT = 36
_TCGETS2 = (2 << 30) | (_TERMIOS2_SIZE << 16) | (ord("T") << 8) | 0x2A
_BOTHER = getattr(termios, "BOTHER", 0o010000)
_CBAUD = getattr(termios, "CBAUD", 0o010017)
_SPEEDS: dict[int, int] = {
    getattr(termios, name): int(name[1:]) for name in dir(termios) if re.fullmatch(r"B\d+", name)
}
_READ_CHUNK = 4096
_MAX_READ = 65536  # per round, so that output is not starved by a flood of input
_MAX_TAKE = 1 << 20


def read_baud(fd: int) -> int | None:
    """The baud rate the pty's client has set (None if it cannot be told or is B0)."""
    if sys.platform.startswith("linux"):
        buf = bytearray(_TERMIOS2_SIZE)
        try:
            fcntl.ioctl(fd, _TCGETS2, buf, True)
        except OSError:
            pass
        else:
            cflag = struct.unpack_from("=4I", buf)[2]
            if cflag & _CBAUD == _BOTHER:
                ospeed = struct.unpack_from("=2I", buf, _TERMIOS2_SPEED_AT)[1]
                return ospeed or None
    try:
        attrs = termios.tcgetattr(fd)
    except termios.error:
        return None
    return _SPEEDS.get(attrs[5]) or None


def make_raw(fd: int, baud: int) -> None:
    """cfmakeraw plus 8N1, CREAD, CLOCAL and ``baud`` (when it has a B constant)."""
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(fd)
    iflag &= ~(
        termios.IGNBRK
        | termios.BRKINT
        | termios.PARMRK
        | termios.ISTRIP
        | termios.INLCR
        | termios.IGNCR
        | termios.ICRNL
        | termios.IXON
        | termios.IXOFF
        | termios.IXANY
        | termios.INPCK
    )
    oflag &= ~termios.OPOST
    lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    cflag &= ~(termios.CSIZE | termios.PARENB | termios.CSTOPB | termios.CRTSCTS)
    cflag |= termios.CS8 | termios.CREAD | termios.CLOCAL
    cc = list(cc)
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    speed = getattr(termios, f"B{baud}", None)
    if speed is not None:
        ispeed = ospeed = speed
    termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, ispeed, ospeed, cc])


class PtyDoor:
    """Serves one bench on a fresh pty until ``serve``'s stop test says so."""

    def __init__(
        self,
        bench: Bench,
        *,
        power_on_after_s: float | None = None,
        max_backlog_s: float = 0.002,
        tick_s: float = 0.0005,
        idle_s: float = 0.05,
        idle_poll_s: float = 0.002,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``power_on_after_s``: power the chip up this long after the first client opens
        the port (the bench must have been made unpowered, ``power_on_at_s=None``)."""
        self.bench = bench
        self.power_on_after_s = power_on_after_s
        self.max_backlog_ps = round(max_backlog_s * PS_PER_S)
        self.tick_s = tick_s
        self.idle_s = idle_s
        self.idle_poll_s = idle_poll_s
        self._clock = clock
        master, slave = os.openpty()
        self.path = os.ttyname(slave)
        self.master = master
        make_raw(master, bench.config.baud)
        os.close(slave)  # only clients hold the slave, so that their open is visible
        os.set_blocking(master, False)
        self._poll = select.poll()
        self._poll.register(master, select.POLLIN)
        self._t0 = clock()
        self._offset_ps = 0
        self.baud = read_baud(master) or bench.config.baud
        if self.baud != bench.config.baud:
            bench.set_baud(self.baud, bench.now)
        self.client_open = False
        self.opens = 0  # how many times a client has opened the port
        self.backlog_jumps_ps = 0  # bench time added to hold the TX backlog down
        self.dropped = 0  # answer bytes lost because the client's input buffer was full
        self._power_at: int | None = None
        self._stop = False

    # -- time ------------------------------------------------------------------------------
    def now(self) -> int:
        """Bench time for this instant of wall time; never behind the bench itself."""
        wall = round((self._clock() - self._t0) * PS_PER_S)
        return max(self.bench.now, wall + self._offset_ps)

    def _advance(self, t: int) -> None:
        """Advance the bench, powering the chip on exactly when the door scheduled it.

        The door keeps the pending power-on itself rather than handing it to the bench
        early: a bench with a power-on pending cannot use its fast path."""
        if self._power_at is not None and self._power_at <= t:
            at, self._power_at = self._power_at, None
            self.bench.advance(at)
            self.bench.power_on(at)
        self.bench.advance(t)

    # -- the loop --------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Safe to call from a signal handler: the loop ends within one wait."""
        self._stop = True

    def serve(self, should_stop: Callable[[], bool] | None = None) -> None:
        """Move bytes between the client and the bench until stopped."""
        while not self._stop and not (should_stop is not None and should_stop()):
            self.run_once()
        self._advance(self.now())

    def run_once(self) -> None:
        """One round: wait for input or the bench, then move bytes both ways."""
        wait = self._wait_s(self.now())
        hung_up, readable = self._line_state()
        if hung_up and not readable:
            time.sleep(min(wait, self.idle_poll_s))
        elif not readable:
            select.select([self.master], [], [], wait)
        hung_up, readable = self._line_state()
        now = self.now()
        if not hung_up and not self.client_open:
            self._opened(now)
        data = self._read_input() if readable else b""
        if data:
            if not self.client_open and self.opens == 0:
                self._opened(now)  # opened, wrote and closed between two looks
            self._follow_baud(now)
            self._advance(now)
            self.bench.host_write(data, now)
            lead = self.bench.adapter.tx_end - now
            if lead > self.max_backlog_ps:
                jump = lead - self.max_backlog_ps
                self._offset_ps += jump
                self.backlog_jumps_ps += jump
                now += jump
        if hung_up and self.client_open:
            self._closed()
        self._advance(now)
        out = self.bench.adapter.take(now, _MAX_TAKE)
        if out and self.client_open:
            self._write_output(out)

    def _wait_s(self, now: int) -> float:
        """Until the bench next has something to do, within [tick_s, idle_s]."""
        times = [
            t
            for t in (self.bench.adapter.next_ready(), self.bench.next_event(), self._power_at)
            if t is not None
        ]
        if not times:
            return self.idle_s
        return min(max((min(times) - now) / PS_PER_S, self.tick_s), self.idle_s)

    def _line_state(self) -> tuple[bool, bool]:
        """(nobody has the slave open, input is waiting)."""
        flags = 0
        for _, ev in self._poll.poll(0):
            flags |= ev
        return bool(flags & select.POLLHUP), bool(flags & select.POLLIN)

    def _opened(self, now: int) -> None:
        self.client_open = True
        self.opens += 1
        self._follow_baud(now)
        if self.opens == 1 and self.power_on_after_s is not None:
            self._power_at = now + round(self.power_on_after_s * PS_PER_S)

    def _closed(self) -> None:
        self.client_open = False

    def _follow_baud(self, now: int) -> None:
        baud = read_baud(self.master)
        if baud is not None and baud != self.baud:
            self.baud = baud
            self._advance(now)
            try:
                self.bench.set_baud(baud, now)
            except ValueError as exc:
                # A real driver would refuse the rate; a pty cannot, so the line keeps
                # its old rate and the client hears garbage, as with a wrong baud rate.
                print(f"bench: {exc}; the line stays at the previous rate", file=sys.stderr)

    # -- bytes -----------------------------------------------------------------------------
    def _read_input(self) -> bytes:
        data = bytearray()
        while len(data) < _MAX_READ:
            try:
                chunk = os.read(self.master, _READ_CHUNK)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EIO:  # nobody has the slave open any more
                    break
                raise
            if not chunk:
                break
            data += chunk
        return bytes(data)

    def _write_output(self, data: bytes) -> None:
        """What does not fit into the client's full input buffer is lost, as with a real
        adapter whose host does not read (and a later flush must not bring it back)."""
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.master, view)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EIO:  # the client has just closed the port
                    break
                raise
            view = view[n:]
        self.dropped += len(view)

    def close(self) -> None:
        """Close the master: the client sees a hang-up."""
        if self.master >= 0:
            os.close(self.master)
            self.master = -1
