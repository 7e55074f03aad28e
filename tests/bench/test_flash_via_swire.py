"""The SPI flash reached the way a host reaches it: SWire writes and reads of the SPI master
registers 0x0C (data) and 0x0D (control), reference section 8."""

from __future__ import annotations

from dataclasses import replace

import pytest
from swire_bytes import SOURCES, Host, frames

from swsflash.bench.bench import Bench
from swsflash.bench.scenarios import factory_flash, scenario_config
from swsflash.bench.spi_flash import PARTS
from swsflash.bench.wire import PS_PER_S

DATA, CTRL = 0x000C, 0x000D
CS_LOW, CS_HIGH, AUTO_READ = 0x00, 0x01, 0x0A
BLANK_PAGE = 0x30000  # erased in a factory-fresh 512 KB unit


class FlashHost:
    """Flash commands through SWire; FIFO mode stays on so 0x0C is always the target."""

    def __init__(self, host: Host, status_way: str = "proven") -> None:
        self.host = host
        self.status_way = status_way
        host.write_reg(0x00B3, 0x80)

    def command(self, *mosi: int) -> None:
        self.host.write_reg(CTRL, CS_LOW)
        self.host.write_reg(DATA, *mosi)
        self.host.write_reg(CTRL, CS_HIGH)

    def manual(self, op: int, n: int) -> list[int | None]:
        """CS low, opcode, then ``n`` reads of 0x0C with auto-read off (each clocks a byte)."""
        self.host.write_reg(CTRL, CS_LOW)
        self.host.write_reg(DATA, op)
        values = self.host.read(DATA, n)
        self.host.write_reg(CTRL, CS_HIGH)
        return values

    def status(self) -> int:
        if self.status_way == "proven":  # CS low, 0x05, read 0x0C once (it clocks a byte)
            value = self.manual(0x05, 1)[0]
        else:  # the SDK's way: a dummy byte after 0x05, then read what was latched
            self.host.write_reg(CTRL, CS_LOW)
            self.host.write_reg(DATA, 0x05, 0xFF)
            self.host.write_reg(CTRL, AUTO_READ)
            value = self.host.read(DATA, 1)[0]
            self.host.write_reg(CTRL, CS_HIGH)
        assert value is not None
        return value

    def jedec(self) -> list[int | None]:
        return self.manual(0x9F, 3)

    def read(self, addr: int, n: int) -> list[int | None]:
        self.host.write_reg(CTRL, CS_LOW)
        self.host.write_reg(DATA, 0x03, *addr.to_bytes(3, "big"), 0x00)
        self.host.write_reg(CTRL, AUTO_READ)
        values = self.host.read(DATA, n)
        self.host.write_reg(CTRL, CS_HIGH)
        return values

    def wren(self) -> None:
        self.command(0x06)

    def program(self, addr: int, data: bytes) -> None:
        self.wren()
        self.command(0x02, *addr.to_bytes(3, "big"), *data)

    def erase_sector(self, addr: int) -> None:
        self.wren()
        self.command(0x20, *addr.to_bytes(3, "big"))

    def wait_ready(self, limit_s: float = 5.0) -> None:
        deadline = self.host.t + round(limit_s * PS_PER_S)
        while self.status() & 0x01:
            assert self.host.t < deadline, "WIP never cleared"


def flash_host(
    scenario: str = "healthy", part: str | None = None, way: str = "proven"
) -> FlashHost:
    config = replace(scenario_config(scenario), baud=921_600)
    if part is not None:
        config = replace(config, flash_part=part)
    bench = Bench(config, factory_flash(config.flash_part))
    host = Host(bench)
    host.sleep(0.002)
    host.write_reg(0x0602, 0x05)
    host.write_reg(0x0622, 0x00)
    host.write_reg(0x00B2, 53)
    return FlashHost(host, way)


@pytest.mark.parametrize("source", SOURCES)
def test_flash_read_through_auto_read(source: str) -> None:
    f = frames(source)
    fh = flash_host()
    host = fh.host
    firmware = factory_flash("ZB25WD40B")
    host.send(f["spi_cs_low"])
    host.send(f["flash_read_cmd_0x1000"])
    host.send(f["spi_auto_read"])
    assert host.read(DATA, 8) == list(firmware[0x1000:0x1008])
    host.send(f["spi_cs_high"])
    assert fh.read(0, 12) == list(firmware[:12])


def test_jedec_id() -> None:
    assert flash_host().jedec() == [0x5E, 0x32, 0x13]
    assert flash_host(part="GD25LD80C").jedec() == [0xC8, 0x60, 0x14]


@pytest.mark.parametrize("way", ["proven", "sdk"])
def test_page_program_wraps_inside_the_page(way: str) -> None:
    fh = flash_host(way=way)
    data = bytes(range(0xA0, 0xA0 + 32))
    fh.program(BLANK_PAGE + 0xF0, data)
    fh.wait_ready()
    assert fh.read(BLANK_PAGE + 0xF0, 16) == list(data[:16])
    assert fh.read(BLANK_PAGE, 18) == [*data[16:], 0xFF, 0xFF]
    assert fh.read(BLANK_PAGE + 0x100, 4) == [0xFF] * 4  # the next page is untouched
    # Programming only clears bits.
    fh.program(BLANK_PAGE + 0xF0, b"\x0f")
    fh.wait_ready()
    assert fh.read(BLANK_PAGE + 0xF0, 1) == [0xA0 & 0x0F]


@pytest.mark.parametrize("part", ["ZB25WD40B", "MD25D40D"])
@pytest.mark.parametrize("way", ["proven", "sdk"])
def test_sector_erase_is_busy_for_the_parts_erase_time(part: str, way: str) -> None:
    fh = flash_host(part=part, way=way)
    host = fh.host
    busy_ps = round(PARTS[part].sector_erase_s * PS_PER_S)
    assert fh.read(0x0000, 4) != [0xFF] * 4  # firmware is there
    fh.wren()
    host.write_reg(CTRL, CS_LOW)
    host.write_reg(DATA, 0x20, 0x00, 0x00, 0x00)
    before = host.t
    host.write_reg(CTRL, CS_HIGH)  # the erase starts when CS rises, during this write
    after = host.t

    first = fh.status()
    assert first & 0x03 == 0x03, "WIP and WEL set right after the erase"
    # A program sent while busy is lost (the user-reported "first write after erase").
    fh.program(0x0000, b"\x00")
    polls: list[tuple[int, int, int]] = []
    while True:
        t0 = host.t
        status = fh.status()
        polls.append((t0, host.t, status))
        if not status & 0x01:
            break
        assert host.t - before < 2 * busy_ps
    for t0, t1, status in polls:
        if t1 < before + busy_ps:
            assert status & 0x01, "WIP cleared before the erase time"
        if t0 > after + busy_ps:
            assert not status & 0x01, "WIP still set after the erase time"
    assert polls[-1][1] - before >= busy_ps
    assert sum(1 for _, t1, _ in polls if t1 < before + busy_ps) >= 2
    assert fh.read(0x0000, 8) == [0xFF] * 8
    assert fh.read(0x0FF8, 8) == [0xFF] * 8
    assert fh.read(0x1000, 4) != [0xFF] * 4  # the next sector is kept


def test_protected_flash_ignores_program_and_erase_until_status_cleared() -> None:
    fh = flash_host("protected")
    firmware = factory_flash("ZB25WD40B")
    assert fh.status() & 0x1C == 0x1C
    fh.program(BLANK_PAGE, b"\x12\x34")
    fh.wait_ready()
    assert fh.read(BLANK_PAGE, 2) == [0xFF, 0xFF]
    fh.erase_sector(0x0000)
    fh.wait_ready()
    assert fh.read(0x0000, 8) == list(firmware[:8])

    # Write status without write enable: ignored.
    fh.command(0x01, 0x00)
    fh.wait_ready()
    assert fh.status() & 0x1C == 0x1C
    fh.wren()
    fh.command(0x01, 0x00)
    fh.wait_ready()
    assert fh.status() == 0x00

    fh.program(BLANK_PAGE, b"\x12\x34")
    fh.wait_ready()
    assert fh.read(BLANK_PAGE, 2) == [0x12, 0x34]
    fh.erase_sector(0x0000)
    fh.wait_ready()
    assert fh.read(0x0000, 8) == [0xFF] * 8


def test_flash_in_deep_power_down_answers_only_after_release() -> None:
    fh = flash_host("flash-asleep")
    assert fh.jedec() == [0xFF, 0xFF, 0xFF]
    assert fh.read(0x0000, 4) == [0xFF] * 4
    fh.command(0xAB)
    assert fh.jedec() == [0x5E, 0x32, 0x13]
    assert fh.read(0x0000, 4) == list(factory_flash("ZB25WD40B")[:4])
    fh.command(0xB9)  # and back to sleep
    assert fh.jedec() == [0xFF, 0xFF, 0xFF]


def test_miso_reads_ff_when_nothing_drives() -> None:
    fh = flash_host()
    fh.host.write_reg(CTRL, CS_LOW)
    fh.host.write_reg(DATA, 0x06)  # write enable: the flash sends nothing back
    assert fh.host.read(DATA, 2) == [0xFF, 0xFF]
    fh.host.write_reg(CTRL, CS_HIGH)
