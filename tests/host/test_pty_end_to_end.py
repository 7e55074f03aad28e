"""The same jobs through `swsflash simulate`'s pseudo-terminal, in real time: what works on
sim:// must work on a serial port the tool knows nothing special about."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import run_cli
from make_demo_image import make_demo_image

from swsflash.bench.scenarios import factory_flash

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pty")


@contextmanager
def simulated_unit(saved: Path, *options: str) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "swsflash", "simulate", "--save-flash", str(saved), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def test_write_through_the_pty_matches_sim(tmp_path: Path) -> None:
    image = tmp_path / "fw.bin"
    image.write_bytes(make_demo_image(12 * 1024))
    saved = tmp_path / "pty-flash.bin"
    with simulated_unit(saved) as port:
        code, out = run_cli("write", str(image), "--port", port, "--no-backup")
    assert code == 0, out
    expected = bytearray(factory_flash("ZB25WD40B"))
    expected[: 12 * 1024] = image.read_bytes()
    assert saved.read_bytes() == bytes(expected)
    # and the same job on sim:// leaves the same flash
    state = tmp_path / "sim-flash.bin"
    code, out = run_cli("write", str(image), "--port", f"sim://?state={state}", "--no-backup")
    assert code == 0, out
    assert state.read_bytes() == saved.read_bytes()


def test_recover_bricked_unit_with_power_window_through_the_pty(tmp_path: Path) -> None:
    image = tmp_path / "fw.bin"
    image.write_bytes(make_demo_image(8 * 1024))
    saved = tmp_path / "pty-flash.bin"
    with simulated_unit(saved, "--scenario", "bricked", "--power-on-after", "1.0") as port:
        code, out = run_cli(
            "recover", str(image), "--port", port, "--power-window", "4000", "--no-backup"
        )
    assert code == 0, out
    assert "Recovered" in out
    flash = saved.read_bytes()
    assert flash[: 8 * 1024] == image.read_bytes()
    assert flash[0x76000:0x78000] == factory_flash("ZB25WD40B")[0x76000:0x78000]
