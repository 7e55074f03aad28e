"""The power window and power cycling: a bricked unit is caught whenever power arrives in
the window, at any adapter latency, and nothing that happens to the echo meanwhile is
taken for a wiring fault. Everything runs on the bench's virtual clock."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import serial
from conftest import DEMO_IMAGE, run_cli

from swsflash.errors import SilentChip, UsageError
from swsflash.halt_stream import HALT_FRAME, PROBE_REQUEST_AT, PROBE_UNIT, EchoWatch
from swsflash.jig import Overrides, resolve_settings
from swsflash.session import Session
from swsflash.settings import ConnectOptions
from swsflash.transport import Transport

TLSR825X_ID = 0x5562
WINDOW_S = 0.3


def bench_knows(query: str) -> bool:
    """Does this bench accept these sim:// options? (power=rts is being added elsewhere.)"""
    try:
        serial.serial_for_url(f"sim://healthy?{query}").close()
    except serial.SerialException as exc:
        if "unknown option" in str(exc):
            return False
        raise
    return True


needs_power_line = pytest.mark.skipif(
    not bench_knows("power=rts"), reason="this bench has no power=rts (VCC from RTS) yet"
)


def attach(url: str, options: ConnectOptions) -> tuple[Session, float]:
    """A session attached on ``url``; also the virtual seconds the attach took."""
    transport = Transport.open(url, options.baud)
    session = Session(transport, options)
    start = transport.clock.now()
    try:
        session.attach()
    except BaseException:
        transport.close()
        raise
    return session, transport.clock.now() - start


# -- the window ----------------------------------------------------------------------------
MOMENTS = random.Random(14).sample(range(0, 1000), 20)


@pytest.mark.parametrize("latency_ms", [1, 3, 16])
def test_power_at_any_moment_of_the_window_is_caught(latency_ms: int) -> None:
    """20 seeded moments across the window (and a stretch after the last 5 % of it)."""
    caught = []
    for m in MOMENTS:
        at = WINDOW_S * m / 1000
        url = f"sim://bricked?power_on_after={at:.6f}&latency_us={latency_ms * 1000}"
        dev, _ = attach(url, ConnectOptions(power_window=WINDOW_S))
        try:
            assert dev.flash_id is not None
            caught.append(dev.chip.chip_id() == TLSR825X_ID)
        finally:
            dev.transport.close()
    assert all(caught), [m for m, ok in zip(MOMENTS, caught, strict=True) if not ok]


def caught_by_the_stream(url: str, window_s: float) -> bool:
    """Only the window itself: did the stream end with the bench's chip halted and seen
    answering? Any exception out of it (a wiring error above all) fails the test."""
    transport = Transport.open(url, 921_600)
    try:
        session = Session(transport, ConnectOptions(power_window=window_s))
        seen = session.chip.catch_at_boot(window_s)
        return seen and bool(transport.port.bench.chip.halted)
    finally:
        transport.close()


def test_power_at_every_point_of_one_halt_is_caught_without_a_wiring_error() -> None:
    """The chip comes alive inside a halt, an END, a gap or a chip id request: never a
    wiring error, always caught."""
    unit_s = (len(HALT_FRAME) + 20) * 10 / 921_600
    for k in range(12):
        at = 0.1 + unit_s * k / 12
        assert caught_by_the_stream(f"sim://bricked?power_on_after={at:.7f}", WINDOW_S), k


def test_noise_during_the_window_is_no_wiring_error() -> None:
    """Bit errors garble the stream's echo here and there: the window goes on and the unit
    is caught."""
    for seed in range(4):
        url = f"sim://bricked?power_on_after=0.2&ber=0.0002&seed={seed}"
        assert caught_by_the_stream(url, 0.4), seed


@pytest.mark.parametrize("latency_ms", [1, 16])
def test_never_powered_is_no_answer_after_the_whole_window(latency_ms: int) -> None:
    """Stale echo at 16 ms latency does not end the window early, and the diagnosis comes
    soon after the window ends."""
    url = f"sim://bricked?power_on_after=1000&latency_us={latency_ms * 1000}"
    transport = Transport.open(url, 921_600)
    session = Session(transport, ConnectOptions(power_window=1.0))
    start = transport.clock.now()
    with pytest.raises(SilentChip):
        session.attach()
    took = transport.clock.now() - start
    transport.close()
    assert 1.0 <= took <= 1.6, took


def test_recover_never_powered_names_the_window_and_exits_6(tmp_path: Path) -> None:
    code, out = run_cli(
        "recover",
        str(DEMO_IMAGE),
        "--port",
        f"sim://bricked?state={tmp_path}/u.bin",
        "--power-window",
        "500",
        "--no-backup",
    )
    assert code == 6, out
    assert "nor during the 0.5 s power window" in out
    assert "what to do:" in out
    assert "Traceback" not in out


def test_countdown_tells_the_seconds_left_as_they_go() -> None:
    left: list[float] = []
    with pytest.raises(SilentChip):
        attach(
            "sim://bricked?power_on_after=1000",
            ConnectOptions(power_window=2.0, on_wait=left.append),
        )
    assert len(left) > 10
    assert left == sorted(left, reverse=True)
    assert left[0] > 1.9 and left[-1] < 0.1


def test_recover_shows_a_countdown(tmp_path: Path) -> None:
    code, out = run_cli(
        "recover",
        str(DEMO_IMAGE),
        "--port",
        f"sim://bricked?state={tmp_path}/u.bin&power_on_after=2.5",
        "--no-backup",
    )
    assert code == 0, out
    lines = [line.strip() for line in out.splitlines() if line.strip().endswith("s left")]
    assert lines[:2] == ["5 s left", "4 s left"], out
    seconds = [int(line.split()[0]) for line in lines]
    assert seconds == sorted(set(seconds), reverse=True), out
    assert "Recovered" in out


# -- the echo watch (pure) -------------------------------------------------------------------
def _stream(units: int) -> tuple[EchoWatch, bytes]:
    watch = EchoWatch()
    sent = b""
    for n in range(units):
        unit = PROBE_UNIT if n % 5 == 0 else HALT_FRAME
        watch.add(unit, PROBE_REQUEST_AT if unit is PROBE_UNIT else None)
        sent += unit
    return watch, sent


def test_stale_echo_before_the_stream_is_not_an_answer() -> None:
    watch, sent = _stream(20)
    stale = HALT_FRAME[17:] + HALT_FRAME * 3  # echo of earlier traffic, still in flight
    for i in range(0, len(stale + sent), 37):
        watch.feed((stale + sent)[i : i + 37])
    assert not watch.alive


def test_an_answer_shows_at_its_request_even_after_stale_echo() -> None:
    watch, sent = _stream(20)
    period = len(PROBE_UNIT) + 4 * len(HALT_FRAME)
    at = period + PROBE_REQUEST_AT  # the second request
    answered = bytearray(sent)
    answered[at : at + 3] = b"\x02\x7f\xfe"  # the answer, merged with the echo
    once = bytes(answered)
    answered[at + period : at + period + 2] = b"\x12\xfe"  # and the next one
    watch.feed(HALT_FRAME[5:] + bytes(answered))
    assert watch.alive_at == at
    watch, _ = _stream(20)
    watch.feed(once)  # a single garbled request is noise, not yet the chip
    assert not watch.alive


def test_distortion_outside_requests_is_not_an_answer() -> None:
    watch, sent = _stream(20)
    garbled = bytearray(sent)
    for i in range(3, len(garbled), 41):
        garbled[i] ^= 0x10
    watch.feed(bytes(garbled))
    assert not watch.alive
    # a unit half-powered through TX: every low stretched (0x80 -> 0x00, 0xfe -> 0xfc)
    watch, sent = _stream(20)
    watch.feed(bytes(0x00 if c == 0x80 else 0xFC for c in sent))
    assert not watch.alive


# -- power cycling through an adapter line ---------------------------------------------------
@needs_power_line
@pytest.mark.parametrize("query", ["", "&latency_us=16000", "&hold_ms=200&tx_power=1"])
def test_recover_power_cycles_through_rts_hands_free(tmp_path: Path, query: str) -> None:
    url = f"sim://bricked?power=rts&state={tmp_path}/u.bin{query}"
    code, out = run_cli("recover", str(DEMO_IMAGE), "--port", url, "--power", "rts", "--no-backup")
    assert code == 0, out
    assert "Power-cycling the unit through RTS" in out
    assert "apply power" not in out  # no hands needed
    assert "Recovered" in out
    assert (tmp_path / "u.bin").read_bytes()[:64] == DEMO_IMAGE.read_bytes()[:64]


@needs_power_line
def test_every_device_command_takes_power_rts(tmp_path: Path) -> None:
    url = f"sim://bricked?power=rts&state={tmp_path}/u.bin"
    code, out = run_cli("info", "--port", url, "--power", "rts")
    assert code == 0, out


@needs_power_line
def test_a_unit_that_outlasts_the_first_off_time_is_caught_by_the_longer_one(
    tmp_path: Path,
) -> None:
    """Capacitors that carry the unit through 0.3 s (hold_ms=500): the second, longer power
    cycle switches it off for real."""
    if not bench_knows("hold_ms=500"):
        pytest.skip("this bench has no hold_ms")
    url = f"sim://bricked?power=rts&hold_ms=500&state={tmp_path}/u.bin"
    code, out = run_cli("recover", str(DEMO_IMAGE), "--port", url, "--power", "rts", "--no-backup")
    assert code == 0, out
    assert out.count("Power-cycling the unit through RTS") == 2, out


def test_power_rts_on_a_unit_not_fed_from_rts_says_what_was_tried(tmp_path: Path) -> None:
    """RTS not wired to VCC: the bricked unit stays powered and silent; exit 6 with the
    power cycles named (not a power window the user was never asked for)."""
    code, out = run_cli(
        "recover",
        str(DEMO_IMAGE),
        "--port",
        f"sim://bricked?state={tmp_path}/u.bin",
        "--power",
        "rts",
        "--no-backup",
    )
    assert code == 6, out
    assert "nor after power-cycling the unit through RTS (off 0.3 s, then 1.5 s)" in out
    assert "reset through DTR" in out and "reset through RTS" not in out
    assert "apply power to the unit" not in out


@pytest.mark.parametrize(
    "args",
    [
        ["--power", "cts"],
        ["--power", "rts", "--reset", "rts"],
        ["--power", "dtr", "--reset", "dtr"],
    ],
)
def test_bad_power_options_are_usage_errors(args: list[str]) -> None:
    code, out = run_cli("info", "--port", "sim://healthy", *args)
    assert code == 2, out
    assert "Traceback" not in out


def test_connect_options_check_the_power_settings() -> None:
    with pytest.raises(UsageError):
        ConnectOptions(power="rts", reset="rts")
    with pytest.raises(UsageError):
        ConnectOptions(power="usb")
    with pytest.raises(UsageError):
        ConnectOptions(power="rts", power_off=0.001)
    assert ConnectOptions(power="dtr", reset="rts").power == "dtr"


def test_jig_config_power_per_port_and_default(tmp_path: Path) -> None:
    config = tmp_path / "jig.toml"
    config.write_text(
        'image = "fw.bin"\npower = "rts"\npower_off_ms = 500\n'
        'ports = ["A", { port = "B", power = "none" }, { port = "C", power_off_ms = 100 }]\n'
    )
    settings = resolve_settings(Overrides(config=config))
    got = {p.port: (p.power, p.power_off) for p in settings.positions}
    assert got == {"A": ("rts", 0.5), "B": (None, 0.5), "C": ("rts", 0.1)}
    settings = resolve_settings(Overrides(config=config, power="dtr"))
    assert {p.power for p in settings.positions} == {"dtr"}
    config.write_text('image = "fw.bin"\nports = [{ port = "A", power = "rts", reset = "rts" }]\n')
    with pytest.raises(UsageError):
        resolve_settings(Overrides(config=config))
