"""Planning a programming job: which sectors change, how, and which can be left alone.

Pure data, no I/O, so that every decision can be tested without a chip. Data is added as
(address, bytes) segments and checked as it arrives: inside the flash, not overlapping
other data, not over the MAC, calibration or hardware-version sectors unless forced (and
then kept as they were unless ``preserve`` is off). What is known of the flash's current
content then decides, sector by sector, whether it already holds the right bytes, must be
written, or cannot be told yet, and where one 64 KB block erase replaces sixteen sector
erases.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum

from .errors import ImageError, ProtectedDataError, UsageError
from .layout import BLOCK, KB, LARGEST_FLASH, PAGE, SECTOR, Region, protected_regions

BLANK = 0xFF


def check_fits(start: int, size: int, flash_size: int) -> None:
    """The one check that data (an image, a backup, a MAC) fits this flash."""
    if start < 0 or start + size > flash_size:
        raise ImageError(
            f"data at 0x{start:05x}-0x{start + size - 1:05x} reaches beyond the "
            f"{flash_size // KB} KB flash (0x00000-0x{flash_size - 1:05x}) this unit has",
            "is this firmware for a unit with a larger flash, or the wrong --address?",
        )


def check_fits_any(start: int, size: int) -> None:
    """Before connecting, when the unit's flash size is not known yet: data must fit the
    largest flash swsflash supports (the unit's own size is checked once connected)."""
    if start < 0 or start + size > LARGEST_FLASH:
        raise ImageError(
            f"data at 0x{start:05x}-0x{start + size - 1:05x} reaches beyond "
            f"{LARGEST_FLASH // KB // KB} MB, the largest flash swsflash supports (checked "
            "before connecting; the unit's own flash size is checked once connected)",
            "is this firmware for this device, and is --address right?",
        )


def check_range_any(start: int, size: int) -> None:
    """A command-line range, before connecting: inside the largest supported flash."""
    if start < 0 or size < 0 or start + size > LARGEST_FLASH:
        raise UsageError(
            f"range 0x{start:x}..0x{start + size:x} is beyond 1 MB, the largest flash "
            "swsflash supports (checked before connecting; the unit's own flash size is "
            "checked once connected)"
        )


def check_range(start: int, size: int, flash_size: int) -> None:
    """An address range given on the command line (read, erase) lies on this flash."""
    if start < 0 or size < 0 or start + size > flash_size:
        raise UsageError(
            f"range 0x{start:x}..0x{start + size:x} is outside the "
            f"{flash_size // KB} KB flash (0x0..0x{flash_size:x})"
        )


def refuse_protected(start: int, size: int, flash_size: int, force: bool) -> list[Region]:
    """The protected regions a job on ``start..`` would touch; refused unless forced."""
    hit = [r for r in protected_regions(flash_size) if r.overlaps(start, start + size)]
    if hit and not force:
        raise ProtectedDataError(
            f"0x{start:05x}..0x{start + size - 1:05x} overlaps " + ", ".join(str(r) for r in hit),
            "these sectors make the unit unique and cannot be recreated; back them up "
            "with 'swsflash read' first, and pass --force only if you really mean it",
        )
    return hit


class SectorState(str, Enum):
    SAME = "same"  # every byte the image sets is already there: the sector is left alone
    DIFFERS = "differs"  # at least one byte differs: erase and program
    UNKNOWN = "unknown"  # what is known agrees, but not every byte the image sets is known


@dataclass(frozen=True)
class Prior:
    """Some of a sector's current bytes: ``data`` from ``offset`` within the sector."""

    offset: int
    data: bytes

    @property
    def whole(self) -> bool:
        return self.offset == 0 and len(self.data) == SECTOR


@dataclass(frozen=True)
class SectorPlan:
    """One 4 KB sector of a job: what the image wants there and what is to be done."""

    address: int
    want: bytes  # SECTOR bytes: the image's where ``mask`` is 1, 0xFF elsewhere
    mask: bytes  # SECTOR bytes, 1 where the image sets the byte
    state: SectorState = SectorState.UNKNOWN
    block_erase: bool = False  # erased with its whole 64 KB block, not on its own
    prior: Prior | None = None  # what is known of the sector's current content

    @property
    def before(self) -> bytes | None:
        """The whole sector as it is, when known."""
        return self.prior.data if self.prior is not None and self.prior.whole else None

    @property
    def image_bytes(self) -> int:
        return self.mask.count(1)

    @property
    def full(self) -> bool:
        """Does the image set every byte of the sector?"""
        return self.image_bytes == SECTOR

    @property
    def probe_offset(self) -> int:
        """The first page the image sets: on a fresh write it almost always differs, so
        reading it tells most sectors apart for the price of one page."""
        first = self.mask.index(1)
        return first - first % PAGE

    @property
    def span(self) -> tuple[int, int]:
        """From the first to past the last byte the image sets (what a verify reads)."""
        return self.mask.index(1), SECTOR - self.mask[::-1].index(1)

    def missing(self) -> list[tuple[int, int]]:
        """Runs (start, end) of the sector whose current content is not known."""
        if self.prior is None:
            return [(0, SECTOR)]
        lo, hi = self.prior.offset, self.prior.offset + len(self.prior.data)
        return [(a, b) for a, b in ((0, lo), (hi, SECTOR)) if a < b]

    def completed(self, runs: list[bytes]) -> SectorPlan:
        """This sector once the ``missing()`` runs have been read (in that order)."""
        have = dict(zip(self.missing(), runs, strict=True))
        if self.prior is not None:
            have[(self.prior.offset, self.prior.offset + len(self.prior.data))] = self.prior.data
        whole = b"".join(have[k] for k in sorted(have))
        return self.settle(Prior(0, whole))

    def gaps(self) -> list[tuple[int, int]]:
        """Runs (start, end) of bytes the image leaves as they are."""
        runs: list[tuple[int, int]] = []
        i = 0
        while i < SECTOR:
            if self.mask[i]:
                i += 1
                continue
            j = i
            while j < SECTOR and not self.mask[j]:
                j += 1
            runs.append((i, j))
            i = j
        return runs

    def merged(self, outside: bytes) -> bytes:
        """The sector as it must be afterwards: the image's bytes, ``outside`` elsewhere."""
        if self.full:
            return self.want
        return bytes(w if m else o for w, m, o in zip(self.want, self.mask, outside, strict=True))

    def judge(self, prior: Prior | None) -> SectorState:
        """What ``prior`` tells of this sector."""
        if prior is None:
            return SectorState.UNKNOWN
        lo, hi = prior.offset, prior.offset + len(prior.data)
        mask, want = self.mask[lo:hi], self.want[lo:hi]
        if mask.count(1) == len(mask):
            agree = prior.data == want
        else:
            agree = all(h == w for h, w, m in zip(prior.data, want, mask, strict=True) if m)
        if not agree:
            return SectorState.DIFFERS
        if mask.count(1) == self.image_bytes:
            return SectorState.SAME  # every byte the image sets was among those known
        return SectorState.UNKNOWN

    def settle(self, prior: Prior) -> SectorPlan:
        """This sector once ``prior`` is known of its content (instead of what was)."""
        return replace(self, state=self.judge(prior), prior=prior)


@dataclass(frozen=True)
class Plan:
    sectors: tuple[SectorPlan, ...]
    kept: tuple[Region, ...]  # protected regions the data overlapped, left as they were
    bytes_total: int

    def blocks(self) -> list[int]:
        """The 64 KB blocks to erase whole."""
        return sorted({s.address - s.address % BLOCK for s in self.sectors if s.block_erase})

    def changing(self) -> list[int]:
        """Sectors that will (or may) be erased: the ones a backup must hold."""
        return [s.address for s in self.sectors if s.state is not SectorState.SAME]


class Planner:
    """Collects a job's data, checked as it comes, and turns it into a Plan."""

    def __init__(self, flash_size: int, *, force: bool = False, preserve: bool = True) -> None:
        self.flash_size = flash_size
        self.force = force
        self.preserve = preserve
        self.segments: list[tuple[int, bytes]] = []
        self.kept: list[Region] = []

    @property
    def bytes_total(self) -> int:
        return sum(len(d) for _, d in self.segments)

    def add(self, address: int, data: bytes) -> None:
        """Add data at ``address``; refused when it leaves the flash, overlaps data added
        before, or touches protected sectors without ``force``."""
        if not data:
            return
        check_fits(address, len(data), self.flash_size)
        end = address + len(data)
        for other, known in self.segments:
            if address < other + len(known) and other < end:
                raise ImageError(
                    f"data at 0x{address:05x}-0x{end - 1:05x} overlaps data at "
                    f"0x{other:05x}-0x{other + len(known) - 1:05x}",
                    "each flash byte can be given once: merge or split the segments",
                )
        hit = refuse_protected(address, len(data), self.flash_size, self.force)
        if self.preserve:
            self.kept += [r for r in hit if r not in self.kept]
        self.segments.append((address, bytes(data)))

    def sectors(self) -> list[SectorPlan]:
        """The touched sectors in address order, before anything is known of the flash."""
        keep = sorted(self.kept, key=lambda r: r.start)
        found: dict[int, tuple[bytearray, bytearray]] = {}
        for addr, data in self.segments:
            pos, end = addr, addr + len(data)
            while pos < end:
                sector = pos - pos % SECTOR
                stop = min(end, sector + SECTOR)
                if not any(r.overlaps(sector, sector + SECTOR) for r in keep):
                    want, mask = found.setdefault(
                        sector, (bytearray([BLANK]) * SECTOR, bytearray(SECTOR))
                    )
                    want[pos - sector : stop - sector] = data[pos - addr : stop - addr]
                    mask[pos - sector : stop - sector] = b"\x01" * (stop - pos)
                pos = stop
        return [SectorPlan(s, bytes(w), bytes(m)) for s, (w, m) in sorted(found.items())]

    def plan(self, known: Mapping[int, Prior] | None = None) -> Plan:
        """Judge every sector by what is ``known`` of it (sector address -> Prior), and
        erase whole blocks where the image covers a block and none of it is right yet."""
        known = known or {}
        judged = [s.settle(known[s.address]) if s.address in known else s for s in self.sectors()]
        differing_full = {s.address for s in judged if s.full and s.state is SectorState.DIFFERS}
        whole_blocks = {
            b
            for b in {a - a % BLOCK for a in differing_full}
            if all(b + i in differing_full for i in range(0, BLOCK, SECTOR))
        }
        sectors = tuple(
            replace(s, block_erase=s.address - s.address % BLOCK in whole_blocks) for s in judged
        )
        return Plan(sectors, tuple(self.kept), self.bytes_total)
