"""What a unit keeps outside its firmware image: the LYWSD03MMC hardware-version string and
the NV areas where each firmware family keeps its settings.

Switching families (BLE <-> Zigbee) leaves the old settings behind in ranges the new
firmware reads with a different format; `family_change` names them. Sources per row:
docs/firmware-identification.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .firmware_id import BLE_LEGACY, Family
from .layout import SECTOR, mac_address_at

HW_VERSION_AT = {0x80000: 0x55000}  # LYWSD03MMC, written by Xiaomi at the factory
HW_COPY_OFFSET = 0xFE0  # pvvx firmware's copy inside the MAC sector
HW_RECORD = 24  # 4-byte revision ("B1.4") + 20-byte board string
_REVISION = re.compile(rb"B[0-9]\.[0-9]")

LOG_SECTOR_ID = bytes.fromhex("dec0aa55")  # 0x55AAC0DE, first word of a history-log sector
ZIGBEE = frozenset({Family.Z03MMC, Family.ZIGBEETLC})
BLE_XIAOMI = frozenset(BLE_LEGACY)  # stock and the ATC builds that keep Xiaomi's layout
ATC = frozenset({Family.ATC_PVVX, Family.TRANSITIONAL})


@dataclass(frozen=True)
class HwVersion:
    address: int
    state: str  # "ok", "blank", "not-a-version" (overwritten, e.g. by a history log)
    revision: str | None  # "B1.4"
    board: str | None  # "F1.0-CFMK-LB-ZCXTJ--"
    raw: bytes

    def to_dict(self) -> dict[str, object]:
        return {
            "address": f"0x{self.address:05x}",
            "state": self.state,
            "revision": self.revision,
            "board": self.board,
        }


def decode_hw_version(raw: bytes, address: int) -> HwVersion:
    """Decode the Xiaomi record: 'B<d>.<d>' then a board string, 0xFF-padded."""
    head = raw[:HW_RECORD]
    if head[:4] == b"\xff" * 4:
        return HwVersion(address, "blank", None, None, head)
    if not _REVISION.fullmatch(head[:4]):
        return HwVersion(address, "not-a-version", None, None, head)
    tail = head[4:].split(b"\xff", 1)[0].split(b"\0", 1)[0]
    board = tail.decode("ascii", "replace") if tail and tail.isascii() else None
    return HwVersion(address, "ok", head[:4].decode(), board or None, head)


def hw_version_addresses(flash_size: int) -> tuple[int | None, int]:
    """(Xiaomi's address or None on this flash size, pvvx's copy in the MAC sector)."""
    return HW_VERSION_AT.get(flash_size), mac_address_at(flash_size) + HW_COPY_OFFSET


@dataclass(frozen=True)
class NvArea:
    name: str
    start: int
    size: int
    families: frozenset[Family]  # whose settings live here
    unit_specific: bool = False  # keys tied to this unit: back up, never just erase
    probe_sectors: int = 0  # sector heads to read for "holds data" (0 = every sector)
    sector_id: bytes | None = None  # a used sector starts with these bytes (else: not 0xFF)

    @property
    def end(self) -> int:
        return self.start + self.size

    def overlaps(self, other: NvArea) -> bool:
        return self.start < other.end and other.start < self.end

    def probe_addresses(self) -> list[int]:
        count = self.size // SECTOR if self.probe_sectors == 0 else self.probe_sectors
        return [self.start + i * SECTOR for i in range(count)]

    def in_use(self, head: bytes) -> bool:
        """Whether a sector head read at one of `probe_addresses` shows data."""
        if self.sector_id is not None:
            return head.startswith(self.sector_id)
        return head != b"\xff" * len(head)

    def __str__(self) -> str:
        return f"{self.name} (0x{self.start:05x}-0x{self.end - 1:05x})"


def nv_areas(flash_size: int) -> tuple[NvArea, ...]:
    """Every family's settings areas on this flash size, in address order."""
    if flash_size == 0x80000:
        areas = [
            NvArea("Zigbee NV area 1 (network, bindings)", 0x34000, 0xC000, ZIGBEE),
            NvArea("ATC/pvvx history log", 0x40000, 0x34000, ATC, False, 1, LOG_SECTOR_ID),
            NvArea("BLE pairing info", 0x74000, 0x2000, BLE_XIAOMI),
            NvArea("Xiaomi key-code (bind key, token)", 0x78000, SECTOR, BLE_XIAOMI, True),
            NvArea("Zigbee user config (pre-install code)", 0x78000, SECTOR, ZIGBEE),
            NvArea("Zigbee factory-reset counter", 0x79000, SECTOR, ZIGBEE),
            NvArea("Zigbee NV area 2 (application, keys)", 0x7A000, 0x6000, ZIGBEE),
            NvArea("ATC/pvvx settings", 0x7C000, 0x4000, ATC),
        ]
    elif flash_size == 0x100000:
        areas = [
            NvArea("ATC/pvvx settings", 0x7C000, 0x4000, ATC),
            NvArea("Zigbee NV area", 0x80000, 0x16000, ZIGBEE),
            NvArea("ATC/pvvx history log", 0x80000, 0x80000, ATC, False, 1, LOG_SECTOR_ID),
            NvArea("Zigbee user config", 0xFC000, 0x2000, ZIGBEE),
        ]
    else:
        areas = []
    return tuple(sorted(areas, key=lambda a: a.start))


def _families(family: Family) -> frozenset[Family]:
    """A header-only BLE identification may be any of the BLE families."""
    return BLE_XIAOMI if family is Family.TELINK_BLE else frozenset({family})


@dataclass(frozen=True)
class StaleArea:
    """An area holding the old firmware's settings that the new firmware does not keep."""

    area: NvArea
    clashes_with: tuple[NvArea, ...]  # the new firmware's areas in the same range

    def to_dict(self) -> dict[str, object]:
        return {
            "area": str(self.area),
            "unit_specific": self.area.unit_specific,
            "clashes_with": [str(a) for a in self.clashes_with],
        }


def family_change(old: Family, new: Family, flash_size: int = 0x80000) -> tuple[StaleArea, ...]:
    """The old firmware's settings areas that the new one does not share (none when the
    family stays, or the old one is unknown); each with the new areas it collides with."""
    olds, news = _families(old), _families(new)
    if old is Family.UNKNOWN or olds <= news:
        return ()
    areas = nv_areas(flash_size)
    new_areas = [a for a in areas if a.families & news]
    return tuple(
        StaleArea(a, tuple(n for n in new_areas if n.overlaps(a)))
        for a in areas
        if a.families & olds and not a.families & news
    )
