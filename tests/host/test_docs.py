"""The documentation is executed, not only read.

* every ``$ `` command of a ``console`` block in docs/recover-lywsd03mmc.md runs, exactly as
  written, from the repository root with the installed ``swsflash`` and must exit 0;
* every ```python block of docs/python-api.md that uses ``sim://`` runs and must exit 0;
* every exit code swsflash has is documented, and every command's --help has an example;
* every relative link in docs/*.md and README.md leads to a file (and heading) that exists.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import swsflash.cli
from swsflash.errors import EXIT_CODES

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
RECOVERY = DOCS / "recover-lywsd03mmc.md"
PYTHON_API = DOCS / "python-api.md"
TROUBLESHOOTING = DOCS / "troubleshooting.md"
EXIT_CODES_DOC = DOCS / "exit-codes.md"
TIMEOUT_S = 300  # per command: generous, a slow CI machine must not fail on time alone

FENCE = re.compile(r"^(```+|~~~+)[ \t]*([\w+-]*)[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S)


# -- reading markdown ------------------------------------------------------------------------
def fenced_blocks(path: Path, language: str) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [body for _, lang, body in FENCE.findall(text) if lang == language]


def console_commands(path: Path) -> list[str]:
    """The ``$ `` lines of every console block; a trailing backslash continues a command."""
    commands: list[str] = []
    for block in fenced_blocks(path, "console"):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            i += 1
            if not line.startswith("$ "):
                continue  # output shown in the block
            command = line[2:]
            while command.endswith("\\") and i < len(lines):
                command = command[:-1] + " " + lines[i].strip()
                i += 1
            commands.append(command.strip())
    return commands


def python_sim_blocks(path: Path) -> list[str]:
    return [block for block in fenced_blocks(path, "python") if "sim://" in block]


def _without_code(text: str) -> str:
    """Markdown with fenced blocks and inline code removed: links there are not links."""
    text = FENCE.sub("", text)
    return re.sub(r"`[^`\n]*`", "", text)


LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def links(path: Path) -> list[str]:
    return LINK.findall(_without_code(path.read_text(encoding="utf-8")))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


# -- running as a user would -----------------------------------------------------------------
@pytest.fixture
def user_env(tmp_path: Path) -> dict[str, str]:
    """This interpreter's environment, with its scripts first on PATH (so ``swsflash`` is the
    installed one), no SWSFLASH_* settings, and a scratch home folder: a documented command
    that would write into the user's home is caught by ``nothing_in_home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWSFLASH_")}
    scripts = str(Path(sys.executable).parent)
    env["PATH"] = scripts + os.pathsep + env.get("PATH", "")
    home = tmp_path / "home"
    home.mkdir()
    env["HOME"] = env["USERPROFILE"] = str(home)
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def nothing_in_home(env: dict[str, str]) -> None:
    written = sorted(p.relative_to(env["HOME"]) for p in Path(env["HOME"]).rglob("*"))
    assert not written, f"a documented example wrote into the home folder: {written}"


def _report(result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"exit code {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )


RECOVERY_COMMANDS = console_commands(RECOVERY)


def test_recovery_guide_has_runnable_commands() -> None:
    assert any(
        c.startswith("swsflash recover ") and "sim://bricked?power_on_after=1" in c
        for c in RECOVERY_COMMANDS
    ), RECOVERY_COMMANDS
    text = RECOVERY.read_text(encoding="utf-8")
    assert "swsflash recover z03mmc.bin --port /dev/ttyUSB0" in text
    assert "swsflash ports" in text


@pytest.mark.parametrize("command", RECOVERY_COMMANDS, ids=RECOVERY_COMMANDS)
def test_recovery_guide_command(command: str, user_env: dict[str, str]) -> None:
    result = subprocess.run(
        command,
        shell=True,
        cwd=ROOT,
        env=user_env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=TIMEOUT_S,
    )
    assert result.returncode == 0, f"$ {command}\n{_report(result)}"
    nothing_in_home(user_env)


API_BLOCKS = python_sim_blocks(PYTHON_API)


def test_python_api_has_runnable_examples() -> None:
    assert API_BLOCKS, "docs/python-api.md has no ```python block using sim://"


@pytest.mark.parametrize("code", API_BLOCKS, ids=[f"block{i}" for i in range(len(API_BLOCKS))])
def test_python_api_example(code: str, user_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=user_env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=TIMEOUT_S,
    )
    assert result.returncode == 0, f"{code}\n{_report(result)}"
    nothing_in_home(user_env)


# -- exit codes and help -----------------------------------------------------------------------
@pytest.mark.parametrize(("code", "title"), [(c, t) for c, t, _ in EXIT_CODES])
def test_exit_code_documented(code: int, title: str) -> None:
    table = EXIT_CODES_DOC.read_text(encoding="utf-8")
    row = re.search(rf"^\|\s*{code}\s*\|(.*)$", table, re.M)
    assert row, f"exit code {code} has no row in docs/exit-codes.md"
    assert title in row.group(1), f"docs/exit-codes.md: row {code} does not say {title!r}"
    if code == 0:
        return  # success needs no troubleshooting
    trouble = TROUBLESHOOTING.read_text(encoding="utf-8")
    assert re.search(rf"(?i)\bexit code {code}\b", trouble), (
        f"docs/troubleshooting.md never says 'exit code {code}'"
    )
    assert f"`{title}`" in trouble, f"docs/troubleshooting.md never names '{title}'"


# typer brings its own copy of click, so the group is used by its attributes only
COMMANDS: dict[str, Any] = typer.main.get_command(swsflash.cli.app).commands  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_help_has_example(name: str, user_env: dict[str, str]) -> None:
    command = COMMANDS[name]
    if command.add_help_option:
        result = CliRunner().invoke(swsflash.cli.app, [name, "--help"])
        output, code = result.output, result.exit_code
    else:
        # run as a program: in this process the command would replace pytest (os.execv)
        done = subprocess.run(
            ["swsflash", name, "--help"],
            cwd=ROOT,
            env=user_env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
        output, code = done.stdout + done.stderr, done.returncode
    assert code == 0, output
    assert "Example:" in output, f"'swsflash {name} --help' shows no example:\n{output}"


# -- links -----------------------------------------------------------------------------------
PAGES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in links(page):
        if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", target):
            continue  # http:, https:, mailto: ...
        path_part, _, fragment = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
            continue
        if fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            broken.append(f"{target}: no heading '#{fragment}' in {dest.name}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)
