"""SWire over UART at the byte level, written for the tests from the reference (not from any
host code), and a small host that drives a ``Bench`` directly on its virtual time.

One SWire bit cell is one UART character: ``0x80`` = 1, ``0xFE`` = 0. A word is a cmd cell,
8 data cells MSB first and an end cell ``0xFE``. Write: START, A23..16, A15..8, A7..0,
RW_ID 0x00, data..., END. Read: START, address, RW_ID 0x80, then per byte one ``0xFE`` from
the host and 9 characters back, then END.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from swsflash.bench.bench import Bench
from swsflash.bench.wire import PS_PER_S

ONE = 0x80
ZERO = 0xFE
REQUEST = bytes([ZERO])

US = PS_PER_S // 1_000_000
MS = PS_PER_S // 1_000

VECTORS = Path(__file__).parents[2].parent / "shared/vectors/swire-frames.json"

SRAM = 0x840000
FCLK_DEFAULT = 24_500_000


def word(cmd: int, data: int) -> bytes:
    cells = [cmd, *((data >> i) & 1 for i in range(7, -1, -1)), 0]
    return bytes(ONE if c else ZERO for c in cells)


START = word(1, 0x5A)
END = word(1, 0xFF)


def _addr_words(addr: int) -> bytes:
    return b"".join(word(0, (addr >> s) & 0xFF) for s in (16, 8, 0))


def write_frame(addr: int, data: Iterable[int]) -> bytes:
    return START + _addr_words(addr) + word(0, 0x00) + b"".join(word(0, b) for b in data) + END


def read_head(addr: int) -> bytes:
    return START + _addr_words(addr) + word(0, 0x80)


def decode_answer(chars: bytes) -> int | None:
    """One read byte from its 9 characters. The first character is the request's echo
    merged with the first cell: that cell is a 1 when the line is still low at its bit 7
    (a 1 cell's 8 T low reaches it, a 0 cell's 2 T low is over by then for answer delays
    up to 2.5 T). The next seven are sampled at bit 4 (clear = 1); the 9th must look
    like 0xFE. None when the answer is not 9 such characters."""
    if len(chars) != 9 or chars[8] != ZERO:
        return None
    value = 0 if chars[0] & 0x80 else 1
    for c in chars[1:8]:
        value = (value << 1) | (0 if c & 0x10 else 1)
    return value


def proven_decode(chars: bytes) -> int | None:
    """The proven COM flasher's rule: bit 5 of the first character, bit 4 of the rest."""
    if len(chars) != 9 or chars[8] != ZERO:
        return None
    value = 0 if chars[0] & 0x20 else 1
    for c in chars[1:8]:
        value = (value << 1) | (0 if c & 0x10 else 1)
    return value


def divider_for(baud: int, fclk: float = FCLK_DEFAULT) -> int:
    return round(2 * fclk / baud)


# -- named streams: from the shared vectors, or computed here ---------------------------------

_COMPUTED: dict[str, Callable[[], bytes]] = {
    "start_word": lambda: START,
    "end_word": lambda: END,
    "halt_cpu": lambda: write_frame(0x0602, [0x05]),
    "run_cpu": lambda: write_frame(0x0602, [0x88]),
    "soft_reset": lambda: write_frame(0x006F, [0x20]),
    "watchdog_off": lambda: write_frame(0x0622, [0x00]),
    "set_div_52": lambda: write_frame(0x00B2, [52]),
    "fifo_on": lambda: write_frame(0x00B3, [0x80]),
    "fifo_off": lambda: write_frame(0x00B3, [0x00]),
    "spi_cs_low": lambda: write_frame(0x000D, [0x00]),
    "spi_cs_high": lambda: write_frame(0x000D, [0x01]),
    "spi_auto_read": lambda: write_frame(0x000D, [0x0A]),
    "flash_wren": lambda: write_frame(0x000C, [0x06]),
    "flash_read_cmd_0x1000": lambda: write_frame(0x000C, [0x03, 0x00, 0x10, 0x00, 0x00]),
    "sram_write_4": lambda: write_frame(SRAM, [0xDE, 0xAD, 0xBE, 0xEF]),
    "read_head_div": lambda: read_head(0x00B2),
    "read_head_chip_id": lambda: read_head(0x007E),
    "read_start_pulse": lambda: REQUEST,
}

COMPUTED_FRAMES: dict[str, bytes] = {name: make() for name, make in _COMPUTED.items()}


def vector_frames() -> dict[str, bytes]:
    cases = json.loads(VECTORS.read_text())["cases"]
    return {c["name"]: bytes.fromhex(c["uart_hex"]) for c in cases}


def frames(source: str) -> dict[str, bytes]:
    """Named host streams: ``vectors`` (the shared file, exactly) or ``computed`` (here)."""
    if source == "vectors":
        loaded = vector_frames()
        return {name: loaded.get(name, stream) for name, stream in COMPUTED_FRAMES.items()}
    return dict(COMPUTED_FRAMES)


# Parametrize tests over both sources; the vectors run only when ../shared is there.
SOURCES = [
    "computed",
    pytest.param(
        "vectors",
        marks=pytest.mark.skipif(not VECTORS.exists(), reason="no ../shared/vectors"),
    ),
]


# -- a host that talks to a Bench on virtual time ---------------------------------------------


class Host:
    """Writes at its own virtual time and waits (virtually) for what comes back."""

    STEP = 100 * US

    def __init__(self, bench: Bench, t: int | None = None) -> None:
        self.bench = bench
        self.t = bench.now if t is None else t

    def sleep(self, seconds: float) -> None:
        self.t += round(seconds * PS_PER_S)
        self.bench.advance(self.t)

    def write(self, data: bytes) -> None:
        """Queue ``data`` without waiting."""
        self.bench.host_write(data, self.t)

    def drain(self) -> None:
        """Wait until everything written has left TX."""
        self.t = max(self.t, self.bench.adapter.tx_end)
        self.bench.advance(self.t)

    def take(self) -> bytes:
        self.bench.advance(self.t)
        return self.bench.adapter.take(self.t, 1 << 30)

    def xfer(self, data: bytes, expect: int | None = None, timeout_s: float = 0.02) -> bytes:
        """Write ``data`` and collect what comes back: until ``expect`` bytes arrived, or,
        with ``expect=None``, everything that arrives within ``timeout_s``."""
        bench = self.bench
        bench.host_write(data, self.t)
        deadline = self.t + round(timeout_s * PS_PER_S)
        out = bytearray()
        while True:
            bench.advance(self.t)
            room = (1 << 30) if expect is None else expect - len(out)
            out += bench.adapter.take(self.t, room)
            if (expect is not None and len(out) >= expect) or self.t >= deadline:
                return bytes(out)
            ready = bench.adapter.next_ready()
            target = ready if ready is not None and ready > self.t else self.t + self.STEP
            self.t = min(target, deadline)

    def send(self, data: bytes) -> bytes:
        """A write whose echo is expected back in full; returns the echo."""
        return self.xfer(data, len(data))

    def read_raw(self, addr: int, n: int, head: bytes | None = None) -> list[bytes]:
        """The characters received for each of ``n`` read requests (echoes stripped)."""
        head = read_head(addr) if head is None else head
        self.xfer(head, len(head))
        answers = []
        for _ in range(n):
            answers.append(self.xfer(REQUEST, None, timeout_s=0.003))
        self.xfer(END, None, timeout_s=0.003)
        return answers

    def read(self, addr: int, n: int = 1, head: bytes | None = None) -> list[int | None]:
        return [decode_answer(a) for a in self.read_raw(addr, n, head)]

    def write_reg(self, addr: int, *data: int) -> bytes:
        return self.send(write_frame(addr, data))
