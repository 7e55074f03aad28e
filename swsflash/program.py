"""Carrying a programming plan out: survey, back up, erase, program, verify, report.

The decisions are the planner's (swsflash/plan.py); this module reads what the plan
needs to know, then does what it says, sector by sector, each step through the session's
``retry`` so a line or chip fault costs a reconnect, not the job.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Protocol, TypeVar

from .backup import BackupStore
from .errors import Interrupted, VerifyError
from .flash import SpiFlash
from .layout import BLOCK, PAGE, SECTOR
from .plan import Plan, Planner, Prior, SectorPlan, SectorState
from .transport import Clock

T = TypeVar("T")
Progress = Callable[[int], None]
# phases(total, what) -> a context manager yielding the phase's progress callback
Phases = Callable[[int, str], AbstractContextManager[Progress]]


def no_progress(_: int) -> None:
    pass


@contextmanager
def no_phases(total: int, what: str) -> Iterator[Progress]:
    yield no_progress


def only_writing(progress: Progress) -> Phases:
    """Phases for a caller that follows the writing alone, with one progress callback."""

    @contextmanager
    def phases(total: int, what: str) -> Iterator[Progress]:
        yield progress if what == "writing" else no_progress

    return phases


@dataclass
class JobReport:
    """What a job did, for the one-line summary and for jig logs."""

    bytes_total: int = 0
    sectors_erased: int = 0
    pages_programmed: int = 0
    pages_skipped: int = 0
    bytes_verified: int = 0
    sectors_unchanged: int = 0
    retries: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)
    # after a complete image at 0x00000 (swsflash/handover.py):
    markers_cleared: list[int] = field(default_factory=list)  # slots whose byte 8 -> 0x00
    old_settings: list[str] = field(default_factory=list)  # old firmware's areas with data
    settings_erased: list[str] = field(default_factory=list)  # those of them erased
    erased: set[int] = field(default_factory=set, repr=False)  # sectors, each counted once

    def count_erase(self, *sectors: int) -> None:
        """A retried sector is erased twice but counts once: the counts must add up."""
        new = set(sectors) - self.erased
        self.erased |= new
        self.sectors_erased += len(new)


class Target(Protocol):
    """What the executor needs of a connected unit (a Session)."""

    flash: SpiFlash
    clock: Clock
    retries: int
    stop_requested: bool

    def retry(self, what: str, action: Callable[[], T]) -> T: ...
    def read_flash(self, addr: int, size: int) -> bytes: ...
    def save_backup(self, store: BackupStore, start: int, data: bytes, reason: str) -> Path: ...


def runs(sectors: Iterable[int]) -> list[list[int]]:
    """Sector addresses grouped into contiguous runs (one read or backup file each)."""
    out: list[list[int]] = []
    for sector in sectors:
        if out and out[-1][-1] + SECTOR == sector:
            out[-1].append(sector)
        else:
            out.append([sector])
    return out


def read_sectors(
    target: Target, sectors: Iterable[int], progress: Progress = no_progress
) -> dict[int, bytes]:
    """Whole sectors, one read each (each retried on its own, and followed by progress)."""
    found: dict[int, bytes] = {}
    for sector in sectors:
        found[sector] = target.read_flash(sector, SECTOR)
        progress(SECTOR)
    return found


def back_up(
    target: Target,
    sectors: list[int],
    store: BackupStore,
    reason: str,
    known: dict[int, bytes] | None = None,
    progress: Progress = no_progress,
) -> list[Path]:
    """Save these sectors, one file per contiguous run; ``known`` spares reading them."""
    have = dict(known or {})
    have.update(read_sectors(target, [s for s in sectors if s not in have], progress))
    return [
        target.save_backup(store, run[0], b"".join(have[s] for s in run), reason)
        for run in runs(sectors)
    ]


def survey(target: Target, drafts: list[SectorPlan], progress: Progress) -> dict[int, Prior]:
    """The first page the image sets in each sector: on a fresh write it almost always
    differs, so one page tells most sectors apart."""
    known = {}
    for s in drafts:
        page = target.read_flash(s.address + s.probe_offset, PAGE)
        known[s.address] = Prior(s.probe_offset, page)
        progress(PAGE)
    return known


def _whole(
    target: Target, phases: Phases, what: str, sectors: list[int], known: dict[int, Prior]
) -> None:
    """Read these sectors in full, as one phase, into ``known``."""
    if not sectors:
        return
    with phases(len(sectors) * SECTOR, what) as bump:
        for a, data in read_sectors(target, sectors, bump).items():
            known[a] = Prior(0, data)


def plan_with_backup(
    target: Target, planner: Planner, phases: Phases, backup: BackupStore | None
) -> tuple[Plan, list[Path]]:
    """Plan from what the flash holds; with a store, back up exactly the sectors that
    will change (none when every sector is already right), each step its own phase."""
    drafts = planner.sectors()
    with phases(len(drafts) * PAGE, "checking") as bump:
        known = survey(target, drafts, bump)
    plan = planner.plan(known)
    if backup is None:
        return plan, []
    unknown = [s.address for s in plan.sectors if s.state is SectorState.UNKNOWN]
    _whole(target, phases, "comparing", unknown, known)
    changing = planner.plan(known).changing()
    _whole(target, phases, f"backing up {len(changing) * SECTOR // 1024} KB", changing, known)
    plan = planner.plan(known)
    have = {a: p.data for a, p in known.items() if p.whole}
    saved = [
        target.save_backup(backup, run[0], b"".join(have[s] for s in run), "before-write")
        for run in runs(changing)
    ]
    return plan, saved


def program(
    target: Target,
    planner: Planner,
    *,
    verify: bool = True,
    backup: BackupStore | None = None,
    progress: Progress = no_progress,
    report: JobReport | None = None,
    phases: Phases | None = None,
) -> JobReport:
    """Put the planner's data on the flash and leave every other byte as it was.

    ``phases`` (else ``progress``, for the writing alone) follows checking, comparing,
    backing up and writing; ``report`` (a new one if None) is filled as the job goes, so
    that a caller still knows what a failed job did, such as the backups it saved."""
    phases = phases or only_writing(progress)
    start_t = target.clock.now()
    retries_before = target.retries
    report = report if report is not None else JobReport()
    report.bytes_total = planner.bytes_total
    plan, saved = plan_with_backup(target, planner, phases, backup)
    report.backups += saved
    if plan.kept:
        report.notes.append("kept as they were: " + ", ".join(str(r) for r in plan.kept))
    if target.flash.unprotect():
        report.notes.append("cleared the flash's block protection")
    try:
        with phases(planner.bytes_total, "writing") as bump:
            carry_out(target, plan, verify, report, bump)
    finally:
        report.retries = target.retries - retries_before
        report.seconds = target.clock.now() - start_t
    return report


def carry_out(
    target: Target, plan: Plan, verify: bool, report: JobReport, progress: Progress
) -> None:
    """Sector by sector; a stop request is honoured between sectors (never inside a block
    erased whole, whose other sectors would be left blank)."""
    erased_blocks: set[int] = set()
    for n, sp in enumerate(plan.sectors):
        block = sp.address - sp.address % BLOCK
        mid_block = sp.block_erase and block in erased_blocks
        if target.stop_requested and not mid_block:
            raise Interrupted(
                f"stopped after {n} of {len(plan.sectors)} sectors; every sector before "
                f"0x{sp.address:05x} is written and verified, the rest is as it was",
                "run the same command again: sectors already right are skipped",
            )
        if sp.block_erase and block not in erased_blocks:
            target.retry(f"block 0x{block:05x}", partial(target.flash.erase_block, block))
            report.count_erase(*range(block, block + BLOCK, SECTOR))
            erased_blocks.add(block)
        put_sector(target, sp, verify, report)
        progress(sp.image_bytes)


def put_sector(target: Target, sp: SectorPlan, verify: bool, report: JobReport) -> None:
    """One sector: told apart if need be, then erased, programmed and read back."""
    where = f"sector 0x{sp.address:05x}"
    if sp.state is SectorState.UNKNOWN:
        sp = target.retry(where, lambda: _complete(target, sp))
    if sp.state is SectorState.SAME:
        report.sectors_unchanged += 1
        report.bytes_verified += sp.image_bytes
        return
    content = target.retry(where, lambda: _content(target, sp))
    attempts = itertools.count()

    def write() -> None:
        # a sector erased with its block needs no erase, unless a failed attempt came first
        erase = not sp.block_erase or next(attempts) > 0
        write_sector(target.flash, sp, content, verify, report, erase)

    target.retry(where, write)


def _complete(target: Target, sp: SectorPlan) -> SectorPlan:
    return sp.completed([target.flash.read(sp.address + a, b - a) for a, b in sp.missing()])


def _content(target: Target, sp: SectorPlan) -> bytes:
    """The sector as it must be afterwards; read before anything is erased, so that a
    retry after a half-done erase still keeps the bytes the image does not set."""
    if sp.before is not None or sp.full:
        return sp.merged(sp.before or sp.want)
    outside = bytearray(sp.want)
    for a, b in sp.gaps():
        outside[a:b] = target.flash.read(sp.address + a, b - a)
    return sp.merged(bytes(outside))


def write_sector(
    flash: SpiFlash,
    sp: SectorPlan,
    content: bytes,
    verify: bool,
    report: JobReport,
    erase: bool = True,
) -> None:
    """Erase, program (blank pages skipped) and read back one sector."""
    if erase:
        flash.erase_sector(sp.address)
        report.count_erase(sp.address)
    pages = []
    for page in range(0, SECTOR, PAGE):
        chunk = content[page : page + PAGE]
        if chunk.count(0xFF) == PAGE:
            report.pages_skipped += 1
        else:
            pages.append((sp.address + page, chunk))
    flash.program_pages(pages)
    report.pages_programmed += len(pages)
    if not verify:
        return
    # the bytes the image sets, plus the kept bytes in between (one read is cheaper)
    lo, hi = sp.span
    back = flash.read(sp.address + lo, hi - lo)
    bad = sum(1 for a, b in zip(back, content[lo:hi], strict=True) if a != b)
    if bad:
        flash.check_unlocked()  # a locked flash ignores the write: say so, not "noisy"
        raise VerifyError(
            f"sector 0x{sp.address:05x}: {bad} byte(s) differ after writing",
            "the line is too noisy or the flash is worn: lower --baud, shorten the "
            "wires, check the 1 kOhm resistor; then run the same command again",
        )
    report.bytes_verified += sp.image_bytes


def erase_sectors(
    target: Target, sectors: list[int], report: JobReport, progress: Progress
) -> None:
    """Erase whole sectors, one by one."""
    for sector in sectors:
        target.flash.erase_sector(sector)
        report.count_erase(sector)
        progress(SECTOR)
