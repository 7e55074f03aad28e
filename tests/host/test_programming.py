"""Programming behind a slow adapter, on noisy lines, on slow flash parts and on a flash
whose lock hides in its second status byte."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

import swsflash
from swsflash.api import Device
from swsflash.bench.scenarios import factory_flash
from swsflash.errors import FlashError, SwsError
from swsflash.layout import SECTOR

BASE = 0x10000  # inside the image region, away from the MAC and calibration sectors


def random_image(sectors: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(sectors * SECTOR)


def flash_of(dev: Device) -> bytes:
    return bytes(dev.transport.port.bench.flash.data)


def floor_s(nbytes: int, sectors: int, erase_s: float = 0.100, baud: int = 921_600) -> float:
    """The line's floor for write + verify (benchmarks/job_speed.py): ten characters per
    data byte each way, plus the flash's erase busy time."""
    return 2 * nbytes * 100 / baud + sectors * erase_s


@pytest.mark.parametrize("latency_us", [1000, 16000])
def test_write_and_verify_stays_near_the_floor_behind_a_latency_timer(latency_us: int) -> None:
    """An FT232 holds what it received up to 16 ms: a page must not wait for it twice."""
    image = random_image(6)
    with swsflash.connect(f"sim://?latency_us={latency_us}") as dev:
        start = dev.clock.now()
        report = dev.write_image(image, address=BASE)
        seconds = dev.clock.now() - start
        assert flash_of(dev)[BASE : BASE + len(image)] == image
    assert report.retries == 0
    assert seconds <= 1.3 * floor_s(len(image), 6)


@pytest.mark.parametrize("page_ms", [0.2, 1.5, 3.0, 6.0])
def test_slow_page_programs_never_lose_a_page(page_ms: float) -> None:
    """No source gives the page-program time (typical SPI NOR: up to 3 ms): whatever it
    is, no page is sent while the flash is busy, so none is lost and none is retried."""
    image = random_image(2, seed=3)
    with swsflash.connect("sim://") as dev:
        flash = dev.transport.port.bench.flash
        flash.part = replace(flash.part, page_program_s=page_ms / 1000)
        report = dev.write_image(image, address=BASE)
        assert flash_of(dev)[BASE : BASE + len(image)] == image
    assert report.retries == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bit_errors_never_touch_a_byte_outside_the_image(seed: int) -> None:
    """Garbled characters in a streamed page program cost a retry of the sector, never a
    program or an erase anywhere else: MAC, calibration and the rest stay as they were."""
    image = random_image(8, seed=seed)
    with swsflash.connect("sim://") as dev:
        before = flash_of(dev)
    with swsflash.connect(f"sim://?ber=4e-7&seed={seed}") as dev:
        report = dev.write_image(image, address=BASE)
        after = flash_of(dev)
    assert report.retries > 0  # the line did garble something
    assert after[BASE : BASE + len(image)] == image
    assert after[:BASE] == before[:BASE]
    assert after[BASE + len(image) :] == before[BASE + len(image) :]


def test_a_garbled_character_while_connecting_is_retried_not_called_a_wiring_fault() -> None:
    """Once the SWire clock is found the wiring is known to work: a character garbled on a
    noisy line while the flash is woken is retried (this seed garbles one there)."""
    with swsflash.connect("sim://") as dev:
        expected = dev.read(0x55000, 256)
    with swsflash.connect("sim://?ber=1e-6&seed=3") as dev:
        assert dev.retries >= 1  # the line did garble the connection
        assert dev.read(0x55000, 256) == expected


def test_a_cmp_locked_flash_is_unlocked_and_written() -> None:
    """P25Q40L with CMP set: status-1 reads 0x00, yet everything is protected."""
    image = random_image(2)
    with swsflash.connect("sim://locked-cmp") as dev:
        report = dev.write_image(image, address=BASE)
        assert flash_of(dev)[BASE : BASE + len(image)] == image
        assert dev.flash.status2() == 0x00
    assert "cleared the flash's block protection" in report.notes


def test_a_lock_that_will_not_clear_is_named_as_such() -> None:
    with swsflash.connect("sim://locked-cmp") as dev:
        flash = dev.transport.port.bench.flash
        flash._write_sr2 = lambda value: None  # status-2 held (a locked status register)
        with pytest.raises(FlashError) as caught:
            dev.write_image(random_image(1), address=BASE)
    assert "write protection could not be cleared (status 0x00, 0x40" in caught.value.message
    assert "noisy" not in caught.value.message + caught.value.hint


def test_a_write_the_flash_ignored_blames_the_lock_not_the_line() -> None:
    with swsflash.connect("sim://locked-cmp") as dev:
        dev.flash.unprotect = lambda: False  # type: ignore[method-assign]
        with pytest.raises(FlashError) as caught:
            dev.write_image(random_image(1), address=BASE)
    assert "write protection is on (status 0x00, 0x40)" in caught.value.message


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_line_too_noisy_to_finish_still_touches_nothing_else(seed: int, tmp_path: Path) -> None:
    """Ten times the error rate: the job may give up, but every garbled page header was
    caught before its data, so the bytes outside the image's sectors are as they were."""
    image = random_image(4, seed=seed)
    state = tmp_path / "unit.bin"
    before = factory_flash("ZB25WD40B")
    try:
        with swsflash.connect(f"sim://?ber=2e-6&seed={seed}&state={state}") as dev:
            dev.write_image(image, address=BASE)
    except SwsError:
        pass  # gave up after its retries: a fair outcome on such a line
    after = state.read_bytes()
    assert after[:BASE] == before[:BASE]
    assert after[BASE + len(image) :] == before[BASE + len(image) :]
