"""``python -m swsflash.bench``: serve the bench on a pseudo-terminal in real time, so that any
program that only knows serial ports (the flasher itself, the proven third-party tools, a
terminal) can be pointed at a simulated unit.

The first line on stdout is the port's path, for scripts; the rest goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from types import FrameType

from .bench import Bench, BenchConfig
from .chip import SRAM_SIZES, SWS_OUTPUT_MODES
from .pty_door import PtyDoor
from .scenarios import SCENARIOS, factory_flash, scenario_config
from .spi_flash import DEFAULT_PART, PARTS


def build_parser() -> argparse.ArgumentParser:
    scenarios = "\n".join(f"  {name:<14} {what}" for name, what in SCENARIOS.items())
    parser = argparse.ArgumentParser(
        prog="python -m swsflash.bench",
        description=(
            "Serve a simulated TLSR825x unit (adapter, SWS line, chip, SPI flash) on a "
            "pseudo-terminal, in real time. Open the printed path with any serial program "
            "at the baud rate you want (921600 by default); Ctrl-C or SIGTERM ends the "
            "session and saves the flash if --save-flash is given."
        ),
        epilog=f"scenarios:\n{scenarios}\n\nExample:  swsflash simulate --scenario bricked "
        "--power-on-after 5 --save-flash unit.bin",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--scenario",
        default="healthy",
        choices=list(SCENARIOS),
        metavar="S",
        help="what the unit and the adapter are like (listed below; default: healthy)",
    )
    parser.add_argument(
        "--load-flash",
        type=Path,
        metavar="F",
        help="raw flash image to start from, padded with 0xFF "
        "(default: a factory-fresh unit with demo firmware, MAC and calibration)",
    )
    parser.add_argument(
        "--save-flash",
        type=Path,
        metavar="F",
        help="write the whole flash here when the session ends (Ctrl-C or SIGTERM)",
    )
    parser.add_argument(
        "--power-on-after",
        type=float,
        metavar="SECONDS",
        help="keep the chip unpowered until this long after a client first opens the port "
        "(like inserting the battery while a flasher streams halt commands); "
        "default: powered from the start",
    )
    parser.add_argument(
        "--fclk-mhz",
        type=float,
        metavar="F",
        help="the chip's system clock in MHz (default: 24.5, a 24 MHz RC a little off)",
    )
    parser.add_argument(
        "--flash",
        choices=list(PARTS),
        metavar="PART",
        help=f"flash part: {', '.join(PARTS)} (default: {DEFAULT_PART}, or the scenario's)",
    )
    _add_unit_options(parser)
    parser.add_argument(
        "--max-backlog-ms",
        type=float,
        default=2.0,
        metavar="MS",
        help="how far the adapter's TX queue may run ahead before bench time is moved on, "
        "standing in for a driver that blocks the writer (default: 2)",
    )
    return parser


def _add_unit_options(parser: argparse.ArgumentParser) -> None:
    """Chip variant, supply and flash unknowns (docs/bench.md, "Supply and pins")."""
    parser.add_argument(
        "--chip",
        choices=list(SRAM_SIZES),
        help="chip variant: SRAM 32/48/64 KB (default: 8258, 64 KB)",
    )
    parser.add_argument(
        "--bounce",
        type=int,
        metavar="N",
        help="with --power-on-after: the battery contact breaks and makes N more times "
        "within --bounce-ms (default: 0)",
    )
    parser.add_argument(
        "--bounce-ms", type=float, metavar="MS", help="span of the bounce (default: 20)"
    )
    parser.add_argument(
        "--tx-power",
        action="store_true",
        help="while unpowered the unit is half-fed through TX: the echo is distorted",
    )
    parser.add_argument(
        "--sws-output",
        choices=list(SWS_OUTPUT_MODES),
        help="firmware drives SWS as an output once it takes the pin (implies a firmware "
        "that takes it 2.5 ms after boot)",
    )
    parser.add_argument(
        "--flash-status2",
        type=lambda text: int(text, 0),
        metavar="0xNN",
        help="second status byte of a part that has one (P25Q40L; 0x40 = CMP)",
    )
    parser.add_argument("--seed", type=int, help="seed for bounce times and TX-power distortion")


def _apply_unit_options(args: argparse.Namespace, config: BenchConfig) -> BenchConfig:
    chip = config.chip
    if args.chip is not None:
        chip = replace(chip, sram_size=SRAM_SIZES[args.chip])
    if args.bounce is not None:
        if not 0 <= args.bounce <= 10:
            build_parser().error("--bounce must be 0 .. 10")
        chip = replace(chip, bounce=args.bounce)
    if args.bounce_ms is not None:
        if args.bounce_ms <= 0:
            build_parser().error("--bounce-ms must be positive")
        chip = replace(chip, bounce_ms=args.bounce_ms)
    if args.tx_power:
        chip = replace(chip, tx_powered=True)
    if args.sws_output is not None:
        chip = replace(chip, sws_output=args.sws_output)
        if chip.takes_sws_after_ms is None:
            chip = replace(chip, takes_sws_after_ms=2.5)
    if args.seed is not None:
        chip = replace(chip, seed=args.seed)
        config = replace(config, adapter=replace(config.adapter, seed=args.seed))
    config = replace(config, chip=chip)
    if args.flash_status2 is not None:
        if not PARTS[config.flash_part].status2:
            build_parser().error(f"--flash-status2: {config.flash_part} has no second status byte")
        config = replace(config, flash_status2=args.flash_status2 & 0xFF)
    return config


def _say(line: str) -> None:
    """stderr is for humans; a closed stderr must not end the session."""
    with contextlib.suppress(OSError):  # BrokenPipeError is an OSError
        print(line, file=sys.stderr, flush=True)


def _announce_path(path: str) -> None:
    """The path goes out first and at once; a reader that went away must not crash us."""
    try:
        print(path, flush=True)
    except (BrokenPipeError, OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _save(path: Path, data: bytes) -> None:
    """Write via a temporary file, so a reader never sees half an image."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = scenario_config(args.scenario)
    flash_part = args.flash or config.flash_part
    config = replace(config, flash_part=flash_part)
    args.flash = flash_part
    if args.fclk_mhz is not None:
        if args.fclk_mhz <= 0:
            build_parser().error("--fclk-mhz must be positive")
        config = replace(config, chip=replace(config.chip, fclk_hz=args.fclk_mhz * 1e6))
    config = _apply_unit_options(args, config)
    if args.power_on_after is not None:
        if args.power_on_after < 0:
            build_parser().error("--power-on-after must not be negative")
        config = replace(config, power_on_at_s=None)
    size = PARTS[args.flash].size
    if args.load_flash is not None:
        try:
            image = args.load_flash.read_bytes()
        except OSError as exc:
            build_parser().error(f"cannot read --load-flash: {exc}")
        if len(image) > size:
            build_parser().error(
                f"{args.load_flash} is {len(image)} bytes; {args.flash} holds {size}"
            )
    else:
        image = factory_flash(args.flash)
    bench = Bench(config, image)
    door = PtyDoor(
        bench,
        power_on_after_s=args.power_on_after,
        max_backlog_s=args.max_backlog_ms / 1000,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        door.request_stop()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)

    _announce_path(door.path)
    power = (
        f"chip powered {args.power_on_after:g} s after a client first opens the port"
        if args.power_on_after is not None
        else "chip powered"
    )
    _say(
        f"bench: scenario {args.scenario} ({SCENARIOS[args.scenario]}); flash {args.flash} "
        f"{size // 1024} KB; {power}."
    )
    saves = f"saves the flash to {args.save_flash}" if args.save_flash else "ends the session"
    _say(f"bench: open {door.path} at any baud (8N1) with a serial program; Ctrl-C {saves}.")
    try:
        door.serve()
    finally:
        door.close()
        if args.save_flash is not None:
            _save(args.save_flash, bytes(bench.flash.data))
            _say(f"bench: flash saved to {args.save_flash}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
