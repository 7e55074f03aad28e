"""Backups of flash taken before anything destructive, and reading them back for restore.

A backup is a raw .bin of one contiguous flash range plus a .json beside it saying where it
came from (start address, unit MAC, flash id, time), so that `swsflash restore` puts it back
at the right place and can refuse to clone one unit's MAC onto another.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import ImageError
from .images import read_file

DEFAULT_ROOT = Path.home() / ".swsflash" / "backups"


@dataclass
class BackupInfo:
    start: int
    size: int
    mac: str | None
    flash_jedec_id: str
    created: str
    reason: str


class BackupStore:
    def __init__(self, root: Path = DEFAULT_ROOT) -> None:
        self.root = root

    def save(self, info: BackupInfo, data: bytes) -> Path:
        unit = (info.mac or "unknown-mac").replace(":", "")
        folder = self.root / unit
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = folder / f"{stamp}-{info.reason}-0x{info.start:06x}-0x{info.size:x}"
        path = base.with_suffix(".bin")
        n = 1
        while True:
            try:  # exclusive create: jig workers may back up at the same second
                with path.open("xb") as f:
                    f.write(data)
                break
            except FileExistsError:
                path = base.with_name(f"{base.name}-{n}").with_suffix(".bin")
                n += 1
        path.with_suffix(".json").write_text(json.dumps(asdict(info), indent=2) + "\n")
        return path


def new_info(start: int, size: int, mac: str | None, jedec: str, reason: str) -> BackupInfo:
    return BackupInfo(start, size, mac, jedec, time.strftime("%Y-%m-%dT%H:%M:%S"), reason)


def load_backup(path: Path) -> tuple[BackupInfo, bytes]:
    """A backup and its description; a bare .bin without .json is taken as a full dump."""
    data = read_file(path)
    meta = path.with_suffix(".json")
    if not meta.exists():
        return BackupInfo(0, len(data), None, "", "", "full dump"), data
    try:
        info = BackupInfo(**json.loads(meta.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise ImageError(f"{meta} is not a swsflash backup description: {exc}") from exc
    if info.size != len(data):
        raise ImageError(f"{path} has {len(data)} bytes, its description says {info.size}")
    return info, data
