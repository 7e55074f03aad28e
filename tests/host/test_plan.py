"""The programming planner on its own, without a chip or the bench: what it decides for
each sector, and that carrying its plan out leaves exactly the image over the old flash."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swsflash.errors import ImageError, ProtectedDataError
from swsflash.layout import BLOCK, PAGE, SECTOR
from swsflash.plan import Plan, Planner, Prior, SectorState

FLASH = 0x80000


class MemFlash:
    """A NOR flash in memory: erase sets bytes to 0xFF, a program can only clear bits."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        self.erased: list[tuple[int, int]] = []  # (address, size) of every erase

    def erase(self, addr: int, size: int) -> None:
        assert addr % size == 0
        self.data[addr : addr + size] = b"\xff" * size
        self.erased.append((addr, size))

    def program(self, addr: int, chunk: bytes) -> None:
        assert len(chunk) <= PAGE and addr % PAGE + len(chunk) <= PAGE
        for i, b in enumerate(chunk):
            self.data[addr + i] &= b


def apply(plan: Plan, flash: MemFlash) -> None:
    """Carry a plan out as the executor does, on the in-memory flash."""
    erased_blocks = set()
    for sp in plan.sectors:
        block = sp.address - sp.address % BLOCK
        if sp.block_erase and block not in erased_blocks:
            flash.erase(block, BLOCK)
            erased_blocks.add(block)
        if sp.state is SectorState.UNKNOWN:
            reads = [bytes(flash.data[sp.address + a : sp.address + b]) for a, b in sp.missing()]
            sp = sp.completed(reads)
        if sp.state is SectorState.SAME:
            continue
        outside = sp.before or bytes(flash.data[sp.address : sp.address + SECTOR])
        content = sp.merged(outside)
        if not sp.block_erase:
            flash.erase(sp.address, SECTOR)
        for page in range(0, SECTOR, PAGE):
            chunk = content[page : page + PAGE]
            if chunk.count(0xFF) != PAGE:
                flash.program(sp.address + page, chunk)


def disjoint(raw: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(address, size) pairs with those that overlap an earlier one dropped."""
    out: list[tuple[int, int]] = []
    for addr, size in raw:
        if all(addr + size <= a or a + s <= addr for a, s in out):
            out.append((addr, size))
    return out


@settings(max_examples=150, deadline=None)
@given(
    spans=st.lists(
        st.tuples(st.integers(0, 0x2F000), st.integers(1, 0x12000)), min_size=1, max_size=4
    ),
    prior_kind=st.sampled_from(["random", "blank", "already-written", "mixed"]),
    knowledge=st.sampled_from(["nothing", "whole", "probe", "random"]),
    seed=st.integers(0, 2**32),
)
def test_applying_the_plan_gives_image_over_untouched_bytes(
    spans: list[tuple[int, int]], prior_kind: str, knowledge: str, seed: int
) -> None:
    rnd = random.Random(seed)
    segments = [(a, rnd.randbytes(min(n, 0x40000 - a))) for a, n in disjoint(spans)]
    prior = bytearray(b"\xff" * FLASH if prior_kind == "blank" else rnd.randbytes(FLASH))
    expected = bytearray(prior)
    for addr, data in segments:
        expected[addr : addr + len(data)] = data
    if prior_kind == "already-written":
        prior = bytearray(expected)
    elif prior_kind == "mixed":  # some sectors already right, others not
        for s in range(0, FLASH, SECTOR):
            if rnd.random() < 0.5:
                prior[s : s + SECTOR] = expected[s : s + SECTOR]

    planner = Planner(FLASH)
    for addr, data in segments:
        planner.add(addr, data)
    known: dict[int, Prior] = {}
    for sp in planner.sectors():
        at = sp.address
        if knowledge == "whole":
            known[at] = Prior(0, bytes(prior[at : at + SECTOR]))
        elif knowledge == "probe":
            off = sp.probe_offset
            known[at] = Prior(off, bytes(prior[at + off : at + off + PAGE]))
        elif knowledge == "random" and rnd.random() < 0.7:
            lo = rnd.randrange(SECTOR)
            hi = rnd.randrange(lo, SECTOR) + 1
            known[at] = Prior(lo, bytes(prior[at + lo : at + hi]))
    plan = planner.plan(known)

    flash = MemFlash(bytes(prior))
    apply(plan, flash)
    assert flash.data == expected
    for sp in plan.sectors:  # decisions the plan states are true of the flash
        old = prior[sp.address : sp.address + SECTOR]
        if sp.state is SectorState.SAME:
            assert sp.merged(bytes(old)) == old
        if sp.block_erase:
            assert sp.full and sp.state is SectorState.DIFFERS
    if prior_kind == "already-written":
        assert flash.erased == []


def test_a_block_the_image_covers_is_erased_whole_unless_part_of_it_is_right() -> None:
    image = bytes(range(256)) * (BLOCK // 256) * 2  # two blocks
    prior = b"\x00" * BLOCK + image[BLOCK:]  # the second block already holds the image
    planner = Planner(FLASH)
    planner.add(0, image)
    known = {s.address: Prior(0, prior[s.address : s.address + SECTOR]) for s in planner.sectors()}
    plan = planner.plan(known)
    assert plan.blocks() == [0]
    assert plan.changing() == list(range(0, BLOCK, SECTOR))
    assert all(s.state is SectorState.SAME for s in plan.sectors[16:])
    # one sector of the first block right already: sixteen sector erases minus one instead
    known[0x3000] = Prior(0, image[0x3000:0x4000])
    plan = planner.plan(known)
    assert plan.blocks() == []
    assert 0x3000 not in plan.changing()
    # only first pages known, and one of them agrees: that sector may be right already
    probes = {s.address: Prior(0, prior[s.address : s.address + PAGE]) for s in planner.sectors()}
    probes[0x5000] = Prior(0, image[0x5000 : 0x5000 + PAGE])
    assert planner.plan(probes).blocks() == []


def test_a_probe_page_that_agrees_leaves_the_sector_to_be_told() -> None:
    planner = Planner(FLASH)
    planner.add(0x1000, b"\x11" * 0x800)
    (draft,) = planner.sectors()
    assert draft.probe_offset == 0
    agree = planner.plan({0x1000: Prior(0, b"\x11" * PAGE)}).sectors[0]
    assert agree.state is SectorState.UNKNOWN
    differ = planner.plan({0x1000: Prior(0, b"\x11" * (PAGE - 1) + b"\x12")}).sectors[0]
    assert differ.state is SectorState.DIFFERS
    # knowing every byte the image sets is enough, even without the rest of the sector
    whole_image = planner.plan({0x1000: Prior(0, b"\x11" * 0x800)}).sectors[0]
    assert whole_image.state is SectorState.SAME


def test_overlapping_data_is_refused_naming_both_ranges() -> None:
    planner = Planner(FLASH)
    planner.add(0x1000, b"\x00" * 0x100)
    with pytest.raises(ImageError) as info:
        planner.add(0x10F0, b"\x00" * 0x20)
    assert "0x010f0-0x0110f" in info.value.message and "0x01000-0x010ff" in info.value.message
    planner.add(0x1100, b"\x00")  # touching is not overlapping


def test_data_beyond_the_flash_is_refused_naming_both_ranges() -> None:
    with pytest.raises(ImageError) as info:
        Planner(FLASH).add(0x7F000, b"\x00" * 0x2000)
    assert "0x7f000-0x80fff" in info.value.message
    assert "beyond the 512 KB flash (0x00000-0x7ffff)" in info.value.message


def test_protected_sectors_are_refused_kept_or_written() -> None:
    data = b"\x5a" * 0x3000  # 0x75000..0x78000: MAC (0x76000) and calibration (0x77000)
    with pytest.raises(ProtectedDataError, match="MAC address"):
        Planner(FLASH).add(0x75000, data)
    kept = Planner(FLASH, force=True)
    kept.add(0x75000, data)
    plan = kept.plan()
    assert [s.address for s in plan.sectors] == [0x75000]
    assert {r.name for r in plan.kept} == {"MAC address", "factory calibration"}
    wiped = Planner(FLASH, force=True, preserve=False)
    wiped.add(0x75000, data)
    assert [s.address for s in wiped.plan().sectors] == [0x75000, 0x76000, 0x77000]
    assert wiped.plan().kept == ()
