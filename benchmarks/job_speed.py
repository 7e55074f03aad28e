"""How long swsflash's jobs take on the bench's default (CH340-like) adapter model, next to
the line-rate floor: the virtual time is what a real adapter would take.

    python benchmarks/job_speed.py                 # prints the table
    python benchmarks/job_speed.py --markdown docs/performance.md
    python benchmarks/job_speed.py --baud 921600 --latency-us 16000 --only write

Floor: over a plain UART every data byte costs 10 characters each way, i.e. baud/100 bytes
per second; write + verify moves the image twice, plus the flash's erase busy time.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import swsflash
from swsflash.api import ConnectOptions, Device

# the z03mmc-sized stand-in that examples/make_demo_image.py writes
IMAGE = Path(__file__).resolve().parents[1] / "examples" / "demo-firmware.bin"
SECTOR_ERASE_S = 0.100  # the bench's default flash part (ZB25WD40B), typical
BAUDS = (460_800, 921_600, 3_000_000)


@dataclass
class Row:
    case: str
    baud: int
    nbytes: int
    virtual_s: float
    floor_s: float
    retries: int
    wall_s: float

    @property
    def ratio(self) -> float:
        return self.virtual_s / self.floor_s


Job = Callable[[Device], tuple[int, float]]  # -> (retries, virtual seconds of the job)


def _measure(
    case: str, baud: int, nbytes: int, floor: float, job: Job,
    pacing: str = "auto", pipelined: bool = True, url: str = "sim://",
) -> Row:
    wall = time.monotonic()
    with swsflash.connect(url, ConnectOptions(baud=baud, pacing=pacing)) as dev:
        dev.link.pipelined = dev.link.pipelined and pipelined
        retries, virtual = job(dev)
    return Row(case, baud, nbytes, virtual, floor, retries, time.monotonic() - wall)


def _timed(dev: Device, action: Callable[[], int]) -> tuple[int, float]:
    start = dev.clock.now()
    retries = action()
    return retries, dev.clock.now() - start


def run(
    bauds: tuple[int, ...], with_safe: bool, latency_us: float | None = None,
    only: str | None = None,
) -> list[Row]:
    """Every job at every rate; ``latency_us``: the adapter's IN latency (an FT232's
    latency timer is 16 ms by default), ``only``: the jobs whose name starts so."""
    image = IMAGE.read_bytes()
    url = "sim://" if latency_us is None else f"sim://?latency_us={latency_us:g}"
    suffix = "" if latency_us is None else f", latency {latency_us / 1000:g} ms"
    rows = []
    for baud in bauds:
        rate = baud / 100
        erase = 32 * SECTOR_ERASE_S
        write_floor = 2 * len(image) / rate + erase

        def first(dev: Device) -> tuple[int, float]:
            return _timed(dev, lambda: dev.write_image(image).retries)

        def second(dev: Device) -> tuple[int, float]:
            dev.write_image(image)
            return _timed(dev, lambda: dev.write_image(image).retries)

        def backup(dev: Device) -> tuple[int, float]:
            return _timed(dev, lambda: len(dev.read(0, 0x80000)) * 0)

        cases: list[tuple[str, int, float, Job, str, bool]] = [
            ("write + verify", len(image), write_floor, first, "auto", True),
            ("write again (same image)", len(image), write_floor, second, "auto", True),
            ("full 512 KB read", 0x80000, 0x80000 / rate, backup, "auto", True),
        ]
        if with_safe:
            cases.append(
                ("write + verify, safest pacing", len(image), write_floor, first, "safe", False)
            )
        for case, nbytes, floor, job, pacing, piped in cases:
            if only is None or case.startswith(only):
                rows.append(
                    _measure(case + suffix, baud, nbytes, floor, job, pacing, piped, url)
                )
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| job | baud | bytes | virtual s | floor s | ratio | retries | wall s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.case} | {r.baud} | {r.nbytes} | {r.virtual_s:.1f} | {r.floor_s:.1f} | "
            f"{r.ratio:.2f} | {r.retries} | {r.wall_s:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baud", type=int, action="append", help="only these rates")
    parser.add_argument("--no-safe", action="store_true", help="skip the slow safe-pacing run")
    parser.add_argument("--markdown", type=Path, help="also write the table into this file")
    parser.add_argument(
        "--latency-us", type=float, help="adapter IN latency (default: the bench's 1000 us)"
    )
    parser.add_argument("--only", help="only the jobs whose name starts so (e.g. 'write +')")
    args = parser.parse_args()
    rows = run(tuple(args.baud or BAUDS), not args.no_safe, args.latency_us, args.only)
    text = table(rows)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
