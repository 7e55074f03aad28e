"""Firmware files people feed to `swsflash write`: accepted, or refused with a reason that
names the failed check, before the chip is touched."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest
from conftest import DEMO_IMAGE, Unit, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from make_demo_image import IMAGE_TYPE, MANUFACTURER, make_demo_image
from make_demo_image import main as make_demo_main

import swsflash
from swsflash.bench.scenarios import factory_flash
from swsflash.errors import Interrupted
from swsflash.images import load_image

FACTORY = factory_flash("ZB25WD40B")


def ota(
    payload: bytes,
    manufacturer: int = MANUFACTURER,
    image_type: int = IMAGE_TYPE,
    extra: bytes = b"",
) -> bytes:
    sub = struct.pack("<HI", 0x0000, len(payload)) + payload + extra
    total = 56 + len(sub)
    header = struct.pack(
        "<IHHHHHIH", 0x0BEEF11E, 0x0100, 56, 0, manufacturer, image_type, 0x99993001, 2
    )
    header += b"Telink OTA test".ljust(32, b"\0") + struct.pack("<I", total)
    return header + sub


def write_file(tmp_path: Path, name: str, data: bytes | str) -> Path:
    p = tmp_path / name
    if isinstance(data, str):
        p.write_text(data)
    else:
        p.write_bytes(data)
    return p


REFUSED = [
    ("truncated.bin", make_demo_image(0x3000)[:-100], 3, "declares"),
    ("bad-crc.bin", make_demo_image(0x3000)[:-1] + b"\x00", 3, "CRC32"),
    ("no-marker.bin", b"\x00" * 8 + b"XXXX" + make_demo_image(0x3000)[12:], 3, "KNLT"),
    ("wrong-type.zigbee", ota(make_demo_image(0x3000), image_type=0x0999), 3, "image type"),
    ("too-large.bin", make_demo_image(0x81000), 3, "beyond the 512 KB flash"),
]


@pytest.mark.parametrize(("name", "data", "code", "words"), REFUSED)
def test_bad_images_are_refused_untouched(
    unit: Unit, tmp_path: Path, name: str, data: bytes, code: int, words: str
) -> None:
    path = write_file(tmp_path, name, data)
    got, out = run_cli("write", str(path), "--port", unit.url)
    assert got == code, out
    assert words in out and "Traceback" not in out
    assert unit.flash() == FACTORY


def test_committed_demo_firmware_is_what_the_maker_writes() -> None:
    # the README's first command writes this file; the maker is its only source
    assert DEMO_IMAGE.read_bytes() == make_demo_image()
    image = load_image(DEMO_IMAGE)
    assert image.telink is not None and image.telink.crc_ok


def test_demo_maker_writes_an_image_of_the_asked_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "fw.bin"
    assert make_demo_main(["--size", "4096", str(out)]) == 0
    assert len(out.read_bytes()) == 4096
    assert load_image(out).telink is not None
    with pytest.raises(SystemExit) as info:
        make_demo_main(["--size", "3", str(tmp_path / "tiny.bin")])
    assert info.value.code == 2
    assert "too small for a Telink header" in capsys.readouterr().err
    assert not (tmp_path / "tiny.bin").exists()


def test_image_over_the_mac_sector_is_refused(unit: Unit, tmp_path: Path) -> None:
    path = write_file(tmp_path, "blob.bin", bytes(range(256)) * 32)  # 0x75000-0x76fff
    got, out = run_cli("write", str(path), "--port", unit.url, "--address", "0x75000")
    assert got == 9, out
    assert "MAC address" in out
    assert unit.flash() == FACTORY


def test_force_writes_around_the_mac_sector_and_keeps_it(unit: Unit, tmp_path: Path) -> None:
    blob = bytes(range(256)) * 32
    path = write_file(tmp_path, "blob.bin", blob)
    got, out = run_cli("write", str(path), "--port", unit.url, "--address", "0x75000", "--force")
    assert got == 0, out
    flash = unit.flash()
    assert flash[0x75000:0x76000] == blob[:0x1000]
    assert flash[0x76000:0x77000] == FACTORY[0x76000:0x77000]
    assert "kept as they were" in out


def test_hex_gaps_keep_what_the_flash_had(unit: Unit, tmp_path: Path) -> None:
    from intelhex import IntelHex

    ih = IntelHex()
    ih.frombytes(b"\x11" * 0x300, offset=0x20100)
    ih.frombytes(b"\x22" * 0x80, offset=0x20800)
    hex_path = tmp_path / "app.hex"
    ih.write_hex_file(str(hex_path))
    got, out = run_cli("write", str(hex_path), "--port", unit.url)
    assert got == 0, out
    flash = unit.flash()
    assert flash[0x20100:0x20400] == b"\x11" * 0x300
    assert flash[0x20800:0x20880] == b"\x22" * 0x80
    expected_gap = FACTORY[0x20400:0x20800]
    assert flash[0x20400:0x20800] == expected_gap
    assert flash[0x20000:0x20100] == FACTORY[0x20000:0x20100]


def test_ota_file_writes_its_raw_image_and_restore_undoes_it(
    unit: Unit, tmp_path: Path, backups: Path
) -> None:
    raw = make_demo_image(0x5000)
    extra = struct.pack("<HI", 0x0001, 64) + b"\xab" * 64  # a signature sub-element
    path = write_file(tmp_path, "1141-0203-99993001-test.zigbee", ota(raw, extra=extra))
    before = unit.flash()
    got, out = run_cli("write", str(path), "--port", unit.url)
    assert got == 0, out
    flash = unit.flash()
    assert flash[: len(raw)] == raw
    assert flash[len(raw) : 0x6000] == before[len(raw) : 0x6000]
    assert unit.unique_data() == Unit(tmp_path / "none").unique_data()
    saved = sorted(backups.rglob("*.bin"))
    assert len(saved) == 1
    assert "Backup of the previous content" in out
    got, out = run_cli("restore", str(saved[0]), "--port", unit.url)
    assert got == 0, out
    assert unit.flash() == before


def test_restore_refuses_another_units_mac(unit: Unit, tmp_path: Path) -> None:
    other = bytearray(FACTORY[0x76000:0x77000])
    other[0:6] = bytes.fromhex("665544332211")
    dump = write_file(tmp_path, "other-unit.bin", bytes(other))
    (tmp_path / "other-unit.json").write_text(
        '{"start": 483328, "size": 4096, "mac": "11:22:33:44:55:66", '
        '"flash_jedec_id": "5e3213", "created": "", "reason": "test"}'
    )
    got, out = run_cli("restore", str(dump), "--port", unit.url)
    assert got == 9, out
    assert "another unit" in out
    assert unit.flash() == FACTORY


def test_restore_of_a_missing_backup_says_so(unit: Unit, tmp_path: Path) -> None:
    got, out = run_cli("restore", str(tmp_path / "gone.bin"), "--port", unit.url)
    assert got == 3, out
    assert f"cannot read {tmp_path / 'gone.bin'}" in out and "Traceback" not in out
    assert unit.flash() == FACTORY


def test_mac_read_and_set(unit: Unit) -> None:
    got, out = run_cli("mac", "--port", unit.url)
    assert got == 0 and "A4:C1:38:A1:B2:C3" in out
    got, out = run_cli("mac", "--port", unit.url, "--set", "A4:C1:38:12:34:56")
    assert got == 0, out
    flash = unit.flash()
    assert flash[0x76000:0x76006] == bytes.fromhex("56341238c1a4")
    assert flash[0x76006:0x77000] == FACTORY[0x76006:0x77000]


def test_image_info_describes_an_ota_file(tmp_path: Path) -> None:
    path = write_file(tmp_path, "x.zigbee", ota(make_demo_image(0x41000)))
    got, out = run_cli("image-info", str(path))
    assert got == 0, out
    assert "Zigbee OTA file" in out and "0x99993001" in out and "crc: ok" in out
    assert "second image slot" in out  # 0x41000 bytes reach past 0x40000


def test_loader_detects_format_from_content(tmp_path: Path) -> None:
    path = write_file(tmp_path, "firmware.bin", ota(make_demo_image(0x3000)))  # misleading name
    assert load_image(path).format == "ota"
    hex_named_bin = write_file(tmp_path, "app.bin", ":040000001122334452\n:00000001FF\n")
    image = load_image(hex_named_bin)
    assert image.format == "hex" and image.segments[0].data == bytes.fromhex("11223344")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    segments=st.lists(
        st.tuples(st.integers(0, 0xE000), st.binary(min_size=1, max_size=0x1400)),
        min_size=1,
        max_size=3,
    ),
    prior_kind=st.sampled_from(["random", "blank", "already-written"]),
    seed=st.integers(0, 10**9),
)
def test_write_leaves_exactly_image_over_prior_flash(
    segments: list[tuple[int, bytes]], prior_kind: str, seed: int
) -> None:
    # data for the same byte twice is refused (tests/host/test_plan.py): keep the first
    segments = [
        (addr, data)
        for n, (addr, data) in enumerate(segments)
        if all(addr + len(data) <= a or a + len(d) <= addr for a, d in segments[:n])
    ]
    prior = bytearray(random.Random(seed).randbytes(0x10000))
    if prior_kind == "blank":
        prior = bytearray(b"\xff" * 0x10000)
    expected = bytearray(FACTORY)
    expected[: len(prior)] = prior
    for addr, data in segments:
        expected[addr : addr + len(data)] = data
    if prior_kind == "already-written":
        prior = expected[: len(prior)]
    with swsflash.connect(f"sim://?name=prop{seed}-{prior_kind}") as dev:
        bench = dev.transport.port.bench
        bench.flash.data[: len(prior)] = prior
        report = dev.write_segments(segments, backup=None)
        assert bytes(bench.flash.data) == bytes(expected)
        if prior_kind == "already-written":
            assert report.sectors_erased == 0


def test_stop_request_ends_the_job_at_a_sector_boundary() -> None:
    image = make_demo_image(0x6000)
    with swsflash.connect("sim://?name=stop-test") as dev:
        bench = dev.transport.port.bench
        before = bytes(bench.flash.data)
        written = []

        def progress(n: int) -> None:
            written.append(n)
            dev.stop_requested = True  # as the Ctrl-C handler does

        with pytest.raises(Interrupted) as info:
            dev.write_image(image, backup=None, progress=progress)
        assert "stopped after 1 of 6 sectors" in info.value.message
        assert info.value.exit_code == 130
        flash = bytes(bench.flash.data)
        assert flash[:0x1000] == image[:0x1000]  # the finished sector is complete
        assert flash[0x1000:] == before[0x1000:]  # nothing else was touched
