"""Rules that used to exist in several copies and drifted apart: each now gives the same
answer whichever way a user reaches it (command line, jig, Python API)."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
from conftest import DEMO_IMAGE, Unit, run_cli

import swsflash
from swsflash import jig, jobs
from swsflash.bench.scenarios import factory_flash
from swsflash.errors import UsageError


def big_image(tmp_path: Path, size: int = 0x81000) -> Path:
    """A valid Telink image one sector larger than a 512 KB flash."""
    body = bytearray((i * 7 + 3) & 0xFF for i in range(size))
    body[8:12] = b"KNLT"
    body[0x12:0x16] = struct.pack("<HH", 0x1141, 0x0203)
    body[0x18:0x1C] = struct.pack("<I", size)
    body[-4:] = struct.pack("<I", zlib.crc32(bytes(body[:-4])) ^ 0xFFFFFFFF)
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(body))
    return path


@pytest.mark.parametrize("baud", ["320000", "3100000"])
def test_a_baud_outside_the_proven_range_is_refused_by_write_and_jig_alike(
    unit: Unit, baud: str
) -> None:
    code, out = run_cli("write", str(DEMO_IMAGE), "--port", unit.url, "--baud", baud)
    assert code == 2 and "340000..3000000" in out and "--baud" in out, out
    code, out = run_cli("jig", str(DEMO_IMAGE), "--ports", unit.url, "--baud", baud)
    assert code == 2 and "340000..3000000" in out, out
    with pytest.raises(UsageError, match=r"340000\.\.3000000"):
        swsflash.ConnectOptions(baud=int(baud))
    assert not unit.state.exists()  # refused before the port was opened


def test_the_lowest_proven_baud_is_accepted_everywhere(tmp_path: Path) -> None:
    settings = jig.resolve_settings(jig.Overrides(image=DEMO_IMAGE, ports=["sim://"], baud=340_000))
    assert settings.baud == 340_000
    assert swsflash.ConnectOptions(baud=340_000).baud == 340_000


def test_reset_and_power_window_rules_are_shared(tmp_path: Path) -> None:
    config = tmp_path / "jig.toml"
    config.write_text('image = "x.bin"\nports = ["a"]\npower_window_ms = 5\n')
    with pytest.raises(UsageError, match=r"milliseconds: 10 \.\. 600000") as from_jig:
        jig.resolve_settings(jig.Overrides(config=config))
    code, out = run_cli("info", "--port", "sim://", "--power-window", "5")
    assert code == 2 and "milliseconds: 10 .. 600000, not 5" in out
    assert "not 5" in from_jig.value.message
    with pytest.raises(UsageError, match="reset must be rts, dtr or none"):
        swsflash.ConnectOptions(reset="cts")


def test_an_image_too_large_is_refused_with_one_message_everywhere(
    unit: Unit, tmp_path: Path
) -> None:
    image = big_image(tmp_path)
    code, out = run_cli("write", str(image), "--port", unit.url)
    assert code == 3, out
    (message,) = [line for line in out.splitlines() if line.startswith("swsflash:")]
    assert "reaches beyond the 512 KB flash" in message
    code, rec_out = run_cli("jig", str(image), "--ports", unit.url, "--json", "--no-backup")
    assert code == 3, rec_out
    record = json.loads(next(line for line in rec_out.splitlines() if line.startswith("{")))
    assert f"swsflash: {record['error_title']}: {record['error']}" == message
    code, out = run_cli("recover", str(image), "--port", unit.url)
    assert code == 3 and message in out.splitlines(), out
    assert unit.flash() == factory_flash("ZB25WD40B")


def test_info_reports_every_block_protection_bit() -> None:
    """BP0..BP4: the same mask the flash driver clears before a write."""
    with swsflash.connect("sim://?name=bp-bits") as dev:
        real_status = dev.flash.status
        for status, protected in [
            (0x00, False),
            (0x02, False),  # WEL
            (0x80, False),  # SRP alone protects nothing
            (0x04, True),
            (0x1C, True),
            (0x20, True),  # BP3 only
            (0x40, True),  # BP4 only
            (0x60, True),
        ]:
            dev.flash.status = lambda once=b"", s=status: s  # type: ignore[method-assign]
            assert jobs.info(dev)["flash_protected"] is protected, hex(status)
        dev.flash.status = real_status  # type: ignore[method-assign]
        assert jobs.info(dev)["flash_protected"] is False  # the bench's healthy unit
