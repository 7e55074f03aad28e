"""The Python API: ``swsflash.connect`` gives a Device, a Session whose methods are the jobs.

    import swsflash
    with swsflash.connect("/dev/ttyUSB0") as dev:
        report = dev.write_image(open("z03mmc.bin", "rb").read())

Every method is one call of the job function in swsflash/jobs.py that the command line
and the jig use too, so the three cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import jobs
from .backup import BackupInfo, BackupStore
from .firmware import FirmwareReport
from .program import JobReport, Progress, no_progress
from .session import Session, attached
from .settings import ConnectOptions

__all__ = ["ConnectOptions", "Device", "JobReport", "connect"]


class Device(Session):
    """A halted TLSR825x with its flash identified, ready for jobs."""

    def info(self, deep: bool = False) -> dict[str, Any]:
        return jobs.info(self, deep)

    def firmware(self, deep: bool = False) -> FirmwareReport:
        """See jobs.firmware: image slots, boot slot, hardware version, NV areas."""
        return jobs.firmware(self, deep)

    def read(self, start: int, size: int, progress: Progress = no_progress) -> bytes:
        return jobs.read(self, start, size, progress)[0]

    def write_segments(
        self,
        segments: jobs.Segments,
        *,
        verify: bool = True,
        force: bool = False,
        preserve: bool = True,
        backup: BackupStore | None = None,
        progress: Progress = no_progress,
        keep_other_slot: bool = False,
        erase_nv: bool = False,
    ) -> JobReport:
        """See jobs.write."""
        return jobs.write(
            self,
            segments,
            verify=verify,
            force=force,
            preserve=preserve,
            backup=backup,
            progress=progress,
            keep_other_slot=keep_other_slot,
            erase_nv=erase_nv,
        )

    def write_image(
        self,
        data: bytes,
        address: int = 0,
        *,
        verify: bool = True,
        force: bool = False,
        preserve: bool = True,
        backup: BackupStore | None = None,
        progress: Progress = no_progress,
        keep_other_slot: bool = False,
        erase_nv: bool = False,
    ) -> JobReport:
        """Write one image: write_segments with one segment."""
        return self.write_segments(
            [(address, data)],
            verify=verify,
            force=force,
            preserve=preserve,
            backup=backup,
            progress=progress,
            keep_other_slot=keep_other_slot,
            erase_nv=erase_nv,
        )

    def verify(self, data: bytes, address: int = 0, progress: Progress = no_progress) -> None:
        jobs.verify(self, [(address, data)], progress)

    def erase(
        self,
        start: int,
        size: int,
        *,
        force: bool = False,
        preserve: bool = True,
        backup: BackupStore | None = None,
        progress: Progress = no_progress,
    ) -> JobReport:
        return jobs.erase(
            self, start, size, force=force, preserve=preserve, backup=backup, progress=progress
        )

    def erase_all(self, *, preserve: bool = True, backup: BackupStore | None = None) -> JobReport:
        return jobs.erase_all(self, preserve=preserve, backup=backup)

    def set_mac(self, text: str, backup: BackupStore | None) -> JobReport:
        return jobs.set_mac(self, text, backup)

    def restore(
        self,
        info: BackupInfo,
        data: bytes,
        *,
        force: bool = False,
        progress: Progress = no_progress,
    ) -> JobReport:
        return jobs.restore(self, info, data, force=force, progress=progress)


@contextmanager
def connect(port: str, options: ConnectOptions | None = None) -> Iterator[Device]:
    """Open the port, get hold of the chip, and close the port again afterwards."""
    with attached(port, options or ConnectOptions(), Device) as device:
        yield device
