"""Jobs that fail midway still tell the user what they saved first: the backup of a unit
is worth most exactly when the write after it went wrong."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import DEMO_IMAGE, Unit, run_cli
from make_demo_image import make_demo_image

from swsflash.bench.scenarios import factory_flash


def test_a_jig_unit_unplugged_mid_write_still_lists_its_backups(
    unit: Unit, tmp_path: Path, backups: Path
) -> None:
    image = tmp_path / "firmware.bin"
    image.write_bytes(make_demo_image(32 * 1024))
    unit.extra = "&unplug_after=4"  # seconds of simulated time: after the backups
    code, out = run_cli("jig", str(image), "--ports", unit.url, "--json")
    assert code == 4, out
    record = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    assert record["result"] == "failed" and record["sectors_erased"] == 0
    saved = [Path(p) for p in record["backups"]]
    assert len(saved) == 3 and all(p.parent.parent == backups for p in saved)
    factory = factory_flash("ZB25WD40B")
    mac_backup = next(p for p in saved if "0x076000" in p.name)
    assert mac_backup.read_bytes() == factory[0x76000:0x77000]


def test_recover_names_its_backup_when_the_write_fails(unit: Unit, backups: Path) -> None:
    unit.extra = "&unplug_after=70"  # the full backup takes about 60 s of simulated time
    code, out = run_cli("recover", str(DEMO_IMAGE), "--port", unit.url)
    assert code == 4, out
    (found,) = re.findall(r"Backup of the whole flash: (\S+\.bin)", out)
    path = Path(found)
    assert path.read_bytes() == factory_flash("ZB25WD40B")
    assert "Recovered" not in out
