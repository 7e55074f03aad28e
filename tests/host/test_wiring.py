"""The wiring help: text and drawings come from one table, and the committed SVGs are current."""

from __future__ import annotations

import ast
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swsflash import wiring
from swsflash.cli import app

WIRING_DIR = Path(__file__).resolve().parents[2] / "wiring"
SVG = "{http://www.w3.org/2000/svg}"
PAIRS = [(a, b) for b in wiring.BOARDS for a in wiring.ADAPTERS]


def svg_texts(svg: str) -> list[str]:
    """Every piece of text a reader of the drawing sees (and the tooltips)."""
    root = ET.fromstring(svg)
    return [el.text or "" for el in root.iter() if el.tag in (f"{SVG}text", f"{SVG}title")]


def svg_connections(svg: str) -> dict[str, list[str]]:
    """Per drawn wire (<g class="connection">): its tooltip, then its visible labels."""
    root = ET.fromstring(svg)
    found: dict[str, list[str]] = {}
    for group in root.iter(f"{SVG}g"):
        if group.get("class") == "connection":
            title = group.find(f"{SVG}title")
            assert title is not None and title.text
            labels = [el.text or "" for el in group.iter(f"{SVG}text")]
            found.setdefault(title.text, []).extend(labels)
    return found


@pytest.mark.parametrize("adapter", list(wiring.ADAPTERS))
def test_text_names_the_adapters_own_pins_and_the_board_pads(adapter: str) -> None:
    text = wiring.render_text(adapter, "lywsd03mmc")
    for label in wiring.ADAPTERS[adapter].pins.values():
        assert label in text
    for pad in ("P14 (SWS)", "Reset", "Gnd", "battery +"):
        assert pad in text
    assert wiring.ADAPTERS[adapter].title in text
    assert "1 kOhm" in text and "never 5 V" in text and "--reset rts" in text
    assert "LED" in text and "short" in text
    assert text.isascii(), "terminal text must survive any console encoding"


def test_adapters_differ_where_their_modules_do() -> None:
    assert "VCC (3.3V jumper)" in wiring.render_text("ft232")
    assert "VCC (3.3V jumper)" not in wiring.render_text("ch340")
    assert "pin 14 (RTS#)" in wiring.render_text("ch340")
    assert "green TXD" in wiring.render_text("pl2303")


@pytest.mark.parametrize(("adapter", "board"), PAIRS)
def test_every_connection_is_in_both_the_text_and_the_svg(adapter: str, board: str) -> None:
    conns = wiring.connections(wiring.get_adapter(adapter), wiring.get_board(board))
    assert [c.signal for c in conns] == list(wiring.SIGNALS)
    text = wiring.render_text(adapter, board)
    svg = wiring.render_svg(adapter, board)
    drawn = svg_connections(svg)
    assert len(drawn) == len(conns)
    visible = svg_texts(svg)
    for c in conns:
        assert c.summary in text
        assert c.summary in drawn, f"no wire drawn for {c.summary!r}"
        assert c.adapter_pin in drawn[c.summary]
        assert c.summary in visible  # in the drawing's own list, not only the tooltip
        if c.resistor:
            assert c.resistor in drawn[c.summary]
    # a pad shared by several wires (SWS) is labelled once, on the last of them
    labels = [label for group in drawn.values() for label in group]
    for pad in {c.pad for c in conns}:
        assert pad in labels


@pytest.mark.parametrize(("adapter", "board"), PAIRS)
def test_svg_notes_match_the_text_checklist(adapter: str, board: str) -> None:
    a, b = wiring.get_adapter(adapter), wiring.get_board(board)
    flat_svg = " ".join(" ".join(svg_texts(wiring.render_svg(adapter, board))).split())
    flat_text = " ".join(wiring.render_text(adapter, board).split())
    for note in [*wiring.checklist(a, b), *b.pad_notes.values()]:
        flat = " ".join(note.split())
        assert flat in flat_text
        assert flat in flat_svg


def test_jig_draws_each_fixture_wire_and_its_pins() -> None:
    svg = wiring.render_jig_svg()
    root = ET.fromstring(svg)
    channels = [g for g in root.iter(f"{SVG}g") if g.get("class") == "channel"]
    assert len(channels) == wiring.JIG_CHANNELS >= 2
    conns = wiring.connections(wiring.ADAPTERS[wiring.JIG_ADAPTER], wiring.FIXTURE)
    for channel in channels:
        labels = [el.text for el in channel.iter(f"{SVG}text")]
        for pin in ("SWS", "RST", "GND", "3.3V"):
            assert pin in labels
        titles = [el.text for el in channel.iter(f"{SVG}title")]
        assert titles == [c.summary for c in conns]
    assert "USB hub" in svg_texts(svg)


def test_committed_svgs_are_freshly_generated() -> None:
    fresh = wiring.svg_files()
    committed = {p.name for p in WIRING_DIR.glob("*.svg")}
    assert committed == set(fresh), f"run {wiring.REGENERATE}"
    for name, content in fresh.items():
        on_disk = (WIRING_DIR / name).read_text(encoding="utf-8")
        assert on_disk == content, f"wiring/{name} is stale: run {wiring.REGENERATE}"


def test_write_svgs_writes_every_drawing(tmp_path: Path) -> None:
    written = wiring.write_svgs(tmp_path / "out")
    assert {p.name for p in written} == set(wiring.svg_files())
    assert wiring.main(["--write-svgs", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "jig.svg").read_text() == wiring.render_jig_svg()


def test_svgs_are_plain_readable_text() -> None:
    for content in wiring.svg_files().values():
        assert content.startswith("<svg ") and content.endswith("</svg>\n")
        assert all(len(line) <= 200 for line in content.splitlines())
        root = ET.fromstring(content)
        assert {el.tag.removeprefix(SVG) for el in root.iter()} <= {
            "svg", "title", "desc", "style", "rect", "line", "circle", "text", "g",
        }  # fmt: skip


def test_cli_prints_the_text() -> None:
    result = CliRunner().invoke(app, ["wiring", "--adapter", "cp2102"])
    assert result.exit_code == 0, result.output
    assert result.output == wiring.render_text("cp2102", "lywsd03mmc")
    default = CliRunner().invoke(app, ["wiring"])
    assert default.exit_code == 0 and "CH340" in default.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--adapter", "ftdi9000"], "unknown adapter 'ftdi9000': choose ch340, cp2102, pl2303"),
        (["--board", "lywsd02"], "unknown board 'lywsd02': choose lywsd03mmc"),
    ],
)
def test_cli_rejects_unknown_names_with_exit_code_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["wiring", *args])
    assert result.exit_code == 2
    assert "swsflash: usage error: " + message in result.output
    assert "Traceback" not in result.output


def test_cli_help_has_an_example() -> None:
    result = CliRunner().invoke(app, ["wiring", "--help"])
    assert result.exit_code == 0
    assert "Example:  swsflash wiring" in result.output


def test_wiring_modules_do_not_import_the_bench() -> None:
    modules = sorted(Path(wiring.__file__).parent.glob("*.py"))
    assert len(modules) > 1  # the package's own modules, not only its __init__
    for module in modules:
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert "bench" not in (node.module or ""), module.name
                assert all("bench" not in alias.name for alias in node.names), module.name
            elif isinstance(node, ast.Import):
                assert all("bench" not in alias.name for alias in node.names), module.name
