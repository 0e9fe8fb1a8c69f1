"""``windchill-mock check`` with a client that is another program: it passes when correct, is
caught with the right property and a shrunk schedule when buggy, replays exactly, and
reports crashes, hangs and clients that never reached their tenant as failures."""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests
from click.testing import CliRunner, Result

from mock_server import MockConfig
from mock_server.core import SystemClock
from mock_server.http import create_app
from mock_server.server import LiveServer
from pytest_windchill.checkrun import CheckResult, CheckSettings, Example, _health, junit_xml
from pytest_windchill.cli import _Progress, main
from pytest_windchill.health import TestHealth
from pytest_windchill.schedules import ConflictSchedule

CLIENT = str(Path(__file__).with_name("update_client.py"))
#: The test client's own policy (real seconds), as declared to the checker.
POLICY = ["--max-retries", "3", "--base-delay", "0.05", "--max-delay", "0.4", "--jitter", "0"]


def check(tmp_path: Path, *args: str, client: list[str] | None = None) -> Result:
    command = client if client is not None else [sys.executable, CLIENT]
    runner = CliRunner()
    return runner.invoke(
        main,
        ["check", "--failure-file", str(tmp_path / "failure.json"), *args, "--", *command],
        catch_exceptions=False,
    )


def test_a_correct_client_passes_and_the_junit_report_says_so(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    result = check(tmp_path, "--examples", "25", *POLICY, "--junitxml", str(report))

    assert result.exit_code == 0, result.output
    summary = result.output.strip().splitlines()[-1]
    assert summary.startswith("windchill-mock check: passed: 25 example(s), no violation;")
    assert "examples/s" in summary
    suite = ElementTree.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("25", "0")
    cases = suite.findall("testcase")
    assert all(float(case.get("time", "0")) > 0 for case in cases)
    assert any("micro_update" in case.get("name", "") for case in cases)
    assert not (tmp_path / "failure.json").exists()


@pytest.mark.parametrize(
    ("bug", "prop"), [("stale-etag", "stale-retry"), ("lost-as-failure", "truthful-outcome")]
)
def test_a_buggy_client_is_caught_shrunk_and_replayed(tmp_path: Path, bug: str, prop: str) -> None:
    client = [sys.executable, CLIENT, "--bug", bug]
    report = tmp_path / "report.xml"
    # Background work and lost responses, with the changes fixed, so that shrinking works on
    # the schedule (the correct client above meets every kind, with generated changes).
    fixed = ["--actions", "micro_update,lifecycle_change,lose_response"]
    fixed += ["--changes", '{"Description": "mine", "Title": "t"}']
    result = check(
        tmp_path, "--examples", "40", *fixed, *POLICY, "--junitxml", str(report), client=client
    )

    assert result.exit_code == 1, result.output
    assert f"windchill-mock check: FAILED [{prop}] after" in result.output
    failure = json.loads((tmp_path / "failure.json").read_text())
    assert failure["property"] == prop
    assert 1 <= len(failure["schedule"]) <= 2
    assert f"--replay {tmp_path / 'failure.json'} --" in result.output
    suite = ElementTree.parse(report).getroot().find("testsuite")
    assert suite is not None
    minimal = [c for c in suite.findall("testcase") if c.get("name", "").startswith("minimal")]
    assert [c.find("failure").get("message") for c in minimal] == [prop]  # type: ignore[union-attr]

    replayed = check(tmp_path, "--replay", str(tmp_path / "failure.json"), client=client)
    assert replayed.exit_code == 1, replayed.output
    assert f"FAILED [{prop}] again" in replayed.output
    # The fixed client passes the same example.
    fixed = check(tmp_path, "--replay", str(tmp_path / "failure.json"))
    assert fixed.exit_code == 0, fixed.output
    assert "passed this time" in fixed.output


def test_a_crashing_client_is_a_reported_failure_with_its_stderr(tmp_path: Path) -> None:
    result = check(tmp_path, "--examples", "5", client=[sys.executable, CLIENT, "--bug", "crash"])

    assert result.exit_code == 1
    assert "FAILED [client-crash]" in result.output
    assert "exited with status 1 and printed no outcome line" in result.output
    assert "RuntimeError: the client crashed" in result.output
    # Shrunk: the crash needs no interference at all.
    assert json.loads((tmp_path / "failure.json").read_text())["schedule"] == []


def test_a_hanging_client_is_killed_after_the_timeout(tmp_path: Path) -> None:
    started = time.monotonic()
    result = check(
        tmp_path,
        "--examples",
        "3",
        "--timeout",
        "1",
        "--max-shrinks",
        "2",
        client=[sys.executable, CLIENT, "--bug", "hang"],
    )

    assert result.exit_code == 1
    assert "FAILED [client-timeout]" in result.output
    assert "no answer within 1s of real time" in result.output
    assert time.monotonic() - started < 30


def test_a_client_that_never_reaches_its_tenant_fails(tmp_path: Path) -> None:
    result = check(tmp_path, "--examples", "3", client=[sys.executable, CLIENT, "--bug", "silent"])

    assert result.exit_code == 1
    assert "FAILED [client-silent]" in result.output
    assert "without one request reaching the document in the tenant it was given" in result.output


def test_placeholders_and_exit_statuses_are_the_protocol(tmp_path: Path) -> None:
    # A client that checks every placeholder against its environment, writes the document,
    # and answers by exit status only: 10 is "merged".
    script = tmp_path / "echo_client.py"
    script.write_text(
        "import json, os, sys\n"
        "import requests\n"
        "url, doc, changes, example = sys.argv[1:5]\n"
        "assert url == os.environ['WINDCHILL_SERVICE_ROOT'] and '/(S(' in url\n"
        "assert doc == os.environ['WINDCHILL_DOCUMENT']\n"
        "assert json.loads(changes) == json.loads(os.environ['WINDCHILL_CHANGES'])\n"
        "assert example == os.environ['WINDCHILL_EXAMPLE']\n"
        "assert os.environ['WINDCHILL_TIME_SCALE'] == '10'\n"
        "assert sys.argv[5] == '{literal}'\n"
        "session = requests.Session()\n"
        "session.auth = (os.environ['WINDCHILL_USER'], os.environ['WINDCHILL_PASSWORD'])\n"
        "nonce = session.get(f'{url}/PTC/GetCSRFToken()').json()['NonceValue']\n"
        "entity = f\"{url}/{os.environ['WINDCHILL_ENTITY_SET']}('{doc}')\"\n"
        "etag = session.get(entity, timeout=30).headers['ETag']\n"
        "headers = {'If-Match': etag, 'CSRF_NONCE': nonce}\n"
        "written = session.patch(entity, json=json.loads(changes), headers=headers)\n"
        "sys.exit(10 if written.ok else 1)\n"
    )
    result = check(
        tmp_path,
        "--examples",
        "3",
        "--max-interventions",
        "0",
        client=[
            sys.executable,
            str(script),
            "{url}",
            "{doc}",
            "{changes}",
            "{example}",
            "{{literal}}",
        ],
    )
    assert result.exit_code == 0, result.output


def test_an_unknown_placeholder_is_a_usage_error(tmp_path: Path) -> None:
    result = check(tmp_path, client=["client", "{document}"])
    assert result.exit_code == 2
    assert "unknown placeholder {document}" in result.output
    assert "{doc}" in result.output


def test_a_running_server_hosts_the_tenants_and_gets_them_back(tmp_path: Path) -> None:
    with LiveServer(create_app(MockConfig(), clock=SystemClock())) as server:
        result = check(tmp_path, "--url", server.url, "--examples", "4", *POLICY)
        assert result.exit_code == 0, result.output
        tenants = requests.get(f"{server.url}/__mock/tenants", timeout=10).json()
    assert tenants["created"] == 4
    assert tenants["live"] == 0


def test_the_policy_and_the_run_come_from_a_toml_file(tmp_path: Path) -> None:
    config = tmp_path / "check.toml"
    config.write_text(
        'profile = "odata"\n'
        "[policy]\nmax_retries = 3\nbase_delay = 0.05\nmax_delay = 0.4\njitter = 0\n"
        '[check]\nexamples = 4\nactions = ["micro_update"]\nmax_request = 2\n'
    )
    report = tmp_path / "report.xml"
    result = check(tmp_path, "--config", str(config), "--junitxml", str(report), "-v")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip().startswith("example")]
    assert len(lines) == 4
    suite = ElementTree.parse(report).getroot().find("testsuite")
    assert suite is not None
    names = [c.get("name", "") for c in suite.findall("testcase")]
    assert all("lose_response" not in name and "fault" not in name for name in names)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[check]\nexampels = 3\n", "unknown key(s) ['exampels'] in [check]"),
        ("[policy]\nretries = 3\n", "unknown policy key(s) ['retries']"),
        ("[policy]\nmax_retries = -1\n", "max_retries must be >= 0"),
        ("profile = 'nope'\n", "nope"),
    ],
)
def test_a_bad_config_file_is_a_usage_error(tmp_path: Path, text: str, words: str) -> None:
    config = tmp_path / "check.toml"
    config.write_text(text)
    result = check(tmp_path, "--config", str(config))
    assert result.exit_code == 2
    assert words in result.output


def test_replaying_a_file_that_is_not_a_failure_file_is_a_usage_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"schedule": []}')
    result = check(tmp_path, "--replay", str(bogus))
    assert result.exit_code == 2
    assert "is not a failure file of windchill-mock check" in result.output


def test_a_run_that_met_too_little_interference_fails_its_health_check() -> None:
    health = TestHealth()
    for _ in range(6):
        health.record_example(False, ["micro_update(before_request=3) on D: still pending"])
    message = _health(health)
    assert message is not None
    assert "6 example(s) ran with interventions, but in only 0" in message
    assert "run more (--examples 50 or more)" in message
    assert "micro_update(before_request=3) on D: still pending" in message
    health.record_example(True)
    assert _health(health) is None  # one in seven met: the 10 % is reached

    result = CheckResult(CheckSettings(command=("client",)), health=message)
    assert not result.ok
    assert result.summary().startswith("windchill-mock check: FAILED (health): 0 example(s)")
    suite = ElementTree.fromstring(junit_xml(result)).find("testsuite")
    assert suite is not None
    (case,) = suite.findall("testcase")
    assert case.get("name") == "health: interference met"
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == "unfired_interventions"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_progress_bar_that_counts_generated_examples(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    progress = _Progress(4, verbose=False)
    schedule = ConflictSchedule()
    for number, phase in enumerate(["generate", "generate", "shrink"], 1):
        progress.example(Example(number, phase, schedule, {"Title": "x"}))  # type: ignore[arg-type]
    progress.close()
    shown = terminal.getvalue()
    assert "examples" in shown
    assert "2/4" in shown  # shrink runs are not counted as examples
    assert "3/4" not in shown


def test_a_client_that_reads_another_document_never_reached_its_own(tmp_path: Path) -> None:
    script = tmp_path / "elsewhere.py"
    script.write_text(
        "import os, requests\n"
        "auth = (os.environ['WINDCHILL_USER'], os.environ['WINDCHILL_PASSWORD'])\n"
        "root = os.environ['WINDCHILL_SERVICE_ROOT']\n"
        "requests.get(f\"{root}/DocMgmt/Documents('OR:wt.doc.WTDocument:1')\", auth=auth)\n"
        'print(\'{"outcome": "applied"}\')\n'
    )
    result = check(tmp_path, "--examples", "3", client=[sys.executable, str(script)])

    assert result.exit_code == 1, result.output
    assert "FAILED [client-silent]" in result.output


def test_a_wrong_password_is_named_as_the_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WINDCHILL_PASSWORD", "wrong")
    result = check(tmp_path, "--examples", "2", *POLICY)

    assert result.exit_code == 1, result.output
    assert "FAILED [client-crash]" in result.output  # the test client cannot read a nonce
    assert "the tenant refused 1 request(s) with 401: check --user and WINDCHILL_PASSWORD" in (
        result.output
    )
