"""Behaviour of the SPI NOR flash model, as a host talking SPI to it would see it."""

from __future__ import annotations

import pytest

from swsflash.bench.spi_flash import (
    DEFAULT_PART,
    PARTS,
    PS_PER_S,
    FlashPart,
    SpiFlash,
)

BYTE_PS = 1_000_000  # 1 us per SPI byte, and between commands
SECTOR = 0x1000


class Bus:
    """Drives one flash with a clock of its own: every call moves time forward."""

    def __init__(self, flash: SpiFlash) -> None:
        self.flash = flash
        self.t = 0

    def cmd(self, *mosi: int) -> list[int]:
        """One CS-low period: returns MISO for every byte sent."""
        self.t += BYTE_PS
        self.flash.select(self.t)
        miso = []
        for b in mosi:
            self.t += BYTE_PS
            miso.append(self.flash.exchange(b, self.t))
        self.t += BYTE_PS
        self.flash.deselect(self.t)
        return miso

    def read(self, addr: int, n: int) -> bytes:
        return bytes(self.cmd(0x03, *addr.to_bytes(3, "big"), *[0] * n)[4:])

    def status(self) -> int:
        return self.cmd(0x05, 0)[1]

    def wren(self) -> None:
        self.cmd(0x06)

    def program(self, addr: int, data: bytes) -> None:
        self.wren()
        self.cmd(0x02, *addr.to_bytes(3, "big"), *data)

    def erase(self, op: int, addr: int) -> None:
        self.wren()
        self.cmd(op, *addr.to_bytes(3, "big"))

    def wait(self) -> None:
        while self.status() & 1:
            self.t += 1_000_000_000  # 1 ms


def make(**kwargs: object) -> Bus:
    part = kwargs.pop("part", PARTS[DEFAULT_PART])
    assert isinstance(part, FlashPart)
    return Bus(SpiFlash(part, **kwargs))  # type: ignore[arg-type]


def test_jedec_id_then_nothing() -> None:
    bus = make()
    assert bus.cmd(0x9F, 0, 0, 0, 0) == [0xFF, 0x5E, 0x32, 0x13, 0xFF]


def test_parts_table() -> None:
    assert PARTS[DEFAULT_PART].size == 512 * 1024
    assert PARTS["P25Q40L"].jedec_id == bytes([0x85, 0x60, 0x13])
    assert PARTS["P25Q40L"].sector_erase_s < PARTS["ZB25WD40B"].sector_erase_s
    for name in ("ZB25WD40B", "GD25LD40C", "MD25D40D", "P25Q40L", "TH25D40LA"):
        assert PARTS[name].size == 1 << 19
    with pytest.raises(ValueError):
        FlashPart("bad", b"\x01\x02\x13", 1 << 20, 0.1, 0.4, 1.0, 0.001, 0.01)


def test_one_megabyte_part() -> None:
    bus = make(part=PARTS["GD25LD80C"])
    assert len(bus.flash.data) == 1 << 20
    assert bus.cmd(0x9F, 0, 0, 0) == [0xFF, 0xC8, 0x60, 0x14]
    bus.program(0xFF000, b"\x12\x34")  # the MAC sector of a 1 MB unit
    bus.wait()
    assert bus.read(0xFF000, 3) == b"\x12\x34\xff"


def test_read_fast_read_and_wrap_at_end() -> None:
    bus = make(data=b"\x01\x02\x03")
    bus.flash.load_image(b"\xaa\xbb", bus.flash.part.size - 2)
    assert bus.read(bus.flash.part.size - 2, 5) == b"\xaa\xbb\x01\x02\x03"
    # Fast read: address 1, one dummy byte, then data.
    assert bus.cmd(0x0B, 0, 0, 1, 0, 0, 0) == [0xFF] * 5 + [0x02, 0x03]


def test_read_status_is_live_and_repeats() -> None:
    bus = make(timing_scale=1e-3)
    bus.erase(0x20, 0)
    # One long 0x05 read: WIP set for the first bytes, clear once the erase is over.
    answers = bus.cmd(0x05, *[0] * 200)[1:]
    assert answers[0] == 0x03  # WIP, and WEL until the operation ends
    assert answers[-1] == 0x00
    assert answers == sorted(answers, reverse=True)


def test_program_only_clears_bits() -> None:
    bus = make()
    bus.flash.load_image(b"\xf0\xf0", 0x1000)
    bus.program(0x1000, b"\x0f\xff")
    bus.wait()
    assert bus.read(0x1000, 3) == b"\x00\xf0\xff"


def test_page_program_wraps_inside_the_page() -> None:
    bus = make()
    bus.program(0x0012FE, b"\x01\x02\x03\x04")
    bus.wait()
    assert bus.read(0x1200, 2) == b"\x03\x04"
    assert bus.read(0x12FE, 4) == b"\x01\x02\xff\xff"  # 0x1300 is the next page: untouched


def test_page_buffer_keeps_the_last_byte_for_each_offset() -> None:
    bus = make()
    # 257 bytes: the 257th replaces the first in the page buffer before anything is written.
    bus.program(0x100, bytes(range(256)) + b"\x55")
    bus.wait()
    assert bus.read(0x100, 3) == b"\x55\x01\x02"


def test_program_without_write_enable_does_nothing() -> None:
    bus = make()
    bus.cmd(0x02, 0, 0, 0, 0x00)
    assert bus.status() == 0
    assert bus.read(0, 1) == b"\xff"
    bus.wren()
    bus.cmd(0x04)  # write disable
    bus.cmd(0x02, 0, 0, 0, 0x00)
    assert bus.read(0, 1) == b"\xff"


def test_write_enable_and_disable() -> None:
    bus = make()
    bus.wren()
    assert bus.status() == 0x02
    bus.cmd(0x04)
    assert bus.status() == 0x00
    bus.cmd(0x06, 0x00)  # CS must rise right after the opcode
    assert bus.status() == 0x00


def test_sector_erase_busy_time() -> None:
    part = PARTS[DEFAULT_PART]
    flash = SpiFlash(part, b"\x00" * part.size)
    bus = Bus(flash)
    bus.erase(0x20, 0x1234)
    t_end = bus.t + round(part.sector_erase_s * PS_PER_S)
    assert flash.status(t_end - 1) & 0x01
    assert flash.busy(t_end - 1)
    assert flash.status(t_end) == 0x00  # WIP and WEL clear
    assert not flash.busy(t_end)
    bus.t = t_end
    assert bus.read(0x0FFF, 1) == b"\x00"
    assert bus.read(0x1000, SECTOR) == b"\xff" * SECTOR
    assert bus.read(0x2000, 1) == b"\x00"


@pytest.mark.parametrize(("op", "length"), [(0x52, 0x8000), (0xD8, 0x10000)])
def test_block_erase(op: int, length: int) -> None:
    part = PARTS[DEFAULT_PART]
    flash = SpiFlash(part, b"\x00" * part.size)
    bus = Bus(flash)
    bus.erase(op, length + 5)
    bus.t += round(part.block_erase_s * PS_PER_S) - 1
    assert flash.busy(bus.t)
    bus.wait()
    assert flash.data[length - 1] == 0x00
    assert flash.data[length : 2 * length] == b"\xff" * length
    assert flash.data[2 * length] == 0x00


def test_timing_scale_multiplies_busy_times() -> None:
    part = PARTS[DEFAULT_PART]
    flash = SpiFlash(part, timing_scale=0.5)
    bus = Bus(flash)
    bus.program(0, b"\x00")
    t_end = bus.t + round(part.page_program_s * 0.5 * PS_PER_S)
    assert flash.busy(t_end - 1)
    assert not flash.busy(t_end)


def test_commands_while_busy_are_ignored() -> None:
    bus = make(data=b"\x00" * 0x2000)
    bus.erase(0x20, 0)
    assert bus.status() & 0x01
    assert bus.read(0, 4) == b"\xff" * 4  # MISO undriven, not the erased data
    assert bus.read(0x1000, 4) == b"\xff" * 4
    assert bus.cmd(0x9F, 0, 0, 0) == [0xFF] * 4
    bus.program(0x1000, b"\x12")  # write enable and program both ignored
    assert bus.cmd(0x35, 0) == [0xFF, 0x00]  # status byte 2 is still answered
    bus.wait()
    assert bus.status() == 0x00  # the WEL sent while busy was ignored too
    assert bus.read(0x1000, 1) == b"\x00"  # the lost write: sector 1 keeps its data


def test_erase_with_wrong_address_length_is_ignored() -> None:
    bus = make(data=b"\x00" * 0x3000)
    bus.wren()
    bus.cmd(0x20, 0x00, 0x10)  # two address bytes
    bus.cmd(0x20, 0x00, 0x10, 0x00, 0x00)  # four
    assert not bus.flash.busy(bus.t)
    assert bus.read(0x1000, 1) == b"\x00"
    bus.cmd(0x20, 0x00, 0x10, 0x00)  # WEL is still set from before: this one works
    bus.wait()
    assert bus.read(0x1000, 1) == b"\xff"


def test_block_protection() -> None:
    bus = make(data=b"\x00" * 0x1000, status=0x1C)  # bp = 7: everything protected
    assert bus.status() == 0x1C
    bus.program(0x1000, b"\x00")
    assert bus.status() == 0x1C  # not busy, WEL cleared: silently ignored
    assert bus.read(0x1000, 1) == b"\xff"
    bus.erase(0x20, 0)
    assert bus.read(0, 1) == b"\x00"
    for chip_erase in (0x60, 0xC7):
        bus.wren()
        bus.cmd(chip_erase)
    assert bus.status() == 0x1C
    assert bus.read(0, 1) == b"\x00"

    bus.wren()
    bus.cmd(0x01, 0x00)  # write status 0x00: unprotect
    assert bus.status() & 0x01
    bus.wait()
    assert bus.status() == 0x00
    bus.program(0x1000, b"\x42")
    bus.wait()
    assert bus.read(0x1000, 1) == b"\x42"
    bus.wren()
    bus.cmd(0x60)
    bus.wait()
    assert bus.flash.data == b"\xff" * bus.flash.part.size


def test_partial_protection_covers_the_top() -> None:
    bus = make(data=b"\x00" * (512 * 1024), status=0x04)  # bp = 1: top 64 KB of 512 KB
    bus.erase(0x20, 0x70000)
    bus.erase(0x52, 0x78000)
    bus.erase(0xD8, 0x70000)
    assert bus.status() == 0x04  # nothing started, WEL consumed
    assert bus.read(0x70000, 1) == b"\x00"
    assert bus.read(0x78000, 1) == b"\x00"
    bus.erase(0x20, 0x6F000)
    bus.wait()
    assert bus.read(0x6F000, 1) == b"\xff"
    bus.erase(0x60, 0)  # chip erase refused with any BP bit set
    assert bus.read(0, 1) == b"\x00"


def test_write_status_only_changes_writable_bits() -> None:
    bus = make()
    bus.wren()
    bus.cmd(0x01, 0xFF)
    bus.wait()
    assert bus.status() == 0x9C  # BP and SRP; WIP and WEL are not writable
    bus.cmd(0x01, 0x00)  # without WEL
    assert bus.status() == 0x9C
    bus.wren()
    bus.cmd(0x01, 0x00, 0x02)  # two bytes: the second is status byte 2
    bus.wait()
    assert bus.status() == 0x00
    assert bus.cmd(0x35, 0, 0) == [0xFF, 0x02, 0x02]


def test_deep_power_down() -> None:
    bus = make()
    bus.cmd(0xB9)
    assert bus.flash.in_deep_power_down
    assert bus.cmd(0x9F, 0, 0, 0) == [0xFF] * 4
    assert bus.cmd(0x05, 0, 0) == [0xFF] * 3
    bus.program(0, b"\x00")
    assert bus.flash.data[0] == 0xFF
    assert bus.flash.status(bus.t) == 0x00
    assert bus.cmd(0xAB, 0, 0, 0, 0, 0) == [0xFF] * 4 + [0x12, 0x12]  # device id
    assert not bus.flash.in_deep_power_down
    assert bus.cmd(0x9F, 0, 0, 0) == [0xFF, 0x5E, 0x32, 0x13]
    bus.program(0, b"\x00")
    bus.wait()
    assert bus.read(0, 1) == b"\x00"


def test_starts_asleep_and_plain_release_wakes() -> None:
    bus = make(deep_power_down=True)
    assert bus.read(0, 1) == b"\xff"
    bus.cmd(0xAB)
    assert bus.cmd(0x9F, 0, 0, 0)[1:] == [0x5E, 0x32, 0x13]


def test_unique_id_after_four_dummies() -> None:
    uid = bytes(range(0xA0, 0xB0))
    bus = make(unique_id=uid)
    answer = bus.cmd(0x4B, *[0] * 21)
    assert answer[:5] == [0xFF] * 5
    assert bytes(answer[5:21]) == uid
    assert answer[21] == 0xFF


def test_unknown_opcode_and_deselected_bus_answer_ff() -> None:
    flash = SpiFlash(PARTS[DEFAULT_PART], b"\x00")
    assert flash.exchange(0x03, 1) == 0xFF  # not selected: nothing happens
    bus = Bus(flash)
    bus.t = 2
    assert bus.cmd(0x77, 0, 0, 0, 0) == [0xFF] * 5


def test_time_must_not_go_backwards_and_image_must_fit() -> None:
    flash = SpiFlash(PARTS[DEFAULT_PART])
    flash.select(100)
    with pytest.raises(ValueError):
        flash.exchange(0x05, 99)
    with pytest.raises(ValueError):
        flash.load_image(b"\x00\x00", flash.part.size - 1)
    with pytest.raises(ValueError):
        SpiFlash(PARTS[DEFAULT_PART], b"\x00" * (flash.part.size + 1))
