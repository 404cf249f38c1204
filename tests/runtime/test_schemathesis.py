"""schemathesis against the sample project's OpenAPI document, on a real ``loader start`` server
over a migrated temporary copy: no 5xx, and every response conforms to the document."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime.test_start import free_port, wait_for

pytestmark = pytest.mark.slow

#: What must hold for every generated request (valid and invalid ones alike).
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
#: Bounded and reproducible: at most this many cases per operation, one seed.
MAX_EXAMPLES = "40"
SEED = "20261206"


def test_schemathesis_finds_no_server_error_and_no_nonconforming_response(sample_project: Path, tmp_path: Path) -> None:
    config = sample_project / "loader_config.py"
    text = config.read_text()
    assert 'project={"http": {"port": 9000}}' in text
    config.write_text(text.replace('project={"http": {"port": 9000}}', 'project={"http": {"port": 9000, "openapi": True}}'))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    migrated = subprocess.run(
        [sys.executable, "-m", "loader", "db", "migrate", str(sample_project)], capture_output=True, text=True, env=env, timeout=120,
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "loader", "start", str(sample_project), "--port", str(port), "--grace", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/health", server)
        run = subprocess.run(
            [
                sys.executable, "-c", "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())",
                "run", f"{base}/openapi.json", "--checks", CHECKS, "--max-examples", MAX_EXAMPLES, "--seed", SEED,
                "--phases", "examples,coverage,fuzzing", "--workers", "1", "--generation-database", "none",
                "--request-timeout", "10", "--no-color",
            ],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=240,
        )
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server_output, _ = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server_output, _ = server.communicate()
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:] + "\nserver:\n" + server_output[-4000:]
    assert "Traceback" not in server_output, server_output[-4000:]
