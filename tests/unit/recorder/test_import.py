import subprocess
import sys


def test_import_tapeflow_loads_no_duckdb_pyarrow_or_msgpack() -> None:
    code = (
        "import sys, tapeflow, tapeflow.recorder; from tapeflow.recorder import RecordingError;"
        "print(sorted(m for m in ('duckdb', 'pyarrow', 'msgpack') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_public_api() -> None:
    import tapeflow.recorder as recorder

    assert sorted(recorder.__all__) == sorted(
        ["Log", "LogError", "RecordedRun", "Recorder", "RecordingError", "default_log_path", "open_log"]
    )
