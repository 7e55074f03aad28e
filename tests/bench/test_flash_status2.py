"""A flash part with a second status byte (P25Q40L style, field-evidence.md section 4): status-2
read by 0x35, two-byte status write, SEC/TB/CMP protection. With CMP set, "BP = 0"
protects everything and programs and erases are silently ignored."""

from __future__ import annotations

from dataclasses import replace

import pytest
import serial
from swire_bytes import Host
from test_flash_via_swire import BLANK_PAGE, FlashHost, flash_host
from test_spi_flash import Bus

from swsflash.bench.bench import Bench
from swsflash.bench.scenarios import factory_flash, scenario_config
from swsflash.bench.spi_flash import PARTS, SpiFlash

if "swsflash.bench.urlhandler" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("swsflash.bench.urlhandler")

P25 = PARTS["P25Q40L"]
SIZE = P25.size
KB = 1024


def status2(fh: FlashHost) -> int | None:
    return fh.manual(0x35, 1)[0]


def test_locked_cmp_ignores_programs_and_erases_silently() -> None:
    fh = flash_host("locked-cmp")
    firmware = factory_flash("P25Q40L")
    assert fh.jedec() == [0x85, 0x60, 0x13]
    assert fh.status() == 0x00  # status-1 alone looks unprotected ...
    assert status2(fh) == 0x40  # ... the lock is CMP in status-2
    fh.program(BLANK_PAGE, b"\x12\x34")
    fh.wait_ready()
    assert fh.read(BLANK_PAGE, 2) == [0xFF, 0xFF]
    fh.erase_sector(0x0000)
    fh.wait_ready()
    assert fh.read(0x0000, 8) == list(firmware[:8])


def test_two_byte_status_write_clears_cmp_and_unlocks() -> None:
    fh = flash_host("locked-cmp")
    fh.wren()
    fh.command(0x01, 0x00, 0x00)
    fh.wait_ready()
    assert status2(fh) == 0x00
    fh.program(BLANK_PAGE, b"\x12\x34")
    fh.wait_ready()
    assert fh.read(BLANK_PAGE, 2) == [0x12, 0x34]


@pytest.mark.parametrize(("policy", "unlocked"), [("keep", False), ("clear", True)])
def test_one_byte_status_write_leaves_or_clears_status2(policy: str, unlocked: bool) -> None:
    config = scenario_config("locked-cmp")
    bench = Bench(replace(config, one_byte_status_write=policy), factory_flash("P25Q40L"))
    host = Host(bench)
    host.sleep(0.002)
    host.write_reg(0x0602, 0x05)
    host.write_reg(0x0622, 0x00)
    host.write_reg(0x00B2, 53)
    fh = FlashHost(host)
    fh.wren()
    fh.command(0x01, 0x00)  # what a host that knows only status-1 sends
    fh.wait_ready()
    assert (status2(fh) == 0x00) is unlocked
    fh.program(BLANK_PAGE, b"\x12\x34")
    fh.wait_ready()
    assert (fh.read(BLANK_PAGE, 2) == [0x12, 0x34]) is unlocked


def test_status2_option_and_its_checks() -> None:
    port = serial.serial_for_url("sim://?flash=P25Q40L&status2=0x40")
    flash = port.bench.flash  # type: ignore[attr-defined]
    flash.select(flash._now)
    flash.exchange(0x35, flash._now)
    assert flash.exchange(0xFF, flash._now) == 0x40
    port.close()
    with pytest.raises(serial.SerialException, match="no second status byte"):
        serial.serial_for_url("sim://?status2=0x40")  # the default part has none


def programmable(status: int, status2: int) -> list[bool]:
    """For each 4 KB sector: does a program there take effect?"""
    bus = Bus(SpiFlash(P25, status=status, status2=status2))
    out = []
    for sector in range(0, SIZE, 4 * KB):
        bus.program(sector, b"\x00")
        bus.wait()
        out.append(bus.read(sector, 1) == b"\x00")
    return out


def protected_span(status: int, status2: int = 0) -> tuple[int, int]:
    """(first protected byte, end) from what programs do, in bytes."""
    ok = programmable(status, status2)
    locked = [i for i, p in enumerate(ok) if not p]
    if not locked:
        return (0, 0)
    assert locked == list(range(locked[0], locked[-1] + 1)), "one contiguous range"
    return locked[0] * 4 * KB, (locked[-1] + 1) * 4 * KB


@pytest.mark.parametrize(
    ("status", "status2", "span"),
    [
        (0x00, 0x00, (0, 0)),
        (0x04, 0x00, (SIZE - 64 * KB, SIZE)),  # BP=1: top 64 KB
        (0x24, 0x00, (0, 64 * KB)),  # TB: bottom 64 KB
        (0x44, 0x00, (SIZE - 4 * KB, SIZE)),  # SEC: top 4 KB
        (0x6C, 0x00, (0, 16 * KB)),  # SEC + TB, BP=3: bottom 16 KB
        (0x1C, 0x00, (0, SIZE)),  # BP=7: all
        (0x00, 0x40, (0, SIZE)),  # CMP, BP=0: all
        (0x04, 0x40, (0, SIZE - 64 * KB)),  # CMP, BP=1: all but the top 64 KB
        (0x24, 0x40, (64 * KB, SIZE)),  # CMP, TB: all but the bottom 64 KB
        (0x1C, 0x40, (0, 0)),  # CMP, BP=7: nothing
    ],
)
def test_protection_table_with_sec_tb_cmp(status: int, status2: int, span: tuple[int, int]) -> None:
    assert protected_span(status, status2) == span


def test_lock_bits_are_one_time_programmable() -> None:
    bus = Bus(SpiFlash(P25))
    bus.wren()
    bus.cmd(0x01, 0x00, 0x08)  # LB1
    bus.wait()
    bus.wren()
    bus.cmd(0x01, 0x00, 0x00)
    bus.wait()
    assert bus.cmd(0x35, 0)[1] == 0x08
