"""The ``windchill-mock`` command: the mock server's commands plus ``check``, which judges
an update client of any language under generated conflict schedules."""

from __future__ import annotations

import json
import os
import shlex
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import requests
from click.core import ParameterSource

from mock_server.cli import main
from mock_server.config import MockConfig
from mock_server.core.errors import MockError
from mock_server.core.kinds import KINDS
from mock_server.core.profiles import PROFILES

from .backends import AdminAPIUnavailable
from .calibrate import calibrate_command
from .checkrun import (
    DEFAULT_MAX_SHRINKS,
    CheckResult,
    CheckSettings,
    Example,
    check_client,
    failure_document,
    junit_xml,
    load_failure,
    policy_from,
    replay,
    replay_settings,
)
from .client.policy import RetryPolicy
from .external import EXIT_CODES, PLACEHOLDERS
from .outcomes import explain_etags
from .probe import probe_command, redact_url
from .strategies import ACTION_KINDS

__all__ = ["check", "main"]

_POLICY_OPTIONS = {
    "max_retries": "--max-retries",
    "base_delay": "--base-delay",
    "factor": "--factor",
    "max_delay": "--max-delay",
    "jitter": "--jitter",
    "retry_after_cap": "--retry-after-cap",
    "deadline": "--deadline",
}
_CHECK_KEYS = {
    "changes",
    "examples",
    "seed",
    "kind",
    "actions",
    "max_interventions",
    "max_request",
    "timeout",
    "time_scale",
    "user",
    "max_shrinks",
}
_DEFAULT_FAILURE_FILE = "windchill-check-failure.json"
#: Options a replay takes from its failure file instead.
_REPLAY_FIXED = (
    "examples",
    "kind",
    "actions",
    "changes_json",
    "max_interventions",
    "max_request",
    "time_scale",
)

_EPILOG = (
    "The command after -- runs once per example. Placeholders in its arguments: "
    + ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    + "; the same values are in the environment as "
    + ", ".join(PLACEHOLDERS.values())
    + ", plus WINDCHILL_TIME_SCALE.\n\n"
    "The client reports its outcome as its last stdout line, "
    '{"outcome": "applied"} (or merged, review, failed), or by its exit status: '
    + ", ".join(f"{code} {word}" for code, word in EXIT_CODES.items())
    + ". Anything else is a crash.\n\n"
    "Exit status: 0 when no violation was found, 1 when one was (or the run met too "
    "little interference to prove anything), 2 for a usage error, 3 when the check could not "
    "run (the server of --url out of reach or no windchill-mock).\n\n"
    "\b\nExample:\n"
    "  windchill-mock check --examples 200 --max-retries 3 --base-delay 0.05 \\\n"
    "      --max-delay 0.4 --jitter 0 -- java -cp build UpdateDocument {url} {doc} {changes}\n\n"
    "See docs/any-language.md."
)


def _given(name: str) -> bool:
    source = click.get_current_context().get_parameter_source(name)
    return source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


#: The ``[check]`` keys and what each must be: a type, and a test with what it means.
_CHECK_TYPES: dict[str, tuple[type | tuple[type, ...], str]] = {
    "examples": (int, "a whole number >= 1"),
    "seed": (int, "a whole number >= 0"),
    "kind": (str, "document or part"),
    "actions": (list, "a list of action kinds"),
    "max_interventions": (int, "a whole number >= 0"),
    "max_request": (int, "a whole number >= 1"),
    "timeout": ((int, float), "a number of seconds > 0"),
    "time_scale": ((int, float), "a number in (0, 1000]"),
    "user": (str, "an account name"),
    "max_shrinks": (int, "a whole number >= 0"),
    "changes": (dict, "a table of property = value"),
}
_CHECK_MINIMA = {"examples": 1, "seed": 0, "max_interventions": 0, "max_request": 1}
#: The policy a client declares (``conflict_rate_warning`` is the reference client's own).
_POLICY_KEYS = tuple(name for name in _POLICY_OPTIONS)


def _read_config(path: Path | None) -> tuple[MockConfig, dict[str, Any], dict[str, Any]]:
    """The mock's config, the ``[policy]`` table and the ``[check]`` table of a TOML file;
    a key in the wrong place or of the wrong type is a usage error naming it and the file."""
    if path is None:
        return MockConfig(), {}, {}
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as error:
        raise click.BadParameter(f"cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise click.BadParameter(f"{path} is not valid TOML: {error}") from None
    policy = data.pop("policy", {})
    check = data.pop("check", {})
    if not isinstance(policy, dict) or not isinstance(check, dict):
        raise click.BadParameter(f"{path}: [policy] and [check] must be tables")
    misplaced = sorted(set(data) & (set(_CHECK_TYPES) | set(_POLICY_KEYS)))
    if misplaced:
        raise click.BadParameter(
            f"{path}: {misplaced} at the top level; the top level configures the mock, the "
            f"run's keys go under [check] ({', '.join(sorted(_CHECK_TYPES))}) and the "
            f"client's policy under [policy] ({', '.join(_POLICY_KEYS)})"
        )
    for name, value in check.items():
        if name not in _CHECK_TYPES:
            raise click.BadParameter(
                f"{path}: unknown key(s) [{name!r}] in [check]; known: {sorted(_CHECK_TYPES)}"
            )
        wanted, meaning = _CHECK_TYPES[name]
        minimum = _CHECK_MINIMA.get(name)
        if (
            isinstance(value, bool)
            or not isinstance(value, wanted)
            or (minimum is not None and isinstance(value, int) and value < minimum)
        ):
            raise click.BadParameter(f"{path}: [check] {name} must be {meaning}, got {value!r}")
    for name, value in policy.items():
        if name not in _POLICY_KEYS:
            raise click.BadParameter(
                f"{path}: unknown policy key(s) [{name!r}] in [policy]; known: {list(_POLICY_KEYS)}"
            )
        number = int if name == "max_retries" else (int, float)
        if isinstance(value, bool) or not isinstance(value, number):
            kind = "a whole number" if name == "max_retries" else "a number"
            raise click.BadParameter(f"{path}: [policy] {name} must be {kind}, got {value!r}")
    try:
        config = MockConfig().updated(data)
    except MockError as error:
        raise click.BadParameter(f"{path}: {error}") from None
    return config, policy, check


class _CannotRun(click.ClickException):
    """The check could not run (the server is out of reach, or not a windchill-mock): exit
    status 3, so that CI tells it from a violation (1)."""

    exit_code = 3


def _base_url(url: str | None) -> str | None:
    """``--url`` as the server's base URL: a service root or admin URL is cut back to it."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(
            f"{redact_url(url)!r} is not an http(s) URL; give the server's "
            "base URL, e.g. "
            "http://127.0.0.1:8080",
            param_hint="--url",
        )
    path = parts.path.rstrip("/")
    for suffix in ("/__mock", "/Windchill/servlet/odata"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    return f"{parts.scheme}://{parts.netloc}{path}"


@main.command(
    epilog=_EPILOG,
    context_settings={
        "max_content_width": 100,
        # Everything from the client's program name on is its command, with or without --.
        "allow_interspersed_args": False,
        "ignore_unknown_options": True,
    },
)
@click.argument("command", nargs=-1, required=True, metavar="-- COMMAND [ARGS]...")
@click.option(
    "--examples",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Generated examples to run (each a fresh tenant and one run of COMMAND).",
)
@click.option(
    "--url",
    default=None,
    metavar="URL",
    help="A running windchill-mock server to make the tenants on (default: start "
    "one on a free loopback port for the run).",
)
@click.option(
    "--replay",
    "replay_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Run the example of a failure file once more, exactly.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the generated examples and of the mock.",
)
@click.option(
    "--profile",
    type=click.Choice(sorted(PROFILES)),
    default=None,
    help="Concurrency profile of the mock  [default: thread, or the config file's].",
)
@click.option(
    "--kind",
    type=click.Choice(sorted(KINDS)),
    default="document",
    show_default=True,
    help="What the client updates: a document or a part.",
)
@click.option(
    "--actions",
    default=None,
    metavar="A,B,...",
    help="Interventions to generate (default: all): " + ", ".join(ACTION_KINDS) + ".",
)
@click.option(
    "--changes",
    "changes_json",
    default=None,
    metavar="JSON",
    help='The changes every example asks for, e.g. \'{"Description": "new text"}\' '
    "(default: generated, over the kind's writable properties).",
)
@click.option(
    "--max-interventions",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Interventions per schedule at most.",
)
@click.option(
    "--max-request",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="The latest client request an intervention is triggered before.",
)
@click.option(
    "--max-retries",
    type=click.IntRange(min=0),
    default=None,
    help="The client's policy: retries after the first attempt  [default: 3].",
)
@click.option(
    "--base-delay",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="The client's policy: wait before retry 1, in real seconds  [default: 0.5].",
)
@click.option(
    "--factor",
    type=click.FloatRange(min=1),
    default=None,
    help="The client's policy: growth of the wait per retry  [default: 2].",
)
@click.option(
    "--max-delay",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="The client's policy: the longest wait  [default: 8].",
)
@click.option(
    "--jitter",
    type=click.FloatRange(0, 1),
    default=None,
    help="The client's policy: up to this fraction added to a wait  [default: 0.1].",
)
@click.option(
    "--retry-after-cap",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="The client's policy: Retry-After honoured up to this  [default: 30].",
)
@click.option(
    "--deadline",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="The client's policy: total waiting budget  [default: none].",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="TOML file: the mock's keys, a [policy] table and a [check] table "
    "(command-line options win).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Real seconds one run of the client may take.",
)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0.001, max=1000),
    default=10.0,
    show_default=True,
    help="The mock's seconds per real second: a schedule's durations pass this many "
    "times faster. The policy is given in real seconds and judged scaled.",
)
@click.option(
    "--user",
    default="wcadmin",
    show_default=True,
    help="The client's account (its password: WINDCHILL_PASSWORD, or the configuration's).",
)
@click.option(
    "--junitxml",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a JUnit XML report here.",
)
@click.option(
    "--failure-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path(_DEFAULT_FAILURE_FILE),
    show_default=True,
    help="Where the minimal failing example is written, for --replay.",
)
@click.option(
    "--max-shrinks",
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_SHRINKS,
    show_default=True,
    help="Runs of the client spent on shrinking a failure at most.",
)
@click.option("-v", "--verbose", is_flag=True, help="A line per example.")
def check(
    command: tuple[str, ...],
    examples: int,
    url: str | None,
    replay_file: Path | None,
    seed: int,
    profile: str | None,
    kind: str,
    actions: str | None,
    changes_json: str | None,
    max_interventions: int,
    max_request: int,
    config_file: Path | None,
    timeout: float,
    time_scale: float,
    user: str,
    junitxml: Path | None,
    failure_file: Path,
    max_shrinks: int,
    verbose: bool,
    **policy_options: Any,
) -> None:
    """Judge an update client of any language under generated conflict schedules.

    Each example: a fresh tenant of a live windchill-mock, one document, a generated schedule
    of background work, other users' edits, faults and lost responses, then one run of
    COMMAND. The journal is judged by the same checker as the pytest plugin's; a failure is
    shrunk to its simplest schedule and written as JSON that --replay runs again.
    """
    if command[0].startswith("-"):
        raise click.UsageError(
            f"no such option: {command[0]}; the client's command starts with its program "
            "name, after every option of check (e.g. -- node client.mjs)"
        )
    url = _base_url(url)
    config, toml_policy, toml_check = _read_config(config_file)
    options: dict[str, Any] = {
        "examples": examples,
        "seed": seed,
        "kind": kind,
        "max_interventions": max_interventions,
        "max_request": max_request,
        "timeout": timeout,
        "time_scale": time_scale,
        "user": user,
        "max_shrinks": max_shrinks,
    }
    for name in list(options):
        if name in toml_check and not _given(name):
            options[name] = toml_check[name]
    action_list: Any = toml_check.get("actions", ACTION_KINDS)
    if actions is not None:
        action_list = [a.strip() for a in actions.split(",") if a.strip()]
    if isinstance(action_list, str) or not isinstance(action_list, list | tuple):
        raise click.BadParameter("actions must be a list of action kinds", param_hint="--actions")
    fixed_changes: Any = toml_check.get("changes")
    if changes_json is not None:
        try:
            fixed_changes = json.loads(changes_json)
        except ValueError as error:
            raise click.BadParameter(f"not JSON: {error}", param_hint="--changes") from None
    try:
        if profile is not None:
            config = config.updated({"profile": profile})
        if _given("seed") or "seed" in toml_check:
            config = config.updated({"seed": options["seed"]})
        given_policy = {name: value for name, value in policy_options.items() if value is not None}
        policy = policy_from({**toml_policy, **given_policy}, RetryPolicy())
        settings = CheckSettings(
            command=tuple(command),
            actions=tuple(action_list),
            policy=policy,
            config=config,
            password=os.environ.get("WINDCHILL_PASSWORD"),
            changes=fixed_changes,
            **options,
        )
    except (MockError, ValueError, TypeError) as error:
        raise click.UsageError(str(error)) from None

    if replay_file is not None:
        try:
            case = load_failure(replay_file)
            settings = replay_settings(case, settings)
        except (MockError, ValueError) as error:
            raise click.UsageError(str(error)) from None
        ignored = [
            f"--{name.replace('_', '-')}"
            for name in (*_REPLAY_FIXED, *_POLICY_OPTIONS)
            if _given(name)
        ]
        if ignored:
            click.echo(
                f"note: --replay runs the file's example with its own changes, schedule, kind, "
                f"policy and time scale; ignoring {', '.join(ignored)}",
                err=True,
            )
    click.echo(settings.describe(), err=True)
    progress = _Progress(settings.examples, verbose)
    try:
        if replay_file is not None:
            result = replay(case, settings, url=url, on_example=progress.example)
        else:
            result = check_client(settings, url=url, on_example=progress.example)
    except (AdminAPIUnavailable, RuntimeError) as error:
        hint = (
            f". Is windchill-mock serve running at {url}? (Or drop --url: check then starts "
            "a server of its own.)"
            if url is not None
            else ""
        )
        raise _CannotRun(f"{error}{hint}") from None
    except requests.RequestException as error:
        raise _CannotRun(f"cannot reach {url}: {error}") from None
    finally:
        progress.close()
    _report(result, replay_file, failure_file, junitxml, command)
    sys.exit(0 if result.ok else 1)


class _Progress:
    """A progress bar on a terminal; a line per example with ``-v``; else quiet."""

    def __init__(self, total: int, verbose: bool) -> None:
        self.verbose = verbose
        self.bar: Any = None
        if not verbose and sys.stderr.isatty():
            self.bar = click.progressbar(
                length=total, label="examples", file=sys.stderr, show_pos=True
            )
            self.bar.__enter__()
        self.generated = 0

    def example(self, example: Example) -> None:
        if self.verbose:
            verdict = example.violation or "ok"
            outcome = example.run.outcome if example.run is not None else None
            click.echo(
                f"  example {example.number:>4} [{example.phase}] {len(example.schedule)} "
                f"step(s) → {outcome or '-'}: {verdict} ({example.wall_seconds:.2f}s, "
                f"{example.requests} request(s))",
                err=True,
            )
        elif self.bar is not None and example.phase == "generate":
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _report(
    result: CheckResult,
    replay_file: Path | None,
    failure_file: Path,
    junitxml: Path | None,
    command: tuple[str, ...],
) -> None:
    if junitxml is not None:
        junitxml.write_bytes(junit_xml(result))
    failure = result.failure
    if replay_file is not None:
        example = result.examples[0]
        if failure is None:
            click.echo(
                f"windchill-mock check --replay {replay_file}: passed this time "
                f"(outcome {example.run.outcome if example.run else '-'}, "
                f"{example.wall_seconds:.2f}s): fixed, or the failure depends on timing"
            )
        else:
            click.echo(failure.message)
            click.echo(
                f"\nwindchill-mock check --replay {replay_file}: FAILED [{failure.violation}] again"
            )
        return
    if failure is not None:
        document = failure_document(result)
        failure_file.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        click.echo(failure.message)
        click.echo("\nMinimal failing example (JSON):")
        click.echo(json.dumps({k: document[k] for k in ("property", "schedule", "changes")}))
        click.echo(
            f"\nWritten to {failure_file}; replay it exactly with:\n"
            f"  windchill-mock check --replay {shlex.quote(str(failure_file))} -- "
            + shlex.join(command)
        )
    else:
        # A file left by an earlier failing run must not be mistaken for this run's.
        failure_file.unlink(missing_ok=True)
        if result.health is not None:
            click.echo(f"[health: unfired_interventions] {result.health}")
    click.echo(result.summary())


@main.command("explain-etag")
@click.argument("before")
@click.argument("after")
def explain_etag(before: str, after: str) -> None:
    """Say what moved between two ETags of one document: BEFORE (read) and AFTER (now).

    \b
    Example:
      windchill-mock explain-etag '"v2.1708523400000"' '"v2.1708523401234"'
      same iteration 2, timestamp +1,234 ms ⇒ a touch without a new version (...)

    Quote each ETag for the shell: the double quotes are part of it. Exit status 0 when both
    could be read, 2 when one is not a composite ETag.
    """
    move = explain_etags(before, after)
    click.echo(str(move))
    if move.kind == "unreadable":
        sys.exit(2)


main.add_command(calibrate_command, "calibrate")
main.add_command(probe_command, "probe")
