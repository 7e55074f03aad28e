"""The SWire link: bits as UART characters, words, write and read transactions, echo checks.

Every SWire bit cell is one UART character: 0x80 (8 bit-times low, 2 high) is a 1, 0xFE
(2 low, 8 high) is a 0; the chip tells them apart by proportion. A word is ten cells: the
command cell, eight data cells MSB first and a 0 end cell. TX and RX share the SWS line, so
everything sent comes back as an echo, which is how wiring faults are recognised.
"""

from __future__ import annotations

import logging
from enum import Enum

from .adapters import no_echo_hint
from .answers import Codebook, slot_tx
from .errors import (
    AnswerError,
    ChipNotAnswering,
    DistortedEcho,
    GarbledAnswer,
    NoAnswer,
    WiringError,
)
from .transport import Clock, Transport

__all__ = ["AnswerError", "GarbledAnswer", "NoAnswer"]  # raised here; defined in errors

log = logging.getLogger("swsflash.link")

ONE = 0x80
ZERO = 0xFE
WORD_CHARS = 10
# Safe pacing writes whole words that fit one USB packet, so that a gap between packets
# falls between words: 3 words fit the smallest packets (CH340: 32 bytes); the session
# measures whether 6 words (the proven tools' 60, for 64-byte packets) also work.
SAFE_CHUNK = 30
ANSWER_CHARS = 9  # a read byte comes back as 8 data cells and one end unit (fixed-mask decoder)
READ_REQUEST = bytes([ZERO])  # a short low pulse asks the chip for the next byte


def _no_answer() -> NoAnswer:
    return NoAnswer(
        "our read request was echoed and nothing followed",
        "the chip is asleep or its firmware holds the SWS pin: use --reset rts|dtr or "
        "--power-window MS, or 'swsflash recover'",
    )


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
        raise _no_answer()
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
        self.safe_chunk = SAFE_CHUNK
        # What the chip's answers look like, learned at connect time (chip.find_clock):
        # ``pipe`` for pipelined slots, ``lone`` for one request per round trip. None: not
        # known (lone reads then use the fixed-mask decoder).
        self.pipe: Codebook | None = None
        self.lone: Codebook | None = None
        self.use_pipeline = True
        self.pipe_chunked = False  # pipelined reads in safe chunks even when streaming
        # What one lone request costs on this adapter (latency included), as last measured.
        self.round_trip_s = 0.003
        self.stream_failures = 0

    # -- sending ---------------------------------------------------------------------------
    def send(self, frame: bytes) -> None:
        """Send characters and insist on their exact echo."""
        if self.pacing is Pacing.SAFE:
            for i in range(0, len(frame), self.safe_chunk):
                self._send_checked(frame[i : i + self.safe_chunk], sent_before=i)
        else:
            self._send_checked(frame, sent_before=0)

    def _send_checked(self, chunk: bytes, sent_before: int) -> None:
        echo = self.send_unchecked(chunk)
        if echo == chunk:
            return
        if not echo and sent_before == 0:
            raise WiringError(
                "no echo: nothing came back from the adapter's RX",
                no_echo_hint(self.transport.usb_id),
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
    @property
    def pipelined(self) -> bool:
        """Do reads stream their requests (a pipeline codebook is known and wanted)?"""
        return self.use_pipeline and self.pipe is not None

    @pipelined.setter
    def pipelined(self, on: bool) -> None:
        self.use_pipeline = on

    def read(
        self, addr: int, size: int, before: bytes = b"", after: bytes = b"", once: bytes = b""
    ) -> bytes:
        """Read ``size`` bytes; the chip increments the address unless FIFO mode is on.

        ``before`` and ``after`` are frames that set up and tidy up around the read (an SPI
        command, CS high): they travel in the same stream and are repeated when a pipelined
        read is retried, so a marginal divider costs time, never data. ``once`` goes
        first and is never repeated (the end of a page program).
        """
        if self.pipelined:
            try:
                return self.read_pipelined(addr, size, before, after, once)
            except GarbledAnswer as exc:
                log.info("pipelined read at %06x failed (%s); once more", addr, exc.message)
            # Once more in whole slots per chunk: a stream that ran dry inside a slot (a
            # gap between the request and its fillers) garbles it, chunks cannot. Twice
            # garbled: the chip may have reset or drifted. The session reconnects (halt,
            # divider, chip id) and learns the answers again only if it must.
            if self.pacing is Pacing.STREAM and not self.pipe_chunked:
                self.stream_failures += 1
                if self.stream_failures >= 2:
                    self.pipe_chunked = True
                    log.warning(
                        "streamed reads keep coming back garbled (gaps in the adapter's "
                        "stream?): reading in chunks of whole slots from now on"
                    )
            return self.read_pipelined(addr, size, before, after, chunked=True)
        elif once:
            self.send(once)
        return self.read_stepwise(addr, size, before, after)

    def read_pipelined(
        self,
        addr: int,
        size: int,
        before: bytes = b"",
        after: bytes = b"",
        once: bytes = b"",
        chunked: bool = False,
    ) -> bytes:
        """All requests streamed, one slot of the learned length each; the answers decoded
        strictly with the learned codebook. GarbledAnswer on anything else."""
        book = self.pipe
        assert book is not None and book.chars is not None
        t = self.transport
        slot = slot_tx(book.chars)
        head = once + before + read_header(addr)
        tail = END + after
        answer_time = t.echo_timeout(size * len(slot))
        try:
            if self.pacing is Pacing.STREAM and not (chunked or self.pipe_chunked):
                t.write(head + slot * size + tail)
                echo = t.read(len(head), timeout=t.echo_timeout(len(head)))
                if echo != head:
                    raise GarbledAnswer(f"read header echo: {_first_difference(head, echo)}")
                data, left = self.read_words(book, size, answer_time)
                self.check_tail(tail, left)
            else:
                self._send_paced(head)
                per = max(1, self.safe_chunk // len(slot))
                out = bytearray()
                for i in range(0, size, per):
                    n = min(per, size - i)
                    t.write(slot * n)
                    got, left = self.read_words(book, n, t.echo_timeout(n * len(slot)))
                    if left:
                        raise GarbledAnswer(f"{len(left)} characters after {i + n} answers")
                    out += got
                data = bytes(out)
                self._send_paced(tail)
        except (ChipNotAnswering, WiringError) as exc:
            t.drain_input()
            self.send(END + after)
            if isinstance(exc, GarbledAnswer):
                raise
            raise GarbledAnswer(f"pipelined read failed: {exc}") from exc
        if self.verbose:
            log.info("read %06x -> %s", addr, data.hex())
        return data

    def read_words(self, book: Codebook, count: int, timeout: float) -> tuple[bytes, bytes]:
        """``count`` answers decoded as their characters arrive, and what came after them.
        Only characters certain to come are waited for, so a read never sits out its
        timeout unless the chip has stopped answering."""
        t = self.transport
        deadline = t.clock.now() + timeout
        buf = bytearray()
        pos = 0
        out = bytearray()
        while len(out) < count:
            try:
                got = book.next_word(buf, pos)
            except GarbledAnswer:
                if book.chars is None and len(buf) <= 1:
                    raise _no_answer() from None
                raise
            if isinstance(got, tuple):
                out.append(got[0])
                pos += got[1]
                continue
            want = got + (count - len(out) - 1) * book.min_chars
            more = t.read(want, timeout=max(0.0, deadline - t.clock.now()))
            if not more:
                if book.chars is None and len(buf) <= 1:
                    raise _no_answer()
                raise GarbledAnswer(
                    f"the answer ended after {len(out)} of {count} bytes "
                    f"({bytes(buf[pos:]).hex(' ') or 'nothing'} pending)"
                )
            buf += more
        return bytes(out), bytes(buf[pos:])

    def lone_raw(self, quiet_chars: float = 3.0) -> bytes:
        """One lone request, and everything RX returns until the line has been quiet for
        a few character times: what the answers look like is being learned."""
        t = self.transport
        start = t.clock.now()
        t.write(READ_REQUEST)
        rx = t.read(1, timeout=self.answer_timeout)
        if len(rx) == 1:  # the first character's wait, then the answer's other eight
            self.round_trip_s = t.clock.now() - start + 8 * t.char_time
        quiet = max(quiet_chars * t.char_time, 0.0003)
        while rx:
            more = t.read(64, timeout=quiet)
            if not more:
                break
            rx += more
        return rx

    def slots_raw(self, addr: int, chars: int, expect: list[int]) -> bytes:
        """A pipelined read of ``len(expect)`` slots of ``chars`` characters, undecoded, in
        safe chunks (pacing is not known yet), for learning the codebook from a known
        pattern. ``expect`` is the fewest characters each slot can give (a prediction):
        those are waited for, anything more only until the line is quiet. Stops at the
        first shortfall: the prediction is wrong, so the read is of no use."""
        t = self.transport
        slot = slot_tx(chars)
        size = len(expect)
        quiet = max(3 * t.char_time, 0.0003)
        self.send(read_header(addr))
        per = max(1, self.safe_chunk // chars)
        rx = bytearray()
        try:
            for i in range(0, size, per):
                n = min(per, size - i)
                t.write(slot * n)
                want = sum(expect[i : i + n])
                got = t.read(want, timeout=t.echo_timeout(n * chars))
                rx += got
                while more := t.read(64, timeout=quiet):
                    rx += more
                if len(got) < want:
                    break
        finally:
            t.drain_input()
            self.send_unchecked(END)
            t.drain_input()
        return bytes(rx)

    def _send_paced(self, frame: bytes) -> None:
        """Send in safe chunks whatever the pacing (a chunked pipelined read)."""
        for i in range(0, len(frame), self.safe_chunk):
            self._send_checked(frame[i : i + self.safe_chunk], sent_before=i)

    def check_tail(self, tail: bytes, left: bytes = b"") -> None:
        """The echo of what follows the last answer. The receiver may still be framing the
        answer's end unit when the tail's first character starts, and then loses that one
        character (the chip, which sees the line itself, does not). Anything else wrong here
        is an answer that ran longer than its slot."""
        t = self.transport
        need = len(tail) - 1
        back = left
        if len(back) < need:
            back += t.read(need - len(back), timeout=t.echo_timeout(len(tail)))
        if back == tail[1:]:
            return
        if back[:need] == tail[:need]:
            if len(back) == need:
                back += t.read(1, timeout=0.05)
            if back == tail:
                return
        raise GarbledAnswer(f"read tail echo: {_first_difference(tail, back)}")

    def read_stepwise(self, addr: int, size: int, before: bytes = b"", after: bytes = b"") -> bytes:
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
        if self.lone is None:
            return decode_answer(t.read(ANSWER_CHARS, timeout=self.answer_timeout))
        data, left = self.read_words(self.lone, 1, self.answer_timeout)
        if left:
            raise GarbledAnswer(f"{left.hex(' ')} after a lone answer")
        return data[0]


def _first_difference(sent: bytes, got: bytes) -> str:
    for i, (a, b) in enumerate(zip(sent, got, strict=False)):
        if a != b:
            return f"first difference at character {i}: sent {a:02x}, got {b:02x}"
    return "echo cut short" if len(got) < len(sent) else "extra characters"
