"""Where a TLSR825x unit keeps its firmware and the data that makes it unique, by flash size.

Sources are listed in docs/flash-map.md (Telink's Zigbee and BLE SDKs, pvvx's firmware,
user reports). Losing the protected sectors changes the unit's MAC/IEEE address, its radio
calibration, or (LYWSD03MMC) the hardware revision its stock firmware reports.
"""

from __future__ import annotations

from dataclasses import dataclass

PAGE = 0x100  # the unit of a page program
SECTOR = 0x1000  # the smallest erase
BLOCK = 0x10000  # a block erase
KB = 1024
LARGEST_FLASH = 0x100000  # the largest flash a supported unit has (1 MB)


@dataclass(frozen=True)
class Region:
    name: str
    start: int
    size: int
    protected: bool = False

    @property
    def end(self) -> int:
        return self.start + self.size

    def overlaps(self, start: int, end: int) -> bool:
        return start < self.end and self.start < end

    def __str__(self) -> str:
        return f"{self.name} (0x{self.start:05x}-0x{self.end - 1:05x})"


def mac_address_at(flash_size: int) -> int:
    return {0x80000: 0x76000, 0x100000: 0xFF000}.get(flash_size, flash_size - 0x1000)


def calibration_at(flash_size: int) -> int:
    return {0x80000: 0x77000, 0x100000: 0xFE000}.get(flash_size, flash_size - 0x2000)


def flash_map(flash_size: int) -> list[Region]:
    """The regions of a Telink Zigbee/BLE unit, in address order."""
    mac, cal = mac_address_at(flash_size), calibration_at(flash_size)
    if flash_size == 0x80000:
        regions = [
            Region("running firmware image", 0x00000, 0x34000),
            Region("NV data (network, bindings)", 0x34000, 0xC000),
            Region("second image slot (OTA target)", 0x40000, 0x15000),
            Region("hardware version (LYWSD03MMC)", 0x55000, SECTOR, protected=True),
            Region("second image slot, continued", 0x56000, 0x1E000),
            Region("MAC address", mac, SECTOR, protected=True),
            Region("factory calibration", cal, SECTOR, protected=True),
            Region("user config / factory-reset counter", 0x78000, 0x2000),
            Region("NV data 2 (application, keys)", 0x7A000, 0x6000),
        ]
    elif flash_size == 0x100000:
        regions = [
            Region("running firmware image", 0x00000, 0x40000),
            Region("second image slot (OTA target)", 0x40000, 0x40000),
            Region("NV data", 0x80000, 0x16000),
            Region("user config", 0xFC000, 0x2000),
            Region("factory calibration", cal, SECTOR, protected=True),
            Region("MAC address", mac, SECTOR, protected=True),
        ]
    else:
        regions = [
            Region("firmware and data", 0, cal),
            Region("factory calibration", cal, SECTOR, protected=True),
            Region("MAC address", mac, SECTOR, protected=True),
        ]
    return sorted(regions, key=lambda r: r.start)


def protected_regions(flash_size: int) -> list[Region]:
    """The sectors swsflash never erases or writes without --force."""
    return [r for r in flash_map(flash_size) if r.protected]


def regions_touched(flash_size: int, start: int, end: int) -> list[Region]:
    return [r for r in flash_map(flash_size) if r.overlaps(start, end)]


def format_mac(mac_sector_head: bytes) -> str | None:
    """The BLE MAC as people write it (stored lowest byte first); None when unset."""
    raw = mac_sector_head[:6]
    if raw == b"\xff" * 6:
        return None
    return ":".join(f"{b:02X}" for b in reversed(raw))


def parse_mac(text: str) -> bytes:
    """'A4:C1:38:12:34:56' -> the six bytes as stored in flash (lowest first)."""
    parts = text.replace("-", ":").split(":")
    hexdigits = set("0123456789abcdefABCDEF")
    if len(parts) != 6 or not all(len(p) == 2 and set(p) <= hexdigits for p in parts):
        raise ValueError(f"{text!r} is not a MAC address like A4:C1:38:12:34:56")
    return bytes(reversed(bytes.fromhex("".join(parts))))


def calibration_summary(sector: bytes) -> dict[str, str | None]:
    """The factory calibration values the firmware reads, as hex (None = not set)."""

    def field(offset: int, size: int) -> str | None:
        raw = sector[offset : offset + size]
        return None if raw == b"\xff" * size else raw.hex()

    return {
        "crystal_cap": field(0x00, 1),
        "tp_gain": field(0x40, 4),
        "adc_vref": field(0xC0, 4),
        "vdd_f_trim": field(0x1C0, 1),
    }
