"""The fault matrix: every way a real bench goes wrong, run against the virtual bench.

    python benchmarks/fault_matrix.py            # prints the table (takes a minute or two)
    python benchmarks/fault_matrix.py -k bricked # only the cases whose name says so

Each case runs the real CLI against a ``sim://`` unit whose flash lives in a file, and
checks what a user would: the exit code, the message, that a successful job left the image
on the flash, and that the MAC and calibration sectors are what they were before.
tests/host/test_fault_matrix.py runs every case (with a smaller image) on each test run.
A test harness, so it lives outside the swsflash package.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import click
import serial

from swsflash.bench.scenarios import CALIBRATION_SECTOR, HW_VERSION_ADDR, MAC_SECTOR
from swsflash.cli import app  # importing the CLI also makes sim:// URLs reachable

DEMO_FIRMWARE = Path(__file__).resolve().parents[1] / "examples" / "demo-firmware.bin"


@dataclass(frozen=True)
class Case:
    name: str
    url: str  # sim:// query after the scenario, {state} is filled in
    args: tuple[str, ...]  # the swsflash command line after the image
    expect_code: int
    expect_words: str = ""
    command: str = "write"
    then: tuple[str, ...] | None = None  # a second run (same unit) that must succeed


CASES = [
    Case("healthy", "healthy", (), 0),
    Case("protected flash", "protected", (), 0, "cleared the flash's block protection"),
    Case("flash in deep power-down", "flash-asleep", (), 0),
    Case("no wiring", "no-wiring", (), 5, "no echo"),
    Case("LED on adapter RX", "rx-led", (), 5, "LED"),
    Case("chip asleep", "asleep", (), 6, "nothing else ever follows"),
    Case("bricked, plain write", "bricked", (), 6, "--power-window"),
    Case("bricked, write --reset rts", "bricked?reset=rts", ("--reset", "rts"), 0),
    Case("bricked, recover (RTS on RST)", "bricked?reset=rts", (), 0, "Recovered", "recover"),
    Case(
        "bricked, recover, power applied",
        "bricked?power_on_after=1",
        ("--power-window", "4000"),
        0,
        "Recovered",
        "recover",
    ),
    Case(
        "bricked, recover, no power",
        "bricked",
        ("--power-window", "2000"),
        6,
        "power window",
        "recover",
    ),
    Case("line bit errors", "noisy?ber=5e-7", (), 0, "retried"),
    Case("adapter with gaps", "gappy-adapter", (), 0, "pacing safe"),
    Case(
        "adapter stops after 64 B",
        "healthy?max_write=64",
        ("--pacing", "stream"),
        5,
        "stopped after 64",
    ),
    Case("adapter stops after 64 B, auto", "healthy?max_write=64", (), 0, "pacing safe"),
    Case("chip resets mid-job", "healthy?reset_after=8", (), 0, "retried"),
    Case(
        "bricked chip resets mid-job",
        "bricked?reset=rts&reset_after=8",
        ("--reset", "rts"),
        0,
        "retried",
    ),
    Case(
        "USB unplugged mid-write",
        "healthy?unplug_after=16",
        (),
        4,
        "run the same command again",
        then=("write",),
    ),
]


@dataclass
class Outcome:
    case: Case
    code: int
    message: str
    output: str
    image_ok: bool
    unique_ok: bool
    wall_s: float
    second_code: int | None = None

    @property
    def passed(self) -> bool:
        ok = self.code == self.case.expect_code and self.case.expect_words in self.output
        if self.case.expect_code == 0 or self.second_code == 0:
            ok = ok and self.image_ok
        if self.case.then is not None:
            ok = ok and self.second_code == 0
        return ok and self.unique_ok


def run_cli(
    args: list[str], out: io.StringIO | None = None, catch_tracebacks: bool = False
) -> tuple[int, str]:
    """Run swsflash in this process, as the command line would; stdout and stderr merged
    into ``out``. With ``catch_tracebacks`` an internal error is a finding (exit 99 and a
    TRACEBACK line), not a crash of the runner."""
    out = io.StringIO() if out is None else out
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            result = app(args=args, prog_name="swsflash", standalone_mode=False)
            code = result if isinstance(result, int) else 0
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except click.ClickException as exc:
            exc.show()
            code = exc.exit_code
        except Exception as exc:
            if not catch_tracebacks:
                raise
            print(f"TRACEBACK {type(exc).__name__}: {exc}")
            code = 99
    return code, out.getvalue()


def unique_data(flash: bytes) -> bytes:
    """MAC, calibration and (512 KB units) hardware-version sectors: what makes a unit itself.

    Taken from the bench's map of a factory unit, not from swsflash.layout: the check must not
    share the rule it checks."""
    size = len(flash)
    starts = [MAC_SECTOR[size], CALIBRATION_SECTOR[size]]
    if size in HW_VERSION_ADDR:
        starts.append(HW_VERSION_ADDR[size] & ~0xFFF)
    return b"".join(flash[at : at + 0x1000] for at in starts)


def run_case(case: Case, workdir: Path, image: Path) -> Outcome:
    state = workdir / f"{case.name.replace(' ', '-').replace(',', '')}.bin"
    scenario, _, query = case.url.partition("?")
    url = f"sim://{scenario}?state={state}" + (f"&{query}" if query else "")
    # the unit as it is before the job: opening and closing the port saves its flash
    with serial.serial_for_url(f"sim://{scenario}?state={state}"):
        pass
    before = state.read_bytes()
    backups = workdir / "backups"
    base = [case.command, str(image), "--port", url, "--backup-dir", str(backups)]
    start = time.monotonic()
    code, output = run_cli([*base, *case.args])
    second = None
    if case.then is not None:
        again = [*case.then, str(image), "--port", f"sim://{scenario}?state={state}"]
        second, more = run_cli([*again, "--backup-dir", str(backups)])
        output += more
    wall = time.monotonic() - start
    after = state.read_bytes()
    data = image.read_bytes()
    message = next((line for line in output.splitlines() if line.startswith("swsflash:")), "ok")
    return Outcome(
        case,
        code,
        message,
        output,
        image_ok=after[: len(data)] == data,
        unique_ok=unique_data(after) == unique_data(before),
        wall_s=wall,
        second_code=second,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/fault_matrix.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-k", help="only cases whose name contains this text")
    parser.add_argument(
        "--image", type=Path, default=DEMO_FIRMWARE, help="firmware to write (%(default)s)"
    )
    args = parser.parse_args(argv)
    image: Path = args.image
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            if args.k and args.k not in case.name:
                continue
            outcome = run_case(case, Path(tmp), image)
            rows.append(outcome)
            print(
                f"{'PASS' if outcome.passed else 'FAIL'}  {case.name:<32} exit {outcome.code:<3} "
                f"image {'ok' if outcome.image_ok else '--'}  MAC/cal "
                f"{'same' if outcome.unique_ok else 'CHANGED'}  {outcome.wall_s:5.1f} s wall  "
                f"{outcome.message[:90]}",
                file=sys.stderr,
            )
    return 0 if all(o.passed for o in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
