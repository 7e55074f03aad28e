"""The SPI flash behind the chip's SPI master: identify, unlock, erase, program, read.

Every erase and program is followed by polling the status register's WIP bit: erase times
differ by a factor of forty between the parts found in these sensors, and a command sent
while the flash is busy is silently ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .chip import REG_SPI_DATA, Tlsr825x
from .errors import ChipNotAnswering, FlashError, WiringError

log = logging.getLogger("swsflash.flash")

PAGE = 0x100
SECTOR = 0x1000
BLOCK = 0x10000

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
STATUS_BP = 0x1C | 0x20 | 0x40  # block-protect bits (BP0..BP4 on the larger parts)

READ_CHUNK = 256  # bytes per read burst; the address is re-sent for each

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
    def __init__(self, chip: Tlsr825x) -> None:
        self.chip = chip
        self.erase_timeout = 2.0  # seconds; the slowest 4 KB sector erase is 0.5 s
        self.chip_erase_timeout = 30.0
        self.program_timeout = 0.1

    # -- identity and state ------------------------------------------------------------------
    def wake(self) -> None:
        """Release from deep power-down: a sleeping flash ignores every other command."""
        self.chip.spi_command(bytes([CMD_RELEASE_POWER_DOWN]))

    def identify(self) -> FlashId:
        jedec = self.chip.spi_transfer_read(bytes([CMD_JEDEC_ID, 0x00]), 3)
        fid = FlashId(jedec)
        if jedec in (b"\xff\xff\xff", b"\x00\x00\x00") or not 0x10 <= jedec[2] <= 0x18:
            raise FlashError(
                f"the flash does not identify (JEDEC id {jedec.hex(' ')})",
                "the flash may be asleep or the chip not halted: retry the command; if it "
                "persists, power-cycle the unit",
            )
        return fid

    def status(self) -> int:
        """Status register, read the SDK's way (command, dummy, then the latched byte), which
        gives the right answer under either reading of the SPI master's behaviour."""
        return self.chip.spi_transfer_read(bytes([CMD_READ_STATUS, 0x00]), 1)[0]

    def wait_ready(self, timeout: float, what: str) -> int:
        clock = self.chip.link.transport.clock
        deadline = clock.now() + timeout
        while True:
            st = self.status()
            if not st & STATUS_WIP:
                return st
            if clock.now() > deadline:
                raise FlashError(
                    f"the flash stayed busy for more than {timeout:g} s after {what} "
                    f"(status 0x{st:02x})",
                    "power-cycle the unit and try again; the flash may be damaged",
                )
            clock.sleep(0.001)

    def write_enable(self) -> None:
        self.chip.spi_command(bytes([CMD_WRITE_ENABLE]))

    def unprotect(self) -> bool:
        """Clear the block-protection bits (Zigbee firmware sets them). True if they were set."""
        st = self.status()
        if not st & STATUS_BP:
            return False
        log.info("flash status 0x%02x: clearing block protection", st)
        self.write_enable()
        self.chip.spi_command(bytes([CMD_WRITE_STATUS, 0x00]))
        st = self.wait_ready(0.5, "writing the status register")
        if st & STATUS_BP:
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
        self.write_enable()
        self.chip.spi_command(bytes([CMD_CHIP_ERASE]))
        self.wait_ready(self.chip_erase_timeout, "a chip erase")

    def _erase(self, command: int, addr: int, timeout: float, what: str) -> None:
        self.write_enable()
        header = bytes([command, *addr.to_bytes(3, "big")])
        self.chip.spi_select()
        try:
            self.chip.spi_send(header)
        except WiringError:
            # The address may have been garbled on the line: one more byte makes the
            # command the wrong length, and a flash ignores an erase of the wrong length.
            self._abandon(extra=b"\x00")
            raise
        self.chip.spi_deselect()
        self.wait_ready(timeout, what)

    def program_page(self, addr: int, data: bytes) -> None:
        """Program one page. The command and address go in a transaction of their own, so
        that a garbled echo there abandons the command before any data is sent: a page
        program without data changes nothing, where a wrong address could hit another
        sector (even the MAC sector)."""
        if not data or (addr % PAGE) + len(data) > PAGE:
            raise ValueError("a page program must stay inside one 256-byte page")
        self.write_enable()
        header = bytes([CMD_PAGE_PROGRAM, *addr.to_bytes(3, "big")])
        self.chip.spi_select()
        self.chip.set_fifo(True)
        try:
            self.chip.link.write(REG_SPI_DATA, header)
        except WiringError:
            self._abandon()
            raise
        self.chip.link.write(REG_SPI_DATA, data)
        self.chip.set_fifo(False)
        self.chip.spi_deselect()
        self.wait_ready(self.program_timeout, "a page program")

    def _abandon(self, extra: bytes = b"") -> None:
        """End a flash command whose bytes may have been garbled, as harmlessly as we can."""
        try:
            self.chip.resync()
            if extra:
                self.chip.link.write(REG_SPI_DATA, extra)
            self.chip.spi_deselect()
        except (WiringError, ChipNotAnswering):
            pass  # the caller reconnects and starts the sector again

    # -- read --------------------------------------------------------------------------------
    def read(self, addr: int, size: int) -> bytes:
        out = bytearray()
        while len(out) < size:
            n = min(READ_CHUNK, size - len(out))
            command = bytes([CMD_READ, *(addr + len(out)).to_bytes(3, "big"), 0x00])
            out += self.chip.spi_transfer_read(command, n)
        return bytes(out)
