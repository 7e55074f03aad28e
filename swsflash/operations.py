"""What a user asks for — info, read, write, verify, erase, run — on a connected device.

This is also the Python API:

    import swsflash
    with swsflash.connect("/dev/ttyUSB0") as dev:
        report = dev.write_image(open("z03mmc.bin", "rb").read())
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .chip import KNOWN_IDS, TLSR825X_ID, ClockInfo, Tlsr825x
from .errors import ChipNotAnswering, ProtectedDataError, UsageError, VerifyError
from .flash import PAGE, SECTOR, FlashId, SpiFlash
from .layout import format_mac, mac_address_at, protected_regions
from .link import Pacing, SwireLink
from .transport import Transport

log = logging.getLogger("swsflash")

Progress = Callable[[int], None]


def _no_progress(_: int) -> None:
    pass


@dataclass
class ConnectOptions:
    baud: int = 921_600
    pacing: str = "auto"  # auto | safe | stream
    trace: bool = False
    verbose: bool = False


@dataclass
class JobReport:
    """What a job did, for the one-line summary and for jig logs."""

    bytes_total: int = 0
    sectors_erased: int = 0
    pages_programmed: int = 0
    pages_skipped: int = 0
    bytes_verified: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


class Device:
    """A halted TLSR825x with its flash identified, ready for jobs."""

    def __init__(self, transport: Transport, options: ConnectOptions) -> None:
        self.transport = transport
        self.clock = transport.clock
        self.link = SwireLink(transport)
        self.link.verbose = options.verbose
        self.chip = Tlsr825x(self.link)
        self.flash = SpiFlash(self.chip)
        self.options = options
        self.clock_info: ClockInfo | None = None
        self.flash_id: FlashId | None = None

    # -- connecting --------------------------------------------------------------------------
    def attach(self) -> None:
        """Halt the CPU, find the SWire speed, check the chip, pick pacing, wake the flash."""
        self.transport.discard_input()
        self.chip.resync()  # also the first echo check: wiring faults show up here
        self.chip.halt()
        self.clock_info = self.chip.find_clock()
        self.chip.watchdog_off()
        chip_id = self.chip.chip_id()
        if chip_id != TLSR825X_ID:
            name = KNOWN_IDS.get(chip_id, "an unknown chip")
            raise ChipNotAnswering(
                f"chip id 0x{chip_id:04x} is {name}, not a TLSR825x",
                "swsflash supports the TLSR825x family (TLSR8250/8251/8253/8258)",
            )
        self._choose_pacing()
        self.flash.wake()
        self.flash_id = self.flash.identify()

    def _choose_pacing(self) -> None:
        wanted = self.options.pacing
        if wanted == "auto":
            self.link.pacing = Pacing.STREAM if self.chip.can_stream() else Pacing.SAFE
            log.info("adapter pacing: %s", self.link.pacing.value)
        else:
            self.link.pacing = Pacing(wanted)

    @property
    def flash_size(self) -> int:
        assert self.flash_id is not None
        return self.flash_id.size

    # -- jobs --------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        assert self.clock_info is not None and self.flash_id is not None
        status = self.flash.status()
        mac_at = mac_address_at(self.flash_size)
        mac_raw = self.flash.read(mac_at, 8)
        return {
            "chip_id": f"0x{self.chip.chip_id():04x}",
            "chip": KNOWN_IDS.get(self.chip.chip_id(), "unknown"),
            "pc": f"0x{self.chip.pc():08x}",
            "swire_divider": self.clock_info.divider,
            "swire_divider_window": list(self.clock_info.window),
            "chip_clock_mhz": self.clock_info.fclk_mhz,
            "baud": self.transport.baud,
            "pacing": self.link.pacing.value,
            "flash_jedec_id": self.flash_id.jedec.hex(),
            "flash_maker": self.flash_id.maker,
            "flash_size": self.flash_size,
            "flash_status": f"0x{status:02x}",
            "flash_protected": bool(status & 0x1C),
            "mac_address": format_mac(mac_raw),
            "mac_sector": f"0x{mac_at:05x}",
        }

    def read(self, start: int, size: int, progress: Progress = _no_progress) -> bytes:
        self._check_range(start, size)
        out = bytearray()
        step = 1024
        for addr in range(start, start + size, step):
            n = min(step, start + size - addr)
            out += self.flash.read(addr, n)
            progress(n)
        return bytes(out)

    def write_image(
        self,
        data: bytes,
        address: int = 0,
        *,
        verify: bool = True,
        force: bool = False,
        progress: Progress = _no_progress,
    ) -> JobReport:
        """Erase the sectors the image touches, program it, and read every byte back.

        Bytes of a touched sector that lie outside the image are read first and written
        back, so only the image's own range changes.
        """
        self._check_range(address, len(data))
        self._check_protected(address, len(data), force)
        start_t = self.clock.now()
        report = JobReport(bytes_total=len(data))
        if self.flash.unprotect():
            report.notes.append("cleared the flash's block protection")
        end = address + len(data)
        first = address - address % SECTOR
        for sector in range(first, end, SECTOR):
            content = self._sector_content(sector, data, address)
            self.flash.erase_sector(sector)
            report.sectors_erased += 1
            for page in range(0, SECTOR, PAGE):
                chunk = content[page : page + PAGE]
                if chunk.count(0xFF) == PAGE:
                    report.pages_skipped += 1
                    continue
                self.flash.program_page(sector + page, chunk)
                report.pages_programmed += 1
            progress(min(end, sector + SECTOR) - max(address, sector))
        if verify:
            self.verify(data, address, progress=progress)
            report.bytes_verified = len(data)
        report.seconds = self.clock.now() - start_t
        return report

    def _sector_content(self, sector: int, data: bytes, address: int) -> bytes:
        lo = max(sector, address)
        hi = min(sector + SECTOR, address + len(data))
        content = bytearray(b"\xff" * SECTOR)
        if lo > sector:
            content[: lo - sector] = self.flash.read(sector, lo - sector)
        if hi < sector + SECTOR:
            content[hi - sector :] = self.flash.read(hi, sector + SECTOR - hi)
        content[lo - sector : hi - sector] = data[lo - address : hi - address]
        return bytes(content)

    def verify(self, data: bytes, address: int = 0, progress: Progress = _no_progress) -> None:
        self._check_range(address, len(data))
        back = self.read(address, len(data), progress)
        if back != data:
            bad = next(i for i, (a, b) in enumerate(zip(data, back, strict=True)) if a != b)
            count = sum(1 for a, b in zip(data, back, strict=True) if a != b)
            raise VerifyError(
                f"{count} byte(s) differ; first at 0x{address + bad:06x}: expected "
                f"0x{data[bad]:02x}, read 0x{back[bad]:02x}",
                "write the image again; if it keeps failing, lower --baud or check wiring",
            )

    def erase(
        self, start: int, size: int, *, force: bool = False, progress: Progress = _no_progress
    ) -> JobReport:
        if start % SECTOR or size % SECTOR or size <= 0:
            raise UsageError(
                f"erase works on whole 4 KB sectors: start 0x{start:x} and size 0x{size:x} "
                "must be multiples of 0x1000"
            )
        self._check_range(start, size)
        self._check_protected(start, size, force)
        start_t = self.clock.now()
        self.flash.unprotect()
        report = JobReport(bytes_total=size)
        for sector in range(start, start + size, SECTOR):
            self.flash.erase_sector(sector)
            report.sectors_erased += 1
            progress(SECTOR)
        report.seconds = self.clock.now() - start_t
        return report

    def erase_all(self) -> JobReport:
        """Chip erase: destroys MAC and calibration too; the CLI insists on --force."""
        start_t = self.clock.now()
        self.flash.unprotect()
        self.flash.erase_chip()
        return JobReport(
            bytes_total=self.flash_size,
            sectors_erased=self.flash_size // SECTOR,
            seconds=self.clock.now() - start_t,
        )

    def run(self) -> None:
        """Restart the chip into its firmware."""
        self.chip.reboot()

    # -- checks ------------------------------------------------------------------------------
    def _check_range(self, start: int, size: int) -> None:
        if start < 0 or size < 0 or start + size > self.flash_size:
            raise UsageError(
                f"range 0x{start:x}..0x{start + size:x} is outside the "
                f"{self.flash_size // 1024} KB flash"
            )

    def _check_protected(self, start: int, size: int, force: bool) -> None:
        hit = [r for r in protected_regions(self.flash_size) if r.overlaps(start, start + size)]
        if hit and not force:
            names = ", ".join(str(r) for r in hit)
            raise ProtectedDataError(
                f"0x{start:05x}..0x{start + size - 1:05x} overlaps {names}",
                "these sectors make the unit unique and cannot be recreated; back them up "
                "with 'swsflash read' first, and pass --force only if you really mean it",
            )


def open_transport(port: str, options: ConnectOptions) -> Transport:
    return Transport.open(port, options.baud, trace=options.trace)


@contextmanager
def connect(port: str, options: ConnectOptions | None = None) -> Iterator[Device]:
    """Open the port, get hold of the chip, and close the port again afterwards."""
    options = options or ConnectOptions()
    transport = open_transport(port, options)
    try:
        device = Device(transport, options)
        device.attach()
        yield device
    finally:
        transport.close()
