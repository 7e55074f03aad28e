"""What a user asks of a connected unit: one function per job, for the command line, the
jig and the Python API alike.

Each job takes a Session, checks its arguments against the unit (the rules live in
swsflash/plan.py and swsflash/settings.py, once), does the work and returns what it did.
Jobs with several phases (recover, the jig's unit) announce each through ``phases``: a
callable ``phases(total, what)`` giving a context manager that yields a progress callback,
as a tqdm bar does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import handover
from .backup import BackupInfo, BackupStore
from .chip import KNOWN_IDS
from .errors import ProtectedDataError, UsageError, VerifyError
from .firmware import FirmwareReport, describe_slots
from .flash import is_protected
from .layout import (
    SECTOR,
    calibration_at,
    calibration_summary,
    format_mac,
    mac_address_at,
    parse_mac,
    protected_regions,
)
from .plan import Planner, check_fits, check_range, refuse_protected
from .program import (
    JobReport,
    Phases,
    Progress,
    back_up,
    erase_sectors,
    no_phases,
    no_progress,
    only_writing,
    program,
)
from .session import Session

Segments = Sequence[tuple[int, bytes]]
__all__ = ["Phases", "Segments", "no_phases"]


def _timed(session: Session, report: JobReport, start: float) -> JobReport:
    report.seconds = session.clock.now() - start
    return report


def firmware(session: Session, deep: bool = False) -> FirmwareReport:
    """What each image slot holds, which one the ROM starts, hardware version, NV areas:
    a few hundred bytes read (``deep``: each image whole as well, for its CRC)."""
    return describe_slots(session.read_flash, session.flash_size, deep)


def info(session: Session, deep: bool = False) -> dict[str, Any]:
    """Chip, clock, flash, identity and firmware: what `swsflash info` shows."""
    assert session.clock_info is not None and session.flash_id is not None
    size = session.flash_size
    status = session.flash.status()
    chip_id = session.chip.chip_id()
    return {
        "chip_id": f"0x{chip_id:04x}",
        "chip": KNOWN_IDS.get(chip_id, "unknown"),
        "pc": f"0x{session.chip.pc():08x}",
        "swire_divider": session.clock_info.divider,
        "swire_divider_window": list(session.clock_info.window),
        "chip_clock_mhz": session.clock_info.fclk_mhz,
        "baud": session.transport.baud,
        "pacing": session.link.pacing.value,
        "flash_jedec_id": session.flash_id.jedec.hex(),
        "flash_maker": session.flash_id.maker,
        "flash_size": size,
        "flash_status": f"0x{status:02x}",
        "flash_protected": is_protected(status, session.flash.status2()),
        "mac_address": session.mac(),
        "mac_sector": f"0x{mac_address_at(size):05x}",
        "calibration_sector": f"0x{calibration_at(size):05x}",
        "calibration": calibration_summary(session.read_flash(calibration_at(size), 0x200)),
        "firmware": firmware(session, deep).to_dict(),
    }


def read(
    session: Session, start: int, size: int, progress: Progress = no_progress
) -> tuple[bytes, JobReport]:
    """Flash content, 1 KB at a time (each read retried on its own)."""
    check_range(start, size, session.flash_size)
    begin = session.clock.now()
    out = bytearray()
    step = 1024
    for addr in range(start, start + size, step):
        n = min(step, start + size - addr)
        out += session.read_flash(addr, n)
        progress(n)
    return bytes(out), _timed(session, JobReport(bytes_total=size), begin)


def plan_write(
    session: Session, segments: Segments, *, force: bool = False, preserve: bool = True
) -> Planner:
    """The job's data, checked against this unit before anything happens."""
    planner = Planner(session.flash_size, force=force, preserve=preserve)
    for address, data in segments:
        planner.add(address, data)
    return planner


def write(
    session: Session,
    segments: Segments,
    *,
    verify: bool = True,
    force: bool = False,
    preserve: bool = True,
    backup: BackupStore | None = None,
    progress: Progress = no_progress,
    phases: Phases | None = None,
    report: JobReport | None = None,
    keep_other_slot: bool = False,
    erase_nv: bool = False,
) -> JobReport:
    """Put the segments on the flash and leave every other byte as it was.

    Sectors that already hold the right bytes are left alone, the others are erased
    (64 KB blocks where the image covers them), programmed (blank pages skipped) and read
    back at once. Protected sectors (MAC, calibration, hardware version) are refused, or
    with ``force`` kept as they were unless ``preserve`` is False. With ``backup`` the
    sectors about to change are saved first. ``phases`` follows every phase (checking,
    comparing, backing up, writing), ``progress`` the writing alone; ``report`` is filled
    as the job goes.

    A complete bootable image at 0x00000, once verified, becomes the one the ROM starts:
    a second slot still marked bootable has its marker cleared (unless
    ``keep_other_slot``); settings the old firmware family left are named, and erased
    with ``erase_nv`` (swsflash/handover.py).
    """
    planner = plan_write(session, segments, force=force, preserve=preserve)
    handover.check_options(segments, erase_nv, backup is not None)
    begin = session.clock.now()
    hand = handover.prepare(session, segments)
    report = program(
        session,
        planner,
        verify=verify,
        backup=backup,
        progress=progress,
        report=report,
        phases=phases,
    )
    if hand is not None:
        handover.finish(
            session,
            hand,
            segments,
            report,
            verified=verify,
            keep_other_slot=keep_other_slot,
            erase_nv=erase_nv,
            backup=backup,
        )
    return _timed(session, report, begin)


def verify(session: Session, segments: Segments, progress: Progress = no_progress) -> JobReport:
    """Compare the flash with the segments; VerifyError names the first difference."""
    begin = session.clock.now()
    for address, data in segments:
        check_fits(address, len(data), session.flash_size)
    total = 0
    for address, data in segments:
        back, _ = read(session, address, len(data), progress)
        if back != data:
            diffs = [i for i, (a, b) in enumerate(zip(data, back, strict=True)) if a != b]
            bad = diffs[0]
            raise VerifyError(
                f"{len(diffs)} byte(s) differ; first at 0x{address + bad:06x}: expected "
                f"0x{data[bad]:02x}, read 0x{back[bad]:02x}",
                "the flash does not hold this image; 'swsflash write' puts it there (if a "
                "write just failed, lower --baud or check the wiring)",
            )
        total += len(data)
    return _timed(session, JobReport(bytes_total=total, bytes_verified=total), begin)


def erase(
    session: Session,
    start: int,
    size: int,
    *,
    force: bool = False,
    preserve: bool = True,
    backup: BackupStore | None = None,
    progress: Progress = no_progress,
    phases: Phases | None = None,
    report: JobReport | None = None,
) -> JobReport:
    """Erase whole sectors; protected ones are refused, or kept unless ``preserve`` is off.
    ``phases`` follows the backup and the erasing, ``progress`` the erasing alone."""
    if start % SECTOR or size % SECTOR or size <= 0:
        raise UsageError(
            f"erase works on whole 4 KB sectors: start 0x{start:x} and size 0x{size:x} "
            "must be multiples of 0x1000"
        )
    check_range(start, size, session.flash_size)
    hit = refuse_protected(start, size, session.flash_size, force)
    keep = hit if preserve else []
    begin = session.clock.now()
    sectors = [
        s
        for s in range(start, start + size, SECTOR)
        if not any(r.overlaps(s, s + SECTOR) for r in keep)
    ]
    phases = phases or only_writing(progress)
    report = report if report is not None else JobReport()
    report.bytes_total = size
    if keep:
        report.notes.append("kept the MAC, calibration and hardware-version sectors")
    session.flash.unprotect()
    if backup is not None and sectors:
        what = f"backing up {len(sectors) * SECTOR // 1024} KB"
        with phases(len(sectors) * SECTOR, what) as bump:
            report.backups += back_up(session, sectors, backup, "before-erase", progress=bump)
    with phases(len(sectors) * SECTOR, "erasing") as bump:
        erase_sectors(session, sectors, report, bump)
    return _timed(session, report, begin)


def erase_all(
    session: Session, *, preserve: bool = True, backup: BackupStore | None = None
) -> JobReport:
    """Chip erase. The protected sectors are read first and written back afterwards
    unless ``preserve`` is False; with a backup store the whole flash is saved first."""
    begin = session.clock.now()
    size = session.flash_size
    report = JobReport(bytes_total=size)
    session.flash.unprotect()
    if backup is not None:
        whole, _ = read(session, 0, size)
        report.backups.append(session.save_backup(backup, 0, whole, "before-erase-all"))
    kept = [
        (r.start, session.read_flash(r.start, r.size))
        for r in (protected_regions(size) if preserve else [])
    ]
    session.flash.erase_chip()
    report.count_erase(*range(0, size, SECTOR))
    written = [(a, d) for a, d in kept if d.count(0xFF) != len(d)]
    if written:
        program(session, plan_write(session, written, force=True, preserve=False))
    if kept:
        report.notes.append("wrote back the MAC, calibration and hardware-version sectors")
    return _timed(session, report, begin)


def set_mac(session: Session, text: str, backup: BackupStore | None) -> JobReport:
    """Change the MAC: only its six bytes in the sector change; the sector is backed up."""
    try:
        raw = parse_mac(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    at = mac_address_at(session.flash_size)
    report = write(session, [(at, raw)], force=True, preserve=False, backup=backup)
    session.forget_mac()
    return report


def restore(
    session: Session,
    info: BackupInfo,
    data: bytes,
    *,
    force: bool = False,
    progress: Progress = no_progress,
    phases: Phases | None = None,
) -> JobReport:
    """Write a backup back where it came from, refusing another unit's MAC unless forced."""
    planner = plan_write(session, [(info.start, data)], force=True, preserve=False)
    mac_at = mac_address_at(session.flash_size)
    if info.start <= mac_at < info.start + info.size and not force:
        theirs = format_mac(data[mac_at - info.start : mac_at - info.start + 6])
        if theirs != session.mac():
            raise ProtectedDataError(
                f"this backup carries MAC {theirs}, the unit has {session.mac()}",
                "restoring it would give this unit another unit's identity; use the "
                "unit's own backup, or --force if you mean it",
            )
    report = program(session, planner, progress=progress, phases=phases)
    session.forget_mac()
    return report


def recover(
    session: Session,
    segments: Segments,
    *,
    backup: BackupStore | None,
    phases: Phases = no_phases,
    report: JobReport | None = None,
    keep_other_slot: bool = False,
    erase_nv: bool = False,
) -> JobReport:
    """Back the whole flash up, write and verify the image, make it the one that boots
    (as `write` does), restart the chip.

    ``report`` is filled as the job goes: after a failure it still names the backup."""
    report = report if report is not None else JobReport()
    planner = plan_write(session, segments)
    handover.check_options(segments, erase_nv, backup is not None)
    whole: bytes | None = None
    if backup is not None:
        with phases(session.flash_size, "backing up") as bump:
            whole, _ = read(session, 0, session.flash_size, bump)
        report.backups.append(session.save_backup(backup, 0, whole, "before-recover"))
    hand = handover.prepare(session, segments, whole)
    program(session, planner, phases=phases, report=report)
    if hand is not None:
        # the whole flash is saved already: no further backup files for these sectors
        handover.finish(
            session,
            hand,
            segments,
            report,
            verified=True,
            keep_other_slot=keep_other_slot,
            erase_nv=erase_nv,
            backup=None if whole is not None else backup,
        )
    session.run()
    return report


def program_unit(
    session: Session,
    segments: Segments,
    *,
    backup: BackupStore | None,
    phases: Phases = no_phases,
    report: JobReport | None = None,
) -> JobReport:
    """The jig's job for one unit: back up the sectors that make it unique (one file
    each), write and verify the image, restart the chip.

    ``report`` is filled as the job goes: a failed unit's record still lists its backups."""
    report = report if report is not None else JobReport()
    planner = plan_write(session, segments)
    if backup is not None:
        regions = protected_regions(session.flash_size)
        with phases(sum(r.size for r in regions), "backing up MAC and calibration") as bump:
            for r in regions:
                data = session.read_flash(r.start, r.size)
                report.backups.append(session.save_backup(backup, r.start, data, "jig"))
                bump(r.size)
    program(session, planner, phases=phases, report=report)
    with phases(0, "restarting"):
        session.run()
    return report
