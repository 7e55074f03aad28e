"""Firmware images and flash contents as the real projects lay them out, for tests: the
Telink header of each family (fields, strings near the end, CRC) and the .zigbee OTA file
of telink-images.md. Shared by the pure firmware tests and the bench tests."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

from swsflash.bench.scenarios import factory_flash
from swsflash.firmware import Family

FLASH = 0x80000
HEADER = 0x40


def image(
    version: int = 0,
    manufacturer: int = 0,
    image_type: int = 0,
    size: int = 0x6000,
    tail: bytes = b"",
    branch: bytes = b"\x26\x80",
) -> bytes:
    """A Telink image as the SDK builds it: header fields, strings near the end, CRC."""
    body = bytearray((i * 13 + (i >> 7) + 7) & 0xFF for i in range(size))
    body[0:2] = branch
    body[2:6] = struct.pack("<I", version)
    body[6:8] = b"\x5d\x02"
    body[8:12] = b"KNLT"
    body[0x12:0x16] = struct.pack("<HH", manufacturer, image_type)
    body[0x18:0x1C] = struct.pack("<I", size)
    if tail:
        at = size - 0x500
        body[at : at + len(tail)] = tail
    body[-4:] = struct.pack("<I", zlib.crc32(bytes(body[:-4])) ^ 0xFFFFFFFF)
    return bytes(body)


ATC_STRINGS = b"miaomiaoce.com\0\0github.com/pvvx\0" + b"\x12" * 40 + b"V5.8LYWSD03MMC\0"
FAMILIES = [
    # what the unit carries, its header fields and strings -> family, version
    (
        "stock 2.1.1",
        image(tail=b"2.1.1_\0" + b"\0" * 30 + b"miaomiaoce.com\0" + b"2.1.1_0159\0"),
        Family.STOCK_XIAOMI,
        "2.1.1_0159",
    ),
    (
        "ATC v4.4 (no Zigbee fields)",
        image(tail=ATC_STRINGS.replace(b"V5.8", b"V4.4")),
        Family.ATC_PVVX,
        "4.4",
    ),
    ("ATC v5.8", image(0x99993001, 0x1141, 0x020A, tail=ATC_STRINGS), Family.ATC_PVVX, "5.8"),
    (
        "ATC repackaged for devbis",
        image(0x99993001, 0x1141, 0x0203, tail=ATC_STRINGS),
        Family.ATC_PVVX,
        "5.8",
    ),
    (
        "transitional",
        image(tail=b"miaomiaoce.com\0\0github.com/devbis\0" + b"V9.9"),
        Family.TRANSITIONAL,
        None,
    ),
    ("z03mmc 1.1.0", image(0x11003001, 0xDB15, 0x0203, branch=b"\x58\x80"), Family.Z03MMC, "1.1.0"),
    ("z03mmc 1.0.6", image(0x10063001, 0x1141, 0x0203, branch=b"\x58\x80"), Family.Z03MMC, "1.0.6"),
    (
        "ZigbeeTLc 0.1.3.9",
        image(0x01393001, 0x1141, 0x020A, branch=b"\x58\x80"),
        Family.ZIGBEETLC,
        "0.1.3.9",
    ),
    (
        "ZBdevice 0.0.1.7",
        image(0x00173001, 0x1141, 0x020A, tail=b"ZB0.0.1.7\0"),
        Family.ZIGBEETLC,
        "0.0.1.7",
    ),
    ("someone else's build", image(0x00010203, 0x1234, 0x0501), Family.UNKNOWN, None),
]


def with_byte8(data: bytes, value: int) -> bytes:
    return data[:8] + bytes([value]) + data[9:]


Z03 = FAMILIES[5][1]


Z03 = FAMILIES[5][1]
BLE = FAMILIES[2][1]  # ATC v5.8
STOCK = FAMILIES[0][1]
ZIGBEETLC = FAMILIES[7][1]
TRANSITIONAL = FAMILIES[4][1]


def flash_with(*parts: tuple[int, bytes]) -> bytearray:
    flash = bytearray(b"\xff" * FLASH)
    for at, data in parts:
        flash[at : at + len(data)] = data
    return flash


def reader(
    flash: bytearray, log: list[tuple[int, int]] | None = None
) -> Callable[[int, int], bytes]:
    def read(address: int, size: int) -> bytes:
        if log is not None:
            log.append((address, size))
        return bytes(flash[address : address + size])

    return read


BLE = FAMILIES[2][1]  # ATC v5.8


def unit_flash(*parts: tuple[int, bytes], part: str = "ZB25WD40B") -> bytes:
    """A bench unit's flash as it left the factory (MAC, calibration, hardware version),
    its image slots blank, then ``parts`` laid over it."""
    flash = bytearray(factory_flash(part))
    flash[0:0x34000] = b"\xff" * 0x34000
    for at, data in parts:
        flash[at : at + len(data)] = data
    return bytes(flash)


def ota_file(payload: bytes, manufacturer: int = 0x1141, image_type: int = 0x0203) -> bytes:
    """The .zigbee layout of telink-images.md: 56-byte header, tag 0x0000 holding the image."""
    sub = struct.pack("<HI", 0x0000, len(payload)) + payload
    head = struct.pack(
        "<IHHHHHIH", 0x0BEEF11E, 0x0100, 56, 0, manufacturer, image_type, 0x99993001, 0x0002
    )
    return head + b"Telink OTA BLE device".ljust(32, b"\0") + struct.pack("<I", 56 + len(sub)) + sub
