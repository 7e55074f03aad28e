"""The one maker of stand-in firmware: a valid Telink header and CRC, made-up code.

    python examples/make_demo_image.py                      # rewrites examples/demo-firmware.bin
    python examples/make_demo_image.py --size 32768 /tmp/fw32.bin

examples/demo-firmware.bin is its default output: the size of a z03mmc release (129,236
bytes), so that trying swsflash on the bench takes as long as a real job. Tests and
benchmarks import ``make_demo_image`` for smaller or odd images; it lives here, not in the
swsflash package, because the flasher itself never needs a made-up firmware.
"""

from __future__ import annotations

import argparse
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

Z03MMC_SIZE = 129_236  # the size of a z03mmc release, for realistic timing
MANUFACTURER = 0x1141  # Telink, as in a z03mmc release's header
IMAGE_TYPE = 0x0203  # TLSR825x Zigbee application
DEMO_FIRMWARE = Path(__file__).with_name("demo-firmware.bin")


def make_demo_image(
    size: int = Z03MMC_SIZE, manufacturer: int = MANUFACTURER, image_type: int = IMAGE_TYPE
) -> bytes:
    """``size`` bytes of made-up firmware that swsflash accepts as a bootable Telink image."""
    body = bytearray((i * 31 + (i >> 7) * 17) & 0xFF for i in range(size))
    if size > 0x4000:
        body[0x2000:0x3000] = b"\xff" * 0x1000  # a blank stretch, as real images have
    body[0:8] = b"\x26\x80\x46\x00\x01\x30\x5d\x02"
    body[8:12] = b"KNLT"
    body[0x12:0x16] = struct.pack("<HH", manufacturer, image_type)
    body[0x18:0x1C] = struct.pack("<I", size)
    body[-4:] = struct.pack("<I", zlib.crc32(bytes(body[:-4])) ^ 0xFFFFFFFF)
    return bytes(body)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python examples/make_demo_image.py",
        description="Write a stand-in Telink firmware image.",
    )
    parser.add_argument("output", nargs="?", type=Path, default=DEMO_FIRMWARE)
    parser.add_argument(
        "--size", type=int, default=Z03MMC_SIZE, help="bytes (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if args.size < 0x20:
        parser.error(f"--size {args.size} is too small for a Telink header: use at least 32")
    args.output.write_bytes(make_demo_image(args.size))
    print(args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
