"""End to end: the swsflash CLI against simulated units, as a user would run it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DEMO_IMAGE, Unit, run_cli

from swsflash.bench.scenarios import factory_flash

IMAGE = DEMO_IMAGE.read_bytes()


@pytest.mark.parametrize("baud", ["460800", "921600", "3000000"])
@pytest.mark.parametrize("scenario", ["healthy", "protected", "flash-asleep"])
def test_write_verifies_and_keeps_unique_data(unit: Unit, scenario: str, baud: str) -> None:
    unit.scenario = scenario
    before = unit.unique_data()
    code, out = run_cli("write", str(DEMO_IMAGE), "--port", unit.url, "--baud", baud)
    assert code == 0, out
    assert "verified" in out
    flash = unit.flash()
    assert flash[: len(IMAGE)] == IMAGE
    # the rest of the last sector the image touched is what it was
    tail_end = (len(IMAGE) + 0xFFF) & ~0xFFF
    assert flash[len(IMAGE) : tail_end] == factory_flash("ZB25WD40B")[len(IMAGE) : tail_end]
    assert unit.unique_data() == before


def test_info_reports_chip_flash_and_mac(unit: Unit) -> None:
    code, out = run_cli("info", "--port", unit.url, "--json")
    assert code == 0, out
    info = json.loads(out)
    assert info["chip_id"] == "0x5562"
    assert info["flash_jedec_id"] == "5e3213" and info["flash_size"] == 512 * 1024
    assert info["mac_address"] == "A4:C1:38:A1:B2:C3"
    lo, hi = info["swire_divider_window"]
    assert lo < info["swire_divider"] < hi
    assert 22 < info["chip_clock_mhz"] < 27  # the bench runs at 24.5 MHz


def test_read_backup_equals_flash(unit: Unit, tmp_path: Path) -> None:
    out_file = tmp_path / "backup.bin"
    code, out = run_cli(
        "read", str(out_file), "--port", unit.url, "--start", "0x76000", "--size", "0x2000"
    )
    assert code == 0, out
    assert out_file.read_bytes() == unit.flash()[0x76000:0x78000]


def test_verify_passes_then_catches_a_difference(unit: Unit, tmp_path: Path) -> None:
    part = tmp_path / "part.bin"
    part.write_bytes(unit.flash()[0x1000:0x1800])
    code, out = run_cli("verify", str(part), "--port", unit.url, "--address", "0x1000")
    assert code == 0, out
    changed = bytearray(part.read_bytes())
    changed[100] ^= 0x01
    part.write_bytes(bytes(changed))
    code, out = run_cli("verify", str(part), "--port", unit.url, "--address", "0x1000")
    assert code == 8
    assert "0x001064" in out


def test_erase_sectors_and_refuse_protected_ones(unit: Unit) -> None:
    code, out = run_cli("erase", "--port", unit.url, "--start", "0x40000", "--size", "0x2000")
    assert code == 0, out
    assert unit.flash()[0x40000:0x42000] == b"\xff" * 0x2000
    before = unit.flash()
    code, out = run_cli("erase", "--port", unit.url, "--start", "0x76000", "--size", "0x1000")
    assert code == 9 and "MAC address" in out
    code, out = run_cli("erase", "--port", unit.url, "--all")
    assert code == 2 and "--force" in out
    assert unit.flash() == before


def test_erase_all_keeps_unique_data_unless_told(unit: Unit, backups: Path) -> None:
    before = unit.unique_data()
    code, out = run_cli("erase", "--port", unit.url, "--all", "--force")
    assert code == 0, out
    assert unit.unique_data() == before
    assert unit.flash()[:0x55000] == b"\xff" * 0x55000
    saved = list(backups.rglob("*before-erase-all*.bin"))
    assert len(saved) == 1 and saved[0].read_bytes() == factory_flash("ZB25WD40B")
    code, out = run_cli(
        "erase", "--port", unit.url, "--all", "--force", "--no-preserve", "--no-backup"
    )
    assert code == 0, out
    assert unit.flash() == b"\xff" * 0x80000


def test_run_restarts_the_chip(unit: Unit) -> None:
    from swsflash.bench.sim_port import _BENCHES

    code, out = run_cli("run", "--port", unit.url)
    assert code == 0, out
    chip = _BENCHES[str(unit.state)].chip
    assert not chip.halted and chip.boot_count == 2


@pytest.mark.parametrize(
    ("scenario", "code", "words"),
    [
        ("no-wiring", 5, "no echo"),
        ("rx-led", 5, "LED"),
        ("asleep", 6, "nothing else ever follows"),
        ("bricked", 6, "--reset"),
    ],
)
def test_connection_problems_are_explained(
    unit: Unit, scenario: str, code: int, words: str
) -> None:
    unit.scenario = scenario
    got, out = run_cli("write", str(DEMO_IMAGE), "--port", unit.url)
    assert got == code, out
    assert words in out and "Traceback" not in out
    assert unit.flash() == factory_flash("ZB25WD40B")


def test_gappy_adapter_is_detected_and_paced_safely(unit: Unit) -> None:
    unit.scenario = "gappy-adapter"
    code, out = run_cli("write", str(DEMO_IMAGE), "--port", unit.url, "-v")
    assert code == 0, out
    assert "pacing safe" in out
    assert unit.flash()[: len(IMAGE)] == IMAGE


def test_adapter_that_cannot_stream_is_named(unit: Unit) -> None:
    unit.extra = "&max_write=64"
    code, out = run_cli("write", str(DEMO_IMAGE), "--port", unit.url, "--pacing", "stream")
    assert code == 5
    assert "stopped after 64" in out
    assert unit.flash() == factory_flash("ZB25WD40B")


def test_bad_input_gets_clear_messages(unit: Unit, tmp_path: Path) -> None:
    code, out = run_cli("write", str(tmp_path / "missing.bin"), "--port", unit.url)
    assert code == 3 and "cannot read" in out
    code, out = run_cli("info", "--port", "sim://no-such-scenario")
    assert code == 4 and "unknown scenario" in out
    code, out = run_cli("info", "--port", unit.url, "--baud", "9600")
    assert code == 2 and "--baud" in out
    code, out = run_cli("read", "x.bin", "--port", unit.url, "--start", "zz")
    assert code == 2 and "not a number" in out
