"""Named presets of the bench, and the flash content a factory-fresh unit carries.

A scenario is a set of bench parameters; every parameter can still be overridden (URL
query of ``sim://``, options of ``swsflash simulate``).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import replace

from .adapter import AdapterConfig
from .bench import BenchConfig
from .chip import ChipConfig
from .spi_flash import PARTS

SCENARIOS: dict[str, str] = {
    "healthy": "running firmware that leaves SWS alone; everything answers",
    "bricked": "firmware takes the SWS pin 2.5 ms after every power-up or reset",
    "asleep": "firmware sleeps; SWS answers only 5 ms every 10 s",
    "protected": "flash block-protection bits set (as Zigbee firmware leaves them)",
    "flash-asleep": "the flash is in deep power-down (0xB9) and ignores all but 0xAB",
    "no-wiring": "adapter TX/RX not connected to SWS",
    "rx-led": "adapter with an LED on RX: TX through the resistor cannot pull the line",
    "noisy": "random bit errors on the adapter's TX and RX",
    "gappy-adapter": "adapter leaves 15 us gaps between USB packets of a continuous stream",
    "bricked-output": "firmware takes the SWS pin 2.5 ms after boot and drives it as a UART TX",
    "locked-cmp": "P25Q40L flash with CMP set (status-2 0x40): BP = 0 protects everything",
}


def scenario_config(name: str) -> BenchConfig:
    """The bench parameters of a named scenario."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    base = BenchConfig()
    chip, adapter = base.chip, base.adapter
    flash_part, status2 = base.flash_part, 0x00
    if name == "bricked":
        chip = replace(chip, takes_sws_after_ms=2.5)
    elif name == "bricked-output":
        chip = replace(chip, takes_sws_after_ms=2.5, sws_output="uart")
    elif name == "locked-cmp":
        flash_part, status2 = "P25Q40L", 0x40
    elif name == "asleep":
        chip = replace(chip, asleep_period_s=10.0, awake_ms=5.0)
    elif name == "no-wiring":
        adapter = replace(adapter, wired=False)
    elif name == "rx-led":
        adapter = replace(adapter, rx_led=True)
    elif name == "noisy":
        adapter = replace(adapter, bit_error_rate=2e-7)
    elif name == "gappy-adapter":
        adapter = replace(adapter, gap_us=15.0)
    return replace(
        base,
        chip=chip,
        adapter=adapter,
        flash_part=flash_part,
        flash_status=0x1C if name == "protected" else 0x00,
        flash_status2=status2,
        flash_asleep=name == "flash-asleep",
    )


# Where a unit keeps what makes it unique (flash-map.md), by flash size.
MAC_SECTOR = {0x80000: 0x76000, 0x100000: 0xFF000}
CALIBRATION_SECTOR = {0x80000: 0x77000, 0x100000: 0xFE000}
HW_VERSION_ADDR = {0x80000: 0x55000}


def demo_firmware(size: int = 0xC000, version: int = 0x01020304) -> bytes:
    """A stand-in for the unit's firmware with a valid Telink header and CRC."""
    body = bytearray((i * 7 + (i >> 8)) & 0xFF for i in range(size))
    body[0:2] = b"\x26\x80"
    body[2:6] = struct.pack("<I", version)
    body[6:8] = b"\x5d\x02"
    body[8:12] = b"KNLT"
    body[0x12:0x16] = struct.pack("<HH", 0x1141, 0x0203)
    body[0x18:0x1C] = struct.pack("<I", size)
    crc = zlib.crc32(bytes(body[:-4])) ^ 0xFFFFFFFF
    body[-4:] = struct.pack("<I", crc)
    return bytes(body)


def factory_flash(part_name: str, mac: bytes = bytes.fromhex("a4c138a1b2c3")) -> bytes:
    """Flash content of a unit as it left the factory: firmware, MAC, calibration."""
    part = PARTS[part_name]
    flash = bytearray(b"\xff" * part.size)
    fw = demo_firmware()
    flash[: len(fw)] = fw
    mac_at = MAC_SECTOR.get(part.size, part.size - 0x1000)
    flash[mac_at : mac_at + 8] = bytes(reversed(mac)) + b"\x5a\xa5"
    cal = CALIBRATION_SECTOR.get(part.size, part.size - 0x2000)
    flash[cal] = 0x4C  # crystal capacitor trim
    flash[cal + 0x40 : cal + 0x44] = bytes([0x12, 0x34, 0x56, 0x78])  # TP gain
    flash[cal + 0xC0 : cal + 0xC4] = bytes([0x01, 0x02, 0x1E, 0x0A])  # ADC reference
    flash[cal + 0x1C0] = 0x07  # VDD_F trim
    hw = HW_VERSION_ADDR.get(part.size)
    if hw is not None:
        flash[hw : hw + 4] = b"B1.7"
    return bytes(flash)


__all__ = ["SCENARIOS", "AdapterConfig", "BenchConfig", "ChipConfig", "factory_flash"]
