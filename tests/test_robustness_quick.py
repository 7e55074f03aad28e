"""A few rows of the robustness runners (benchmarks/robustness.py), for CI.

Asserts only what must always hold, whatever today's host gets right: every row finishes
(the host never hangs; the runner kills a row after a generous timeout and says so), and no
row reports success while the flash is wrong. Whether a row passes is the runner's table,
not a test (docs/robustness.md).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

RUNNER = Path(__file__).resolve().parents[1] / "benchmarks" / "robustness.py"
HANG_GUARD_S = 600.0  # a hang detector, not a speed limit: a row takes seconds


def _runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("robustness", RUNNER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["robustness"] = module
    spec.loader.exec_module(module)
    return module


rb = _runner()


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("robustness") / "image.bin"
    path.write_bytes(rb.make_demo_image(8 * 1024))
    return path


def never_wrong(result: dict[str, Any]) -> None:
    assert not result.get("timeout"), "the row did not finish: the host hangs"
    assert not result.get("crashed"), result
    assert not (result.get("verified") and not result.get("flash_ok")), "WRONG DATA"
    assert not (result.get("recovered") and not result.get("flash_ok")), "WRONG DATA"


MATRIX = [
    (rb.MatrixRow(None, 2, 24.5, None, 921_600), "healthy", "ZB25WD40B"),
    (rb.MatrixRow(None, 12, 23.0, None, 921_600), "healthy", "ZB25WD40B"),
    (rb.MatrixRow(None, 6, 26.4, None, 460_800), "healthy", "ZB25WD40B"),
    # The flash ignores every program until CMP (status-2) is cleared: the host must clear
    # it, and never call a write verified that the flash ignored.
    (rb.MatrixRow(None, 2, 24.5, None, 921_600), "locked-cmp", "P25Q40L"),
]


def test_matrix_rows_finish_and_never_report_wrong_data(image: Path, tmp_path: Path) -> None:
    tasks = [rb.MatrixTask(row, str(image), str(tmp_path), part, sc) for row, sc, part in MATRIX]
    results = rb.run_all(rb.run_matrix_row, tasks, 2, HANG_GUARD_S)
    for result in results:
        never_wrong(result)
        assert rb.matrix_verdict(result) in ("ok", "failed")
    assert rb.matrix_verdict(results[0]) == "ok"  # the plain row works, or nothing is measured
    locked = results[-1]
    assert locked["verified"] and locked["flash_ok"]  # the host cleared CMP, then wrote


def test_rows_needing_options_this_bench_lacks_are_marked_not_run(
    image: Path, tmp_path: Path
) -> None:
    row = rb.MatrixRow("cp2102", 2, 24.5, "open-drain", 921_600)
    missing = rb.unknown_options(row.query())
    result = rb.run_all(rb.run_matrix_row, [rb.MatrixTask(row, str(image), str(tmp_path))], 1, 60)
    if missing:
        assert result[0]["missing"].startswith("bench option missing")
        assert rb.matrix_verdict(result[0]) == "skipped"
    else:
        never_wrong(result[0])


def test_a_hanging_row_is_killed_and_reported() -> None:
    results = rb.run_all(_sleep_forever, [None], 1, 0.5)
    assert results[0].get("timeout") is True


def _sleep_forever(_: object) -> dict[str, Any]:
    import time

    time.sleep(3600)
    return {}


@pytest.mark.parametrize(
    "config",
    [rb.PowerConfig(16, 2, False), rb.PowerConfig(1, 0, True), rb.PowerConfig(3, 0, False, True)],
    ids=["bounce", "tx-power", "rts-power"],
)
def test_power_window_trials_finish_and_never_report_wrong_data(
    config: Any, image: Path, tmp_path: Path
) -> None:
    rows = rb.power_window(
        [config], 2, 1, 1000, str(image), str(tmp_path), 2, HANG_GUARD_S, lambda _: None
    )
    (row,) = rows
    assert row.get("wrong", 0) == 0
    assert row.get("hung", 0) == 0
    assert row.get("note") or row["trials"] == 2
