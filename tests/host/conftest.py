"""Helpers for driving the swsflash CLI against the bench through sim:// URLs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from fault_matrix import unique_data
from typer.testing import CliRunner

from swsflash.bench.scenarios import factory_flash
from swsflash.cli import app

DEMO_IMAGE = Path(__file__).resolve().parents[2] / "examples" / "demo-firmware.bin"


@dataclass
class Unit:
    """One simulated unit whose flash lives in a file between commands."""

    state: Path
    scenario: str = "healthy"
    extra: str = ""

    @property
    def url(self) -> str:
        return f"sim://{self.scenario}?state={self.state}{self.extra}"

    def flash(self) -> bytes:
        return self.state.read_bytes() if self.state.exists() else factory_flash("ZB25WD40B")

    def unique_data(self) -> bytes:
        return unique_data(self.flash())


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.fixture(autouse=True)
def backups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Backups go to the test's own folder, never to the user's home."""
    folder = tmp_path / "backups"
    monkeypatch.setenv("SWSFLASH_BACKUP_DIR", str(folder))
    return folder


@pytest.fixture
def unit(tmp_path: Path) -> Unit:
    return Unit(tmp_path / "unit.bin")
