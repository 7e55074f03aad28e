"""How well the bench reproduces the two real line captures (field-evidence §1), and how
far each fitted parameter can move before it stops doing so.

Drives the bench at the line level exactly as ``tests/bench/test_captures.py`` does, for
the fitted URL of each capture and for that URL with one parameter changed at a time.
Prints matching characters (capture A: of 142; capture B: of 15). Measures only.

    PYTHONPATH=. python benchmarks/fit_captures.py [--fast 0|1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "bench"))

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
    matching_chars,
)

from swsflash.bench.spi_flash import DEFAULT_PART, PARTS

BLANK = b"\xff" * PARTS[DEFAULT_PART].size

SWEEPS: dict[str, list[str]] = {
    "answer_delay": [str(d) for d in range(0, 15)],
    "fclk_mhz": ["26.40", "26.42", "26.44", "26.46", "26.48", "24.45", "24.5", "24.55"],
    "sample_phase": ["0.4375", "0.45", "0.46", "0.47", "0.5", "0.5625"],
    "receiver": ["wait-high", "restart"],
    "drive": ["push-pull", "open-drain"],
    "rise_ns": ["0", "15", "30", "45", "60"],
    "end_trim": ["0", "2", "3", "4", "5"],
}


def with_option(url: str, key: str, value: str) -> str:
    base, query = url.split("?", 1)
    pairs = [p for p in query.split("&") if not p.startswith(f"{key}=")]
    return f"{base}?{'&'.join([*pairs, f'{key}={value}'])}"


def score_a(url: str) -> int:
    host = flasher_host(url)
    return sum(matching_chars(want, divider_row(host, d)) for d, want in CAPTURE_A.items())


def score_b(url: str) -> int:
    host = flasher_host(url, BLANK)
    same = matching_chars(CAPTURE_B_DIVIDER, divider_row(host, 0x23))
    host.write_reg(0x00B2, CAPTURE_B_FLASH_DIVIDER)
    return same + matching_chars(CAPTURE_B_FLASH, flash_row(host, CAPTURE_B_FLASH_ADDR))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", default="1", choices=["0", "1"])
    args = parser.parse_args()
    fits = [(FIT_A.url, score_a, 142), (FIT_B.url, score_b, 15)]
    for name, (url, score, total) in zip(("A", "B"), fits, strict=True):
        url = with_option(url, "fast", args.fast)
        print(f"capture {name}: {score(url)}/{total}  {url}")
        for key, values in SWEEPS.items():
            cells = [f"{v}:{score(with_option(url, key, v))}" for v in values]
            print(f"  {key:<13} " + "  ".join(cells))


if __name__ == "__main__":
    main()
