"""What the report's end-to-end tests share: one recorded run of the diamond model."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPORT_MODELS = Path(__file__).parents[1] / "unit" / "report"


@pytest.fixture(scope="module")
def recorded_diamond(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, str]]:
    """The diamond model recorded in a folder of its own: ``(folder, run id, environment)``,
    the environment naming its log and a calibration file that is not there yet."""
    folder = tmp_path_factory.mktemp("report")
    sys.path.insert(0, str(REPORT_MODELS))
    try:
        from report_models import record_diamond
    finally:
        sys.path.remove(str(REPORT_MODELS))
    log = folder / "log.duckdb"
    run_id = record_diamond(log, n=30)
    env = {**os.environ, "TAPEFLOW_LOG": str(log), "TAPEFLOW_CALIBRATION": str(folder / "calibration.json")}
    return folder, run_id, env
