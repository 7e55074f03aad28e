"""Make examples/demo-firmware.bin: a stand-in firmware with a valid Telink header and CRC,
the same size as a z03mmc release (129,236 bytes), for trying swsflash on the bench."""

import struct
import zlib
from pathlib import Path

SIZE = 129_236


def demo_image(size: int = SIZE) -> bytes:
    body = bytearray((i * 31 + (i >> 7) * 17) & 0xFF for i in range(size))
    body[0x2000:0x3000] = b"\xff" * 0x1000  # a blank stretch, as real images have
    body[0:2] = b"\x26\x80"
    body[2:6] = struct.pack("<I", 0x30010046)
    body[6:8] = b"\x5d\x02"
    body[8:12] = b"KNLT"
    body[0x12:0x16] = struct.pack("<HH", 0x1141, 0x0203)
    body[0x18:0x1C] = struct.pack("<I", size)
    body[-4:] = struct.pack("<I", zlib.crc32(bytes(body[:-4])) ^ 0xFFFFFFFF)
    return bytes(body)


if __name__ == "__main__":
    Path(__file__).with_name("demo-firmware.bin").write_bytes(demo_image())
