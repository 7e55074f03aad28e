"""How long swsflash's jobs take on the bench's default (CH340-like) adapter model, next to
the line-rate floor: the virtual time is what a real adapter would take.

    python benchmarks/job_speed.py                 # prints the table
    python benchmarks/job_speed.py --markdown docs/performance.md
    python benchmarks/job_speed.py --baud 921600 --no-safe --only-write \
        --answer-delay 2 --answer-delay 10 --fclk-mhz 23 --fclk-mhz 26.4 --adapter cp2102

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
    unit: str
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
    case: str,
    url: str,
    baud: int,
    nbytes: int,
    floor: float,
    job: Job,
    pacing: str = "auto",
    pipelined: bool = True,
) -> Row:
    wall = time.monotonic()
    with swsflash.connect(url, ConnectOptions(baud=baud, pacing=pacing)) as dev:
        dev.link.pipelined = dev.link.pipelined and pipelined
        retries, virtual = job(dev)
    unit = url.partition("?")[2] or "defaults"
    return Row(case, unit, baud, nbytes, virtual, floor, retries, time.monotonic() - wall)


def _timed(dev: Device, action: Callable[[], int]) -> tuple[int, float]:
    start = dev.clock.now()
    retries = action()
    return retries, dev.clock.now() - start


def units(
    delays: list[int], clocks: list[float], adapters: list[str], latencies: list[float]
) -> list[str]:
    """sim:// URLs for every combination asked for (none: the bench's defaults)."""
    out = []
    for adapter in adapters or [None]:
        for delay in delays or [None]:
            for fclk in clocks or [None]:
                for latency in latencies or [None]:
                    q = [f"adapter={adapter}"] if adapter else []
                    q += [f"answer_delay={delay}"] if delay is not None else []
                    q += [f"fclk_mhz={fclk:g}"] if fclk is not None else []
                    q += [f"latency_us={latency:g}"] if latency is not None else []
                    out.append("sim://" + ("?" + "&".join(q) if q else ""))
    return out


def run(
    bauds: tuple[int, ...], with_safe: bool, url: str = "sim://", only_write: bool = False
) -> list[Row]:
    image = IMAGE.read_bytes()
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

        rows.append(_measure("write + verify", url, baud, len(image), write_floor, first))
        if only_write:
            continue
        rows.append(
            _measure("write again (same image)", url, baud, len(image), write_floor, second)
        )
        rows.append(_measure("full 512 KB read", url, baud, 0x80000, 0x80000 / rate, backup))
        if with_safe:
            rows.append(
                _measure(
                    "write + verify, safest pacing",
                    url,
                    baud,
                    len(image),
                    write_floor,
                    first,
                    pacing="safe",
                    pipelined=False,
                )
            )
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| job | unit | baud | bytes | virtual s | floor s | ratio | retries | wall s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.case} | {r.unit} | {r.baud} | {r.nbytes} | {r.virtual_s:.1f} | "
            f"{r.floor_s:.1f} | "
            f"{r.ratio:.2f} | {r.retries} | {r.wall_s:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baud", type=int, action="append", help="only these rates")
    parser.add_argument("--no-safe", action="store_true", help="skip the slow safe-pacing run")
    parser.add_argument("--markdown", type=Path, help="also write the table into this file")
    parser.add_argument(
        "--answer-delay",
        type=int,
        action="append",
        default=[],
        help="bench answer delay in system clocks (repeatable)",
    )
    parser.add_argument(
        "--fclk-mhz", type=float, action="append", default=[], help="bench chip clock (repeatable)"
    )
    parser.add_argument(
        "--adapter", action="append", default=[], help="bench adapter preset (repeatable)"
    )
    parser.add_argument(
        "--latency-us",
        type=float,
        action="append",
        default=[],
        help="adapter IN latency (an FT232's timer: 16000); repeatable",
    )
    parser.add_argument("--only-write", action="store_true", help="only write + verify")
    args = parser.parse_args()
    rows = []
    for url in units(args.answer_delay, args.fclk_mhz, args.adapter, args.latency_us):
        rows += run(tuple(args.baud or BAUDS), not args.no_safe, url, args.only_write)
    text = table(rows)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
