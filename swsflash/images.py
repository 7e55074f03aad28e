"""Firmware files as people download them: raw Telink .bin, Zigbee OTA files, Intel HEX.

The format is recognised from the content, not from the file name, and every check that
fails says which one, before anything touches the chip.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from intelhex import HexRecordError, IntelHex

from .errors import ImageError
from .firmware_id import identify
from .layout import regions_touched

OTA_MAGIC = 0x0BEEF11E
OTA_HEADER_MIN = 56
OTA_TAG_UPGRADE_IMAGE = 0x0000
TELINK_MARKER = b"KNLT"


@dataclass
class Segment:
    address: int
    data: bytes

    @property
    def end(self) -> int:
        return self.address + len(self.data)


@dataclass
class TelinkHeader:
    version: int
    manufacturer: int
    image_type: int
    declared_size: int
    crc_ok: bool
    size_ok: bool


@dataclass
class OtaHeader:
    manufacturer: int
    image_type: int
    file_version: int
    header_string: str
    total_size: int


@dataclass
class Image:
    """What will be written: one or more segments at flash addresses."""

    path: str
    format: str  # "bin", "ota", "hex"
    segments: list[Segment]
    telink: TelinkHeader | None = None
    ota: OtaHeader | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(len(s.data) for s in self.segments)

    @property
    def start(self) -> int:
        return min(s.address for s in self.segments)

    @property
    def end(self) -> int:
        return max(s.end for s in self.segments)


def parse_telink_header(data: bytes) -> TelinkHeader | None:
    """Header fields and integrity of a raw Telink image; None if it carries no marker."""
    if len(data) < 0x20 or data[8:12] != TELINK_MARKER:
        return None
    version = struct.unpack_from("<I", data, 2)[0]
    manufacturer, image_type = struct.unpack_from("<HH", data, 0x12)
    declared = struct.unpack_from("<I", data, 0x18)[0]
    size_ok = declared == len(data)
    crc_ok = False
    if size_ok and len(data) > 4:
        stored = struct.unpack_from("<I", data, len(data) - 4)[0]
        crc_ok = stored == zlib.crc32(data[:-4]) ^ 0xFFFFFFFF
    return TelinkHeader(version, manufacturer, image_type, declared, crc_ok, size_ok)


def _telink_problems(header: TelinkHeader | None, size: int) -> list[str]:
    if header is None:
        return ["no 'KNLT' marker at offset 8: this is not a bootable Telink image"]
    problems = []
    if not header.size_ok:
        problems.append(
            f"the header declares {header.declared_size} bytes but the image has {size}"
            + (" (truncated download?)" if size < header.declared_size else "")
        )
    elif not header.crc_ok:
        problems.append("the CRC32 at the end of the image does not match its content")
    return problems


def parse_ota(data: bytes, path: str) -> Image:
    if len(data) < OTA_HEADER_MIN:
        raise ImageError(f"{path}: Zigbee OTA file shorter than its 56-byte header")
    (_, _, header_len, _, manufacturer, image_type, file_version, _) = struct.unpack_from(
        "<IHHHHHIH", data, 0
    )
    header_string = data[20:52].split(b"\0", 1)[0].decode("ascii", "replace")
    total = struct.unpack_from("<I", data, 52)[0]
    ota = OtaHeader(manufacturer, image_type, file_version, header_string, total)
    problems = []
    if total != len(data):
        problems.append(f"the OTA header declares {total} bytes but the file has {len(data)}")
    pos = header_len
    payload: bytes | None = None
    while pos + 6 <= len(data):
        tag, length = struct.unpack_from("<HI", data, pos)
        body = data[pos + 6 : pos + 6 + length]
        if len(body) < length:
            raise ImageError(f"{path}: OTA sub-element 0x{tag:04x} is cut short")
        if tag == OTA_TAG_UPGRADE_IMAGE and payload is None:
            payload = body
        pos += 6 + length
    if payload is None:
        raise ImageError(f"{path}: the OTA file has no upgrade-image sub-element (tag 0x0000)")
    telink = parse_telink_header(payload)
    problems += _telink_problems(telink, len(payload))
    if telink is not None and (telink.manufacturer, telink.image_type) != (
        manufacturer,
        image_type,
    ):
        problems.append(
            f"the OTA header says manufacturer 0x{manufacturer:04x} image type "
            f"0x{image_type:04x}, the image inside says 0x{telink.manufacturer:04x} "
            f"0x{telink.image_type:04x}"
        )
    return Image(path, "ota", [Segment(0, payload)], telink, ota, problems)


def parse_hex(text: str, path: str) -> Image:
    ih = IntelHex()
    try:
        ih.loadhex(io.StringIO(text))
    except (HexRecordError, ValueError) as exc:
        raise ImageError(f"{path}: not a valid Intel HEX file: {exc}") from exc
    segments = [
        Segment(start, bytes(ih.tobinarray(start=start, end=end - 1)))
        for start, end in ih.segments()
    ]
    if not segments:
        raise ImageError(f"{path}: the HEX file holds no data")
    image = Image(path, "hex", segments)
    if segments[0].address == 0:
        image.telink = parse_telink_header(segments[0].data)
    return image


def read_file(path: Path) -> bytes:
    """The bytes of a file the user named (an image, a backup), or why it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from exc


def load_image(path: str | Path, address: int = 0) -> Image:
    p = Path(path)
    data = read_file(p)
    if not data:
        raise ImageError(f"{p} is empty")
    name = str(p)
    if len(data) >= 4 and struct.unpack_from("<I", data)[0] == OTA_MAGIC:
        if address:
            raise ImageError(f"{name}: an OTA file always goes to address 0; drop --address")
        return parse_ota(data, name)
    if _looks_like_hex(data):
        if address:
            raise ImageError(f"{name}: a HEX file carries its own addresses; drop --address")
        return parse_hex(data.decode("ascii", "replace"), name)
    telink = parse_telink_header(data)
    image = Image(name, "bin", [Segment(address, data)], telink)
    # A boot image (address 0) must be a valid Telink image; elsewhere only one that claims
    # to be (it carries the marker) is held to it.
    if address == 0 or telink is not None:
        image.problems = _telink_problems(telink, len(data))
    return image


def _looks_like_hex(data: bytes) -> bool:
    """An Intel HEX file starts with a record (':' and hex digits); one bad line further
    on must make it an invalid HEX file, not a raw binary."""
    first = data.split(b"\n", 1)[0].strip()
    return (
        len(first) >= 11
        and first[:1] == b":"
        and all(c in b"0123456789abcdefABCDEF" for c in first[1:])
    )


def _format_name(image: Image) -> str:
    if image.format == "bin":
        if image.telink is None:
            return "raw binary, not a Telink image (no 'KNLT' marker)"
        return "raw Telink image"
    return {"ota": "Zigbee OTA file", "hex": "Intel HEX"}[image.format]


def describe_image(image: Image) -> dict[str, object]:
    """Everything `swsflash image-info` shows, as plain data."""
    info: dict[str, object] = {
        "file": image.path,
        "format": _format_name(image),
        "size": image.size,
        "address_range": ", ".join(f"0x{s.address:05x}-0x{s.end - 1:05x}" for s in image.segments),
    }
    if image.telink is not None:
        t = image.telink
        info["telink_header"] = {
            "version": f"0x{t.version:08x}",
            "manufacturer": f"0x{t.manufacturer:04x}",
            "image_type": f"0x{t.image_type:04x}",
            "declared_size": t.declared_size,
            "size_matches": t.size_ok,
            "crc": "ok" if t.crc_ok else "BAD",
        }
    if image.ota is not None:
        o = image.ota
        info["ota_header"] = {
            "manufacturer": f"0x{o.manufacturer:04x}",
            "image_type": f"0x{o.image_type:04x}",
            "file_version": f"0x{o.file_version:08x}",
            "header_string": o.header_string,
            "total_size": o.total_size,
        }
    if image.telink is not None:
        boot = next(s for s in image.segments if s.address == image.start)
        info["family"] = identify(boot.data, boot.data).describe()
    info["problems"] = "; ".join(image.problems) or "none"
    overwrites: dict[str, str] = {}
    for label, size in (("512 KB flash", 0x80000), ("1 MB flash", 0x100000)):
        if image.end > size:
            overwrites[label] = "does not fit"
            continue
        hit = {
            str(r) + (" [PROTECTED]" if r.protected else "")
            for s in image.segments
            for r in regions_touched(size, s.address, s.end)
        }
        overwrites[label] = "; ".join(sorted(hit))
    info["overwrites"] = overwrites
    return info
