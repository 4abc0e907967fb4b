"""Schemathesis against the real server's OpenAPI document: at least 1,000 generated requests, valid and
invalid, and every check it has (no 5xx, statuses, content types, headers and bodies as documented,
invalid data rejected, valid data accepted).

It runs the `schemathesis` command against `rag serve` on 127.0.0.1, with a fixed seed so that a
failure reproduces; the command prints a `curl` line for each failure.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from served import Served

MIN_CASES = 1000
# Per operation and mode, for the fuzzing phase (the coverage phase's boundary cases come on top): 200 gives
# 1,663 cases over the twelve operations (seed 7); 500 gave 3,504 and took 95-140 s of the suite.
MAX_EXAMPLES = 200
CONFIG = Path(__file__).with_name("schemathesis.toml")


def test_schemathesis_finds_no_5xx_and_no_schema_mismatch(built_index: Path, tmp_path: Path) -> None:
    # A schema-valid body can be megabytes (20 turns of 20,000 characters, escaped): the body limit has its
    # own tests, and schemathesis does not count 413 as a rejection.
    served = Served(built_index, tmp_path / "server.log", RAG_ADMIN_TOKEN="fuzz-token", RAG_MAX_BODY_BYTES=str(16 << 20))
    report = tmp_path / "report.json"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run", f"{served.url}/openapi.json",
             "--checks", "all",
             "--mode", "all", "--phases", "coverage,fuzzing", "--max-examples", str(MAX_EXAMPLES), "--seed", "7",
             "--workers", "2", "--request-timeout", "30", "--header", "Authorization: Bearer fuzz-token",
             "--generation-database", "none", "--report", "json", "--report-json-path", str(report)],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
        )
    finally:
        served.stop()
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[output.find("FAILURES"):][:8000]
    cases = int(re.search(r"(\d+) generated", output).group(1))
    assert cases >= MIN_CASES, f"only {cases} test cases ran:\n{output[-2000:]}"
    assert "Internal Server Error" not in served.log.read_text()
    json.loads(report.read_text())  # the run wrote its report
