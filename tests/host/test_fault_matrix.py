"""Every fault a real bench throws, end to end: a verified correct flash or the documented
message and exit code, and in every case the MAC and calibration sectors as they were."""

from __future__ import annotations

from pathlib import Path

import pytest
from fault_matrix import CASES, Case, run_case
from make_demo_image import make_demo_image


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 48 KB keeps each case quick while the injected faults (8-10 s) still land mid-job
    path = tmp_path_factory.mktemp("img") / "firmware.bin"
    path.write_bytes(make_demo_image(48 * 1024))
    return path


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault_case(case: Case, image: Path, tmp_path: Path) -> None:
    outcome = run_case(case, tmp_path, image)
    assert outcome.code == case.expect_code, outcome.output
    assert case.expect_words in outcome.output
    assert outcome.unique_ok, "MAC/calibration/hardware-version sectors changed"
    if case.expect_code == 0 or case.then is not None:
        assert outcome.image_ok, outcome.output
    if case.then is not None:
        assert outcome.second_code == 0, outcome.output
        assert "already right" in outcome.output  # the rerun only finished what was missing
    assert "Traceback" not in outcome.output
