"""``python -m swsflash.bench`` on a pseudo-terminal, driven by plain pyserial in real time.

The SWire exchange is written out here by hand from the reference (swire-over-uart.md), and
nothing of ``swsflash`` is imported: the server must be usable by any serial program.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

if not sys.platform.startswith("linux"):  # pragma: no cover
    pytest.skip("the pty door relies on Linux pty semantics", allow_module_level=True)

REPO = Path(__file__).resolve().parents[2]
FCLK = 24.5e6
ONE, ZERO = 0x80, 0xFE  # one SWire bit cell = one UART character
SPI_DATA, SPI_CTRL, SWIRE_DIV, SWIRE_CTL = 0x000C, 0x000D, 0x00B2, 0x00B3
CHIP_ID, CPU, WATCHDOG = 0x007E, 0x0602, 0x0622
FLASH_SIZE = 0x80000  # the default part, ZB25WD40B
PATTERN_AT = 0x10000
PATTERN = bytes.fromhex("5357 5346 4c41 5348 0102 0408 1020 4080".replace(" ", ""))


def word(cmd: int, data: int) -> bytes:
    """cmd cell, 8 data cells MSB first, end cell 0."""
    cells = [cmd, *((data >> i) & 1 for i in range(7, -1, -1)), 0]
    return bytes(ONE if c else ZERO for c in cells)


def header(addr: int, rw_id: int) -> bytes:
    addr_words = b"".join(word(0, (addr >> s) & 0xFF) for s in (16, 8, 0))
    return word(1, 0x5A) + addr_words + word(0, rw_id)


def decode(chars: bytes) -> int:
    """8 answer cells: bit 7 of the first char (where the request's echo merges with the
    first cell, the answer's delay would move a bit-5 sample onto a 0 cell's low at
    3 Mbaud), bit 4 of the next seven; clear = 1."""
    value = 0 if chars[0] & 0x80 else 1
    for ch in chars[1:8]:
        value = (value << 1) | (0 if ch & 0x10 else 1)
    return value


class SWire:
    """A hand-made SWire host on a pyserial port."""

    def __init__(self, port: serial.Serial) -> None:
        self.port = port

    def _send(self, chars: bytes) -> None:
        """Send and check the echo: every character comes back."""
        self.port.write(chars)
        echo = self.port.read(len(chars))
        assert echo == chars, f"echo {echo.hex()} != sent {chars.hex()}"

    def write(self, addr: int, data: bytes | int) -> None:
        payload = bytes([data]) if isinstance(data, int) else data
        self._send(header(addr, 0x00) + b"".join(word(0, b) for b in payload) + word(1, 0xFF))

    def read(self, addr: int, n: int = 1) -> bytes:
        self._send(header(addr, 0x80))
        out = bytearray()
        for _ in range(n):
            self.port.write(bytes([ZERO]))
            answer = self.port.read(9)
            assert len(answer) == 9, f"short answer {answer.hex()}"
            out.append(decode(answer))
        self._send(word(1, 0xFF))
        return bytes(out)

    def take_chip(self, baud: int) -> None:
        """Halt, watchdog off, answer speed for ``baud``."""
        self.write(CPU, 0x05)
        self.write(WATCHDOG, 0x00)
        self.write(SWIRE_DIV, round(2 * FCLK / baud))

    # -- SPI flash through 0x0C / 0x0D ---------------------------------------------------
    def spi(self, *out: int) -> None:
        """One flash command: CS low, the bytes (FIFO mode if several), CS high."""
        self.write(SPI_CTRL, 0x00)
        if len(out) > 1:
            self.write(SWIRE_CTL, 0x80)
        self.write(SPI_DATA, bytes(out))
        if len(out) > 1:
            self.write(SWIRE_CTL, 0x00)
        self.write(SPI_CTRL, 0x01)

    def flash_status(self) -> int:
        """The proven tool's way: CS low, 0x05, read 0x0C once, CS high."""
        self.write(SPI_CTRL, 0x00)
        self.write(SPI_DATA, 0x05)
        status = self.read(SPI_DATA)[0]
        self.write(SPI_CTRL, 0x01)
        return status

    def wait_idle(self, timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while self.flash_status() & 0x01:
            assert time.monotonic() < deadline, "flash stayed busy"

    def flash_read(self, addr: int, n: int) -> bytes:
        """CS low, 0x03 + address + dummy, auto-read on, read 0x0C n times, CS high."""
        self.write(SPI_CTRL, 0x00)
        self.write(SWIRE_CTL, 0x80)
        self.write(SPI_DATA, bytes([0x03, addr >> 16 & 0xFF, addr >> 8 & 0xFF, addr & 0xFF, 0]))
        self.write(SWIRE_CTL, 0x00)
        self.write(SPI_CTRL, 0x0A)
        self.write(SWIRE_CTL, 0x80)
        data = self.read(SPI_DATA, n)
        self.write(SWIRE_CTL, 0x00)
        self.write(SPI_CTRL, 0x01)
        return data


class Server:
    """``python -m swsflash.bench`` as a child process."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "swsflash.bench", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        line = self.proc.stdout.readline().decode().strip() if ready else ""
        assert line.startswith("/dev/"), f"no pty path; stderr: {self._stderr()}"
        self.path = line

    def _stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")

    def stop(self) -> None:
        """SIGTERM and wait: the server must save and exit 0."""
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=10)
        assert self.proc.returncode == 0, err.decode(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def start(tmp_path: Path) -> Iterator[type[Server]]:
    servers: list[Server] = []

    class Started(Server):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            servers.append(self)

    yield Started
    for server in servers:
        server.kill()


@pytest.fixture(scope="module")
def factory_image(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """What the server starts from by default, as it saves it with no client at all."""
    path = tmp_path_factory.mktemp("factory") / "factory.bin"
    server = Server("--scenario", "healthy", "--save-flash", str(path))
    try:
        server.stop()
    finally:
        server.kill()
    image = path.read_bytes()
    assert len(image) == FLASH_SIZE
    return image


def test_program_flash_over_the_pty(
    start: type[Server], tmp_path: Path, factory_image: bytes
) -> None:
    saved = tmp_path / "flash.bin"
    server = start("--scenario", "healthy", "--save-flash", str(saved))
    t0 = time.monotonic()
    with serial.Serial(server.path, 921600, timeout=1.0) as port:
        sw = SWire(port)
        # A write is echoed character for character (checked inside every write).
        sw.take_chip(921600)
        assert sw.read(CHIP_ID, 2) == b"\x62\x55"
        assert sw.read(SWIRE_DIV) == bytes([53])

        sw.spi(0x06)
        sw.spi(0x20, PATTERN_AT >> 16, 0x00, 0x00)  # erase the 4 KB sector
        sw.wait_idle()
        sw.spi(0x06)
        sw.spi(0x02, PATTERN_AT >> 16, 0x00, 0x00, *PATTERN)  # page program
        sw.wait_idle()
        assert sw.flash_read(PATTERN_AT, len(PATTERN)) == PATTERN
    elapsed = time.monotonic() - t0
    server.stop()

    image = saved.read_bytes()
    assert image[PATTERN_AT : PATTERN_AT + len(PATTERN)] == PATTERN
    expected = bytearray(factory_image)
    expected[PATTERN_AT : PATTERN_AT + 0x1000] = b"\xff" * 0x1000
    expected[PATTERN_AT : PATTERN_AT + len(PATTERN)] = PATTERN
    assert image == bytes(expected)
    assert elapsed < 8


def test_power_on_after_open(start: type[Server]) -> None:
    server = start("--scenario", "healthy", "--power-on-after", "0.3")
    with serial.Serial(server.path, 921600, timeout=0.05) as port:
        # Unpowered: the line still echoes, but a read request gets nothing but its echo.
        request = header(CHIP_ID, 0x80)
        port.write(request)
        assert port.read(len(request)) == request
        port.write(bytes([ZERO]))
        assert port.read(9) == bytes([ZERO])
        port.write(word(1, 0xFF))
        assert port.read(10) == word(1, 0xFF)

        time.sleep(0.5)
        port.timeout = 1.0
        sw = SWire(port)
        sw.take_chip(921600)
        assert sw.read(CHIP_ID, 2) == b"\x62\x55"
    server.stop()


def test_reopen_at_other_bauds_and_load_flash(start: type[Server], tmp_path: Path) -> None:
    """Close and reopen, standard 3 Mbaud and a BOTHER custom rate; bytes pass unchanged."""
    image = bytes((i * 37 + 0x0D) & 0xFF for i in range(0x1000))  # 0x0D, 0x11, 0x13, 0xFF...
    loaded = tmp_path / "in.bin"
    loaded.write_bytes(image)
    saved = tmp_path / "out.bin"
    server = start("--load-flash", str(loaded), "--save-flash", str(saved), "--flash", "P25Q40L")
    for baud in (921600, 3_000_000, 1_234_567, 921600):
        with serial.Serial(server.path, baud, timeout=1.0) as port:
            sw = SWire(port)
            sw.take_chip(baud)
            assert sw.read(CHIP_ID, 2) == b"\x62\x55", baud
            assert sw.flash_read(0x20, 8) == image[0x20:0x28], baud
    # Raw both ways: every byte value goes through a client that configures nothing.
    fd = os.open(server.path, os.O_RDWR | os.O_NOCTTY)
    try:
        every = bytes(range(256))
        os.write(fd, every)
        got = b""
        deadline = time.monotonic() + 2
        while len(got) < len(every) and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                got += os.read(fd, 1024)
        assert got == every  # the adapter echoes what TX sent, whatever it was
    finally:
        os.close(fd)
    server.stop()
    assert saved.read_bytes() == image + b"\xff" * (FLASH_SIZE - len(image))


def test_adapter_preset_on_the_pty(start: type[Server]) -> None:
    """--adapter cp2102 serves a 3 Mbaud request at 921600 (AN205): a client at 3 M still
    gets its echo, but the chip answers at the divider for 921600, not for 3 M."""
    server = start("--adapter", "cp2102")
    with serial.Serial(server.path, 3_000_000, timeout=1.0) as port:
        sw = SWire(port)
        sw.take_chip(921_600)  # the divider for the rate actually on the line
        assert sw.read(CHIP_ID, 2) == b"\x62\x55"
    server.stop()


def test_unknown_adapter_preset_is_refused() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "swsflash.bench", "--adapter", "ch999"],
        capture_output=True,
        env=env,
        timeout=30,
    )
    assert done.returncode == 2
    err = done.stderr.decode()
    assert "ch999" in err and all(name in err for name in ("ch340", "cp2102", "ft232", "pl2303"))
