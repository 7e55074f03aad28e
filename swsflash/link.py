"""The SWire link: bits as UART characters, words, write and read transactions, echo checks.

Every SWire bit cell is one UART character: 0x80 (8 bit-times low, 2 high) is a 1, 0xFE
(2 low, 8 high) is a 0; the chip tells them apart by proportion. A word is ten cells: the
command cell, eight data cells MSB first and a 0 end cell. TX and RX share the SWS line, so
everything sent comes back as an echo, which is how wiring faults are recognised.
"""

from __future__ import annotations

import logging
from enum import Enum

from .errors import AnswerError, ChipNotAnswering, DistortedEcho, NoAnswer, WiringError
from .transport import Clock, Transport

__all__ = ["AnswerError", "NoAnswer"]  # raised here; defined with the other errors

log = logging.getLogger("swsflash.link")

ONE = 0x80
ZERO = 0xFE
WORD_CHARS = 10
SAFE_CHUNK = 60  # six whole words: adapter gaps can then only fall between words
ANSWER_CHARS = 9  # a read byte comes back as 8 data cells and one end unit
READ_REQUEST = bytes([ZERO])  # a short low pulse asks the chip for the next byte
# Pipelined reads: after each request, nine filler characters that the chip's answer covers
# (it drives the line for about 91..100 bit-times when its divider is set for that), so the
# next request is the first thing the chip sees again: ten characters per byte, the floor.
PIPELINE_SLOT = READ_REQUEST + bytes([0xFF] * 9)


def encode_word(data: int, cmd: bool = False) -> bytes:
    bits = [cmd, *((data >> i) & 1 for i in range(7, -1, -1)), 0]
    return bytes(ONE if b else ZERO for b in bits)


START = encode_word(0x5A, cmd=True)
END = encode_word(0xFF, cmd=True)


def _address(addr: int) -> bytes:
    return b"".join(encode_word((addr >> s) & 0xFF) for s in (16, 8, 0))


def write_frame(addr: int, data: bytes) -> bytes:
    """START, 24-bit address, RW_ID 0x00 (write), the data words, END."""
    body = b"".join(encode_word(b) for b in data)
    return START + _address(addr) + encode_word(0x00) + body + END


def read_header(addr: int) -> bytes:
    """START, 24-bit address, RW_ID 0x80 (read); the requests and END follow."""
    return START + _address(addr) + encode_word(0x80)


def decode_answer(chars: bytes) -> int:
    """One read byte from its nine characters, strictly: every character must have the
    shape of a 1 or a 0 cell, so a poor divider shows as an error, not as wrong data."""
    if len(chars) <= 1:
        raise NoAnswer(
            "our read request was echoed and nothing followed",
            "the chip is asleep or its firmware holds the SWS pin: use --reset rts|dtr or "
            "--power-window MS, or 'swsflash recover'",
        )
    if len(chars) != ANSWER_CHARS:
        raise AnswerError(f"read answer has {len(chars)} characters instead of 9: {chars.hex()}")
    # The first character is the request's echo merged with the first data cell, or (in a
    # pipelined burst) the first cell alone; bit 5 falls in the cell either way.
    first = chars[0]
    if first & 0x60 == 0:
        value = 1
    elif first & 0xE0 == 0xE0:
        value = 0
    else:
        raise AnswerError(f"malformed first answer character {first:02x} in {chars.hex()}")
    for c in chars[1:8]:
        if c & 0x1F == 0:
            value = (value << 1) | 1
        elif c & 0xF0 == 0xF0:
            value <<= 1
        else:
            raise AnswerError(f"malformed answer character {c:02x} in {chars.hex()}")
    # The end unit is a short low; in a pipelined burst the next request may cut its tail.
    if chars[8] & 0x07 != 0x06:
        raise AnswerError(f"malformed end of answer {chars[8]:02x} in {chars.hex()}")
    return value


class Pacing(str, Enum):
    SAFE = "safe"  # 60 characters at a time, each echo awaited: works on gappy adapters
    STREAM = "stream"  # whole transactions back to back: needs an adapter without gaps


class SwireLink:
    def __init__(self, transport: Transport, pacing: Pacing = Pacing.SAFE) -> None:
        self.transport = transport
        self.pacing = pacing
        self.answer_timeout = 0.05
        self.verbose = False
        self.pipelined = False  # set once the divider is known to suit it

    # -- sending ---------------------------------------------------------------------------
    def send(self, frame: bytes) -> None:
        """Send characters and insist on their exact echo."""
        if self.pacing is Pacing.SAFE:
            for i in range(0, len(frame), SAFE_CHUNK):
                self._send_checked(frame[i : i + SAFE_CHUNK], sent_before=i)
        else:
            self._send_checked(frame, sent_before=0)

    def _send_checked(self, chunk: bytes, sent_before: int) -> None:
        echo = self.send_unchecked(chunk)
        if echo == chunk:
            return
        if not echo and sent_before == 0:
            raise WiringError(
                "no echo: nothing came back from the adapter's RX",
                "join adapter TX (through 1 kOhm) and RX to the SWS pad, connect GND; an "
                "adapter with an LED on RX cannot work (remove the LED or use another adapter)",
            )
        received = sent_before + len(echo)
        if len(echo) < len(chunk) and received % 64 == 0 and received > 0:
            raise WiringError(
                f"the adapter stopped after {received} characters of a continuous stream",
                "this adapter cannot stream: try --pacing safe, a lower --baud, or a CH340 "
                "or PL2303 adapter",
            )
        raise DistortedEcho(
            f"distorted echo: of {len(chunk)} characters sent, {len(echo)} came back and they "
            f"differ ({_first_difference(chunk, echo)})",
            "check the 1 kOhm resistor between TX and SWS and the GND wire; try a lower --baud",
        )

    def send_unchecked(self, frame: bytes, extra: int = 0, slack: float = 0.05) -> bytes:
        """Send characters and return what came back (the echo and up to ``extra`` more)
        without judging it: for probes, and for a reset whose END the chip may not see."""
        t = self.transport
        t.write(frame)
        n = len(frame) + extra
        return t.read(n, timeout=t.echo_timeout(n, slack))

    def send_blind(self, frame: bytes) -> None:
        """Send characters and do not wait for their echo (a halt stream across a boot)."""
        self.transport.write(frame)

    # -- the line and its clock --------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        return self.transport.clock

    @property
    def baud(self) -> int:
        return self.transport.baud

    @property
    def char_time(self) -> float:
        return self.transport.char_time

    def set_line(self, name: str, asserted: bool) -> None:
        """Drive the adapter's RTS or DTR (wired to the chip's RST pad)."""
        self.transport.set_line(name, asserted)

    def discard_input(self) -> None:
        self.transport.discard_input()

    def drain_input(self, quiet: float = 0.003, limit: float = 0.1) -> None:
        self.transport.drain_input(quiet, limit)

    def write(self, addr: int, data: bytes) -> None:
        if self.verbose:
            log.info("write %06x <- %s", addr, data.hex())
        self.send(write_frame(addr, data))

    def end(self) -> None:
        """An END word: closes whatever transaction the chip thinks is open."""
        self.send(END)

    # -- reading ---------------------------------------------------------------------------
    def read(
        self, addr: int, size: int, before: bytes = b"", after: bytes = b"", once: bytes = b""
    ) -> bytes:
        """Read ``size`` bytes; the chip increments the address unless FIFO mode is on.

        ``before`` and ``after`` are frames that set up and tidy up around the read (an SPI
        command, CS high): they travel in the same stream and are repeated when a pipelined
        read falls back to one request per round trip, so a marginal divider costs time,
        never data. ``once`` goes first and is never repeated (the end of a page program).
        """
        if self.pipelined:
            try:
                return self.read_pipelined(addr, size, before, after, once)
            except AnswerError as exc:
                log.info("pipelined read at %06x failed (%s); reading byte by byte", addr, exc)
        elif once:
            self.send(once)
        return self.read_stepwise(addr, size, before, after)

    def read_pipelined(
        self, addr: int, size: int, before: bytes = b"", after: bytes = b"", once: bytes = b""
    ) -> bytes:
        """All requests streamed, ten characters each; nine answer characters per byte."""
        t = self.transport
        head = once + before + read_header(addr)
        tail = END + after
        answer_time = t.echo_timeout(size * len(PIPELINE_SLOT))
        try:
            if self.pacing is Pacing.STREAM:
                t.write(head + PIPELINE_SLOT * size + tail)
                echo = t.read(len(head), timeout=t.echo_timeout(len(head)))
                if echo != head:
                    raise AnswerError(f"read header echo: {_first_difference(head, echo)}")
                answer = t.read(size * ANSWER_CHARS, timeout=answer_time)
            else:
                self.send(head)
                answer = b""
                for i in range(0, size, SAFE_CHUNK // len(PIPELINE_SLOT)):
                    n = min(SAFE_CHUNK // len(PIPELINE_SLOT), size - i)
                    t.write(PIPELINE_SLOT * n)
                    answer += t.read(n * ANSWER_CHARS, timeout=answer_time)
            if len(answer) != size * ANSWER_CHARS:
                raise AnswerError(f"pipelined read: {len(answer)} characters back")
            data = bytes(
                decode_answer(bytes(answer[i : i + ANSWER_CHARS]))
                for i in range(0, len(answer), ANSWER_CHARS)
            )
            if self.pacing is Pacing.STREAM:
                self._check_tail(tail)
            else:
                self.send(tail)
        except (ChipNotAnswering, WiringError) as exc:
            t.drain_input()
            self.send(END + after)
            raise AnswerError(f"pipelined read failed: {exc}") from exc
        if self.verbose:
            log.info("read %06x -> %s", addr, data.hex())
        return data

    def _check_tail(self, tail: bytes) -> None:
        """The echo of what follows the last answer. The receiver may still be framing the
        answer's end unit when the tail's first character starts, and then loses that one
        character (the chip, which sees the line itself, does not). Anything else wrong here
        is an answer that ran longer than its slot."""
        t = self.transport
        back = t.read(len(tail) - 1, timeout=t.echo_timeout(len(tail)))
        if back == tail[1:]:
            return
        if back == tail[:-1] and t.read(1, timeout=0.05) == tail[-1:]:
            return
        raise AnswerError(f"read tail echo: {_first_difference(tail, back)}")

    def read_stepwise(
        self, addr: int, size: int, before: bytes = b"", after: bytes = b""
    ) -> bytes:
        """One request per round trip: slow, but independent of the chip's answer length."""
        self.send(before + read_header(addr))
        out = bytearray()
        try:
            for _ in range(size):
                out.append(self._request())
        except ChipNotAnswering:
            self.transport.drain_input()
            self.send(END + after)
            raise
        self.send(END + after)
        if self.verbose:
            log.info("read %06x -> %s", addr, out.hex())
        return bytes(out)

    def _request(self) -> int:
        t = self.transport
        t.write(READ_REQUEST)
        return decode_answer(t.read(ANSWER_CHARS, timeout=self.answer_timeout))


def _first_difference(sent: bytes, got: bytes) -> str:
    for i, (a, b) in enumerate(zip(sent, got, strict=False)):
        if a != b:
            return f"first difference at character {i}: sent {a:02x}, got {b:02x}"
    return "echo cut short" if len(got) < len(sent) else "extra characters"
