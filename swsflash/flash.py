"""The SPI flash behind the chip's SPI master: identify, unlock, erase, program, read.

Every erase and program is followed by polling the status register's WIP bit: erase times
differ by a factor of forty between the parts found in these sensors, and a command sent
while the flash is busy is silently ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

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

__all__ = ["BLOCK", "PAGE", "SECTOR"]  # the flash's geometry, defined with the flash map

log = logging.getLogger("swsflash.flash")

CMD_WRITE_STATUS = 0x01
CMD_PAGE_PROGRAM = 0x02
CMD_READ = 0x03
CMD_READ_STATUS = 0x05
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


def is_protected(status: int) -> bool:
    """Does this status register value protect any part of the array?"""
    return bool(status & STATUS_BP)

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
        if jedec in (b"\xff\xff\xff", b"\x00\x00\x00") or not 0x10 <= jedec[2] <= 0x18:
            raise FlashError(
                f"the flash does not identify (JEDEC id {jedec.hex(' ')})",
                "the flash may be asleep or the chip not halted: retry the command; if it "
                "persists, power-cycle the unit",
            )
        return fid

    def status(self, once: bytes = b"") -> int:
        """Status register: command and a dummy byte (which latches the status), then one
        read of 0x0C with auto-read off. Whether that read hands out the latch or clocks
        one more byte (the flash repeats its status), the answer is the status either way,
        so this does not depend on the unsettled detail of the SPI master."""
        before = self.chip.fifo_frame(True) + SPI_CS_LOW_FRAME
        before += spi_out_frame(bytes([CMD_READ_STATUS, 0x00]))
        return self.link.read(REG_SPI_DATA, 1, before, SPI_CS_HIGH_FRAME, once)[0]

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
        """Clear the block-protection bits (Zigbee firmware sets them). True if they were set."""
        st = self.status()
        if not is_protected(st):
            return False
        log.info("flash status 0x%02x: clearing block protection", st)
        self.link.send(WRITE_ENABLE + self._command(bytes([CMD_WRITE_STATUS, 0x00])))
        st = self.wait_ready(0.5, "writing the status register")
        if is_protected(st):
            raise FlashError(
                f"the flash keeps its write protection (status 0x{st:02x})",
                "the flash's WP pin may be held low; this unit cannot be written over SWS",
            )
        return True

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
        self._start(bytes([CMD_PAGE_PROGRAM, *addr.to_bytes(3, "big")]))
        # the data, CS high, and the first status poll travel in one stream
        finish = spi_out_frame(data) + SPI_CS_HIGH_FRAME
        first = self.status(once=finish)
        self.wait_ready(self.program_timeout, "a page program", first, interval=0.0)

    def _abandon(self, extra: bytes) -> None:
        """End a flash command whose bytes may have been garbled, as harmlessly as we can."""
        try:
            self.chip.resync()
            tail = spi_out_frame(extra) if extra else b""
            self.link.send(tail + SPI_CS_HIGH_FRAME)
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


WRITE_ENABLE = (
    SPI_CS_LOW_FRAME + spi_out_frame(bytes([CMD_WRITE_ENABLE])) + SPI_CS_HIGH_FRAME
)
