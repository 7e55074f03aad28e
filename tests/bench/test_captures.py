"""The bench reproduces the two real line captures (field-evidence §1) character for
character, with one documented parameter set per capture (``line_captures.FIT_A/B``),
driven at the line level the way the proven COM flasher produced them."""

from __future__ import annotations

import pytest
from line_captures import (
    CAPTURE_A,
    CAPTURE_B_DIVIDER,
    CAPTURE_B_FLASH,
    CAPTURE_B_FLASH_ADDR,
    CAPTURE_B_FLASH_DIVIDER,
    FIT_A,
    FIT_B,
    divider_row,
    flash_row,
    flasher_host,
    matches,
    matching_chars,
)

from swsflash.bench.spi_flash import DEFAULT_PART, PARTS

BLANK = b"\xff" * PARTS[DEFAULT_PART].size

# The one character of capture A that the fit does not give (see docs/bench.md).
A_NOT_REPRODUCED = {
    0x2C: "char 3: captured 0x98, bench 0xd8. Its bit 6 is sampled 0.02 bit-times (about "
    "0.6 chip clock) after the rise that ends cell 3; no parameter set that keeps the "
    "other 141 characters moves it. On hardware the chip clock's phase against the "
    "request differs from read to read by up to a clock; the bench has no such jitter."
}


@pytest.fixture(scope="module", params=["1", "0"], ids=["fast", "line-level"])
def scan_a(request: pytest.FixtureRequest) -> dict[int, bytes]:
    """The flasher's divider scan 0x23..0x37 on one unit, as in capture A."""
    host = flasher_host(f"{FIT_A.url}&fast={request.param}")
    return {div: divider_row(host, div) for div in CAPTURE_A}


@pytest.mark.parametrize(
    "div",
    [
        pytest.param(d, marks=pytest.mark.xfail(strict=True, reason=A_NOT_REPRODUCED[d]))
        if d in A_NOT_REPRODUCED
        else d
        for d in CAPTURE_A
    ],
    ids=[f"div_{d:#04x}" for d in CAPTURE_A],
)
def test_capture_a_row(scan_a: dict[int, bytes], div: int) -> None:
    got = scan_a[div]
    assert matches(CAPTURE_A[div], got), f"captured {CAPTURE_A[div].hex(' ')}, bench {got.hex(' ')}"


def test_capture_a_all_but_one_character(scan_a: dict[int, bytes]) -> None:
    """141 of the 142 captured characters (the exception is pinned above)."""
    total = sum(len(row) for row in CAPTURE_A.values())
    same = sum(matching_chars(CAPTURE_A[d], scan_a[d]) for d in CAPTURE_A)
    assert (same, total) == (141, 142)


@pytest.mark.parametrize("fast", ["1", "0"])
def test_capture_b_divider_and_flash_rows(fast: str) -> None:
    host = flasher_host(f"{FIT_B.url}&fast={fast}", BLANK)
    row = divider_row(host, 0x23)
    assert matches(CAPTURE_B_DIVIDER, row), row.hex(" ")
    host.write_reg(0x00B2, CAPTURE_B_FLASH_DIVIDER)
    row = flash_row(host, CAPTURE_B_FLASH_ADDR)
    assert matches(CAPTURE_B_FLASH, row), row.hex(" ")


def test_capture_b_needs_the_restart_receiver() -> None:
    """With a receiver that waits for a high line after a framing error, the flash row is
    framed quite differently: the evidence that this adapter restarts."""
    host = flasher_host(FIT_B.url.replace("receiver=restart", "receiver=wait-high"), BLANK)
    host.write_reg(0x00B2, CAPTURE_B_FLASH_DIVIDER)
    row = flash_row(host, CAPTURE_B_FLASH_ADDR)
    assert matching_chars(CAPTURE_B_FLASH, row) <= 2


def test_capture_a_needs_the_restart_receiver() -> None:
    host = flasher_host(FIT_A.url.replace("receiver=restart", "receiver=wait-high"))
    same = sum(matching_chars(want, divider_row(host, d)) for d, want in CAPTURE_A.items())
    assert same < 100
