"""The factory jig against simulated fixtures: many positions at once, one record per unit,
loops that wait for units to come and go, and the config file."""

from __future__ import annotations

import csv
import io
import json
import queue
import threading
import time
import zlib
from pathlib import Path

import pytest
from fault_matrix import unique_data
from make_demo_image import make_demo_image
from serial.tools import list_ports
from typer.testing import CliRunner, Result

from swsflash import jig
from swsflash.bench.scenarios import factory_flash
from swsflash.cli import app
from swsflash.errors import UsageError

PART = "ZB25WD40B"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("img") / "firmware.bin"
    path.write_bytes(make_demo_image(32 * 1024))
    return path


def factory(mac: str) -> bytes:
    return factory_flash(PART, bytes.fromhex(mac.replace(":", "")))


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(app, ["jig", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- many positions at once --------------------------------------------------------------------
MACS = {f"p{i}": f"A4:C1:38:00:00:0{i}" for i in range(1, 9)}


def eight_position_config(tmp_path: Path, image: Path) -> Path:
    """Eight positions with mixed units; the bricked ones get their own way in per port."""

    def url(key: str, scenario: str, extra: str = "") -> str:
        return f"sim://{scenario}?state={tmp_path / key}.bin&mac={MACS[key]}{extra}"

    return write_toml(
        tmp_path / "jig.toml",
        f"""
image = "{image}"
log = "logs/units.jsonl"
ports = [
  "{url("p1", "healthy")}",
  "{url("p2", "healthy")}",
  "{url("p3", "healthy")}",
  "{url("p4", "healthy")}",
  {{ port = "{url("p5", "bricked", "&reset=rts")}", name = "bricked-rts", reset = "rts" }},
  {{ port = "{url("p6", "bricked", "&power_on_after=0.05")}", power_window_ms = 300 }},
  {{ port = "{url("p7", "noisy")}", name = "noisy" }},
  {{ port = "{url("p8", "no-wiring")}", name = "no-wiring" }},
]
""",
    )


def test_eight_positions_in_parallel(tmp_path: Path, image: Path, backups: Path) -> None:
    config = eight_position_config(tmp_path, image)
    result = invoke("--config", str(config), "--json", "--csv", str(tmp_path / "units.csv"))
    # only the unwired position fails, and the run says so with its exit code
    assert result.exit_code == 5, result.stderr
    data = image.read_bytes()

    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 8
    for rec in out:
        assert {"port", "result", "mac", "seconds", "error"} <= set(rec)
    by_mac = {r["mac"]: r for r in out if r["result"] == "ok"}
    assert set(by_mac) == {MACS[f"p{i}"] for i in range(1, 8)}
    (failed,) = [r for r in out if r["result"] == "failed"]
    assert failed["position"] == "no-wiring" and failed["exit_code"] == 5
    assert "no echo" in failed["error"] and failed["mac"] is None
    assert "no-wiring" in result.stderr and "no echo" in result.stderr  # its summary line

    # the plant's log: one complete record per unit
    logged = [json.loads(line) for line in (tmp_path / "logs/units.jsonl").read_text().splitlines()]
    assert sorted(r["port"] for r in logged) == sorted(r["port"] for r in out)
    for rec in logged:
        assert list(rec) == jig.RECORD_FIELDS
        assert rec["image_crc32"] == f"{zlib.crc32(data[:-4]):08x}"
        assert rec["image_version"] == "0x30010046" and rec["image_size"] == len(data)
        assert rec["time_start"] <= rec["time_end"] and rec["unit"] == 1
        if rec["result"] == "ok":
            assert rec["exit_code"] == 0 and rec["error"] is None
            assert rec["chip_id"] == "0x5562" and rec["flash_jedec_id"] == "5e3213"
            assert rec["clock"] == "virtual" and 5 < rec["seconds"] < 30
            saved = sorted(Path(p).name for p in rec["backups"])
            assert [name.split("-jig-")[1] for name in saved] == [
                "0x055000-0x1000.bin",
                "0x076000-0x1000.bin",
                "0x077000-0x1000.bin",
            ]
            assert all(
                Path(p).parent == backups / rec["mac"].replace(":", "") for p in rec["backups"]
            )
    noisy = next(r for r in logged if r["position"] == "noisy")
    assert noisy["result"] == "ok"  # bit errors cost it time, not the unit
    rows = list(csv.DictReader((tmp_path / "units.csv").open()))
    assert len(rows) == 8 and list(rows[0]) == jig.RECORD_FIELDS

    # the units themselves: image at 0, MAC and calibration as they left the factory
    for i in range(1, 8):
        flash = (tmp_path / f"p{i}.bin").read_bytes()
        assert flash[: len(data)] == data, f"p{i}"
        assert unique_data(flash) == unique_data(factory(MACS[f"p{i}"])), f"p{i}"
        mac_backup = next(p for p in by_mac[MACS[f"p{i}"]]["backups"] if "0x076000" in p)
        assert Path(mac_backup).read_bytes() == flash[0x76000:0x77000]
    assert (tmp_path / "p8.bin").read_bytes() == factory(MACS["p8"])

    # each position has its own clock: eight at once take a real fixture no longer than one
    single = invoke(
        str(image),
        "--ports",
        f"sim://healthy?state={tmp_path / 'one.bin'}",
        "--json",
        "--no-backup",
    )
    assert single.exit_code == 0, single.stderr
    alone = json.loads(single.stdout)["seconds"]
    parallel = [by_mac[MACS[f"p{i}"]]["seconds"] for i in range(1, 5)]
    assert max(parallel) <= 1.3 * alone


def test_exit_code_is_the_first_failure_in_port_order(tmp_path: Path, image: Path) -> None:
    ports = ",".join(
        [
            f"sim://healthy?state={tmp_path / 'a.bin'}",
            f"sim://bricked?state={tmp_path / 'b.bin'}",  # no reset, no power window: exit 6
            f"sim://no-wiring?state={tmp_path / 'c.bin'}",  # exit 5, maybe finished first
        ]
    )
    result = invoke(str(image), "--ports", ports, "--workers", "threads", "--no-backup")
    assert result.exit_code == 6, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert any("bricked" in line and "exit 6" in line and "clean echo" in line for line in lines)
    ok = next(line for line in lines if "healthy" in line)
    assert "A4:C1:38:A1:B2:C3" in ok and "0x5562" in ok and "5e3213" in ok and " ok " in ok
    assert "1 of 3 unit(s) ok, 2 failed" in result.stderr and "threads" in result.stderr


def test_outcome_exit_codes() -> None:
    def rec(unit: int, code: int) -> jig.UnitRecord:
        return jig.UnitRecord(
            "t", unit=unit, result="ok" if code == 0 else "failed", exit_code=code
        )

    assert jig.Outcome([(0, rec(1, 0)), (1, rec(1, 0))], 1.0, []).exit_code == 0
    assert jig.Outcome([(2, rec(1, 5)), (0, rec(2, 8)), (0, rec(1, 0))], 1.0, []).exit_code == 8
    assert jig.Outcome([(0, rec(1, 0))], 1.0, [1]).exit_code == 1  # a worker died


def test_a_bad_image_touches_no_unit(tmp_path: Path, image: Path) -> None:
    cut = tmp_path / "cut.bin"
    cut.write_bytes(image.read_bytes()[:-100])
    state = tmp_path / "u.bin"
    result = invoke(str(cut), "--ports", f"sim://healthy?state={state}")
    assert result.exit_code == 3 and "truncated" in result.stderr
    assert not state.exists()


# -- loops: units come and go ------------------------------------------------------------------
def test_loop_programs_each_new_unit(tmp_path: Path, image: Path) -> None:
    """Bricked units on power-window positions: a unit is caught as it gets power, and
    after its restart its firmware takes the SWS pin, which reads as removed; {n} gives
    every unit placed at a position its own simulated flash and MAC."""
    ports = [
        {
            "port": f"sim://bricked?state={tmp_path}/{p}-{{n}}.bin&power_on_after=0.05"
            f"&mac=A4:C1:38:00:0{i}:0{{n}}",
            "name": p,
            "power_window_ms": 300,
        }
        for i, p in enumerate(("left", "right"), 1)
    ]
    lines = ",\n".join(
        f'{{ port = "{p["port"]}", name = "{p["name"]}", power_window_ms = 300 }}' for p in ports
    )
    config = write_toml(tmp_path / "loop.toml", f'image = "{image}"\nports = [\n{lines}\n]\n')
    result = invoke("--config", str(config), "--count", "2", "--json", "--no-backup")
    assert result.exit_code == 0, result.stderr
    recs = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted((r["position"], r["unit"], r["mac"]) for r in recs) == [
        ("left", 1, "A4:C1:38:00:01:01"),
        ("left", 2, "A4:C1:38:00:01:02"),
        ("right", 1, "A4:C1:38:00:02:01"),
        ("right", 2, "A4:C1:38:00:02:02"),
    ]
    assert "remove the unit" in result.stderr and "waiting for a unit" in result.stderr
    data = image.read_bytes()
    for name in ("left-1", "left-2", "right-1", "right-2"):
        assert (tmp_path / f"{name}.bin").read_bytes()[: len(data)] == data


class Stop:
    def __init__(self, after: int | None = None) -> None:
        self.calls, self.after, self.flag = 0, after, False

    def is_set(self) -> bool:
        self.calls += 1
        return self.flag or (self.after is not None and self.calls > self.after)

    def set(self) -> None:
        self.flag = True


def test_removal_needs_several_silent_probes_in_a_row() -> None:
    answers = iter([True, False, True, False, True, False, False, True])
    probes: list[bool] = []

    def present() -> bool:
        probes.append(next(answers))
        return probes[-1]

    assert jig.wait_until_absent(present, Stop(), settle=2)
    assert len(probes) == 7  # a bouncing pogo pin is not a removal
    assert not jig.wait_until_absent(lambda: True, Stop(after=5))


def test_placement_waits_for_an_answer_or_a_stop() -> None:
    found = iter([None, None, "unit"])
    assert jig.wait_until_present(lambda: next(found), Stop()) == "unit"
    assert jig.wait_until_present(lambda: None, Stop(after=3)) is None


def test_stop_ends_a_position_waiting_for_removal(tmp_path: Path, image: Path) -> None:
    """A healthy unit keeps answering, as one never taken off the fixture: the position
    waits until told to stop (the first Ctrl-C), and then ends cleanly."""
    settings = jig.resolve_settings(
        jig.Overrides(
            image=image,
            ports=[f"sim://healthy?state={tmp_path / 'u.bin'}"],
            loop=True,
            no_backup=True,
        )
    )
    job = jig.make_job(settings)
    sink: queue.Queue[jig.Event] = queue.Queue()
    flags = jig.Flags(threading.Event(), threading.Event())
    worker = threading.Thread(
        target=jig.run_position, args=(0, settings.positions[0], job, sink, flags)
    )
    worker.start()
    events: list[jig.Event] = []
    while not any(isinstance(e, jig.RecordEvent) for e in events):
        events.append(sink.get(timeout=30))
    time.sleep(0.3)  # a few removal probes, all answered
    assert worker.is_alive()
    flags.stop.set()
    worker.join(timeout=10)
    assert not worker.is_alive()
    while not sink.empty():
        events.append(sink.get())
    assert isinstance(events[-1], jig.DoneEvent)
    assert [e.record.result for e in events if isinstance(e, jig.RecordEvent)] == ["ok"]
    assert any(isinstance(e, jig.StateEvent) and "remove the unit" in e.state for e in events)


# -- display -----------------------------------------------------------------------------------
class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_board_redraws_on_a_terminal_and_prints_plain_lines_otherwise() -> None:
    events = [
        jig.StateEvent(0, "writing", 0.0),
        jig.StateEvent(0, "writing", 0.5),
        jig.StateEvent(1, "connecting"),
    ]
    plain = io.StringIO()
    board = jig.Board(plain, ["/dev/ttyUSB0", "/dev/ttyUSB1"], live=plain.isatty())
    for e in events:
        board.update(e)
        board.tick()
    assert plain.getvalue() == "[/dev/ttyUSB0] writing\n[/dev/ttyUSB1] connecting\n"

    tty = Tty()
    board = jig.Board(tty, ["/dev/ttyUSB0", "/dev/ttyUSB1"], live=tty.isatty())
    for e in events:
        board.update(e)
    board.tick(force=True)
    board.print("unit summary", tty)
    text = tty.getvalue()
    assert "\x1b[2K" in text and " 50%" in text and "\x1b[2F\x1b[J" in text
    assert text.index("unit summary") > text.index("\x1b[2F\x1b[J")


# -- config ------------------------------------------------------------------------------------
def test_config_file_and_command_line(tmp_path: Path, image: Path) -> None:
    config = write_toml(
        tmp_path / "fixture.toml",
        f"""
image = "{image.name}"
baud = 1000000
reset = "dtr"
log = "logs/jig.jsonl"
backup_dir = "unique"
count = 5
ports = [
  "/dev/ttyUSB0",
  {{ port = "/dev/ttyUSB1", name = "B", reset = "rts" }},
  {{ port = "/dev/ttyUSB2", power_window_ms = 4000 }},
  {{ port = "/dev/ttyUSB3", reset = "none", power_window_ms = 0 }},
]
power_window_ms = 2000
""",
    )
    (tmp_path / image.name).write_bytes(image.read_bytes())
    s = jig.resolve_settings(jig.Overrides(config=config))
    assert s.image == tmp_path / image.name and s.log == tmp_path / "logs/jig.jsonl"
    assert s.backup_dir == tmp_path / "unique" and s.baud == 1_000_000
    assert s.loop and s.count == 5  # a count means a loop
    assert [(p.port, p.name, p.reset, p.power_window) for p in s.positions] == [
        ("/dev/ttyUSB0", "", "dtr", 2.0),
        ("/dev/ttyUSB1", "B", "rts", 2.0),
        ("/dev/ttyUSB2", "", "dtr", 4.0),
        ("/dev/ttyUSB3", "", None, None),  # its own settings beat the file's defaults
    ]
    s = jig.resolve_settings(
        jig.Overrides(
            config=config,
            ports=["/dev/ttyUSB1,/dev/ttyUSB9"],
            reset="none",
            baud=921_600,
            no_backup=True,
            count=0,
            loop=False,
        )
    )
    assert [(p.port, p.name, p.reset, p.power_window) for p in s.positions] == [
        ("/dev/ttyUSB1", "B", None, 2.0),
        ("/dev/ttyUSB9", "", None, 2.0),
    ]
    assert s.baud == 921_600 and s.backup_dir is None and not s.loop


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('ports = ["a"]\nimage = "x.bin"\nbaudrate = 1', "unknown key(s) baudrate"),
        ('ports = ["a"]\nimage = "x.bin"\nreset = "cts"', "reset must be rts, dtr or none"),
        ('ports = ["a"]\nimage = "x.bin"\nbaud = "fast"', "'baud' must be a int"),
        ('ports = ["a", "a"]\nimage = "x.bin"', "listed twice"),
        ('ports = ["a"]', "no image"),
        ('image = "x.bin"', "no ports"),
        ('ports = [{ name = "A" }]\nimage = "x.bin"', "needs a 'port'"),
        ("ports = [", "not valid TOML"),
    ],
)
def test_config_mistakes_are_usage_errors(tmp_path: Path, text: str, words: str) -> None:
    config = write_toml(tmp_path / "bad.toml", text)
    with pytest.raises(UsageError, match=words.replace("(", r"\(").replace(")", r"\)")):
        jig.resolve_settings(jig.Overrides(config=config))
    result = invoke("--config", str(config))
    assert result.exit_code == 2 and words in result.stderr


def test_contradictions_and_unwritable_logs_stop_before_any_unit(
    tmp_path: Path, image: Path
) -> None:
    state = tmp_path / "u.bin"
    port = f"sim://healthy?state={state}"
    result = invoke(str(image), "--ports", port, "--once", "--count", "2")
    assert result.exit_code == 2 and "contradict" in result.stderr
    (tmp_path / "file").write_text("")
    result = invoke(str(image), "--ports", port, "--log", str(tmp_path / "file" / "log.jsonl"))
    assert result.exit_code == 2 and "cannot append" in result.stderr
    assert not state.exists()


def test_all_ports_without_adapters_is_a_port_error(
    image: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(list_ports, "comports", lambda: [])
    result = invoke(str(image), "--all-ports")
    assert result.exit_code == 4 and "no USB serial adapter" in result.stderr
