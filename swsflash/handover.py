"""After a complete image is written at 0x00000: make it the one the boot ROM starts, and
say what the old firmware's settings areas still hold (erasing them when asked).

The SDK's own OTA clears byte 8 of the old slot once the new image checks out; a write of
slot 0 over SWS must do the same to a second slot that is still marked, or the ROM may keep
starting the old image (which slot wins when both are marked is not settled). Nothing here
happens before slot 0 is verified. Rules and sources: docs/info.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from .backup import BackupStore
from .errors import UsageError, VerifyError
from .firmware import (
    HEADER_READ,
    FirmwareReport,
    Identity,
    Marker,
    SlotState,
    analyse_slot,
    describe_slots,
    disable_marker_patch,
    identify,
    is_complete_bootable,
    slot_addresses,
)
from .firmware_id import Family
from .layout import SECTOR, protected_regions
from .program import JobReport, back_up, read_sectors
from .session import Session
from .unit_data import StaleArea, family_change

Segments = Sequence[tuple[int, bytes]]


def _overlaps(start: int, end: int, written: Segments) -> bool:
    return any(a < end and start < a + len(d) for a, d in written)


@dataclass(frozen=True)
class Handover:
    """What a write at 0x00000 needs to know of the unit before it starts."""

    image: bytes  # the complete bootable image going to 0x00000
    identity: Identity  # the new image's family, from all its bytes
    before: FirmwareReport  # the unit as it was (header reads only)

    @property
    def old_family(self) -> Family:
        """The firmware the unit ran: the slot the ROM would start, else any image found."""
        slots = list(self.before.slots)
        running = self.before.running
        for slot in ([running] if running else []) + slots:
            if slot.header is None or slot.state not in (SlotState.IMAGE, SlotState.PARTIAL):
                continue
            if slot.identity.family is not Family.UNKNOWN:
                return slot.identity.family
        return Family.UNKNOWN

    def stale(self) -> tuple[StaleArea, ...]:
        """The old firmware's settings areas the new one does not use, that hold data."""
        used = {n.area for n in self.before.nv if n.holds_data}
        changed = family_change(self.old_family, self.identity.family, self.before.flash_size)
        return tuple(s for s in changed if s.area in used)


def image_at_0(segments: Segments) -> bytes | None:
    """The complete bootable image this job puts at 0x00000, if it does."""
    image = next((bytes(d) for a, d in segments if a == 0), None)
    return image if image is not None and is_complete_bootable(image) else None


def check_options(segments: Segments, erase_nv: bool, backed_up: bool) -> None:
    """erase_nv destroys settings: only with a backup to bring them back from, and only
    for a job that replaces the firmware (before anything is read or written)."""
    if not erase_nv:
        return
    if image_at_0(segments) is None:
        raise UsageError(
            "--erase-nv erases the settings the old firmware left behind, so it needs a "
            "complete bootable image written at 0x00000",
            "check the image with 'swsflash image-info', or leave out --erase-nv",
        )
    if not backed_up:
        raise UsageError(
            "--erase-nv erases the old firmware's settings and needs a backup of them first",
            "leave out --no-backup (or give the job a BackupStore), or leave out --erase-nv",
        )


def prepare(session: Session, segments: Segments, whole: bytes | None = None) -> Handover | None:
    """The unit's slots and settings before the job (``whole``: a full dump already read),
    when the job puts a complete bootable image at 0x00000; None otherwise."""
    image = image_at_0(segments)
    if image is None:
        return None
    if whole is not None:
        dump = whole

        def read(address: int, size: int) -> bytes:
            return dump[address : address + size]

        before = describe_slots(read, session.flash_size)
    else:
        before = describe_slots(session.read_flash, session.flash_size)
    return Handover(image, identify(image[:HEADER_READ], image), before)


def finish(
    session: Session,
    hand: Handover,
    written: Segments,
    report: JobReport,
    *,
    verified: bool,
    keep_other_slot: bool = False,
    erase_nv: bool = False,
    backup: BackupStore | None = None,
) -> None:
    """Once slot 0 is written: clear the other slots' markers (only if slot 0 was
    verified), then name the old firmware's settings, erasing them with ``erase_nv``."""
    if verified:
        clear_other_markers(session, written, report, keep=keep_other_slot, backup=backup)
    else:
        report.notes.append(
            "the image at 0x00000 was not read back (no verify): the other slots' boot "
            "markers were left as they were"
        )
    stale = hand.stale()
    report.old_settings = [str(s.area) for s in stale]
    if not stale:
        return
    old, new = hand.old_family.label, hand.identity.family.label
    names = "; ".join(str(s.area) for s in stale)
    if erase_nv:
        erase_settings(session, stale, written, report, backup)
        return
    clash = [s for s in stale if s.clashes_with]
    reads = (
        f" ({'; '.join(str(c) for s in clash for c in s.clashes_with)} of the new firmware "
        "lie in the same range and will be read with the new format)"
        if clash
        else ""
    )
    report.notes.append(
        f"the old firmware ({old}) left settings that {new} does not use in: {names}"
        f"{reads}; --erase-nv erases them (backed up first)"
    )


def clear_other_markers(
    session: Session,
    written: Segments,
    report: JobReport,
    *,
    keep: bool = False,
    backup: BackupStore | None = None,
) -> None:
    """Byte 8 of every second slot that is still marked bootable -> 0x00: a one-byte page
    program (clearing bits needs no erase), read back. Slots this job wrote are left alone."""
    size = session.flash_size
    protected = protected_regions(size)
    for address in slot_addresses(size)[1:]:
        if _overlaps(address, address + HEADER_READ, written):
            continue  # the job wrote here: that is what the user asked for
        header = session.read_flash(address, HEADER_READ)
        slot = analyse_slot(header, address, size)
        if slot.marker is not Marker.BOOTABLE:
            continue
        where = f"0x{address:05x}"
        if keep:
            report.notes.append(
                f"kept the boot marker of the image at {where} (keep_other_slot): both slots "
                "are marked and which one the boot ROM starts is not settled"
            )
            continue
        at, value = disable_marker_patch(address)
        if any(r.overlaps(at, at + 1) for r in protected):
            report.notes.append(f"left the boot marker at {where} alone: it is a protected sector")
            continue
        if backup is not None:
            sector = address - address % SECTOR
            report.backups += back_up(session, [sector], backup, "before-marker")
        expected = header[:8] + bytes([header[8] & value[0]]) + header[9:]
        session.flash.unprotect()
        session.retry(
            f"clearing the boot marker at {where}",
            partial(_program_and_check, session, at, value, address, expected),
        )
        report.markers_cleared.append(address)
        report.notes.append(
            f"cleared the boot marker of the old image at {where} (byte 8 -> 0x00, as the "
            "SDK does after an update): the unit starts the image just written at 0x00000"
        )


def _program_and_check(
    session: Session, at: int, value: bytes, address: int, expected: bytes
) -> None:
    session.flash.program_page(at, value)
    back = session.flash.read(address, len(expected))
    if back != expected:
        raise VerifyError(
            f"the boot marker at 0x{at:05x} reads 0x{back[at - address]:02x} after "
            f"programming 0x{value[0]:02x}, or other bytes of the header changed",
            "the flash may be write-protected or the line noisy: run the same command again",
        )


def erase_settings(
    session: Session,
    stale: Sequence[StaleArea],
    written: Segments,
    report: JobReport,
    backup: BackupStore | None,
) -> None:
    """Erase the sectors of these areas that hold data (never protected sectors, never
    what this job wrote), each backed up first and read back blank."""
    protected = protected_regions(session.flash_size)
    sectors = sorted(
        {
            s
            for area in stale
            for s in range(area.area.start, area.area.end, SECTOR)
            if not any(r.overlaps(s, s + SECTOR) for r in protected)
            and not _overlaps(s, s + SECTOR, written)
        }
    )
    found = read_sectors(session, sectors)
    used = [s for s in sectors if found[s] != b"\xff" * SECTOR]
    if backup is not None and used:
        report.backups += back_up(session, used, backup, "before-erase-nv", found)
    session.flash.unprotect()
    for sector in used:
        session.retry(f"erasing sector 0x{sector:05x}", partial(_erase_and_check, session, sector))
        report.count_erase(sector)
    erased = [s for s in stale if any(s.area.start <= u < s.area.end for u in used)]
    report.settings_erased = [str(s.area) for s in erased]
    if erased:
        report.notes.append(
            f"erased the old firmware's settings ({len(used)} sectors, backed up first): "
            + "; ".join(report.settings_erased)
        )


def _erase_and_check(session: Session, sector: int) -> None:
    session.flash.erase_sector(sector)
    if session.flash.read(sector, SECTOR) != b"\xff" * SECTOR:
        raise VerifyError(
            f"sector 0x{sector:05x} is not blank after an erase",
            "the flash may be write-protected or the line noisy: run the same command again",
        )
