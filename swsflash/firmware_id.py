"""Which firmware project built a Telink image, and its version, from the image's own bytes.

The header (first 0x20 bytes) settles it for every build that fills the Zigbee fields
(manufacturer, image type, file version); older BLE builds leave them zero, and then only
strings near the end of the image tell stock Xiaomi, ATC/pvvx and the transitional image
apart. Every rule and its source: docs/firmware-identification.md (rules H1-H6, C1-C4).
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from enum import Enum

MARKER = b"KNLT"
HEADER_SIZE = 0x20
TELINK_MFR = 0x1141  # Telink's Zigbee manufacturer code
DEVBIS_MFR = 0xDB15  # devbis's own code since z03mmc 1.0.6 ("custom manufacturer code")
LYWSD03MMC_TYPES = {0x020A: "LYWSD03MMC", 0x0203: "LYWSD03MMC"}


class Family(str, Enum):
    STOCK_XIAOMI = "stock-xiaomi"
    ATC_PVVX = "atc-pvvx"
    Z03MMC = "z03mmc"
    ZIGBEETLC = "zigbeetlc"
    TRANSITIONAL = "transitional-ota"
    TELINK_BLE = "telink-ble"  # BLE build without Zigbee fields; content not read
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def stack(self) -> str | None:
        """'BLE' or 'Zigbee': which NV layout the firmware uses (None: unknown)."""
        return _STACKS.get(self)


_LABELS = {
    Family.STOCK_XIAOMI: "stock Xiaomi firmware",
    Family.ATC_PVVX: "ATC/pvvx BLE firmware (ATC_MiThermometer)",
    Family.Z03MMC: "z03mmc Zigbee firmware (devbis)",
    Family.ZIGBEETLC: "ZigbeeTLc Zigbee firmware (pvvx)",
    Family.TRANSITIONAL: "transitional BLE-to-Zigbee OTA image (z03mmc ATC_ota_40000)",
    Family.TELINK_BLE: "Telink BLE image: stock Xiaomi, ATC/pvvx before v4.5 or the "
    "transitional image (read the whole image to tell)",
    Family.UNKNOWN: "unknown firmware",
}
_STACKS = {
    Family.STOCK_XIAOMI: "BLE",
    Family.ATC_PVVX: "BLE",
    Family.TRANSITIONAL: "BLE",
    Family.TELINK_BLE: "BLE",
    Family.Z03MMC: "Zigbee",
    Family.ZIGBEETLC: "Zigbee",
}
BLE_LEGACY = (Family.STOCK_XIAOMI, Family.ATC_PVVX, Family.TRANSITIONAL)


@dataclass(frozen=True)
class HeaderFields:
    """The Telink header fields, read whether or not the marker is intact."""

    boot_byte: int  # byte 8: 0x4B bootable, 0x00 disabled, 0xFF download in progress
    marker_tail: bool  # bytes 9-11 are "NLT"
    version_field: int
    manufacturer: int
    image_type: int
    declared_size: int

    @classmethod
    def parse(cls, data: bytes) -> HeaderFields | None:
        if len(data) < HEADER_SIZE:
            return None
        version = struct.unpack_from("<I", data, 2)[0]
        manufacturer, image_type = struct.unpack_from("<HH", data, 0x12)
        size = struct.unpack_from("<I", data, 0x18)[0]
        return cls(data[8], data[9:12] == MARKER[1:], version, manufacturer, image_type, size)


@dataclass(frozen=True)
class Identity:
    family: Family
    version: str | None
    rule: str  # id of the rule that decided, as in docs/firmware-identification.md
    device: str | None = None  # the device the build is for, from its image type
    candidates: tuple[Family, ...] = ()  # what TELINK_BLE may be

    def describe(self) -> str:
        text = self.family.label + (f" {self.version}" if self.version else "")
        return text + (f", for {self.device}" if self.device else "")


def _bcd_pair(byte: int) -> str:
    return f"{byte >> 4}.{byte & 0xF}"


def _device(image_type: int) -> str | None:
    if image_type in LYWSD03MMC_TYPES:
        return LYWSD03MMC_TYPES[image_type]
    return f"another device (image type 0x{image_type:04x})" if image_type >> 8 == 2 else None


def identify_header(h: HeaderFields) -> Identity:
    """Family from the header alone (rules H1-H6)."""
    release, build = h.version_field >> 24, (h.version_field >> 16) & 0xFF
    if h.manufacturer == DEVBIS_MFR and h.image_type == 0x0203:
        return Identity(Family.Z03MMC, f"{_bcd_pair(release)}.{build:x}", "H3", "LYWSD03MMC")
    if h.manufacturer == TELINK_MFR and (release, build) == (0x99, 0x99):
        return Identity(Family.ATC_PVVX, None, "H2", _device(h.image_type))
    if h.manufacturer == TELINK_MFR and h.image_type == 0x0203:
        return Identity(Family.Z03MMC, f"{_bcd_pair(release)}.{build:x}", "H4", "LYWSD03MMC")
    if h.manufacturer == TELINK_MFR and h.image_type >> 8 == 0x02:
        version = f"{_bcd_pair(release)}.{_bcd_pair(build)}"
        return Identity(Family.ZIGBEETLC, version, "H5", _device(h.image_type))
    if (h.version_field, h.manufacturer, h.image_type) == (0, 0, 0):
        return Identity(Family.TELINK_BLE, None, "H6", None, BLE_LEGACY)
    return Identity(Family.UNKNOWN, None, "H1")


_PVVX = b"github.com/pvvx"
_DEVBIS = b"github.com/devbis"
_XIAOMI_VENDOR = b"miaomiaoce.com"
_ATC_VERSION = re.compile(rb"V([0-9])\.([0-9])")
_STOCK_VERSION = re.compile(rb"[0-9]\.[0-9]\.[0-9]_[0-9]{4}")
_ZBDEVICE = re.compile(rb"ZB([0-9]\.[0-9]\.[0-9]\.[0-9])")


def _atc_version(content: bytes) -> str | None:
    at = content.find(_PVVX)
    found = _ATC_VERSION.search(content, at, at + 0x200) if at >= 0 else None
    return f"{found[1].decode()}.{found[2].decode()}" if found else None


def identify(header: bytes, content: bytes | None = None) -> Identity:
    """Family and version from a header, refined by the image's bytes when given (C1-C4).

    `content` may be the whole image or only its last few KB: the strings the rules look
    for sit in the last 1.5 KB of every published BLE image.
    """
    fields = HeaderFields.parse(header)
    if fields is None or not fields.marker_tail:
        return Identity(Family.UNKNOWN, None, "H1")
    ident = identify_header(fields)
    if content is None:
        return ident
    if ident.family is Family.ATC_PVVX:
        return Identity(Family.ATC_PVVX, _atc_version(content), "H2+C1", ident.device)
    if ident.family is Family.ZIGBEETLC:
        zb = _ZBDEVICE.search(content)
        if zb:
            device = (ident.device or "") + " (ZBdevice build: Zigbee with BLE)"
            return Identity(Family.ZIGBEETLC, zb[1].decode(), "H5+C4", device.strip())
        return ident
    if ident.family is not Family.TELINK_BLE:
        return ident
    if _DEVBIS in content:
        return Identity(Family.TRANSITIONAL, None, "H6+C2", "LYWSD03MMC")
    if _PVVX in content:
        return Identity(Family.ATC_PVVX, _atc_version(content), "H6+C1")
    stock = list(_STOCK_VERSION.finditer(content))
    if stock and _XIAOMI_VENDOR in content:
        return Identity(Family.STOCK_XIAOMI, stock[-1][0].decode(), "H6+C3")
    return ident


def check_crc(data: bytes) -> bool:
    """True when the image's CRC (at declared size - 4) matches; `data` may run past the
    image (a whole slot read), never short of it.

    The CRC was computed over the image as built, with byte 8 = 'K'; on flash the SDK keeps
    byte 8 at 0xFF while downloading and clears it to 0x00 in the old slot, so byte 8 is
    taken as 'K' whatever it holds.
    """
    fields = HeaderFields.parse(data)
    if fields is None or not HEADER_SIZE + 4 <= fields.declared_size <= len(data):
        return False
    end = fields.declared_size
    stored: int = struct.unpack_from("<I", data, end - 4)[0]
    crc = zlib.crc32(data[:8] + MARKER[:1] + data[9 : end - 4])
    return stored == crc ^ 0xFFFFFFFF


def is_complete_bootable(image_bytes: bytes) -> bool:
    """A full image the boot ROM will start and that will run: 'KNLT' intact, size field
    within the bytes given (signed stock files carry a signature after it), CRC right."""
    return image_bytes[8:12] == MARKER and check_crc(image_bytes)
