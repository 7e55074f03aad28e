"""Where a TLSR825x unit keeps the data that makes it unique, by flash size.

Sources: Telink's Zigbee and BLE SDKs and user reports, collected in docs/flash-map.md.
Losing these sectors changes the unit's MAC/IEEE address, its radio calibration, or (on
LYWSD03MMC) the hardware revision the stock firmware reports.
"""

from __future__ import annotations

from dataclasses import dataclass

SECTOR = 0x1000


@dataclass(frozen=True)
class Region:
    name: str
    start: int
    size: int

    @property
    def end(self) -> int:
        return self.start + self.size

    def overlaps(self, start: int, end: int) -> bool:
        return start < self.end and self.start < end

    def __str__(self) -> str:
        return f"{self.name} (0x{self.start:05x}-0x{self.end - 1:05x})"


def mac_address_at(flash_size: int) -> int:
    return {0x80000: 0x76000, 0x100000: 0xFF000}.get(flash_size, flash_size - 0x1000)


def protected_regions(flash_size: int) -> list[Region]:
    """The sectors swsflash never erases or writes without --force."""
    regions = [Region("MAC address", mac_address_at(flash_size), SECTOR)]
    cal = {0x80000: 0x77000, 0x100000: 0xFE000}.get(flash_size, flash_size - 0x2000)
    regions.append(Region("calibration", cal, SECTOR))
    if flash_size == 0x80000:
        regions.append(Region("hardware version (LYWSD03MMC)", 0x55000, SECTOR))
    return regions


def format_mac(mac_sector_head: bytes) -> str | None:
    """The BLE MAC as people write it (stored lowest byte first); None when unset."""
    raw = mac_sector_head[:6]
    if raw == b"\xff" * 6:
        return None
    return ":".join(f"{b:02X}" for b in reversed(raw))
