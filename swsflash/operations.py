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
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from .backup import BackupStore, new_info
from .chip import (
    KNOWN_IDS,
    REG_SWIRE_DIV,
    TLSR825X_ID,
    ClockInfo,
    SilentChip,
    Tlsr825x,
)
from .errors import (
    ChipNotAnswering,
    Interrupted,
    PortError,
    ProtectedDataError,
    UsageError,
    VerifyError,
    WiringError,
)
from .flash import BLOCK, PAGE, SECTOR, FlashId, SpiFlash
from .layout import (
    calibration_at,
    calibration_summary,
    format_mac,
    mac_address_at,
    parse_mac,
    protected_regions,
)
from .link import Pacing, SwireLink
from .transport import Transport

log = logging.getLogger("swsflash")

Progress = Callable[[int], None]
T = TypeVar("T")


class WrongChip(ChipNotAnswering):
    """The chip answers, but it is not one swsflash can program."""

    title = "not a TLSR825x"


def _no_progress(_: int) -> None:
    pass


@dataclass
class ConnectOptions:
    baud: int = 921_600
    pacing: str = "auto"  # auto | safe | stream
    trace: bool = False
    verbose: bool = False
    reset: str | None = None  # rts | dtr: the adapter line wired to the chip's RST pad
    power_window: float | None = None  # seconds of halt stream while power is applied
    on_wait: Callable[[float], None] | None = None  # told the seconds left in the window


@dataclass
class JobReport:
    """What a job did, for the one-line summary and for jig logs."""

    bytes_total: int = 0
    sectors_erased: int = 0
    pages_programmed: int = 0
    pages_skipped: int = 0
    bytes_verified: int = 0
    sectors_unchanged: int = 0
    retries: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)


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
        self.sector_attempts = 4
        self.retries = 0
        self.stop_requested = False  # set from a Ctrl-C handler: stop at a sector boundary
        self._erased: set[int] = set()
        self._mac_head: bytes | None = None  # the MAC sector's first bytes, once read

    # -- connecting --------------------------------------------------------------------------
    def attach(self) -> None:
        """Halt the CPU, find the SWire speed, check the chip, pick pacing, wake the flash."""
        self.transport.drain_input()  # whatever a previous session left on its way
        self.chip.resync()  # also the first echo check: wiring faults show up here
        self._halt()
        self.clock_info = self.chip.find_clock()
        self._check_chip_id()
        self._choose_pacing()
        self.flash.wake()
        self.flash_id = self.flash.identify()

    def _halt(self) -> None:
        opts = self.options
        if opts.reset or opts.power_window:
            window = opts.power_window if opts.power_window else 0.03
            self.chip.catch_at_boot(window, opts.reset, opts.on_wait)
        else:
            self.chip.halt()
        self.chip.watchdog_off()
        # An interrupted job may have left FIFO mode on (every read would then return the
        # same byte) and a flash command open: put both back to idle first.
        self.chip.spi_idle()

    def reconnect(self) -> None:
        """Get hold of the chip again after a reset, a glitch or a garbled transaction:
        halt, watchdog off, the divider we found, SPI master and FIFO mode back to idle."""
        assert self.clock_info is not None
        log.warning("re-establishing the connection to the chip")
        self.transport.drain_input()
        self.chip.resync()
        self._halt()
        self.chip.write(REG_SWIRE_DIV, bytes([self.clock_info.divider]))
        try:
            self._check_chip_id()
        except ChipNotAnswering:
            self.clock_info = self.chip.find_clock()
            self._check_chip_id()
        self.flash.wake()
        self.flash.unprotect()

    def _retry(self, what: str, action: Callable[[], T]) -> T:
        """Run one step of a job; on a line or chip fault reconnect and run it again."""
        for attempt in range(1, self.sector_attempts + 1):
            try:
                return action()
            except (ChipNotAnswering, WiringError, VerifyError) as exc:
                if attempt == self.sector_attempts:
                    raise
                self.retries += 1
                log.warning("%s failed (%s); retrying", what, exc.message)
                self._reconnect_with_retries()
        raise AssertionError("unreachable")

    def _reconnect_with_retries(self) -> None:
        """Reconnecting is itself line traffic: on a noisy line it may need a second go."""
        for attempt in range(1, self.sector_attempts + 1):
            try:
                self.reconnect()
                return
            except (ChipNotAnswering, WiringError) as exc:
                if attempt == self.sector_attempts:
                    raise
                log.warning("reconnecting failed (%s); trying again", exc.message)

    def _read_flash(self, addr: int, size: int) -> bytes:
        return self._retry(f"reading 0x{addr:05x}", partial(self.flash.read, addr, size))

    def _check_chip_id(self) -> None:
        chip_id = self.chip.chip_id()
        if chip_id != TLSR825X_ID:
            name = KNOWN_IDS.get(chip_id, "an unknown chip")
            raise WrongChip(
                f"chip id 0x{chip_id:04x} is {name}, not a TLSR825x",
                "swsflash supports the TLSR825x family (TLSR8250/8251/8253/8258)",
            )

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
        cal_at = calibration_at(self.flash_size)
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
            "mac_address": self.mac(),
            "mac_sector": f"0x{mac_at:05x}",
            "calibration_sector": f"0x{cal_at:05x}",
            "calibration": calibration_summary(self.flash.read(cal_at, 0x200)),
        }

    def mac(self) -> str | None:
        """The unit's BLE MAC address from its MAC sector (None when the sector is blank)."""
        if self._mac_head is None:
            self._mac_head = self._read_flash(mac_address_at(self.flash_size), 8)
        return format_mac(self._mac_head)

    def set_mac(self, text: str, backup: BackupStore | None) -> JobReport:
        """Change the MAC: only its six bytes in the sector change; the sector is backed up."""
        try:
            raw = parse_mac(text)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        at = mac_address_at(self.flash_size)
        report = self.write_segments(
            [(at, raw)], force=True, preserve=False, backup=backup
        )
        self._mac_head = None
        return report

    def read(self, start: int, size: int, progress: Progress = _no_progress) -> bytes:
        self._check_range(start, size)
        out = bytearray()
        step = 1024
        for addr in range(start, start + size, step):
            n = min(step, start + size - addr)
            out += self._read_flash(addr, n)
            progress(n)
        return bytes(out)

    def write_image(
        self,
        data: bytes,
        address: int = 0,
        *,
        verify: bool = True,
        force: bool = False,
        preserve: bool = True,
        backup: BackupStore | None = None,
        progress: Progress = _no_progress,
    ) -> JobReport:
        """Write one image; see write_segments."""
        return self.write_segments(
            [(address, data)],
            verify=verify,
            force=force,
            preserve=preserve,
            backup=backup,
            progress=progress,
        )

    def write_segments(
        self,
        segments: list[tuple[int, bytes]],
        *,
        verify: bool = True,
        force: bool = False,
        preserve: bool = True,
        backup: BackupStore | None = None,
        progress: Progress = _no_progress,
    ) -> JobReport:
        """Put the segments on the flash and leave every other byte as it was.

        Sector by sector: what is there is read (all of it when a backup is kept, else just
        enough to tell), sectors that already hold the right bytes are left alone, the others
        are erased, programmed (blank pages skipped) and read back at once, and rewritten
        if the read-back differs. Protected sectors (MAC, calibration, hardware version) are
        refused, or with ``force`` kept as they were unless ``preserve`` is False.
        """
        start_t = self.clock.now()
        retries_before = self.retries
        report = JobReport(bytes_total=sum(len(d) for _, d in segments))
        self.check_write(segments, force)
        plan = self._plan(segments, force and not preserve, report)
        if self.flash.unprotect():
            report.notes.append("cleared the flash's block protection")
        sectors = [sector for sector, _, _ in plan]
        old = self._backup(sectors, backup, report, "before-write") if backup else {}
        self._erased = self._erase_whole_blocks(plan, old, report)
        for n, (sector, want, mask) in enumerate(plan):
            if self.stop_requested:
                raise Interrupted(
                    f"stopped after {n} of {len(plan)} sectors; every sector before "
                    f"0x{sector:05x} is written and verified, the rest is as it was",
                    "run the same command again: sectors already right are skipped",
                )
            step = partial(self._put_sector, sector, want, mask, old.get(sector), verify, report)
            self._retry(f"sector 0x{sector:05x}", step)
            progress(sum(mask) * (2 if verify else 1))
        report.retries = self.retries - retries_before
        report.seconds = self.clock.now() - start_t
        return report

    def _put_sector(
        self,
        sector: int,
        want: bytearray,
        mask: bytearray,
        before: bytes | None,
        verify: bool,
        report: JobReport,
    ) -> None:
        if sector in self._erased:  # erased with its whole block: the image is all of it
            self._erased.discard(sector)  # a retry erases the sector again
            self._write_sector(sector, bytes(want), mask, verify, report, erase=False)
            return
        if before is None:
            before = self._read_for_compare(sector, want, mask)
        if before is not None and _matches(before, want, mask):
            report.sectors_unchanged += 1
            report.bytes_verified += sum(mask)
            return
        if before is not None:
            content = bytes(want[i] if mask[i] else before[i] for i in range(SECTOR))
        else:
            content = self._fill_outside(sector, want, mask)
        self._write_sector(sector, content, mask, verify, report)

    def _erase_whole_blocks(
        self,
        plan: list[tuple[int, bytearray, bytearray]],
        old: dict[int, bytes],
        report: JobReport,
    ) -> set[int]:
        """Sectors erased in 64 KB blocks: where the image covers a whole block and none of
        its sectors already holds the right bytes, one block erase costs a quarter of
        sixteen sector erases."""
        full = {s: (w, m) for s, w, m in plan if m.count(1) == SECTOR}
        erased: set[int] = set()
        for block in sorted({s - s % BLOCK for s in full}):
            sectors = range(block, block + BLOCK, SECTOR)
            if not all(s in full for s in sectors):
                continue
            if any(self._may_match(s, *full[s], old.get(s)) for s in sectors):
                continue
            self._retry(f"block 0x{block:05x}", partial(self.flash.erase_block, block))
            report.sectors_erased += len(sectors)
            erased.update(sectors)
        return erased

    def _may_match(
        self, sector: int, want: bytearray, mask: bytearray, before: bytes | None
    ) -> bool:
        if before is not None:
            return _matches(before, want, mask)
        page = self._read_flash(sector, PAGE)
        return _matches(page, want[:PAGE], mask[:PAGE])

    def check_write(self, segments: list[tuple[int, bytes]], force: bool) -> None:
        """Refuse, before anything happens, a write outside the flash or over the MAC,
        calibration or hardware-version sectors (unless forced)."""
        for addr, data in segments:
            self._check_range(addr, len(data))
            self._check_protected(addr, len(data), force)

    def _plan(
        self, segments: list[tuple[int, bytes]], into_protected: bool, report: JobReport
    ) -> list[tuple[int, bytearray, bytearray]]:
        """(sector address, wanted bytes, mask of bytes the image sets) per touched sector."""
        keep = [] if into_protected else protected_regions(self.flash_size)
        sectors: dict[int, tuple[bytearray, bytearray]] = {}
        for addr, data in segments:
            pos, end = addr, addr + len(data)
            while pos < end:
                sector = pos - pos % SECTOR
                stop = min(end, sector + SECTOR)
                if not any(r.overlaps(sector, sector + SECTOR) for r in keep):
                    want, mask = sectors.setdefault(
                        sector, (bytearray(SECTOR), bytearray(SECTOR))
                    )
                    want[pos - sector : stop - sector] = data[pos - addr : stop - addr]
                    mask[pos - sector : stop - sector] = b"\x01" * (stop - pos)
                pos = stop
        dropped = [str(r) for r in keep if any(
            r.overlaps(addr, addr + len(data)) for addr, data in segments)]
        if dropped:
            report.notes.append("kept as they were: " + ", ".join(dropped))
        return [(s, w, m) for s, (w, m) in sorted(sectors.items())]

    def _backup(
        self, sectors: list[int], store: BackupStore, report: JobReport, reason: str
    ) -> dict[int, bytes]:
        """Read every sector about to change into the backup store, in contiguous runs."""
        old: dict[int, bytes] = {}
        runs: list[list[int]] = []
        for sector in sectors:
            if runs and runs[-1][-1] + SECTOR == sector:
                runs[-1].append(sector)
            else:
                runs.append([sector])
        for run in runs:
            data = self._read_flash(run[0], len(run) * SECTOR)
            for i, sector in enumerate(run):
                old[sector] = data[i * SECTOR : (i + 1) * SECTOR]
            report.backups.append(self.save_backup(store, run[0], data, reason))
        return old

    def save_backup(self, store: BackupStore, start: int, data: bytes, reason: str) -> Path:
        assert self.flash_id is not None
        info = new_info(start, len(data), self.mac(), self.flash_id.jedec.hex(), reason)
        return store.save(info, data)

    def _read_for_compare(
        self, sector: int, want: bytearray, mask: bytearray
    ) -> bytes | None:
        """The sector's content if it may already be right; None once a difference shows.

        The first page the image sets is read first: on a fresh write it almost always
        differs, so telling costs one page read, not a whole sector.
        """
        first = mask.index(1) - mask.index(1) % PAGE
        page = self.flash.read(sector + first, PAGE)
        if not _matches(page, want[first : first + PAGE], mask[first : first + PAGE]):
            return None
        rest_before = self.flash.read(sector, first) if first else b""
        rest_after = self.flash.read(sector + first + PAGE, SECTOR - first - PAGE)
        return rest_before + page + rest_after

    def _fill_outside(self, sector: int, want: bytearray, mask: bytearray) -> bytes:
        """The sector as it must be after the write: image bytes, old bytes elsewhere."""
        content = bytearray(want)
        i = 0
        while i < SECTOR:
            if mask[i]:
                i += 1
                continue
            j = i
            while j < SECTOR and not mask[j]:
                j += 1
            content[i:j] = self.flash.read(sector + i, j - i)
            i = j
        return bytes(content)

    def _write_sector(
        self,
        sector: int,
        content: bytes,
        mask: bytearray,
        verify: bool,
        report: JobReport,
        erase: bool = True,
    ) -> None:
        """Erase, program (blank pages skipped) and read back one sector."""
        if erase:
            self.flash.erase_sector(sector)
            report.sectors_erased += 1
        for page in range(0, SECTOR, PAGE):
            chunk = content[page : page + PAGE]
            if chunk.count(0xFF) == PAGE:
                report.pages_skipped += 1
                continue
            self.flash.program_page(sector + page, chunk)
            report.pages_programmed += 1
        if not verify:
            return
        # the bytes the image sets, plus the kept bytes in between (one read is cheaper)
        lo, hi = mask.index(1), SECTOR - mask[::-1].index(1)
        back = self.flash.read(sector + lo, hi - lo)
        bad = sum(1 for a, b in zip(back, content[lo:hi], strict=True) if a != b)
        if bad:
            raise VerifyError(
                f"sector 0x{sector:05x}: {bad} byte(s) differ after writing",
                "the line is too noisy or the flash is worn: lower --baud, shorten the "
                "wires, check the 1 kOhm resistor; then run the same command again",
            )
        report.bytes_verified += sum(mask)

    def verify(self, data: bytes, address: int = 0, progress: Progress = _no_progress) -> None:
        self._check_range(address, len(data))
        back = self.read(address, len(data), progress)
        if back != data:
            bad = next(i for i, (a, b) in enumerate(zip(data, back, strict=True)) if a != b)
            count = sum(1 for a, b in zip(data, back, strict=True) if a != b)
            raise VerifyError(
                f"{count} byte(s) differ; first at 0x{address + bad:06x}: expected "
                f"0x{data[bad]:02x}, read 0x{back[bad]:02x}",
                "the flash does not hold this image; 'swsflash write' puts it there (if a "
                "write just failed, lower --baud or check the wiring)",
            )

    def erase(
        self,
        start: int,
        size: int,
        *,
        force: bool = False,
        preserve: bool = True,
        backup: BackupStore | None = None,
        progress: Progress = _no_progress,
    ) -> JobReport:
        if start % SECTOR or size % SECTOR or size <= 0:
            raise UsageError(
                f"erase works on whole 4 KB sectors: start 0x{start:x} and size 0x{size:x} "
                "must be multiples of 0x1000"
            )
        self._check_range(start, size)
        self._check_protected(start, size, force)
        start_t = self.clock.now()
        keep = [] if not preserve else protected_regions(self.flash_size)
        sectors = [
            s for s in range(start, start + size, SECTOR)
            if not any(r.overlaps(s, s + SECTOR) for r in keep)
        ]
        report = JobReport(bytes_total=size)
        if len(sectors) * SECTOR < size:
            report.notes.append("kept the MAC, calibration and hardware-version sectors")
        self.flash.unprotect()
        if backup is not None and sectors:
            self._backup(sectors, backup, report, "before-erase")
        for sector in sectors:
            self.flash.erase_sector(sector)
            report.sectors_erased += 1
            progress(SECTOR)
        report.seconds = self.clock.now() - start_t
        return report

    def erase_all(self, *, preserve: bool = True, backup: BackupStore | None = None) -> JobReport:
        """Chip erase. The protected sectors are read first and written back afterwards
        unless ``preserve`` is False; with a backup store the whole flash is saved first."""
        start_t = self.clock.now()
        report = JobReport(bytes_total=self.flash_size)
        self.flash.unprotect()
        if backup is not None:
            data = self.read(0, self.flash_size)
            report.backups.append(self.save_backup(backup, 0, data, "before-erase-all"))
        kept = [
            (r.start, self.flash.read(r.start, r.size))
            for r in (protected_regions(self.flash_size) if preserve else [])
        ]
        self.flash.erase_chip()
        report.sectors_erased = self.flash_size // SECTOR
        for addr, data in kept:
            if data.count(0xFF) != len(data):
                self.write_segments([(addr, data)], force=True, preserve=False)
        if kept:
            report.notes.append("wrote back the MAC, calibration and hardware-version sectors")
        report.seconds = self.clock.now() - start_t
        return report

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


def _matches(have: bytes, want: bytearray, mask: bytearray) -> bool:
    """Do the bytes the mask selects agree?"""
    if mask.count(1) == len(mask):
        return have == want
    return all(h == w for h, w, m in zip(have, want, mask, strict=True) if m)


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


@contextmanager
def recover_connect(
    port: str, options: ConnectOptions, window_s: float, say: Callable[[str], None]
) -> Iterator[Device]:
    """Get hold of a unit by every means there is: a plain connection, a reset through
    RTS or DTR (whichever may be wired to RST), then a power window for the user."""
    plain = replace(options, reset=None, power_window=None)
    attempts: list[tuple[str, ConnectOptions]] = [("plain connection", plain)]
    lines = [options.reset] if options.reset else ["rts", "dtr"]
    for line in lines:
        attempts.append((f"reset through {line.upper()}", replace(plain, reset=line)))
    attempts.append(("power window", replace(plain, power_window=window_s)))
    transport = open_transport(port, options)
    try:
        for n, (what, opts) in enumerate(attempts):
            if opts.power_window:
                say(
                    f"Now apply power to the unit (insert the battery, or connect 3.3 V): "
                    f"listening for {window_s:g} s. If it was powered already, remove the "
                    "power and apply it again."
                )
            else:
                say(f"Trying a {what}...")
            device = Device(transport, opts)
            try:
                device.attach()
            except PortError:
                if opts.reset is None or options.reset is not None:
                    raise
                say(f"(this port has no {opts.reset.upper()} line)")
                continue
            except SilentChip as exc:
                if n == len(attempts) - 1:
                    raise SilentChip(
                        f"no answer to a plain connection, a reset through "
                        f"{' or '.join(x.upper() for x in lines)}, nor during the "
                        f"{window_s:g} s power window ({exc.message})",
                        "remove the unit's power, start 'swsflash recover' again and apply "
                        "power while it listens; check that RX and TX (through 1 kOhm) both "
                        "reach the SWS pad; on a LYWSD03MMC the pad marked 'Reset' is not the "
                        "chip's reset pin, so only the power window works there",
                    ) from exc
                continue
            yield device
            return
    finally:
        transport.close()
