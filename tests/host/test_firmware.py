"""What is on a unit and what it will run: firmware family and version per image slot, the
slot the boot ROM starts, the hardware-version string and NV areas, from flash bytes only."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli
from fw_images import (
    BLE,
    FAMILIES,
    FLASH,
    HEADER,
    Z03,
    flash_with,
    image,
    ota_file,
    reader,
    with_byte8,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from swsflash.firmware import (
    Family,
    Marker,
    SlotState,
    analyse_slot,
    boot_choice,
    check_crc,
    describe_slots,
    disable_marker_patch,
    family_change,
    identify,
    is_complete_bootable,
    other_slot,
)
from swsflash.images import describe_image, load_image
from swsflash.unit_data import decode_hw_version


@pytest.mark.parametrize(("what", "data", "family", "version"), FAMILIES)
def test_family_and_version_from_the_whole_image(
    what: str, data: bytes, family: Family, version: str | None
) -> None:
    ident = identify(data, data)
    assert (ident.family, ident.version) == (family, version), what


def test_an_image_built_for_another_device_says_so() -> None:
    cgdk2 = image(0x01393001, 0x1141, 0x0206)
    assert "image type 0x0206" in identify(cgdk2).describe()
    assert "LYWSD03MMC" in identify(image(0x01393001, 0x1141, 0x020A)).describe()


def test_a_header_alone_cannot_tell_old_ble_builds_apart() -> None:
    stock_header = FAMILIES[0][1][:HEADER]
    ident = identify(stock_header)
    assert ident.family is Family.TELINK_BLE
    assert set(ident.candidates) == {Family.STOCK_XIAOMI, Family.ATC_PVVX, Family.TRANSITIONAL}
    assert "read the whole image" in ident.describe()


@pytest.mark.parametrize(
    ("header", "state", "marker"),
    [
        (b"\xff" * HEADER, SlotState.BLANK, Marker.ABSENT),
        (Z03[:HEADER], SlotState.IMAGE, Marker.BOOTABLE),
        (with_byte8(Z03, 0x00)[:HEADER], SlotState.IMAGE, Marker.DISABLED),
        (with_byte8(Z03, 0xFF)[:HEADER], SlotState.IMAGE, Marker.DOWNLOADING),
        (with_byte8(Z03, 0x0B)[:HEADER], SlotState.IMAGE, Marker.DAMAGED),
        (Z03[:0x20] + b"\xff" * 0x20, SlotState.PARTIAL, Marker.BOOTABLE),
        (Z03[:0x18] + b"\xff" * 0x28, SlotState.PARTIAL, Marker.BOOTABLE),
        (bytes(range(HEADER)), SlotState.DATA, Marker.ABSENT),
    ],
    ids=[
        "blank",
        "bootable",
        "disabled",
        "downloading",
        "damaged",
        "cut-after-header",
        "no-size-field",
        "leftovers",
    ],
)
def test_slot_state_and_marker_from_its_header(
    header: bytes, state: SlotState, marker: Marker
) -> None:
    slot = analyse_slot(header, 0x40000)
    assert (slot.state, slot.marker) == (state, marker)
    if marker is Marker.DOWNLOADING:
        assert any("never finished" in n for n in slot.notes)


def test_a_history_log_at_the_second_slot_is_named() -> None:
    log = bytes.fromhex("dec0aa55") + b"\xff\xff" + bytes(range(58))
    slot = analyse_slot(log, 0x40000)
    assert slot.state is SlotState.DATA and "history log" in slot.notes[0]


@pytest.mark.parametrize(
    ("parts", "expected", "certain"),
    [
        ([(0, BLE)], 0, True),
        ([(0, with_byte8(BLE, 0x00)), (0x40000, Z03)], 0x40000, True),
        ([(0, with_byte8(BLE, 0x00)), (0x20000, BLE)], 0x20000, True),  # stock after a BLE OTA
        ([(0, BLE), (0x40000, Z03)], 0, False),
        ([(0, with_byte8(BLE, 0x00)), (0x40000, with_byte8(Z03, 0xFF))], None, True),
        ([], None, True),
    ],
    ids=["only-0", "only-0x40000", "only-0x20000", "both", "none-marked", "erased"],
)
def test_which_slot_the_boot_rom_starts(
    parts: list[tuple[int, bytes]], expected: int | None, certain: bool
) -> None:
    report = describe_slots(reader(flash_with(*parts)), FLASH)
    assert report.boot.address == expected
    assert report.boot.certain is certain
    if not certain:
        assert "not settled" in report.boot.rule
    if expected is None:
        assert "starts nothing" in report.boot.rule


def test_boot_choice_looks_only_at_byte_8() -> None:
    slots = [analyse_slot(b"\x00" * 8 + b"K" + b"\x00" * 55, 0)]  # 'K' without "NLT"
    assert slots[0].marker is Marker.ABSENT and boot_choice(slots).address == 0


def test_deep_finds_a_cut_off_download_and_a_damaged_image() -> None:
    cut = Z03[:0x3000] + b"\xff" * (len(Z03) - 0x3000)
    damaged = Z03[:0x100] + bytes([Z03[0x100] ^ 1]) + Z03[0x101:]
    flash = flash_with((0, damaged), (0x40000, cut))
    shallow = describe_slots(reader(flash), FLASH)
    assert [s.crc_ok for s in shallow.slots] == [None, None, None]
    deep = describe_slots(reader(flash), FLASH, deep=True)
    first, _, second = deep.slots
    assert first.state is SlotState.IMAGE and first.crc_ok is False
    assert second.state is SlotState.PARTIAL and "written up to +0x3000" in second.notes[0]
    assert any("fails its CRC" in w for w in deep.warnings)


def test_deep_accepts_an_image_whose_marker_the_sdk_changed() -> None:
    flash = flash_with((0, with_byte8(BLE, 0x00)), (0x40000, Z03))
    deep = describe_slots(reader(flash), FLASH, deep=True)
    assert [s.crc_ok for s in deep.slots if s.state is SlotState.IMAGE] == [True, True]
    assert deep.slots[0].identity.version == "5.8"


def test_second_slot_inside_a_big_image_at_0_is_not_a_slot() -> None:
    big = image(0x01393001, 0x1141, 0x020A, size=0x21000)
    report = describe_slots(reader(flash_with((0, big))), FLASH)
    assert report.slots[1].state is SlotState.INSIDE


def test_without_deep_only_a_few_hundred_bytes_are_read() -> None:
    log: list[tuple[int, int]] = []
    describe_slots(reader(flash_with((0, BLE), (0x40000, Z03)), log), FLASH)
    assert sum(size for _, size in log) < 1024
    log.clear()
    describe_slots(reader(flash_with((0, BLE), (0x40000, Z03)), log), FLASH, deep=True)
    assert (0, len(BLE)) in log and (0x40000, len(Z03)) in log


HW = b"B1.4F1.0-CFMK-LB-ZCXTJ--"


@pytest.mark.parametrize(
    ("raw", "state", "revision", "board"),
    [
        (HW + b"\xff" * 8, "ok", "B1.4", "F1.0-CFMK-LB-ZCXTJ--"),
        (b"B1.9F1.0-CFMK-LB-FLD----" + b"\xff" * 8, "ok", "B1.9", "F1.0-CFMK-LB-FLD----"),
        (b"B1.7" + b"\xff" * 28, "ok", "B1.7", None),
        (b"\xff" * 32, "blank", None, None),
        (bytes.fromhex("dec0aa55") + bytes(28), "not-a-version", None, None),
    ],
)
def test_hardware_version_string(
    raw: bytes, state: str, revision: str | None, board: str | None
) -> None:
    hw = decode_hw_version(raw, 0x55000)
    assert (hw.state, hw.revision, hw.board) == (state, revision, board)


def test_hardware_version_lost_at_0x55000_survives_in_pvvx_copy() -> None:
    flash = flash_with((0x76FE0, HW))
    report = describe_slots(reader(flash), FLASH)
    assert report.hw_version is not None and report.hw_version.state == "blank"
    assert report.hw_version_copy.revision == "B1.4"
    assert any("pvvx's copy at 0x76fe0" in w for w in report.warnings)


def test_nv_areas_that_hold_data_and_what_a_family_change_leaves() -> None:
    flash = flash_with((0, Z03), (0x7A000, bytes(16)), (0x7C000, b"\x5a" * 16))
    nv = {n.area.name: n.holds_data for n in describe_slots(reader(flash), FLASH).nv}
    assert nv["Zigbee NV area 2 (application, keys)"] and nv["ATC/pvvx settings"]
    assert not nv["Zigbee NV area 1 (network, bindings)"] and not nv["ATC/pvvx history log"]

    stale = family_change(Family.ATC_PVVX, Family.Z03MMC)
    by_name = {s.area.name: s for s in stale}
    assert "ATC/pvvx settings" in by_name and "Xiaomi key-code (bind key, token)" in by_name
    assert by_name["Xiaomi key-code (bind key, token)"].area.unit_specific
    clash = [a.name for a in by_name["ATC/pvvx settings"].clashes_with]
    assert clash == ["Zigbee NV area 2 (application, keys)"]
    back = {s.area.name for s in family_change(Family.Z03MMC, Family.ATC_PVVX)}
    assert "Zigbee NV area 1 (network, bindings)" in back
    assert family_change(Family.Z03MMC, Family.ZIGBEETLC) == ()
    assert family_change(Family.STOCK_XIAOMI, Family.ATC_PVVX) == ()


def test_helpers_for_the_recovery_job() -> None:
    assert other_slot(0x80000) == other_slot(0x100000) == 0x40000
    with pytest.raises(ValueError, match="no second image slot"):
        other_slot(0x40000)
    at, value = disable_marker_patch(0x40000)
    flash = flash_with((0, BLE), (0x40000, Z03))
    flash[at] &= value[0]  # programming only clears bits
    report = describe_slots(reader(flash), FLASH)
    assert report.slots[2].marker is Marker.DISABLED and report.boot.certain
    assert is_complete_bootable(BLE)
    assert is_complete_bootable(BLE + b"signature")  # signed stock files: extra bytes after
    assert not is_complete_bootable(BLE[:-1])
    assert not is_complete_bootable(with_byte8(BLE, 0x00))
    assert not is_complete_bootable(BLE[:0x100] + b"\x00" + BLE[0x101:])


def test_image_info_names_the_family_of_an_ota_file(tmp_path: Path) -> None:
    payload = FAMILIES[3][1]  # ATC repackaged with manufacturer 0x1141, type 0x0203
    path = tmp_path / "1141-0203-99993001-ATC_v58.zigbee"
    path.write_bytes(ota_file(payload))
    info = describe_image(load_image(path))
    assert info["family"] == "ATC/pvvx BLE firmware (ATC_MiThermometer) 5.8, for LYWSD03MMC"
    got, out = run_cli("image-info", str(path))
    assert got == 0 and "family: ATC/pvvx BLE firmware" in out


def test_image_info_names_a_raw_zigbee_image(tmp_path: Path) -> None:
    path = tmp_path / "z03mmc.bin"
    path.write_bytes(Z03)
    got, out = run_cli("image-info", str(path))
    assert got == 0 and "family: z03mmc Zigbee firmware (devbis) 1.1.0" in out


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0x20, max_size=0x400), st.booleans())
def test_random_bytes_are_never_a_known_family_with_a_valid_crc(data: bytes, mark: bool) -> None:
    if mark:
        data = data[:8] + b"KNLT" + data[12:]
    ident = identify(data, data)
    assert not (ident.family is not Family.UNKNOWN and check_crc(data))
    assert not is_complete_bootable(data)
