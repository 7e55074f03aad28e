"""The first-time user's path (issue #15): every argument is checked before the port is
opened, no input ends in a traceback, backups only of what changes, progress that adds up,
and the esptool conventions people type without thinking."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEMO_IMAGE, Unit, run_cli
from make_demo_image import make_demo_image

import swsflash
from swsflash.bench.scenarios import factory_flash
from swsflash.cli.connect import ctrl_c
from swsflash.cli.options import Globals
from swsflash.cli.output import Bar, Ui
from swsflash.jig import Overrides, resolve_settings, run_jig

FACTORY = factory_flash("ZB25WD40B")
ROOT = Path(__file__).resolve().parents[2]


def no_traceback(out: str) -> None:
    assert "Traceback" not in out, out
    assert "what to do:" in out or "Try 'swsflash" in out, out


# -- refused before the port is opened -------------------------------------------------------
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    path.write_bytes(b"\x00" * (0x100000 + 0x1000))
    return path


REFUSALS = [
    (["read", "/no/such/dir/x.bin"], 2, "does not exist"),
    (["read", "x.bin", "--start", "zz"], 2, "not a number"),
    (["read", "x.bin", "--size", "0x200000"], 2, "largest flash"),
    (["read", "x.bin", "--size", "lots"], 2, "not a size"),
    (["erase", "--start", "0x1001", "--size", "0x1000"], 2, "sector boundary"),
    (["erase", "--start", "0x1000", "--size", "0x800"], 2, "sector boundary"),
    (["erase", "--all"], 2, "--force"),
    (["mac", "--set", "zz:zz"], 2, "not a MAC address"),
    (["write", str(DEMO_IMAGE), "--address", "0x1001"], 2, "sector boundary"),
    (["write", "BIG", "--force"], 3, "largest flash swsflash supports (checked before connecting"),
    (["write", "/no/such.bin"], 3, "cannot read"),
    (["verify", "/no/such.bin"], 3, "cannot read"),
    (["recover", "/no/such.bin"], 3, "cannot read"),
    (["restore", "NOTES"], 3, "not a swsflash backup"),
    (["info", "--baud", "9600"], 2, "340000..3000000"),
    (["info", "--power-window", "5"], 2, "milliseconds"),
    (["run", "--reset", "cts"], 2, "reset must be rts, dtr or none"),
]


@pytest.mark.parametrize(
    ("args", "code", "words"), REFUSALS, ids=[" ".join(a) for a, _, _ in REFUSALS]
)
def test_every_argument_is_checked_before_the_port_is_opened(
    tmp_path: Path, args: list[str], code: int, words: str
) -> None:
    opened = tmp_path / "opened"
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list\n")
    args = [
        str(big_file(tmp_path)) if a == "BIG" else str(notes) if a == "NOTES" else a for a in args
    ]
    got, out = run_cli(*args, "--port", f"sim://?opened={opened}&state={tmp_path / 'u.bin'}")
    assert got == code, out
    assert words in out
    no_traceback(out)
    assert not opened.exists(), "the command opened the port before refusing"


def test_a_file_beyond_the_units_own_flash_is_refused_once_connected(
    unit: Unit, tmp_path: Path
) -> None:
    image = tmp_path / "600k.bin"
    image.write_bytes(b"\x00" * 0x96000)  # fits 1 MB, not this unit's 512 KB
    got, out = run_cli("write", str(image), "--force", "--port", unit.url)
    assert got == 3 and "reaches beyond the 512 KB flash" in out and "this unit has" in out
    assert unit.flash() == FACTORY


# -- no input ends in a traceback ------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "code", "words"),
    [
        ("flash=FOO", 4, "not a part the bench knows"),
        ("flash=gd25ld80c", 0, '"flash_size": 1048576'),  # part names in any case
        ("state=/no/such/dir/f.bin", 4, "does not exist"),
        ("power_on_after=abc", 4, "not a number of seconds"),
        ("mac=zz", 4, "not six hex bytes"),
        ("colour=red", 4, "unknown option"),
    ],
)
def test_bad_sim_urls_are_explained(query: str, code: int, words: str) -> None:
    got, out = run_cli("info", "--json", "--port", f"sim://?{query}")
    assert got == code, out
    assert words in out
    assert "Traceback" not in out
    if code:
        assert "what to do: fix the sim:// URL" in out


# -- restore, write, image-info ------------------------------------------------------------------
def test_restore_takes_only_swsflash_backups_unless_forced(unit: Unit, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not firmware\n")
    got, out = run_cli("restore", str(notes), "--port", unit.url)
    assert got == 3 and "not a swsflash backup" in out and "--force" in out
    assert unit.flash() == FACTORY
    dump = tmp_path / "dump.bin"
    assert run_cli("read", str(dump), "--port", unit.url)[0] == 0
    got, out = run_cli("restore", str(dump), "--port", unit.url)
    assert got == 0, out  # a whole-flash dump from 'swsflash read' is one
    got, out = run_cli("restore", str(notes), "--port", unit.url, "--force")
    assert got == 0, out
    assert unit.flash()[: len("not firmware\n")] == b"not firmware\n"


def test_image_info_names_non_telink_data_and_fails_on_problems(tmp_path: Path) -> None:
    noise = tmp_path / "noise.bin"
    noise.write_bytes(bytes((i * 97 + 13) & 0xFF for i in range(5000)))
    got, out = run_cli("image-info", str(noise))
    assert got == 3 and "not a Telink image" in out
    assert "raw Telink image" not in out
    got, out = run_cli("image-info", str(DEMO_IMAGE))
    assert got == 0 and "raw Telink image" in out
    bad_hex = tmp_path / "one-bad-line.hex"
    bad_hex.write_text(":100000000102030405060708090A0B0C0D0E0F1068\n:10001000ZZ\n:00000001FF\n")
    got, out = run_cli("image-info", str(bad_hex))
    assert got == 3 and "not a valid Intel HEX file" in out
    no_traceback(out)


# -- backups ---------------------------------------------------------------------------------
def test_backups_hold_only_the_sectors_that_change(unit: Unit, backups: Path) -> None:
    image = bytearray(make_demo_image(32 * 1024))
    path = unit.state.parent / "fw.bin"
    path.write_bytes(bytes(image))
    got, out = run_cli("write", str(path), "--port", unit.url)
    assert got == 0, out
    first = sorted(backups.rglob("*.bin"))
    got, out = run_cli("write", str(path), "--port", unit.url)
    assert got == 0, out
    assert sorted(backups.rglob("*.bin")) == first  # nothing changed: nothing saved
    assert "Backing up" not in out
    assert "8 sectors: 0 erased, 8 already right" in out
    # change three sectors' worth of data: a 12 KB backup, announced before writing
    for sector in (2, 3, 5):
        image[sector * 0x1000 + 100] ^= 0xFF
    path.write_bytes(bytes(image))  # its CRC no longer matches: written with --force
    got, out = run_cli("write", str(path), "--port", unit.url, "--force")
    assert got == 0, out
    assert "Backing up 12 KB" in out
    new = sorted(set(backups.rglob("*.bin")) - set(first))
    assert sum(p.stat().st_size for p in new) == 3 * 0x1000
    announced = out.index("Backup of the previous content")
    assert announced < out.index("Writing")
    assert "8 sectors: 3 erased, 5 already right" in out


def test_a_failure_names_the_backup_taken(unit: Unit, backups: Path) -> None:
    unit.extra = "&unplug_after=30"
    got, out = run_cli("write", str(DEMO_IMAGE), "--port", unit.url)
    assert got == 4, out
    (path,) = re.findall(r"backup saved before the failure: (\S+\.bin)", out)
    assert Path(path).parent.parent == backups


def test_sim_ports_back_up_to_a_scratch_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWSFLASH_")}
    env["HOME"] = str(tmp_path / "home")
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "home").mkdir()
    (tmp_path / "tmp").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "swsflash", "write", str(DEMO_IMAGE), "--port", "sim://"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert not list((tmp_path / "home").rglob("*"))  # README's first command
    assert list((tmp_path / "tmp" / "swsflash-sim").rglob("*.bin"))


# -- progress and summaries -------------------------------------------------------------------
def test_progress_has_a_bar_per_phase_and_a_summary_that_adds_up(unit: Unit) -> None:
    got, out = run_cli("write", str(DEMO_IMAGE), "--port", unit.url, "--no-run")
    assert got == 0, out
    size = len(DEMO_IMAGE.read_bytes())
    writing = [line for line in out.splitlines() if line.startswith("Writing")]
    assert writing and all(f"of {size / 1024:.1f} KB" in line for line in writing)
    assert any(re.search(r" at 0x[0-9a-f]{5} ", line) for line in writing)
    assert all("KB/s simulated" in line for line in writing)
    assert any(line.startswith("Checking") for line in out.splitlines())
    (result,) = [line for line in out.splitlines() if line.startswith("Wrote")]
    assert "32 sectors erased" in result and "of simulated time" in result
    assert "0.0 KB/s" not in result
    assert "chip left halted" in result
    assert "Chip restarted" not in out


def test_no_progress_and_quiet_leave_the_result(unit: Unit) -> None:
    got, out = run_cli("write", str(DEMO_IMAGE), "--port", unit.url, "--no-progress")
    assert got == 0 and "Wrote" in out and "%" not in out


def test_a_warning_is_never_glued_to_a_bar() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    class Clock:
        def now(self) -> float:
            return 0.0

        def sleep(self, seconds: float) -> None:
            pass

    err = Tty()
    ui = Ui(Globals(), json_out=False, err=err)
    bar = Bar(ui, "writing", 8192, Clock(), lambda p, d: d, simulated=True)
    ui.bar = bar
    bar(4096)
    ui.note("warning: re-establishing the connection to the chip")
    text = err.getvalue()
    before = text.index("warning:")
    assert text[:before].endswith("\r\x1b[2K")  # the bar line was cleared first
    assert text[before:].split("\n", 1)[0] == "warning: re-establishing the connection to the chip"


def test_a_bar_on_a_terminal_keeps_its_last_line_with_the_rate_of_the_device_clock() -> None:
    """Redrawn in place; the rate is bytes over the transport's (here: made-up) seconds,
    not over the wall time the test takes."""

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    class Clock:
        t = 0.0

        def now(self) -> float:
            return self.t

        def sleep(self, seconds: float) -> None:
            self.t += seconds

    err, clock = Tty(), Clock()
    ui = Ui(Globals(), json_out=False, err=err)
    phases = ui.phases(clock, True, lambda p, d: 0x40000 + d, lambda what: None)
    with phases(8192, "writing") as bump:
        for _ in range(2):
            clock.sleep(1.0)
            bump(4096)
    text = err.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1  # one line, redrawn with \r
    last = text.rstrip("\n").rsplit("\r", 1)[-1].rstrip()
    assert last.startswith("Writing") and "100% [####################]" in last
    assert last.endswith("8.0 KB of 8.0 KB, 4.0 KB/s simulated"), last
    assert ui.bar is None


def test_after_a_command_the_library_logs_as_before(
    unit: Unit, caplog: pytest.LogCaptureFixture
) -> None:
    """A program that runs a command and then uses the library: its warnings must not be
    written to the finished command's (closed) stream, and reach the program's logging."""
    got, out = run_cli("info", "--port", unit.url)
    assert got == 0, out
    with caplog.at_level(logging.WARNING, logger="swsflash"):
        logging.getLogger("swsflash").warning("re-establishing the connection to the chip")
    assert "re-establishing" in caplog.text


def test_info_is_plain_text(unit: Unit) -> None:
    got, out = run_cli("info", "--port", unit.url)
    assert got == 0, out
    assert "{" not in out and "[" not in out
    assert re.search(r"calibration: crystal cap \w+, tp gain", out)


def test_info_on_a_bricked_lywsd03mmc_points_to_the_power_window(unit: Unit) -> None:
    unit.scenario = "bricked"
    got, out = run_cli("info", "--port", unit.url)
    assert got == 6, out
    assert "power" in out and "recover" in out
    assert "wire the adapter's RTS to the RST pad" not in out
    assert "pad marked 'Reset' is a GPIO" in out


# -- esptool conventions ------------------------------------------------------------------------
def test_version_and_short_help() -> None:
    got, out = run_cli("--version")
    assert got == 0 and out.strip() == f"swsflash {swsflash.__version__}"
    got, out = run_cli("-h")
    assert got == 0 and "write" in out
    got, out = run_cli("write", "-h")
    assert got == 0 and "Example:" in out


def test_options_before_the_command(unit: Unit, tmp_path: Path) -> None:
    out_file = tmp_path / "mac.bin"
    got, out = run_cli(
        "-p", unit.url, "-q", "read", str(out_file), "--start", "0x76000", "--size", "4K"
    )
    assert got == 0, out
    assert out_file.read_bytes() == FACTORY[0x76000:0x77000]
    got, out = run_cli("-p", "sim://no-such-scenario", "info", "--port", unit.url)
    assert got == 0, out  # the command's own option wins


@pytest.mark.parametrize(("size", "expected"), [("8K", 8192), ("0x2000", 8192), ("ALL", 0x80000)])
def test_sizes_as_esptool_writes_them(unit: Unit, tmp_path: Path, size: str, expected: int) -> None:
    out_file = tmp_path / "part.bin"
    got, out = run_cli("read", str(out_file), "--port", unit.url, "--size", size, "-q")
    assert got == 0, out
    assert out_file.read_bytes() == FACTORY[:expected]


def test_json_results_and_json_errors(unit: Unit, tmp_path: Path) -> None:
    def stdout_json(args: list[str]) -> tuple[int, dict[str, object]]:
        from typer.testing import CliRunner

        from swsflash.cli import app

        result = CliRunner().invoke(app, args)
        return result.exit_code, json.loads(result.stdout)

    code, data = stdout_json(["write", str(DEMO_IMAGE), "--port", unit.url, "--json"])
    assert code == 0 and data["ok"] is True and data["chip"] == "restarted"
    assert data["sectors_erased"] == 32 and data["backups"]
    code, data = stdout_json(["verify", str(DEMO_IMAGE), "--port", unit.url, "--json"])
    assert code == 0 and data["bytes_verified"] == len(DEMO_IMAGE.read_bytes())
    code, data = stdout_json(
        ["read", str(tmp_path / "r.bin"), "--port", unit.url, "--json", "--size", "1K"]
    )
    assert code == 0 and data["bytes"] == 1024
    code, data = stdout_json(["verify", "/no/such.bin", "--port", unit.url, "--json"])
    assert code == 3 and data["ok"] is False and data["error"] == "image error"
    assert "cannot read" in str(data["message"]) and data["hint"] is not None
    bricked = f"sim://bricked?state={tmp_path / 'b.bin'}&power_on_after=1"
    code, data = stdout_json(
        ["recover", str(DEMO_IMAGE), "--port", bricked, "--json", "--power-window", "3000"]
    )
    assert code == 0 and data["command"] == "recover" and data["chip"] == "restarted"


# -- Ctrl-C ------------------------------------------------------------------------------------
class FakeSession:
    stop_requested = False


def test_ctrl_c_stops_at_once_except_while_a_sector_is_written() -> None:
    ui = Ui(Globals(quiet=True), json_out=False, err=io.StringIO())
    dev = FakeSession()
    with ctrl_c(dev, ui):  # type: ignore[arg-type]
        handler = signal.getsignal(signal.SIGINT)
        assert callable(handler)
        for phase in ("checking", "backing up 12 KB", "reading", "verifying"):
            ui.phase = phase
            with pytest.raises(KeyboardInterrupt):
                handler(signal.SIGINT, None)
        ui.phase = "writing"
        handler(signal.SIGINT, None)  # the first one: finish the sector
        assert dev.stop_requested
        with pytest.raises(KeyboardInterrupt):
            handler(signal.SIGINT, None)  # the second: at once


def _interrupt_on(unit: Unit, line_start: str) -> tuple[int, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "swsflash", "write", str(DEMO_IMAGE), "--port", unit.url],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # A shell that starts jobs in the background (nohup, `&`) leaves SIGINT ignored,
        # and a child would inherit that: give it the terminal's default, as a user has.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith(line_start):
            proc.send_signal(signal.SIGINT)
            break
    out, rest = proc.communicate(timeout=300)
    return proc.returncode, "".join(seen) + rest + out


def test_ctrl_c_while_checking_stops_at_once_and_leaves_the_flash(unit: Unit) -> None:
    unit.state.write_bytes(FACTORY)
    code, err = _interrupt_on(unit, "Connecting")
    assert code == 130, err
    assert "stopped by Ctrl-C" in err and "Traceback" not in err
    assert unit.flash() == FACTORY


def test_ctrl_c_while_writing_finishes_the_sector_and_names_the_backup(unit: Unit) -> None:
    code, err = _interrupt_on(unit, "Backup of the previous content")
    assert code == 130, err
    assert "Stopping after the current sector" in err
    assert re.search(r"stopped after \d+ of 32 sectors", err)
    (path,) = re.findall(r"backup saved before the failure: (\S+\.bin)", err)
    assert Path(path).read_bytes() == FACTORY[:0x20000]


# -- the jig's live panel ----------------------------------------------------------------------
def test_the_live_panel_never_says_done_for_a_failed_position(tmp_path: Path) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    image = tmp_path / "fw.bin"
    image.write_bytes(make_demo_image(8 * 1024))
    settings = resolve_settings(
        Overrides(
            image=image,
            no_backup=True,
            workers="threads",
            ports=[
                f"sim://healthy?state={tmp_path / 'a.bin'}",
                f"sim://no-wiring?state={tmp_path / 'b.bin'}",
            ],
        )
    )
    err = Tty()
    assert run_jig(settings, out=io.StringIO(), err=err) == 5
    final = err.getvalue().rsplit("\x1b[2K", 2)[-2:]
    assert "done: ok" in final[0]
    assert "FAILED: exit 5" in final[1] and "done" not in final[1]
