"""The example update clients of ``examples/``, in Java (JDK only) and Node (built-in fetch),
under ``windchill-mock check``: the correct ones pass, each planted bug is caught with the
right property and a schedule shrunk to one or two steps, and the failure replays exactly.

A language is skipped only where its toolchain is missing, naming it; CI installs both."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pytest_windchill.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: The examples' own retry policy (real seconds), as declared to the checker.
POLICY = ["--max-retries", "3", "--base-delay", "0.05", "--max-delay", "0.4", "--jitter", "0"]


def _require(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed: this example client needs it (CI installs it)")


@pytest.fixture(scope="module")
def java_client(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    _require("javac", "java")
    build = tmp_path_factory.mktemp("java-build")
    compiled = subprocess.run(
        ["javac", "-d", str(build), str(EXAMPLES / "java" / "UpdateDocument.java")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert compiled.returncode == 0, compiled.stderr
    return ["java", "-cp", str(build), "UpdateDocument"]


@pytest.fixture(scope="module")
def node_client() -> list[str]:
    _require("node")
    return ["node", str(EXAMPLES / "node" / "update-document.mjs")]


@pytest.fixture(params=["java", "node"])
def client(request: pytest.FixtureRequest) -> list[str]:
    command: list[str] = request.getfixturevalue(f"{request.param}_client")
    return command


def check(tmp_path: Path, command: list[str], *args: str) -> Result:
    return CliRunner().invoke(
        main,
        ["check", "--failure-file", str(tmp_path / "failure.json"), *args, "--", *command],
        catch_exceptions=False,
    )


def test_the_correct_example_passes(tmp_path: Path, client: list[str]) -> None:
    result = check(tmp_path, client, "--examples", "12", *POLICY)

    assert result.exit_code == 0, result.output
    assert "windchill-mock check: passed: 12 example(s), no violation" in result.output


# A JVM starts in about a second, so every run counts: the bugs are looked for under
# background work and lost responses, with the changes fixed (as a client that writes one
# property would declare them), so that shrinking spends its runs on the schedule. The correct
# clients above meet every kind of interference, with generated changes.
BUG_HUNT = ["--actions", "micro_update,lifecycle_change,lose_response", "--changes"]


@pytest.mark.parametrize(
    ("bug", "prop"), [("stale-etag", "stale-retry"), ("lost-as-failure", "truthful-outcome")]
)
def test_a_planted_bug_is_caught_shrunk_and_replayed(
    tmp_path: Path, client: list[str], bug: str, prop: str
) -> None:
    buggy = [*client, "--bug", bug]
    result = check(
        tmp_path, buggy, "--examples", "30", *BUG_HUNT, '{"Description": "mine"}', *POLICY
    )

    assert result.exit_code == 1, result.output
    assert f"FAILED [{prop}]" in result.output
    failure = json.loads((tmp_path / "failure.json").read_text())
    assert failure["property"] == prop
    assert 1 <= len(failure["schedule"]) <= 2, failure["schedule"]

    replayed = check(tmp_path, buggy, "--replay", str(tmp_path / "failure.json"))
    assert replayed.exit_code == 1, replayed.output
    assert f"FAILED [{prop}] again" in replayed.output
