"""How fast the bench runs compared with the hardware it stands for.

Through ``sim://`` at 921600 baud: read 64 KB of flash byte by byte (per byte one 0xFE out,
9 characters back, as a plain UART flasher does it) and write 64 KB to SRAM. Prints the
virtual time (what a real adapter would have taken) against the wall time. Measures only;
asserts nothing.

    PYTHONPATH=. python benchmarks/bench_speed.py [--kib N] [--fast 0|1]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import cast

import serial

from swsflash.bench.sim_port import Serial as SimSerial

serial.protocol_handler_packages.append("swsflash.bench.urlhandler")

ONE, ZERO = 0x80, 0xFE


def word(cmd: int, data: int) -> bytes:
    cells = [cmd, *((data >> i) & 1 for i in range(7, -1, -1)), 0]
    return bytes(ONE if c else ZERO for c in cells)


START, END = word(1, 0x5A), word(1, 0xFF)


def head(addr: int, rw: int) -> bytes:
    return START + b"".join(word(0, (addr >> s) & 0xFF) for s in (16, 8, 0)) + word(0, rw)


def write_frame(addr: int, data: bytes) -> bytes:
    return head(addr, 0x00) + b"".join(word(0, b) for b in data) + END


def decode(chars: bytes) -> int:
    if len(chars) != 9:
        raise RuntimeError(f"answer of {len(chars)} characters")
    value = 0 if chars[0] & 0x20 else 1
    for c in chars[1:8]:
        value = (value << 1) | (0 if c & 0x10 else 1)
    return value


class Link:
    def __init__(self, url: str) -> None:
        port = serial.serial_for_url(url, baudrate=921_600, timeout=0.05)
        self.port = cast(SimSerial, port)

    def send(self, data: bytes) -> None:
        self.port.write(data)
        echo = self.port.read(len(data))
        if echo != data:
            raise RuntimeError("echo mismatch")

    def read(self, addr: int, n: int) -> bytes:
        self.send(head(addr, 0x80))
        out = bytearray()
        for _ in range(n):
            self.port.write(bytes([ZERO]))
            out.append(decode(self.port.read(9)))
        self.send(END)
        return bytes(out)


def measure(label: str, nbytes: int, job: Callable[[], None], link: Link) -> None:
    clock = link.port.virtual_clock
    v0, w0 = clock.now(), time.perf_counter()
    job()
    virtual, wall = clock.now() - v0, time.perf_counter() - w0
    print(
        f"{label:<34} {nbytes / 1024:6.0f} KiB  virtual {virtual:8.2f} s  wall {wall:6.2f} s"
        f"  virtual/wall {virtual / wall:7.1f}x  ({nbytes / wall / 1024:6.1f} KiB/s wall)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kib", type=int, default=64)
    parser.add_argument("--fast", type=int, default=1, help="bench fast path on (1) or off (0)")
    args = parser.parse_args()
    size = args.kib * 1024
    link = Link(f"sim://healthy?fast={args.fast}")
    link.port.virtual_clock.sleep(0.002)
    link.send(write_frame(0x0602, b"\x05"))  # halt
    link.send(write_frame(0x0622, b"\x00"))  # watchdog off
    link.send(write_frame(0x00B2, bytes([53])))  # divider for 921600 at 24.5 MHz
    if link.read(0x007E, 2) != b"\x62\x55":
        raise RuntimeError("no chip")

    def read_flash() -> None:
        link.send(write_frame(0x00B3, b"\x80"))  # FIFO mode: every access is 0x0C
        link.send(write_frame(0x000D, b"\x00"))  # CS low
        link.send(write_frame(0x000C, bytes([0x03, 0, 0, 0, 0])))  # read @0 + dummy
        link.send(write_frame(0x000D, b"\x0a"))  # auto-read
        data = link.read(0x000C, size)
        link.send(write_frame(0x000D, b"\x01"))
        link.send(write_frame(0x00B3, b"\x00"))
        bench = link.port.bench
        assert bench is not None
        if data != bytes(bench.flash.data[:size]):
            raise RuntimeError("flash read back wrong")

    def write_sram() -> None:
        chunk = 256
        payload = bytes((i * 7 + 3) & 0xFF for i in range(size))
        for at in range(0, size, chunk):
            link.send(write_frame(0x840000 + at, payload[at : at + chunk]))
        bench = link.port.bench
        assert bench is not None
        if bytes(bench.chip.sram[:size]) != payload:
            raise RuntimeError("SRAM content wrong")

    print(f"sim://healthy, 921600 baud, fast path {'on' if args.fast else 'off'}")
    measure("read flash (0xFE out, 9 chars back)", size, read_flash, link)
    measure("write SRAM (256-byte writes)", size, write_sram, link)
    print(f"bench stats: {link.port.bench.stats if link.port.bench else None}")


if __name__ == "__main__":
    main()
