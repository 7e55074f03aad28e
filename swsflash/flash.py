"""The SPI flash behind the chip's SPI master: identify, unlock, erase, program, read.

Every erase and program is followed by a status read before the next command: erase times
differ by a factor of forty between the parts found in these sensors, and a command sent
while the flash is busy is silently ignored.

Why a streamed page program can never land on another address (MAC, calibration, or any
byte outside the page): a page program takes effect only at the CS rise after its data,
and neither the data nor that CS rise goes out before the echo of the command's opcode and
address has come back exact. While the echo is on its way the line carries END words (a
SWire no-op) that keep the adapter's USB packets full, so the echo arrives after one
packet, not after the adapter's latency timer (16 ms on an FT232). A header whose echo
differs is ended with one 0xFF data byte and CS high: as an erase that is the wrong length
(ignored); as a page program it programs nothing (0xFF clears no bit). The one residual
risk, a chip that hears the line differently from the adapter's RX, is the same as for the
slower one-command-per-round-trip way; the verify that follows every sector reads back
what was written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .answers import slot_tx
from .chip import (
    REG_SPI_DATA,
    SPI_AUTO_READ_FRAME,
    SPI_CS_HIGH_FRAME,
    SPI_CS_LOW_FRAME,
    Tlsr825x,
    spi_out_frame,
)
from .errors import ChipNotAnswering, FlashError, WiringError
from .layout import BLOCK, PAGE, SECTOR
from .link import END, Pacing, read_header

__all__ = ["BLOCK", "PAGE", "SECTOR"]  # the flash's geometry, defined with the flash map

log = logging.getLogger("swsflash.flash")

CMD_WRITE_STATUS = 0x01
CMD_PAGE_PROGRAM = 0x02
CMD_READ = 0x03
CMD_WRITE_DISABLE = 0x04
CMD_READ_STATUS = 0x05
CMD_READ_STATUS2 = 0x35
CMD_WRITE_ENABLE = 0x06
CMD_SECTOR_ERASE = 0x20
CMD_JEDEC_ID = 0x9F
CMD_RELEASE_POWER_DOWN = 0xAB
CMD_BLOCK_ERASE = 0xD8
CMD_CHIP_ERASE = 0x60

STATUS_WIP = 0x01
STATUS_WEL = 0x02
# Block-protect bits BP0..BP4 (BP3/BP4 exist on the larger parts): the one mask both the
# unlock and `info` use.
STATUS_BP = 0x1C | 0x20 | 0x40
# Status-2 (read 0x35) on parts that have one: CMP complements the protected range, so
# with CMP set "BP = 0" protects the whole array (field-evidence §4).
STATUS2_CMP = 0x40
STATUS2_KEEP = 0x03  # SRP1 and QE: written back as they were; LB (OTP) bits written as 0
# Parts known to have a second status byte with CMP, by JEDEC id (flash-map.md; Telink's
# flash_mid136085.h). Others are read and written by status-1 alone.
STATUS2_PARTS = {bytes.fromhex("856013"): "P25Q40L / P25D40SU"}


def is_protected(status: int, status2: int | None = None) -> bool:
    """Do these status register values protect any part of the array?"""
    return bool(status & STATUS_BP) or bool(status2 is not None and status2 & STATUS2_CMP)


READ_CHUNK = 4096  # bytes per read burst; the address is sent once per burst

MAKERS = {
    0x5E: "Zbit",
    0xC8: "GigaDevice",
    0x51: "GigaDevice (MD)",
    0x85: "Puya",
    0xEB: "TH",
    0xEF: "Winbond",
}


@dataclass(frozen=True)
class FlashId:
    jedec: bytes

    @property
    def size(self) -> int:
        return 1 << self.jedec[2]

    @property
    def maker(self) -> str:
        return MAKERS.get(self.jedec[0], f"unknown maker 0x{self.jedec[0]:02x}")

    def __str__(self) -> str:
        return f"{self.jedec.hex(' ')} ({self.maker}, {self.size // 1024} KB)"


class SpiFlash:
    """Flash commands as SWire frames: one stream per command where the protocol allows,
    so a page costs its line time plus a few round trips, not one round trip per register."""

    def __init__(self, chip: Tlsr825x) -> None:
        self.chip = chip
        self.link = chip.link
        self.erase_timeout = 2.0  # seconds; the slowest 4 KB sector erase is 0.5 s
        self.chip_erase_timeout = 30.0
        self.program_timeout = 0.1
        self.id: FlashId | None = None
        # The longest page program seen, the gap left before the next page's status read;
        # grows when that read still finds the flash busy (no source gives the time).
        self.page_time = 0.001
        self.gate_filler = 12  # END words after a streamed header: 120 characters fill a
        # 64-byte USB packet and cover the adapter's OUT latency

    def _command(self, data: bytes) -> bytes:
        """A complete one-shot command: CS low, the bytes, CS high."""
        fifo = self.chip.fifo_frame(True) if len(data) > 1 else b""
        return fifo + SPI_CS_LOW_FRAME + spi_out_frame(data) + SPI_CS_HIGH_FRAME

    def _transfer_read(self, command: bytes, size: int) -> bytes:
        """Send ``command`` (ending with a dummy byte), then clock in ``size`` bytes in
        auto-read mode: each read of 0x0C hands out the latched byte and clocks the next."""
        before = (
            self.chip.fifo_frame(True)
            + SPI_CS_LOW_FRAME
            + spi_out_frame(command)
            + SPI_AUTO_READ_FRAME
        )
        return self.link.read(REG_SPI_DATA, size, before, SPI_CS_HIGH_FRAME)

    # -- identity and state ------------------------------------------------------------------
    def wake(self) -> None:
        """Release from deep power-down: a sleeping flash ignores every other command."""
        self.link.send(self._command(bytes([CMD_RELEASE_POWER_DOWN])))

    def identify(self) -> FlashId:
        jedec = self._transfer_read(bytes([CMD_JEDEC_ID, 0x00]), 3)
        fid = FlashId(jedec)
        self.id = fid
        if jedec in (b"\xff\xff\xff", b"\x00\x00\x00") or not 0x10 <= jedec[2] <= 0x18:
            raise FlashError(
                f"the flash does not identify (JEDEC id {jedec.hex(' ')})",
                "the flash may be asleep or the chip not halted: retry the command; if it "
                "persists, power-cycle the unit",
            )
        return fid

    def status(self, once: bytes = b"", command: int = CMD_READ_STATUS) -> int:
        """Status register: command and a dummy byte (which latches the status), then one
        read of 0x0C with auto-read off. Whether that read hands out the latch or clocks
        one more byte (the flash repeats its status), the answer is the status either way,
        so this does not depend on the unsettled detail of the SPI master."""
        before = self.chip.fifo_frame(True) + SPI_CS_LOW_FRAME
        before += spi_out_frame(bytes([command, 0x00]))
        return self.link.read(REG_SPI_DATA, 1, before, SPI_CS_HIGH_FRAME, once)[0]

    @property
    def has_status2(self) -> bool:
        return self.id is not None and self.id.jedec in STATUS2_PARTS

    def status2(self) -> int | None:
        """The second status byte (0x35) on parts known to have one, else None."""
        return self.status(command=CMD_READ_STATUS2) if self.has_status2 else None

    def wait_ready(
        self, timeout: float, what: str, first: int | None = None, interval: float = 0.002
    ) -> int:
        """Poll WIP until the flash is done (``first``: a status already read). A page
        program is polled back to back: one poll takes about as long as the program."""
        clock = self.link.clock
        deadline = clock.now() + timeout
        while True:
            st = self.status() if first is None else first
            first = None
            if not st & STATUS_WIP:
                return st
            if clock.now() > deadline:
                raise FlashError(
                    f"the flash stayed busy for more than {timeout:g} s after {what} "
                    f"(status 0x{st:02x})",
                    "power-cycle the unit and try again; the flash may be damaged",
                )
            clock.sleep(interval)

    def unprotect(self) -> bool:
        """Clear what blocks programming (Zigbee firmware sets it): the BP bits, and CMP on
        parts with a second status byte, which then take a two-byte status write. The write
        is polled and both bytes read back. True if anything was set."""
        st, st2 = self.status(), self.status2()
        if not is_protected(st, st2):
            return False
        shown = _shown(st, st2)
        log.info("flash status %s: clearing write protection", shown)
        payload = [CMD_WRITE_STATUS, 0x00]
        if st2 is not None:
            payload.append(st2 & STATUS2_KEEP)
        self.link.send(WRITE_ENABLE + self._command(bytes(payload)))
        st = self.wait_ready(0.5, "writing the status register")
        st2 = self.status2()
        if is_protected(st, st2):
            raise FlashError(
                f"the flash's write protection could not be cleared (status {_shown(st, st2)}, "
                f"was {shown})",
                "power the unit off and on (a status-register lock lasts until power-down) "
                "and run the same command again; if it stays, the flash's WP pin is held "
                "low or its protection is locked for good: this unit cannot be written over SWS",
            )
        return True

    def check_unlocked(self) -> None:
        """After a read-back that differs: blame the flash's write protection if it is on
        (a locked flash ignores programs and erases silently), not the line."""
        st, st2 = self.status(), self.status2()
        if is_protected(st, st2):
            raise FlashError(
                f"the flash ignored the write: its write protection is on (status "
                f"{_shown(st, st2)})",
                "run the same command again (swsflash clears the protection first); if it "
                "stays, power the unit off and on, then try again",
            )

    # -- erase and program -------------------------------------------------------------------
    def erase_sector(self, addr: int) -> None:
        self._erase(CMD_SECTOR_ERASE, addr, self.erase_timeout, "a sector erase")

    def erase_block(self, addr: int) -> None:
        self._erase(CMD_BLOCK_ERASE, addr, self.erase_timeout * 4, "a block erase")

    def erase_chip(self) -> None:
        self.link.send(WRITE_ENABLE + self._command(bytes([CMD_CHIP_ERASE])))
        self.wait_ready(self.chip_erase_timeout, "a chip erase")

    def _start(self, header: bytes, extra_on_failure: bytes = b"") -> None:
        """Write enable, CS low and the command with its address, echo-checked before the
        command can take effect: a garbled address is abandoned, never acted on."""
        fifo = self.chip.fifo_frame(True)
        try:
            self.link.send(fifo + WRITE_ENABLE + SPI_CS_LOW_FRAME + spi_out_frame(header))
        except WiringError:
            self._abandon(extra_on_failure)
            raise

    def _erase(self, command: int, addr: int, timeout: float, what: str) -> None:
        # One more byte makes an erase the wrong length, and a flash ignores that.
        self._start(bytes([command, *addr.to_bytes(3, "big")]), extra_on_failure=b"\x00")
        self.link.send(SPI_CS_HIGH_FRAME)
        self.wait_ready(timeout, what)

    def program_page(self, addr: int, data: bytes) -> None:
        """Program one page; a page program that gets no data changes nothing."""
        if not data or (addr % PAGE) + len(data) > PAGE:
            raise ValueError("a page program must stay inside one 256-byte page")
        # 0xFF after a garbled header: an erase of the wrong length, or a program of nothing
        self._start(bytes([CMD_PAGE_PROGRAM, *addr.to_bytes(3, "big")]), b"\xff")
        # the data, CS high, and the first status poll travel in one stream
        finish = spi_out_frame(data) + SPI_CS_HIGH_FRAME
        first = self.status(once=finish)
        self.wait_ready(self.program_timeout, "a page program", first, interval=0.0)

    def program_pages(self, pages: list[tuple[int, bytes]]) -> None:
        """Program pages as one stream with no round trip per page (see the module doc).

        Each page's data goes out only after the echo of its header came back exact and
        after a status read, streamed between the previous page and this header, found the
        flash idle: a header sent while the flash was still busy is ignored by it (the
        write enable too), and is then ended without data and sent again. Without a
        pipelined, gap-free link, page by page with round trips."""
        if not (self.link.pacing is Pacing.STREAM and self.link.pipelined):
            for addr, data in pages:
                self.program_page(addr, data)
            return
        for addr, data in pages:
            if not data or (addr % PAGE) + len(data) > PAGE:
                raise ValueError("a page program must stay inside one 256-byte page")
        t = self.link.transport
        filler = END * self.gate_filler
        backlog = b""  # echo still owed: the filler after the last header
        i = 0
        opened = False  # page i's header is out and its echo checked
        while i < len(pages):
            addr, data = pages[i]
            header = _program_header(addr)
            if not opened:
                stream = self.chip.fifo_frame(True) + header
                t.write(stream + filler)
                if self._echo(backlog + stream) is not True:
                    self._fail_open("page program header")
                backlog, opened = filler, True
            finish = spi_out_frame(data) + SPI_CS_HIGH_FRAME
            last = i + 1 == len(pages)
            gap = END * self._gap_words()
            probe = SPI_CS_LOW_FRAME + spi_out_frame(bytes([CMD_READ_STATUS, 0x00]))
            probe += read_header(REG_SPI_DATA)
            after = END + SPI_CS_HIGH_FRAME
            if not last:
                after += _program_header(pages[i + 1][0])
            slot = slot_tx(self._book_chars())
            t.write(finish + gap + probe + slot + after + (b"" if last else filler))
            checked = self._echo(backlog + finish + gap + probe, answer=after)
            if checked is False:
                self._fail_open("page data")
            if last:
                if checked is None:
                    t.drain_input()
                    self.wait_ready(self.program_timeout, "a page program")
                return
            backlog = filler
            i += 1
            if checked is True:
                continue  # the flash was idle and the next header is right: its data next
            # busy, or an answer or header echo we cannot trust: end that header harmlessly,
            # wait for the flash, and open the next page again
            t.drain_input()
            self._abandon(b"\xff")
            backlog, opened = b"", False
            self.page_time = min(0.005, self.page_time * 1.5)
            self.wait_ready(self.program_timeout, "a page program")

    def _gap_words(self) -> int:
        """END words before the status read, so that it comes ``page_time`` after CS high
        (the read itself latches the status about 140 characters in)."""
        chars = self.page_time / self.link.char_time - 140
        return max(0, -(-int(chars) // 10))

    def _echo(self, expected: bytes, answer: bytes | None = None) -> bool | None:
        """Read and check the echo of ``expected``; with ``answer``, a status answer
        follows it and then the echo of ``answer``. True: all exact (and the flash idle);
        False: ``expected`` came back wrong; None: the status said busy or its answer
        or what follows could not be read."""
        t = self.link.transport
        got = t.read(len(expected), timeout=t.echo_timeout(len(expected)))
        if got != expected:
            return False
        if answer is None:
            return True
        book = self.link.pipe
        assert book is not None  # program_pages streams only on a pipelined link
        try:
            data, left = self.link.read_words(book, 1, t.echo_timeout(book.max_chars))
            self.link.check_tail(answer, left)
        except ChipNotAnswering:
            return None
        status = data[0]
        return None if status & STATUS_WIP else True

    def _book_chars(self) -> int:
        """Characters per pipelined read slot, as learned at connect time."""
        book = self.link.pipe
        assert book is not None and book.chars is not None
        return book.chars

    def _fail_open(self, what: str) -> None:
        """The echo of an open page program differs: end it harmlessly, the sector again."""
        self.link.transport.drain_input()
        self._abandon(b"\xff")
        raise WiringError(
            f"distorted echo in {what}",
            "check the 1 kOhm resistor between TX and SWS and the GND wire; try a lower --baud",
        )

    def _abandon(self, extra: bytes) -> None:
        """End a flash command whose bytes may have been garbled, as harmlessly as we can,
        and drop a write enable it may have left set."""
        try:
            self.chip.resync()
            tail = spi_out_frame(extra) if extra else b""
            self.link.send(tail + SPI_CS_HIGH_FRAME + WRITE_DISABLE)
        except (WiringError, ChipNotAnswering):
            pass  # the caller reconnects and starts the sector again

    # -- read --------------------------------------------------------------------------------
    def read(self, addr: int, size: int) -> bytes:
        out = bytearray()
        while len(out) < size:
            n = min(READ_CHUNK, size - len(out))
            command = bytes([CMD_READ, *(addr + len(out)).to_bytes(3, "big"), 0x00])
            out += self._transfer_read(command, n)
        return bytes(out)


WRITE_ENABLE = SPI_CS_LOW_FRAME + spi_out_frame(bytes([CMD_WRITE_ENABLE])) + SPI_CS_HIGH_FRAME
WRITE_DISABLE = SPI_CS_LOW_FRAME + spi_out_frame(bytes([CMD_WRITE_DISABLE])) + SPI_CS_HIGH_FRAME


def _program_header(addr: int) -> bytes:
    """Write enable, CS low, 0x02 and the address (FIFO mode on): a page program up to
    its data."""
    header = bytes([CMD_PAGE_PROGRAM, *addr.to_bytes(3, "big")])
    return WRITE_ENABLE + SPI_CS_LOW_FRAME + spi_out_frame(header)


def _shown(status: int, status2: int | None) -> str:
    return f"0x{status:02x}" + ("" if status2 is None else f", 0x{status2:02x}")
