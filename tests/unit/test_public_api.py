from __future__ import annotations

import subprocess
import sys

import tapeflow


def test_public_api_is_pinned() -> None:
    assert sorted(tapeflow.__all__) == sorted([
        "IO", "AsyncioConnector", "Component", "ComponentArgsDict", "ComponentError", "ConfigError",
        "Connector", "ConnectorSpec", "ExportError", "Interrupted", "IOStreamClosedError", "LocalProcess", "ModelError",
        "NotAvailableError", "NotInitialisedError", "OutputNotSetError", "Process", "ProcessError", "RayConnector",
        "RayProcess", "Resource", "ResourceError", "Status", "TapeflowError", "UserError", "ValidationError",
        "ZMQConnector", "component", "__version__",
    ])


def test_errors_share_one_root() -> None:
    for name in ["ComponentError", "ConfigError", "ExportError", "Interrupted", "IOStreamClosedError", "ModelError",
                 "NotAvailableError", "NotInitialisedError", "OutputNotSetError", "ProcessError", "ResourceError", "UserError",
                 "ValidationError"]:
        assert issubclass(getattr(tapeflow, name), tapeflow.TapeflowError)


def test_import_tapeflow_stays_light() -> None:
    code = "import sys, tapeflow; print(sorted(m for m in ('duckdb','ray','zmq','pydantic','yaml','pyarrow','msgpack','typer','rich') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
