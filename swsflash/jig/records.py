"""What the plant keeps of every unit: the record, its summary line, the log files.

The files are written by the main side only, so that lines of two positions never mix.
"""

from __future__ import annotations

import csv
import hashlib
import json
import zlib
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from ..errors import UsageError
from ..images import Image


@dataclass
class UnitRecord:
    """One line of the plant's log: enough to trace a unit back to the image and the run."""

    time_start: str
    time_end: str = ""
    position: str = ""
    port: str = ""
    unit: int = 0  # the unit's number at this position in this run
    result: str = "failed"  # ok | failed
    exit_code: int = 1
    error: str | None = None
    error_title: str | None = None
    mac: str | None = None
    chip_id: str | None = None
    flash_jedec_id: str | None = None
    flash_size: int | None = None
    image_file: str = ""
    image_crc32: str = ""
    image_sha256: str = ""
    image_version: str | None = None
    image_size: int = 0
    seconds: float = 0.0  # on the device clock: simulated time on sim://
    clock: str = "real"  # real | virtual
    wall_seconds: float = 0.0
    retries: int = 0
    sectors_erased: int = 0
    sectors_unchanged: int = 0
    bytes_verified: int = 0
    backups: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


RECORD_FIELDS = [f.name for f in fields(UnitRecord)]


def now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


def summary_line(rec: UnitRecord) -> str:
    """The one line a person reads per unit."""
    ids = f"chip {rec.chip_id or '-'} flash {rec.flash_jedec_id or '-'}"
    line = (
        f"{rec.position} #{rec.unit}  {rec.mac or 'MAC ?':<17}  {ids}  "
        f"{rec.result:<6} {rec.seconds:6.1f} s"
    )
    if rec.result != "ok":
        line += f"  exit {rec.exit_code}: {rec.error_title}: {rec.error}"
    return line


class RecordWriter:
    """Appends every record to the JSON-lines log and the CSV file as it arrives.

    The files are opened before the first unit is touched, so a log that cannot be written
    stops the run before it starts rather than losing the trace of a programmed unit.
    """

    def __init__(self, log: Path | None, csv_path: Path | None) -> None:
        self.files: list[IO[str]] = []
        self.log = self._open(log) if log is not None else None
        self.csv: csv.DictWriter[str] | None = None
        if csv_path is not None:
            f = self._open(csv_path)
            self.csv = csv.DictWriter(f, fieldnames=RECORD_FIELDS)
            if f.tell() == 0:
                self.csv.writeheader()

    def _open(self, path: Path) -> IO[str]:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            f = path.open("a", encoding="utf-8", newline="")
        except OSError as exc:
            self.close()
            raise UsageError(f"cannot append to {path}: {exc.strerror or exc}") from exc
        self.files.append(f)
        return f

    def write(self, rec: UnitRecord) -> None:
        data = asdict(rec)
        if self.log is not None:
            self.log.write(json.dumps(data) + "\n")
        if self.csv is not None:
            self.csv.writerow(
                {k: " | ".join(v) if isinstance(v, list) else v for k, v in data.items()}
            )
        for f in self.files:
            f.flush()

    def close(self) -> None:
        for f in self.files:
            f.close()


def image_fields(image: Image, raw: bytes) -> dict[str, Any]:
    """What identifies the image in every record.

    A Telink image ends with the complement of its own CRC32, so the CRC32 of the whole
    file is always ffffffff: the CRC given is the one over all but those last four bytes
    (the one the image carries), and the file's SHA-256 pins the exact file.
    """
    data = b"".join(s.data for s in image.segments)
    telink = image.telink
    crc = zlib.crc32(data[:-4] if telink is not None and telink.crc_ok else data)
    return {
        "image_file": image.path,
        "image_crc32": f"{crc:08x}",
        "image_sha256": hashlib.sha256(raw).hexdigest(),
        "image_version": None if telink is None else f"0x{telink.version:08x}",
        "image_size": image.size,
    }
