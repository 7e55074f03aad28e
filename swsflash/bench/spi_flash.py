"""A SPI NOR flash at the level of byte exchanges with time, as found inside TLSR825x sensors.

The model is driven by three calls: ``select`` (CS falls), ``exchange`` (one byte clocked in
each direction) and ``deselect`` (CS rises). Times are integer picoseconds and must never go
backwards. Everything that changes the array or a register happens at ``deselect``, and only
if the command was complete, as on real parts.

Choices and assumptions (real parts differ in details; these are the common behaviour):

* Busy times are *typical* values derived from the sector-erase maxima in ``flash-map.md``:
  sector erase = max / 5 (500 ms -> 100 ms, 400 ms -> 80 ms, 12 ms -> 2.4 ms); 32 KB and
  64 KB block erase = 4 x sector erase; chip erase = sector erase x (size / 4 KB) / 8
  (1.6 s for a 512 KB part with a 500 ms maximum); page program 0.6 ms (a fifth of the
  3 ms typical maximum); status write 3 ms. All are ``FlashPart`` fields, and
  ``timing_scale`` multiplies them.
* Block protection follows the usual 4/8 Mbit "upper portion" table, the same for every
  part: bp = (status >> 2) & 7; bp = 0 protects nothing, otherwise the top
  ``min(size, 64 KB << (bp - 1))`` bytes are protected (512 KB: 1 -> 64 KB, 2 -> 128 KB,
  3 -> 256 KB, 4..7 -> all; 1 MB: ... 4 -> 512 KB, 5..7 -> all).
* SRP (status bit 7) is stored but has no effect: the WP# pin is taken as high.
* Parts with a second status byte (``FlashPart.status2``, e.g. P25Q40L, Telink's
  ``flash_mid136085.h``) follow the common SEC/TB/CMP scheme: status-1 bit 5 = TB (the
  protected portion is at the bottom), bit 6 = SEC (4/8/16/32 KB portions instead of
  64 KB multiples); status-2 (read 0x35) bit 6 = CMP complements the protected range, so
  with CMP set "BP = 0" protects the whole array. Status-2 is written as the second data
  byte of 0x01. What a one-byte 0x01 does to status-2 differs between parts and the
  sources do not say: ``one_byte_status_write`` keeps it ("keep", default) or clears its
  writable bits ("clear"). Status-2 bits: 0 SRP1, 1 QE, 6 CMP writable; 3..5 LB
  one-time programmable (set, never cleared); 2 and 7 (suspend) read 0. 0x31 (write
  status-2 alone) is not modelled: it is ignored.
* Commands that must end on a byte boundary right after their last byte (0x06, 0x04, 0xB9,
  0x60/0xC7, the erases, 0x01 with one or two data bytes) are ignored when CS rises after
  more or fewer bytes.
* WEL is cleared at ``deselect`` of every accepted program, erase or status write (also
  a protected program/erase, which otherwise does nothing). While such an operation is
  busy, status reads show WIP and WEL set, as real parts do until the operation ends.
* The array changes at ``deselect``; since every command except 0x05/0x35 is ignored
  while busy, nobody can see the difference from a change at the end of the busy time.
* Addresses above the array size wrap (upper address bits are ignored).
* The release from deep power-down (0xAB) takes effect at ``deselect`` with no tRES delay
  (about 8 us; any SWire access takes longer than that).
"""

from __future__ import annotations

from dataclasses import dataclass

PS_PER_S = 1_000_000_000_000

WIP = 0x01
WEL = 0x02
BP_MASK = 0x1C
TB = 0x20
SEC = 0x40
SRP = 0x80
_WRITABLE = BP_MASK | SRP
_WRITABLE_WITH_SR2 = BP_MASK | TB | SEC | SRP
CMP = 0x40  # status-2
SR2_WRITABLE = 0x43  # SRP1, QE, CMP
SR2_OTP = 0x38  # LB1..3: can be set, never cleared
ONE_BYTE_STATUS_WRITES = ("keep", "clear")

PAGE_SIZE = 256
SECTOR_SIZE = 0x1000
_PROTECT_UNIT = 0x10000  # the smallest protected portion (bp = 1)

_ERASE_SIZES = {0x20: SECTOR_SIZE, 0x52: 0x8000, 0xD8: 0x10000}
_ADDRESSED = frozenset({0x02, 0x03, 0x0B, *_ERASE_SIZES})
_ALLOWED_WHILE_BUSY = frozenset({0x05, 0x35})

TYPICAL_DIVISOR = 5  # typical busy time = datasheet maximum / TYPICAL_DIVISOR
PAGE_PROGRAM_S = 0.0006
STATUS_WRITE_S = 0.003

DEFAULT_UNIQUE_ID = bytes(range(0x30, 0x40))


@dataclass(frozen=True)
class FlashPart:
    """One flash part: what it answers to 0x9F, its size and how long it stays busy."""

    name: str
    jedec_id: bytes  # maker, type, capacity
    size: int  # bytes, 1 << jedec_id[2]
    sector_erase_s: float  # 4 KB erase
    block_erase_s: float  # 32 KB and 64 KB erase
    chip_erase_s: float
    page_program_s: float
    status_write_s: float
    status2: bool = False  # a second status byte with SEC/TB/CMP protection bits

    def __post_init__(self) -> None:
        if len(self.jedec_id) != 3 or self.size != 1 << self.jedec_id[2]:
            raise ValueError(f"{self.name}: size must be 1 << capacity byte of a 3-byte id")


def _part(name: str, jedec_hex: str, sector_erase_max_s: float, status2: bool = False) -> FlashPart:
    """A part whose busy times are derived from its sector-erase maximum (see module doc)."""
    jedec_id = bytes.fromhex(jedec_hex)
    size = 1 << jedec_id[2]
    sector = sector_erase_max_s / TYPICAL_DIVISOR
    return FlashPart(
        name=name,
        jedec_id=jedec_id,
        size=size,
        sector_erase_s=sector,
        block_erase_s=4 * sector,
        chip_erase_s=sector * (size // SECTOR_SIZE) / 8,
        page_program_s=PAGE_PROGRAM_S,
        status_write_s=STATUS_WRITE_S,
        status2=status2,
    )


PARTS: dict[str, FlashPart] = {
    p.name: p
    for p in (
        _part("ZB25WD40B", "5E3213", 0.500),
        _part("GD25LD40C", "C86013", 0.500),
        _part("MD25D40D", "514013", 0.400),
        _part("P25Q40L", "856013", 0.012, status2=True),
        _part("TH25D40LA", "EB6013", 0.012),
        _part("GD25LD80C", "C86014", 0.500),
        _part("ZB25WD80B", "5E3214", 0.500),
    )
}
DEFAULT_PART = "ZB25WD40B"


class SpiFlash:
    """The flash behind the chip's SPI master: one command per CS-low period."""

    def __init__(
        self,
        part: FlashPart,
        data: bytes | None = None,
        *,
        status: int = 0,
        status2: int = 0,
        deep_power_down: bool = False,
        unique_id: bytes = DEFAULT_UNIQUE_ID,
        timing_scale: float = 1.0,
        one_byte_status_write: str = "keep",
    ) -> None:
        """``data`` shorter than the part is padded with 0xFF (an erased array).

        ``status`` keeps only its writable bits (BP, SRP; TB, SEC on parts with a second
        status byte) and WEL; WIP starts clear. ``status2`` likewise (SRP1, QE, CMP, LB).
        """
        if len(unique_id) != 16:
            raise ValueError("unique id must be 16 bytes")
        if one_byte_status_write not in ONE_BYTE_STATUS_WRITES:
            raise ValueError(f"one_byte_status_write must be {' or '.join(ONE_BYTE_STATUS_WRITES)}")
        if status2 and not part.status2:
            raise ValueError(f"{part.name} has no second status byte")
        self.part = part
        self.data = bytearray(b"\xff" * part.size)
        if data is not None:
            self.load_image(data)
        self.unique_id = bytes(unique_id)
        self.timing_scale = timing_scale
        self._writable = _WRITABLE_WITH_SR2 if part.status2 else _WRITABLE
        self._sr = status & (self._writable | WEL)
        self._sr2 = status2 & (SR2_WRITABLE | SR2_OTP)
        self._one_byte_clears_sr2 = part.status2 and one_byte_status_write == "clear"
        self._asleep = deep_power_down
        self._busy_until = 0
        self._now = 0
        # The command in progress.
        self._selected = False
        self._count = 0  # bytes clocked since CS fell
        self._op = 0
        self._ignored = False
        self._addr = 0
        self._page: dict[int, int] = {}  # page offset -> byte, for 0x02
        self._payload: list[int] = []  # data bytes of 0x01

    @property
    def in_deep_power_down(self) -> bool:
        return self._asleep

    def load_image(self, data: bytes, offset: int = 0) -> None:
        """Write the array directly (scenario set-up), bypassing commands and protection."""
        if offset < 0 or offset + len(data) > self.part.size:
            raise ValueError("image does not fit in the flash")
        self.data[offset : offset + len(data)] = data

    def status(self, t_ps: int) -> int:
        """The status register as a 0x05 read at ``t_ps`` would answer it."""
        self._advance(t_ps)
        if t_ps < self._busy_until:
            return self._sr | WIP | WEL
        return self._sr

    def busy(self, t_ps: int) -> bool:
        return bool(self.status(t_ps) & WIP)

    def select(self, t_ps: int) -> None:
        """CS falls. Selecting while already selected is no edge, so it changes nothing."""
        self._advance(t_ps)
        if self._selected:
            return
        self._selected = True
        self._count = 0
        self._ignored = False
        self._addr = 0
        self._page = {}
        self._payload = []

    def deselect(self, t_ps: int) -> None:
        """CS rises: a complete, accepted command takes effect now."""
        self._advance(t_ps)
        if not self._selected:
            return
        self._selected = False
        if self._count and not self._ignored:
            self._finish(t_ps)

    def exchange(self, mosi: int, t_ps: int) -> int:
        """Clock one byte while selected; returns MISO (0xFF when the flash drives nothing)."""
        self._advance(t_ps)
        if not 0 <= mosi <= 0xFF:
            raise ValueError(f"not a byte: {mosi}")
        if not self._selected:
            return 0xFF
        i = self._count
        self._count += 1
        if i == 0:
            self._op = mosi
            self._ignored = not self._accepts(mosi, t_ps)
            return 0xFF
        if self._ignored:
            return 0xFF
        if i <= 3 and self._op in _ADDRESSED:
            self._addr = (self._addr << 8) | mosi
            return 0xFF
        return self._respond(i, mosi, t_ps)

    # -- internals -------------------------------------------------------------------------

    def _advance(self, t_ps: int) -> None:
        if t_ps < self._now:
            raise ValueError(f"time went backwards: {t_ps} < {self._now}")
        self._now = t_ps

    def _accepts(self, op: int, t_ps: int) -> bool:
        """A sleeping flash hears only 0xAB; a busy one only the status reads."""
        if self._asleep:
            return op == 0xAB
        return t_ps >= self._busy_until or op in _ALLOWED_WHILE_BUSY

    def _respond(self, i: int, mosi: int, t_ps: int) -> int:
        """MISO for byte ``i`` (>= 1) of the current command; also collects write data."""
        op = self._op
        size = self.part.size
        if op == 0x05:
            return self.status(t_ps)  # live: WIP can clear in the middle of one long read
        if op == 0x35:
            return self._sr2
        if op == 0x9F:
            return self.part.jedec_id[i - 1] if i <= 3 else 0xFF  # 0xFF after: shows overreads
        if op == 0x03:
            return self.data[(self._addr + i - 4) & (size - 1)]
        if op == 0x0B:
            return self.data[(self._addr + i - 5) & (size - 1)] if i >= 5 else 0xFF
        if op == 0x4B:
            return self.unique_id[i - 5] if 5 <= i < 5 + len(self.unique_id) else 0xFF
        if op == 0xAB:
            # Device id after 3 dummies, repeated; by convention capacity - 1 (0x12 = 4 Mbit).
            return self.part.jedec_id[2] - 1 if i >= 4 else 0xFF
        if op == 0x02:
            # The page buffer wraps inside the page: only the low address byte advances.
            self._page[(self._addr + i - 4) & 0xFF] = mosi
        elif op == 0x01:
            self._payload.append(mosi)
        return 0xFF

    def _finish(self, t_ps: int) -> None:
        op, n = self._op, self._count
        if op == 0xAB:
            self._asleep = False  # with or without the device-id bytes
        elif n == 1:
            if op == 0x06:
                self._sr |= WEL
            elif op == 0x04:
                self._sr &= ~WEL
            elif op == 0xB9:
                self._asleep = True
            elif op in (0x60, 0xC7) and self._take_wel() and not self._protected(0, self.part.size):
                self._erase(0, self.part.size, self.part.chip_erase_s, t_ps)
        elif op in _ERASE_SIZES and n == 4 and self._take_wel():
            length = _ERASE_SIZES[op]
            start = self._addr & (self.part.size - 1) & ~(length - 1)
            seconds = self.part.sector_erase_s if length == SECTOR_SIZE else self.part.block_erase_s
            if not self._protected(start, length):
                self._erase(start, length, seconds, t_ps)
        elif op == 0x02 and n >= 5 and self._take_wel():
            base = self._addr & (self.part.size - 1) & ~(PAGE_SIZE - 1)
            if not self._protected(base, PAGE_SIZE):
                for offset, value in self._page.items():
                    self.data[base + offset] &= value  # programming only clears bits
                self._start_busy(self.part.page_program_s, t_ps)
        elif op == 0x01 and len(self._payload) in (1, 2) and self._take_wel():
            self._sr = (self._sr & ~self._writable) | (self._payload[0] & self._writable)
            if len(self._payload) == 2:
                self._write_sr2(self._payload[1])
            elif self._one_byte_clears_sr2:
                self._write_sr2(0)
            self._start_busy(self.part.status_write_s, t_ps)

    def _take_wel(self) -> bool:
        """Consume WEL: True if it was set (the command goes ahead, maybe refused later)."""
        if not self._sr & WEL:
            return False
        self._sr &= ~WEL
        return True

    def _write_sr2(self, value: int) -> None:
        if not self.part.status2:
            self._sr2 = value  # stored and read back by 0x35; it protects nothing
            return
        otp = (self._sr2 | value) & SR2_OTP
        self._sr2 = (value & SR2_WRITABLE) | otp

    def _protected_range(self) -> tuple[int, int]:
        """The protected bytes [lo, hi) as the status bits select them."""
        size = self.part.size
        bp = (self._sr & BP_MASK) >> 2
        if not self.part.status2:
            return (0, 0) if bp == 0 else (size - min(size, _PROTECT_UNIT << (bp - 1)), size)
        if bp == 0:
            portion = 0
        elif bp == 7:
            portion = size
        elif self._sr & SEC:
            portion = min(size, SECTOR_SIZE << min(bp - 1, 3))  # 4, 8, 16, 32 KB
        else:
            portion = min(size, _PROTECT_UNIT << (bp - 1))
        bottom = bool(self._sr & TB)
        lo, hi = (0, portion) if bottom else (size - portion, size)
        if self._sr2 & CMP:  # the complement: everything else
            if portion in (0, size):
                return (0, size) if portion == 0 else (0, 0)
            return (hi, size) if bottom else (0, lo)
        return lo, hi

    def _protected(self, start: int, length: int) -> bool:
        """Does [start, start + length) overlap the protected part of the array?"""
        lo, hi = self._protected_range()
        return lo < hi and start < hi and start + length > lo

    def _erase(self, start: int, length: int, seconds: float, t_ps: int) -> None:
        self.data[start : start + length] = b"\xff" * length
        self._start_busy(seconds, t_ps)

    def _start_busy(self, seconds: float, t_ps: int) -> None:
        self._busy_until = t_ps + round(seconds * self.timing_scale * PS_PER_S)
