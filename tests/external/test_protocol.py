"""The protocol of an external client, without a server: placeholders, the outcome line and
exit statuses, crashes and timeouts, bounded output, and the policy in the mock's time."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

from mock_server import MockConfig
from pytest_windchill.checkrun import CheckSettings, scaled_policy
from pytest_windchill.client import RetryPolicy
from pytest_windchill.external import (
    OUTPUT_KEPT,
    ExampleInputs,
    ProtocolError,
    expand,
    read_outcome,
    run_client,
)

INPUTS = ExampleInputs(
    service_root="http://127.0.0.1:1/(S(abc))/Windchill/servlet/odata",
    document="OR:wt.doc.WTDocument:164057",
    entity_set="DocMgmt/Documents",
    changes={"Title": "t", "Description": "d e"},
    user="wcadmin",
    password="secret",
    example=7,
    time_scale=10.0,
)


def test_placeholders_are_filled_and_double_braces_are_literal() -> None:
    assert expand(["run", "{url}/{set}('{doc}')", "{changes}", "{{x}}", "n={example}"], INPUTS) == [
        "run",
        "http://127.0.0.1:1/(S(abc))/Windchill/servlet/odata/DocMgmt/Documents"
        "('OR:wt.doc.WTDocument:164057')",
        '{"Description": "d e", "Title": "t"}',
        "{x}",
        "n=7",
    ]


def test_an_unknown_placeholder_names_the_known_ones() -> None:
    with pytest.raises(ProtocolError, match=r"unknown placeholder \{document\}.*\{doc\}"):
        expand(["client", "{document}"], INPUTS)


def test_the_environment_carries_every_value() -> None:
    env = INPUTS.environment()
    assert env["WINDCHILL_SERVICE_ROOT"] == INPUTS.service_root
    assert env["WINDCHILL_DOCUMENT"] == INPUTS.document
    assert env["WINDCHILL_ENTITY_SET"] == "DocMgmt/Documents"
    assert json.loads(env["WINDCHILL_CHANGES"]) == INPUTS.changes
    assert (env["WINDCHILL_USER"], env["WINDCHILL_PASSWORD"]) == ("wcadmin", "secret")
    assert (env["WINDCHILL_EXAMPLE"], env["WINDCHILL_TIME_SCALE"]) == ("7", "10")


@pytest.mark.parametrize(
    ("stdout", "code", "outcome"),
    [
        ('{"outcome": "applied"}\n', 0, "applied"),
        ('{"outcome": "review", "detail": "Title"}\n', 0, "review"),
        # The last outcome line counts; other lines and other JSON are ignored.
        ('{"outcome": "failed"}\nlog\n{"x": 1}\n{"outcome": "merged"}\nbye\n', 0, "merged"),
        ('  {"outcome": "failed"}  \n', 12, "failed"),  # the line and its own status
        ("no line\n", 0, "applied"),
        ("", 10, "merged"),
        ("", 11, "review"),
        ("", 12, "failed"),
        ("{not json\n", 12, "failed"),
    ],
)
def test_the_outcome_comes_from_the_last_json_line_or_the_exit_status(
    stdout: str, code: int, outcome: str
) -> None:
    assert read_outcome(stdout, code)[0] == outcome


@pytest.mark.parametrize(
    ("stdout", "code", "words"),
    [
        ("", 1, "exited with status 1 and printed no outcome line"),
        ("", 2, "0 applied, 10 merged, 11 review, 12 failed"),
        ("", -9, "killed by signal 9"),
        ('{"outcome": "succeeded"}', 0, "the protocol knows applied, merged, review, failed"),
        # Dying after the outcome line is a crash, not that outcome.
        ('{"outcome": "applied"}', -11, "printed outcome 'applied' but then was killed"),
        ('{"outcome": "applied"}', 3, "printed outcome 'applied' but then exited with status 3"),
        ('{"outcome": "applied"}', 12, "but then exited with status 12"),
    ],
)
def test_no_outcome_says_why(stdout: str, code: int, words: str) -> None:
    outcome, why = read_outcome(stdout, code)
    assert outcome is None
    assert words in why


def test_an_outcome_line_on_stderr_is_not_read_as_the_exit_status() -> None:
    outcome, why = read_outcome("", 0, 'log\n{"outcome": "review"}\n')
    assert outcome is None
    assert "printed its outcome line on stderr" in why
    assert read_outcome("", 0, "just logs\n") == (
        "applied",
        "no outcome line on stdout: exit status 0 read as 'applied'",
    )


def test_a_lone_brace_is_a_typo() -> None:
    with pytest.raises(ProtocolError, match=re.escape("a lone brace in '{url'")):
        expand(["client", "{url"], INPUTS)


def test_the_admin_token_is_withheld_from_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WINDCHILL_ADMIN_TOKEN", "s3cret")
    run = run_client(
        _python(
            "import json, os; "
            "print(json.dumps(dict(outcome='failed', "
            "detail=os.environ.get('WINDCHILL_ADMIN_TOKEN', 'none'))))"
        ),
        INPUTS,
        timeout=30,
    )
    assert (run.outcome, run.detail) == ("failed", "none")


def test_what_a_client_leaves_running_goes_with_it(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    run = run_client(
        _python(
            "import subprocess, sys; "
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            f"open({str(marker)!r}, 'w').write(str(child.pid)); "
            'print(\'{{"outcome": "failed"}}\')'
        ),
        INPUTS,
        timeout=30,
    )
    assert run.outcome == "failed"
    child = int(marker.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.01)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"  # killed, waiting only for its parent to reap it


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_client_run_gets_its_inputs_and_reports() -> None:
    code = (
        "import os, sys; assert sys.argv[1] == os.environ['WINDCHILL_DOCUMENT']; "
        'print(\'{{"outcome": "applied", "detail": "ok"}}\')'
    )
    run = run_client(
        [*_python(code), "{doc}"],
        INPUTS,
        timeout=30,
    )
    assert (run.outcome, run.detail, run.returncode, run.crashed) == ("applied", "ok", 0, False)
    assert run.wall_seconds > 0


def test_a_hanging_client_and_its_children_are_killed_at_the_timeout() -> None:
    started = time.monotonic()
    # The client starts a child that would outlive it: the whole process group goes.
    run = run_client(
        _python(
            "import subprocess, sys, time; "
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            "time.sleep(60)"
        ),
        INPUTS,
        timeout=0.5,
    )
    assert run.timed_out
    assert run.crashed
    assert "no answer within 0.5s" in run.detail
    assert time.monotonic() - started < 20


def test_a_command_that_cannot_start_is_a_crash_naming_it() -> None:
    run = run_client(["/nonexistent/client-program"], INPUTS, timeout=5)
    assert run.crashed
    assert "cannot start '/nonexistent/client-program'" in run.detail


def test_only_the_tail_of_a_chatty_client_is_kept() -> None:
    run = run_client(
        _python(
            "import sys; sys.stderr.write('e' * 300000); "
            "print('x' * 300000); print('{{\"outcome\": \"failed\"}}')"
        ),
        INPUTS,
        timeout=30,
    )
    assert run.outcome == "failed"
    assert len(run.stdout) <= OUTPUT_KEPT
    assert len(run.stderr) <= OUTPUT_KEPT


def test_the_policy_is_judged_in_the_mocks_time() -> None:
    policy = RetryPolicy(max_retries=2, base_delay=0.05, max_delay=0.4, deadline=3.0)
    scaled = scaled_policy(policy, 10)
    assert (scaled.max_retries, scaled.factor, scaled.jitter) == (2, 2.0, 0.1)
    assert scaled.base_delay == pytest.approx(0.5)
    assert scaled.max_delay == pytest.approx(4.0)
    assert scaled.retry_after_cap == pytest.approx(300.0)
    assert scaled.deadline == pytest.approx(30.0)
    assert scaled_policy(RetryPolicy(), 10).deadline is None


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"command": ()}, "give the client's command after --"),
        ({"actions": ("sneeze",)}, "actions must name known action kinds"),
        ({"examples": 0}, "examples must be at least 1"),
        ({"timeout": 0}, "timeout must be a positive"),
        ({"time_scale": 5000}, "time_scale must lie in"),
        ({"user": "nobody"}, "user 'nobody' has no account"),
        ({"changes": {}}, "changes must be a non-empty JSON object"),
        ({"changes": {"Name": "x"}}, "changes name ['Name'], which a client cannot write"),
        ({"changes": {"Title": "x"}, "kind": "part"}, "cannot write on a part"),
    ],
)
def test_bad_settings_say_what_to_do(settings: dict[str, object], words: str) -> None:
    values: dict[str, object] = {"command": ("client",), "config": MockConfig(), **settings}
    with pytest.raises(ValueError, match=re.escape(words)):
        CheckSettings(**values)  # type: ignore[arg-type]
