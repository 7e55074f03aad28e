"""The power window's halt stream, and how its echo tells that the chip has come alive.

The host streams halt commands without ever stopping for a round trip. Every few halts
it adds a read request for the chip id: an unpowered chip (or one whose firmware holds
the SWS pin) leaves the echo of the whole stream exactly as sent, while a live SWire slave
answers the request and changes the echo right there. The echo is matched to the stream
by position, so echo still in flight from earlier traffic (16 ms of it on an FT232) cannot
be taken for an answer, and a distorted stretch (noise, a chip powering up, a unit fed
through TX) only makes the matcher find its place again at the next request.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from bisect import bisect_left

from .link import END, READ_REQUEST, read_header, write_frame

REG_CHIP_ID = 0x007E
REG_CPU = 0x0602
CPU_STOP = 0x05

HALT_FRAME = write_frame(REG_CPU, bytes([CPU_STOP]))
PROBE_HEADER = read_header(REG_CHIP_ID)
PROBE = PROBE_HEADER + READ_REQUEST + END
# A halt, then the request: every unit of the stream halts, the probe units ask as well.
PROBE_UNIT = HALT_FRAME + PROBE
PROBE_REQUEST_AT = len(HALT_FRAME) + len(PROBE_HEADER)  # index of the request in the unit
# A live chip's answer starts inside the request character and may run over the END word.
ANSWER_SPAN = len(READ_REQUEST) + len(END)
# A live chip answers every request; noise hits one now and then. Two answered requests
# no further apart than this (in stream characters: a few probe units) make it alive.
CONFIRM_SPAN = 4 * len(PROBE_UNIT) + 16 * len(HALT_FRAME)


def probe_answered(sent: bytes, back: bytes, request_at: int) -> bool | None:
    """One probe sent on a quiet line: True when the chip answered its request, False for
    a clean echo, None when the echo before the request is already wrong (noise: ask again)."""
    if back[:request_at] != sent[:request_at]:
        return None
    return back[request_at:] != sent[request_at:]


class EchoWatch:
    """Follows the echo of a stream as it arrives and notes where the chip answered: two
    answered requests close together (one could be noise)."""

    def __init__(self) -> None:
        self.sent = bytearray()
        self.requests: list[int] = []  # stream index of each probe's request character
        self.received = 0  # characters of echo taken in so far
        self.alive_at: int | None = None  # stream index of the first confirmed answer
        self.answers: list[int] = []  # stream index of every request that looked answered
        self.disturbed = 0  # stretches where the echo differed without an answer in them
        self._offset = 0  # received index minus stream index, while in step
        self._in_step = True
        self._clean_from = 0  # stream index from which the echo has matched without a break
        self._search = bytearray()  # echo since we lost our place
        self._search_from = 0  # received index of _search[0]

    @property
    def alive(self) -> bool:
        return self.alive_at is not None

    @property
    def outstanding(self) -> int:
        """Characters of echo still to come, if none were lost or added on the way."""
        return max(0, len(self.sent) - self.received + self._offset)

    def add(self, chars: bytes, request_at: int | None = None) -> None:
        """Characters written to the port; ``request_at``: a probe's request among them."""
        if request_at is not None:
            self.requests.append(len(self.sent) + request_at)
        self.sent += chars

    def feed(self, data: bytes) -> None:
        """Echo that has arrived, in order."""
        i = 0
        while i < len(data):
            if not self._in_step:
                i = self._find_place(data, i)
                continue
            start = self.received - self._offset  # stream index of data[i]
            n = min(len(data) - i, len(self.sent) - start)
            if n <= 0:  # more echo than was sent: not ours to judge; find our place
                self._lose(data, i)
                return
            chunk = data[i : i + n]
            if chunk == self.sent[start : start + n]:
                self.received += n
                i += n
                continue
            k = next(j for j in range(n) if chunk[j] != self.sent[start + j])
            self.received += k
            i += k
            self._mismatch(start + k)
            if self.alive:
                self.received += len(data) - i
                return
            self._lose(data, i)
            return

    # -- internals ---------------------------------------------------------------------------
    def _mismatch(self, at: int) -> None:
        """The echo differs at stream index ``at``: an answer when that is a request (or
        just after it) whose whole probe header came back intact."""
        n = bisect_left(self.requests, at - ANSWER_SPAN + 1)
        if n < len(self.requests):
            req = self.requests[n]
            if req <= at < req + ANSWER_SPAN and self._clean_from <= req - len(PROBE_HEADER):
                if self.answers and req - self.answers[-1] <= CONFIRM_SPAN:
                    self.alive_at = self.answers[-1]
                self.answers.append(req)
                return
        self.disturbed += 1

    def _lose(self, data: bytes, i: int) -> None:
        self._in_step = False
        self._search = bytearray()
        self._search_from = self.received
        self._find_place(data, i)

    def _find_place(self, data: bytes, i: int) -> int:
        """Out of step: look for the next probe header in the echo and take up the stream
        from the probe nearest to where we expected it."""
        self._search += data[i:]
        self.received += len(data) - i
        k = self._search.find(PROBE_HEADER)
        if k < 0:
            keep = len(PROBE_HEADER) - 1
            if len(self._search) > keep:
                self._search_from += len(self._search) - keep
                del self._search[:-keep]
            return len(data)
        at = self._search_from + k  # received index of the header
        expected = at - self._offset
        heads = [r - len(PROBE_HEADER) for r in self.requests]
        if not heads:
            return len(data)
        n = bisect_left(heads, expected)
        near = [h for h in heads[max(0, n - 1) : n + 1]]
        head = min(near, key=lambda h: abs(h - expected))
        self._offset = at - head
        self._clean_from = head
        self._in_step = True
        rest = bytes(self._search[k:])
        self.received = at
        self._search = bytearray()
        self.feed(rest)
        return len(data)
