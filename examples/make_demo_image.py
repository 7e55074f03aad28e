"""Make examples/demo-firmware.bin: a stand-in firmware with a valid Telink header and CRC,
the same size as a z03mmc release (129,236 bytes), for trying swsflash on the bench."""

from pathlib import Path

from swsflash.faults import make_demo_image

if __name__ == "__main__":
    Path(__file__).with_name("demo-firmware.bin").write_bytes(make_demo_image())
