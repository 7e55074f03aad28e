"""Knowing the unit on the bench: `info` names what each image slot holds and which one the
boot ROM starts; a full image written at 0 becomes the one that boots, and only after it
is verified; the settings an old firmware family left behind are named, and erased on
request after a backup. Flash contents are built from the real projects' image layouts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import DEMO_IMAGE, Unit, run_cli
from fw_images import (
    BLE,
    FLASH,
    STOCK,
    TRANSITIONAL,
    Z03,
    ZIGBEETLC,
    image,
    ota_file,
    unit_flash,
    with_byte8,
)

import swsflash
from swsflash import jobs
from swsflash.api import Device
from swsflash.backup import BackupStore, load_backup
from swsflash.errors import PortError, UsageError
from swsflash.firmware import Marker, SlotState, describe_slots
from swsflash.images import load_image

LOG = bytes.fromhex("dec0aa55") + bytes(range(60))  # an ATC/pvvx history-log sector head
DEMO = DEMO_IMAGE.read_bytes()  # a z03mmc-sized Zigbee image (manufacturer 0x1141, 0x0203)


def seeded(unit: Unit, *parts: tuple[int, bytes]) -> Unit:
    """The bench unit's flash: factory data, then these images and settings."""
    unit.state.write_bytes(unit_flash(*parts))
    return unit


def device(unit: Unit) -> Any:
    return swsflash.connect(unit.url)


def after(unit: Unit, deep: bool = True) -> Any:
    """What the flash the bench kept says, read without the flasher."""
    data = unit.state.read_bytes()
    return describe_slots(lambda a, n: data[a : a + n], FLASH, deep)


def slot(report: dict[str, Any], address: int) -> dict[str, Any]:
    return next(s for s in report["slots"] if int(s["address"], 16) == address)


# -- info -----------------------------------------------------------------------------------
CASES = [
    # (flash parts, deep) -> slot 0 (state, marker, family), slot 0x40000 (...), boot slot
    (
        "ATC v5.8 at 0",
        [(0, BLE)],
        False,
        ("image", "bootable", "atc-pvvx"),
        ("blank", "absent", None),
        "0x00000",
    ),
    (
        "after the OTA to z03mmc: transitional disabled, z03mmc running from 0x40000",
        [(0, with_byte8(TRANSITIONAL, 0x00)), (0x40000, Z03)],
        True,
        ("image", "disabled", "transitional-ota"),
        ("image", "bootable", "z03mmc"),
        "0x40000",
    ),
    (
        "stock Xiaomi, header only",
        [(0, STOCK)],
        False,
        ("image", "bootable", "telink-ble"),
        ("blank", "absent", None),
        "0x00000",
    ),
    (
        "stock Xiaomi, deep",
        [(0, STOCK)],
        True,
        ("image", "bootable", "stock-xiaomi"),
        ("blank", "absent", None),
        "0x00000",
    ),
    (
        "ZigbeeTLc running, an OTA download of z03mmc never finished",
        [(0, ZIGBEETLC), (0x40000, with_byte8(Z03[:0x2000], 0xFF))],
        False,
        ("image", "bootable", "zigbeetlc"),
        ("image", "downloading", "z03mmc"),
        "0x00000",
    ),
    (
        "z03mmc cut off half-way, ATC history log at 0x40000",
        [(0, Z03[:0x3000]), (0x40000, LOG)],
        True,
        ("partial", "bootable", "z03mmc"),
        ("data", "absent", None),
        "0x00000",
    ),
]


@pytest.mark.parametrize(
    ("parts", "deep", "first", "second", "boot"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_info_names_each_family_and_slot_state(
    unit: Unit,
    parts: list[tuple[int, bytes]],
    deep: bool,
    first: tuple[str, str, str | None],
    second: tuple[str, str, str | None],
    boot: str,
) -> None:
    with device(seeded(unit, *parts)) as dev:
        fw = dev.info(deep)["firmware"]
    for address, want in ((0, first), (0x40000, second)):
        got = slot(fw, address)
        assert (got["state"], got["marker"], got["family"]) == want, got
    assert fw["boot"]["slot"] == boot
    assert fw["hardware_version"]["revision"] == "B1.7"  # the bench's factory record


def test_both_slots_bootable_reports_slot_0_and_that_it_is_not_settled(unit: Unit) -> None:
    with device(seeded(unit, (0, BLE), (0x40000, Z03))) as dev:
        boot = dev.info()["firmware"]["boot"]
    assert boot["slot"] == "0x00000" and boot["certain"] is False
    assert "not settled" in boot["rule"]


def counting(dev: Device) -> list[int]:
    """Every byte the flash driver reads from now on, counted."""
    sizes: list[int] = []
    real = dev.flash.read

    def read(addr: int, size: int) -> bytes:
        sizes.append(size)
        return real(addr, size)

    dev.flash.read = read  # type: ignore[method-assign]
    return sizes


def test_info_reads_a_few_hundred_bytes_unless_deep(unit: Unit) -> None:
    with device(seeded(unit, (0, BLE), (0x40000, Z03), (0x7C000, b"\x5a" * 64))) as dev:
        sizes = counting(dev)
        jobs.firmware(dev)
        assert 0 < sum(sizes) < 1024
        sizes.clear()
        dev.info()  # plus the MAC head and the calibration summary
        assert sum(sizes) < 1024 + 0x200 + 8
        sizes.clear()
        jobs.firmware(dev, deep=True)
        assert len(BLE) + len(Z03) <= sum(sizes) < len(BLE) + len(Z03) + 1024


def test_info_says_which_settings_areas_hold_data(unit: Unit) -> None:
    parts = [(0, Z03), (0x7C000, b"\x5a" * 64), (0x34000, b"\x01" * 16)]
    with device(seeded(unit, *parts)) as dev:
        fw = dev.info()["firmware"]
    used = {n["area"].split(" (0x")[0] for n in fw["nv_areas"] if n["holds_data"]}
    # 0x7C000 is both ATC's settings and a sector of Zigbee NV area 2
    assert used == {
        "ATC/pvvx settings",
        "Zigbee NV area 1 (network, bindings)",
        "Zigbee NV area 2 (application, keys)",
    }


# -- the image just written is the one that boots -------------------------------------------
@pytest.fixture
def store(tmp_path: Path) -> BackupStore:
    return BackupStore(tmp_path / "store")


@pytest.fixture
def events() -> list[tuple[str, int, int]]:
    return []


def watched(dev: Device, events: list[tuple[str, int, int]]) -> None:
    """Log every page program and read the job sends to the flash, in order."""
    program, read = dev.flash.program_page, dev.flash.read

    def program_page(addr: int, data: bytes) -> None:
        program(addr, data)
        events.append(("program", addr, len(data)))

    def read_(addr: int, size: int) -> bytes:
        out = read(addr, size)
        events.append(("read", addr, size))
        return out

    dev.flash.program_page = program_page  # type: ignore[method-assign]
    dev.flash.read = read_  # type: ignore[method-assign]


def test_recover_clears_the_other_slot_only_after_slot_0_is_verified(
    unit: Unit, events: list[tuple[str, int, int]]
) -> None:
    seeded(unit, (0, with_byte8(TRANSITIONAL, 0x00)), (0x40000, Z03))
    with device(unit) as dev:
        watched(dev, events)
        report = jobs.recover(dev, [(0, DEMO)], backup=None)
    assert report.markers_cleared == [0x40000]
    assert any("cleared the boot marker" in n for n in report.notes)
    marker = events.index(("program", 0x40008, 1))
    # every page of slot 0 was programmed and read back before the marker was touched
    slot0 = [i for i, (_, a, n) in enumerate(events) if a < len(DEMO) and a + n <= len(DEMO)]
    assert slot0 and max(slot0) < marker
    assert events[marker + 1] == ("read", 0x40000, 0x40)  # and the marker is read back
    state = after(unit)
    assert state.boot.address == 0 and state.boot.certain
    assert state.slots[0].crc_ok and state.slots[2].marker is Marker.DISABLED
    assert state.slots[2].crc_ok  # the old image is kept whole: only byte 8 changed
    rest = unit.state.read_bytes()
    seed = unit_flash((0, with_byte8(TRANSITIONAL, 0x00)), (0x40000, Z03))
    assert rest[0x40000:0x40008] + rest[0x40009:] == seed[0x40000:0x40008] + seed[0x40009:]


def test_a_fault_after_slot_0_and_before_the_marker_still_leaves_a_bootable_unit(
    unit: Unit, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded(unit, (0, with_byte8(TRANSITIONAL, 0x00)), (0x40000, Z03))
    with device(unit) as dev:
        real = dev.flash.program_page

        def unplugged_at_the_marker(addr: int, data: bytes) -> None:
            if addr == 0x40008:
                raise PortError("the adapter was unplugged")
            real(addr, data)

        dev.flash.program_page = unplugged_at_the_marker  # type: ignore[method-assign]
        with pytest.raises(PortError):
            jobs.recover(dev, [(0, DEMO)], backup=None)
    state = after(unit)
    first, _, second = state.slots
    assert first.marker is Marker.BOOTABLE and first.crc_ok  # verified and marked
    assert second.marker is Marker.BOOTABLE and second.crc_ok  # not yet cleared
    assert state.boot.address is not None


def test_a_write_cut_off_in_slot_0_leaves_the_other_slot_marked(unit: Unit) -> None:
    seeded(unit, (0, with_byte8(TRANSITIONAL, 0x00)), (0x40000, Z03))
    unit.extra = "&unplug_after=12"  # seconds of simulated time: in the middle of slot 0
    with pytest.raises(PortError), device(unit) as dev:
        dev.write_image(DEMO)
    state = after(unit)
    assert state.slots[0].crc_ok is not True  # slot 0 was never finished
    assert state.slots[2].marker is Marker.BOOTABLE and state.slots[2].crc_ok


def test_keep_other_slot_leaves_both_marked_and_says_so(unit: Unit) -> None:
    with device(seeded(unit, (0, with_byte8(BLE, 0x00)), (0x40000, Z03))) as dev:
        report = dev.write_image(DEMO, keep_other_slot=True)
    assert report.markers_cleared == []
    assert any("kept the boot marker of the image at 0x40000" in n for n in report.notes)
    state = after(unit, deep=False)
    assert state.slots[2].marker is Marker.BOOTABLE and not state.boot.certain


@pytest.mark.parametrize(
    "data",
    [DEMO[:-1] + bytes([DEMO[-1] ^ 1]), DEMO[:0x1000], with_byte8(DEMO, 0xFF)],
    ids=["bad-crc", "first-sector-only", "unmarked"],
)
def test_no_marker_is_cleared_for_an_image_that_would_not_boot(unit: Unit, data: bytes) -> None:
    with device(seeded(unit, (0, with_byte8(BLE, 0x00)), (0x40000, Z03))) as dev:
        report = dev.write_image(data)
    assert report.markers_cleared == []
    assert after(unit, deep=False).slots[2].marker is Marker.BOOTABLE


def test_nothing_to_clear_when_the_other_slot_is_not_marked(unit: Unit) -> None:
    stale_download = with_byte8(Z03, 0xFF)
    with device(seeded(unit, (0, BLE), (0x40000, stale_download))) as dev:
        report = dev.write_image(DEMO)
    assert report.markers_cleared == []
    assert unit.state.read_bytes()[0x40008] == 0xFF


def test_the_marker_sector_is_backed_up_alone(unit: Unit, store: BackupStore) -> None:
    with device(seeded(unit, (0, with_byte8(BLE, 0x00)), (0x40000, Z03))) as dev:
        report = dev.write_image(DEMO, backup=store)
    marker = [p for p in report.backups if "before-marker" in p.name]
    assert len(marker) == 1
    info, data = load_backup(marker[0])
    assert (info.start, info.size) == (0x40000, 0x1000)
    assert data[8] == 0x4B and data[:0x1000] == unit_flash((0x40000, Z03))[0x40000:0x41000]


def test_recover_with_its_full_backup_saves_no_extra_files(unit: Unit, store: BackupStore) -> None:
    with device(seeded(unit, (0, with_byte8(BLE, 0x00)), (0x40000, Z03))) as dev:
        report = jobs.recover(dev, [(0, DEMO)], backup=store)
    (only,) = report.backups
    assert "before-recover-0x000000-0x80000" in only.name
    assert report.markers_cleared == [0x40000]


# -- a family change ------------------------------------------------------------------------
ATC_SETTINGS = (0x7C000, b"\x5a\xa5" * 32)
KEYCODE = (0x78000, b"\x01\x02" * 8)  # Xiaomi's bind key: unit-specific


def test_a_family_change_names_what_the_old_settings_hold(unit: Unit) -> None:
    with device(seeded(unit, (0, BLE), ATC_SETTINGS, KEYCODE)) as dev:
        report = dev.write_image(DEMO)
    assert set(report.old_settings) == {
        "ATC/pvvx settings (0x7c000-0x7ffff)",
        "Xiaomi key-code (bind key, token) (0x78000-0x78fff)",
    }
    (note,) = [n for n in report.notes if "left settings" in n]
    assert "Zigbee NV area 2" in note and "--erase-nv" in note
    assert report.settings_erased == []
    assert unit.state.read_bytes()[0x7C000:0x7C040] == ATC_SETTINGS[1]


def test_erase_nv_backs_up_then_erases_only_the_old_settings(
    unit: Unit, store: BackupStore
) -> None:
    with device(seeded(unit, (0, BLE), ATC_SETTINGS, KEYCODE)) as dev:
        report = dev.write_image(DEMO, backup=store, erase_nv=True)
    flash = unit.state.read_bytes()
    assert flash[0x7C000:0x80000] == b"\xff" * 0x4000
    assert flash[0x78000:0x79000] == b"\xff" * 0x1000
    saved = {load_backup(p)[0].start: load_backup(p)[1] for p in report.backups}
    assert saved[0x7C000][:0x40] == ATC_SETTINGS[1] and saved[0x78000][:16] == KEYCODE[1]
    assert len(report.settings_erased) == 2
    seed = unit_flash()
    for keep in (0x55000, 0x76000, 0x77000):  # hardware version, MAC, calibration
        assert flash[keep : keep + 0x1000] == seed[keep : keep + 0x1000]


def test_erase_nv_is_refused_without_a_backup_or_a_bootable_image(unit: Unit) -> None:
    with device(seeded(unit, (0, BLE), ATC_SETTINGS)) as dev:
        with pytest.raises(UsageError, match="needs a backup"):
            dev.write_image(DEMO, erase_nv=True)
        with pytest.raises(UsageError, match="complete bootable image"):
            dev.write_image(DEMO[:0x1000], erase_nv=True, backup=BackupStore(unit.state.parent))
    assert unit.state.read_bytes() == unit_flash((0, BLE), ATC_SETTINGS)  # nothing written


def test_same_family_leaves_no_settings_note(unit: Unit) -> None:
    with device(seeded(unit, (0, Z03), (0x7A000, b"\x11" * 16))) as dev:
        report = dev.write_image(DEMO)
    assert report.old_settings == [] and not any("left settings" in n for n in report.notes)


def test_an_ota_file_of_atc_written_over_zigbee_names_the_zigbee_settings(
    unit: Unit, tmp_path: Path
) -> None:
    payload = image(0x99993001, 0x1141, 0x0203, tail=b"github.com/pvvx\0V5.8")
    path = tmp_path / "1141-0203-99993001-ATC_v58.zigbee"
    path.write_bytes(ota_file(payload))
    segments = [(s.address, s.data) for s in load_image(path).segments]
    with device(seeded(unit, (0, Z03), (0x34000, b"\x22" * 16))) as dev:
        report = dev.write_segments(segments)
    assert report.old_settings == ["Zigbee NV area 1 (network, bindings) (0x34000-0x3ffff)"]


# -- the command line -----------------------------------------------------------------------
def lines(out: str) -> Iterator[str]:
    return (line for line in out.splitlines() if line.strip())


def test_info_text_is_readable_and_json_has_the_fields(unit: Unit) -> None:
    seeded(unit, (0, with_byte8(TRANSITIONAL, 0x00)), (0x40000, Z03), (0x7A000, bytes(16)))
    code, out = run_cli("info", "--port", unit.url, "--deep")
    assert code == 0, out
    assert not any(c in out for c in "{}[]"), out  # no Python containers printed raw
    text = "\n".join(lines(out))
    assert "boots: 0x40000" in text and "z03mmc Zigbee firmware (devbis) 1.1.0" in text
    assert "disabled" in text and "CRC ok" in text and "B1.7" in text
    assert "Zigbee NV area 2 (application, keys)" in text
    code, out = run_cli("info", "--port", unit.url, "--json")
    fw = json.loads(out)["firmware"]
    assert slot(fw, 0x40000)["family"] == "z03mmc" and fw["deep"] is False


def test_cli_write_clears_the_marker_or_keeps_it(unit: Unit) -> None:
    seeded(unit, (0, with_byte8(BLE, 0x00)), (0x40000, Z03))
    code, out = run_cli("write", str(DEMO_IMAGE), "--port", unit.url, "--keep-other-slot")
    assert code == 0 and "kept the boot marker" in out, out
    code, out = run_cli("write", str(DEMO_IMAGE), "--port", unit.url)
    assert code == 0 and "cleared the boot marker of the old image at 0x40000" in out, out
    assert after(unit, deep=False).slots[2].marker is Marker.DISABLED


def test_cli_recover_erase_nv(unit: Unit) -> None:
    seeded(unit, (0, BLE), ATC_SETTINGS)
    code, out = run_cli("recover", str(DEMO_IMAGE), "--port", unit.url, "--erase-nv")
    assert code == 0, out
    assert "erased the old firmware's settings" in out
    assert unit.state.read_bytes()[0x7C000:0x7C040] == b"\xff" * 0x40
    code, out = run_cli("write", str(DEMO_IMAGE), "--port", unit.url, "--erase-nv", "--no-backup")
    assert code == 2 and "needs a backup" in out and "Traceback" not in out
    assert after(unit).slots[0].state is SlotState.IMAGE
