"""``windchill-mock check``: an update client of any language judged under generated conflict
schedules, with shrinking and exact replay.

Each example gets a tenant of its own on a live ``windchill-mock`` server (started here, or
given by URL), one object, a generated schedule and generated changes; the client runs as a
command (:mod:`.external`), and the checker judges the tenant's journal against the client's
declared retry policy. Hypothesis draws and shrinks the examples; a failing example is
written as JSON that :func:`replay` runs again exactly.

Time: the tenant's clock runs ``time_scale`` times faster than real time, so a schedule's
durations pass quickly while the client sleeps for real. The client's policy is declared in
its own, real seconds; the checker, which reads the journal in the mock's seconds, judges
against the policy scaled by ``time_scale``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from xml.etree import ElementTree

import requests
from hypothesis import HealthCheck as HypothesisHealthCheck
from hypothesis import Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Flaky

from mock_server.config import MockConfig
from mock_server.core.clock import SystemClock
from mock_server.core.kinds import kind_named
from mock_server.http import create_app
from mock_server.server import LiveServer

from .backends import config_changes
from .checks import ConcurrencyViolation
from .client.policy import RetryPolicy
from .external import ClientRun, ExampleInputs, check_placeholders, run_client
from .handle import WindchillMock
from .health import MIN_FIRED_FRACTION, TestHealth
from .schedules import ConflictSchedule
from .strategies import ACTION_KINDS, changes, conflict_schedules, fields_of

__all__ = [
    "FAILURE_FORMAT",
    "CheckResult",
    "CheckSettings",
    "Example",
    "FailureCase",
    "check_client",
    "failure_document",
    "junit_xml",
    "load_failure",
    "policy_from",
    "replay",
    "replay_settings",
    "scaled_policy",
]

#: The ``format`` of a failure file.
FAILURE_FORMAT = "windchill-mock-check/1"
#: Runs of the client spent on shrinking a failure at most, unless told otherwise.
DEFAULT_MAX_SHRINKS = 150

Phase_ = Literal["generate", "shrink", "replay"]


@dataclass(frozen=True)
class CheckSettings:
    """What to check and how hard."""

    command: tuple[str, ...]
    examples: int = 100
    seed: int = 0
    kind: str = "document"
    actions: tuple[str, ...] = ACTION_KINDS
    max_interventions: int = 3
    max_request: int = 4
    #: The client's retry policy, in its own (real) seconds.
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    #: Real seconds one run of the client may take.
    timeout: float = 60.0
    #: The mock's seconds per real second.
    time_scale: float = 10.0
    #: The mock of every example (profile, overrides, rates, accounts).
    config: MockConfig = field(default_factory=MockConfig)
    user: str = "wcadmin"
    password: str | None = None
    max_shrinks: int = DEFAULT_MAX_SHRINKS
    cwd: str | None = None
    #: The changes every example asks for; ``None``: generated (and shrunk) with the schedule.
    changes: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not self.command:
            raise ValueError("give the client's command after --, e.g. -- node client.mjs {url}")
        check_placeholders(self.command)
        kind_named(self.kind)
        unknown = sorted(set(self.actions) - set(ACTION_KINDS))
        if unknown or not self.actions:
            raise ValueError(
                f"actions must name known action kinds, got {list(self.actions)}; known: "
                f"{list(ACTION_KINDS)}"
            )
        if self.changes is not None:
            if not isinstance(self.changes, Mapping) or not self.changes:
                raise ValueError(
                    'changes must be a non-empty JSON object, e.g. {"Description": "new text"}'
                )
            writable = set(fields_of(self.kind)) | set(self.config.soft_attributes)
            unknown = sorted(set(self.changes) - writable)
            if unknown:
                raise ValueError(
                    f"changes name {unknown}, which a client cannot write on a {self.kind}; "
                    f"writable: {sorted(writable)}"
                )
        if self.examples < 1:
            raise ValueError(f"examples must be at least 1, got {self.examples}")
        if not self.timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout}")
        if not 0 < self.time_scale <= 1000:
            raise ValueError(f"time_scale must lie in (0, 1000], got {self.time_scale}")
        if self.config.auth and self.user not in self.config.users and self.password is None:
            raise ValueError(
                f"user {self.user!r} has no account in the configuration (users: "
                f"{sorted(self.config.users)}); add it, or give its password"
            )

    @property
    def account(self) -> tuple[str, str]:
        password = self.password
        if password is None:
            password = self.config.users.get(self.user, self.user)
        return self.user, password

    def describe(self) -> str:
        """One line on what the run judges against: the mock, the policy, the time."""
        rates = ", ".join(
            f"{source}={settings.rate:g}/s"
            for source, settings in self.config.background().items()
            if settings.rate > 0
        )
        policy = self.policy
        return (
            f"windchill-mock check: profile {self.config.profile}, background "
            f"{rates or 'none'}; policy max_retries={policy.max_retries}, "
            f"base_delay={policy.base_delay:g}s, factor={policy.factor:g}, "
            f"max_delay={policy.max_delay:g}s (real seconds); time scale {self.time_scale:g}"
        )

    @property
    def judged_policy(self) -> RetryPolicy:
        return scaled_policy(self.policy, self.time_scale)


def scaled_policy(policy: RetryPolicy, scale: float) -> RetryPolicy:
    """``policy`` in the mock's seconds: its delays and caps ``scale`` times longer."""
    return dataclasses.replace(
        policy,
        base_delay=policy.base_delay * scale,
        max_delay=policy.max_delay * scale,
        retry_after_cap=policy.retry_after_cap * scale,
        deadline=None if policy.deadline is None else policy.deadline * scale,
    )


@dataclass
class Example:
    """One run of the client under one schedule, and its verdict."""

    number: int
    phase: Phase_
    schedule: ConflictSchedule
    changes: dict[str, Any]
    run: ClientRun | None = None
    document: str = ""
    #: The property broken (``stale-retry``, ...) or the client's own failure
    #: (``client-crash``, ``client-timeout``, ``client-silent``); ``None``: passed.
    violation: str | None = None
    message: str = ""
    #: Whether an intervention of the schedule interfered with the client's update.
    interfered: bool = False
    #: The client's requests the tenant saw.
    requests: int = 0
    #: Not run: the shrink budget was spent (counted as passing, so shrinking stops).
    skipped: bool = False

    @property
    def failed(self) -> bool:
        return self.violation is not None

    @property
    def wall_seconds(self) -> float:
        return self.run.wall_seconds if self.run is not None else 0.0

    def key(self) -> str:
        return json.dumps([self.schedule.to_json(), self.changes], sort_keys=True)


@dataclass
class CheckResult:
    """A whole check: every example run, the minimal failure if any, the health verdict."""

    settings: CheckSettings
    examples: list[Example] = field(default_factory=list)
    failure: Example | None = None
    #: The failure did not happen again when Hypothesis ran it once more.
    flaky: bool = False
    #: Why the run proves too little (no interference met), if so.
    health: str | None = None
    shrink_budget_spent: bool = False
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failure is None and self.health is None

    @property
    def generated(self) -> list[Example]:
        return [e for e in self.examples if e.phase == "generate"]

    @property
    def shrinks(self) -> int:
        return len([e for e in self.examples if e.phase == "shrink" and not e.skipped])

    def summary(self) -> str:
        generated = self.generated
        runs = [e for e in self.examples if not e.skipped]
        mean = sum(e.wall_seconds for e in runs) / len(runs) if runs else 0.0
        rate = len(runs) / self.wall_seconds if self.wall_seconds > 0 else 0.0
        with_steps = [e for e in generated if e.schedule]
        met = len([e for e in with_steps if e.interfered])
        timing = (
            f"{mean:.2f}s of real time per example, {rate:.1f} examples/s, "
            f"{self.wall_seconds:.1f}s in all"
        )
        if self.failure is not None:
            shrunk = f"shrunk in {self.shrinks} run(s)"
            if self.shrink_budget_spent:
                shrunk += f" (the shrink budget of {self.settings.max_shrinks} runs was spent)"
            steps = len(self.failure.schedule)
            return (
                f"windchill-mock check: FAILED [{self.failure.violation}] after "
                f"{len(generated)} example(s); {shrunk} to {steps} step(s)"
                + (" — flaky: it passed when run again" if self.flaky else "")
                + f"; {timing}"
            )
        verdict = "FAILED (health)" if self.health else "passed"
        return (
            f"windchill-mock check: {verdict}: {len(generated)} example(s), no violation; "
            f"interference met in {met} of {len(with_steps)} example(s) with interventions; "
            f"{timing}"
        )


class _Failed(Exception):
    def __init__(self, example: Example) -> None:
        super().__init__(example.violation)
        self.example = example


@contextmanager
def serving(url: str | None, config: MockConfig) -> Iterator[str]:
    """The base URL of the server to make tenants on: ``url``, or a server started here on a
    free loopback port for the duration of the block. (A service root given as ``url`` is
    fine: :meth:`WindchillMock.tenant` cuts it back to the base URL.)"""
    if url is not None:
        yield url.rstrip("/")
        return
    server_config = MockConfig(users=dict(config.users), auth=config.auth, csrf=config.csrf)
    with LiveServer(create_app(server_config, clock=SystemClock()), threads=8) as server:
        yield server.url


class _Runner:
    """Runs examples against one server; every distinct example runs once (a repeat, as in
    Hypothesis's last replay of the minimal failure, gives the same verdict again)."""

    def __init__(
        self,
        check: CheckSettings,
        base_url: str,
        on_example: Callable[[Example], None] | None,
    ) -> None:
        self.check = check
        self.base_url = base_url
        self.on_example = on_example
        self.health = TestHealth()
        self.seen: dict[str, Example] = {}
        self.examples: list[Example] = []
        self.failing = False
        self.budget_spent = False

    def __call__(
        self, schedule: ConflictSchedule, values: dict[str, Any], phase: Phase_
    ) -> Example:
        example = Example(len(self.examples) + 1, phase, schedule, dict(values))
        known = self.seen.get(example.key())
        if known is not None:
            return known
        shrinks = len([e for e in self.examples if e.phase == "shrink" and not e.skipped])
        if phase == "shrink" and shrinks >= self.check.max_shrinks:
            self.budget_spent = True
            example.skipped = True
            return example
        self.run(example)
        self.seen[example.key()] = example
        self.examples.append(example)
        if self.on_example is not None:
            self.on_example(example)
        return example

    def run(self, example: Example) -> None:
        check = self.check
        user, password = check.account
        session = requests.Session()
        session.auth = (user, password)
        handle = WindchillMock.tenant(
            self.base_url, session, check.config, clock="system", time_scale=check.time_scale
        )
        if handle is None:
            session.close()
            raise RuntimeError(
                f"{self.base_url} has no /__mock/tenants admin API: windchill-mock check needs a "
                "windchill-mock server (drop --url to let the command start one)"
            )
        handle.health = self.health
        # Every failing example of the run writes the same page: the last one, the minimal
        # failure (shrinking runs it last), is the one left.
        handle.timeline_stem = "windchill-mock-check"
        try:
            doc = handle.create_document(check.kind, Name=f"Checked {check.kind} {example.number}")
            example.document = doc
            handle.schedule = example.schedule
            example.schedule.apply(handle, [doc])
            kind = kind_named(check.kind)
            inputs = ExampleInputs(
                service_root=handle.service_root,
                document=doc,
                entity_set=f"{kind.domain}/{kind.entity_set}",
                changes=example.changes,
                user=user,
                password=password,
                example=example.number,
                time_scale=check.time_scale,
            )
            run = run_client(check.command, inputs, timeout=check.timeout, cwd=check.cwd)
            example.run = run
            events = handle.journal
            # Requests that reached this example's object (the journal names an object by
            # its first ID, whichever iteration a request addressed).
            example.requests = len(
                [
                    e
                    for e in events
                    if e.type == "invoke" and e.process == user and e.document == doc
                ]
            )
            firing = handle.firing(doc, events, user)
            example.interfered = bool(firing.fired)
            self._judge(example, handle, run)
            handle.finish()
        finally:
            handle.close()

    def _judge(self, example: Example, handle: WindchillMock, run: ClientRun) -> None:
        check = self.check
        output = _output(run)
        refused = handle.metrics.get("responses", {}).get("401", 0)
        credentials = (
            f"; the tenant refused {refused} request(s) with 401: check --user and "
            "WINDCHILL_PASSWORD (or the users of --config)"
            if refused
            else ""
        )
        if run.timed_out:
            example.violation = "client-timeout"
            example.message = run.detail + credentials + output
            return
        if run.outcome is None:
            example.violation = "client-crash"
            example.message = run.detail + credentials + output
            return
        if example.requests == 0:
            example.violation = "client-silent"
            why = (
                credentials[2:]
                if refused
                else "pass {url} to it or read WINDCHILL_SERVICE_ROOT: every example has a "
                "tenant of its own"
            )
            example.message = (
                f"the client reported {run.outcome!r} without one request reaching the "
                f"document in the tenant it was given ({handle.service_root}); {why}" + output
            )
            return
        try:
            handle.check_update(
                example.document,
                example.changes,
                run.outcome,
                policy=check.judged_policy,
                user=check.user,
            )
        except ConcurrencyViolation as violation:
            example.violation = violation.property
            how = f" ({run.detail})" if run.detail else ""
            scale = check.time_scale
            times = (
                f"\n\nTimes above are the mock's seconds: at --time-scale {scale:g} a real "
                f"second is {scale:g} of them, and your policy is judged {scale:g} times longer "
                f"(base_delay {check.policy.base_delay:g} s real = "
                f"{check.judged_policy.base_delay:g} s). Declare the delays your client really "
                "sleeps (--base-delay, --max-delay, ... or [policy])."
                if scale != 1
                else ""
            )
            example.message = (
                f"{violation}\n\nThe client's outcome: {run.outcome!r}{how}{times}" + output
            )


def _output(run: ClientRun) -> str:
    parts = []
    for name, text in (("stdout", run.stdout), ("stderr", run.stderr)):
        lines = text.strip().splitlines()[-20:]
        if lines:
            parts.append(f"\n\nThe client's {name} (last lines):\n" + "\n".join(lines))
    return "".join(parts)


def check_client(
    check: CheckSettings,
    *,
    url: str | None = None,
    on_example: Callable[[Example], None] | None = None,
) -> CheckResult:
    """Run ``check.examples`` generated examples of the client (fewer when Hypothesis runs
    out of distinct ones); on a failure, shrink it and stop."""
    started = time.monotonic()
    result = CheckResult(check)
    with serving(url, check.config) as base:
        runner = _Runner(check, base, on_example)

        @settings(
            max_examples=check.examples,
            deadline=None,
            database=None,
            # Every setting that shapes the draws is given here, so that a Hypothesis profile
            # loaded by the caller (a test suite's "ci") cannot change what --seed draws.
            derandomize=False,
            phases=(Phase.generate, Phase.shrink),
            suppress_health_check=list(HypothesisHealthCheck),
            verbosity=Verbosity.quiet,
            report_multiple_bugs=False,
            print_blob=False,
        )
        @hypothesis_seed(check.seed)
        @given(
            schedule=conflict_schedules(
                max_interventions=check.max_interventions,
                actions=check.actions,
                max_request=check.max_request,
                kind=check.kind,
            ),
            values=changes(kind=check.kind)
            if check.changes is None
            else st.just(dict(check.changes)),
        )
        def one(schedule: ConflictSchedule, values: dict[str, Any]) -> None:
            example = runner(schedule, values, "shrink" if runner.failing else "generate")
            if example.failed:
                runner.failing = True
                raise _Failed(example)

        try:
            one()
        except _Failed as failed:
            result.failure = failed.example
        except Flaky:
            result.flaky = True
            result.failure = next((e for e in reversed(runner.examples) if e.failed), None)
    result.examples = runner.examples
    result.shrink_budget_spent = runner.budget_spent
    result.wall_seconds = time.monotonic() - started
    if result.failure is None:
        result.health = _health(runner.health)
    return result


def _health(health: TestHealth) -> str | None:
    if not health.with_interventions or health.fired >= health.required:
        return None
    unfired = "".join(f"\n  - {line}" for line in health.examples)
    return (
        f"{health.with_interventions} example(s) ran with interventions, but in only "
        f"{health.fired} did one interfere with the client's update (at least "
        f"{health.required} needed: {MIN_FIRED_FRACTION:.0%}), so the verdict proves little. "
        + (
            f"With only {health.with_interventions} such example(s), run more (--examples 50 "
            "or more). "
            if health.with_interventions < 20
            else ""
        )
        + "Does the client send its requests to the {url} it is given? Do its requests come "
        "before the triggers (--max-request)? Interventions that never interfered:" + unfired
    )


# ---------------------------------------------------------------------------- failure files


def failure_document(result: CheckResult) -> dict[str, Any]:
    """The minimal failing example as JSON, for ``--replay``."""
    failure = result.failure
    if failure is None:
        raise ValueError("the check found no failure")
    check = result.settings
    return {
        "format": FAILURE_FORMAT,
        "property": failure.violation,
        "schedule": failure.schedule.to_json(),
        "changes": failure.changes,
        "kind": check.kind,
        # No accounts: passwords stay out of files; --replay takes them from its own options.
        "config": config_changes(check.config, accounts=False),
        "policy": dataclasses.asdict(check.policy),
        "time_scale": check.time_scale,
        "seed": check.seed,
        "outcome": failure.run.outcome if failure.run is not None else None,
        "message": failure.message,
    }


@dataclass(frozen=True)
class FailureCase:
    """A failure file, read back."""

    schedule: ConflictSchedule
    changes: dict[str, Any]
    kind: str
    config: dict[str, Any]
    policy: RetryPolicy
    time_scale: float
    property: str | None


def load_failure(path: str | os.PathLike[str]) -> FailureCase:
    """Read a failure file written by ``windchill-mock check``; ``ValueError`` says what is
    wrong with it."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise ValueError(f"{path} is not JSON: {error}") from None
    if not isinstance(data, dict) or data.get("format") != FAILURE_FORMAT:
        raise ValueError(
            f'{path} is not a failure file of windchill-mock check (its "format" must be '
            f"{FAILURE_FORMAT!r})"
        )
    try:
        return FailureCase(
            schedule=ConflictSchedule.from_json(data["schedule"]),
            changes=dict(data["changes"]),
            kind=str(data.get("kind", "document")),
            config=dict(data.get("config", {})),
            policy=RetryPolicy(**data.get("policy", {})),
            time_scale=float(data.get("time_scale", 10.0)),
            property=data.get("property"),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: malformed failure file: {error}") from None


def replay(
    case: FailureCase,
    check: CheckSettings,
    *,
    url: str | None = None,
    on_example: Callable[[Example], None] | None = None,
) -> CheckResult:
    """Run the example of a failure file once more, exactly, on a fresh tenant."""
    started = time.monotonic()
    result = CheckResult(check)
    with serving(url, check.config) as base:
        runner = _Runner(check, base, on_example)
        example = runner(case.schedule, case.changes, "replay")
    result.examples = [example]
    if example.failed:
        result.failure = example
    result.wall_seconds = time.monotonic() - started
    return result


def replay_settings(case: FailureCase, check: CheckSettings) -> CheckSettings:
    """``check`` with what the failure file fixes: the kind, the mock, the policy, the time
    scale. The accounts come from ``check`` (its ``--config``), which files never hold."""
    return dataclasses.replace(
        check,
        kind=case.kind,
        config=check.config.updated(case.config),
        policy=case.policy,
        time_scale=case.time_scale,
    )


# ---------------------------------------------------------------------------- JUnit XML


def junit_xml(result: CheckResult) -> bytes:
    """The run as a JUnit XML report: one test case per generated example, and the minimal
    failure (or the health verdict) as a test case of its own."""
    suite = ElementTree.Element("testsuite", name="windchill-mock check")
    cases = 0
    failures = 0
    for example in result.generated + [e for e in result.examples if e.phase == "replay"]:
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname="windchill-mock check",
            name=f"example {example.number}: {_describe(example.schedule)}",
            time=f"{example.wall_seconds:.3f}",
        )
        cases += 1
        if example.failed:
            failures += 1
            failure = ElementTree.SubElement(case, "failure", message=str(example.violation))
            failure.text = example.message
    if result.failure is not None and result.failure.phase != "replay":
        minimal = result.failure
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname="windchill-mock check",
            name=f"minimal failing schedule: {_describe(minimal.schedule)}",
            time=f"{minimal.wall_seconds:.3f}",
        )
        cases += 1
        failures += 1
        failure = ElementTree.SubElement(case, "failure", message=str(minimal.violation))
        failure.text = (
            minimal.message
            + "\n\n"
            + json.dumps(failure_document(result), indent=2, sort_keys=True)
        )
    if result.health is not None:
        case = ElementTree.SubElement(
            suite, "testcase", classname="windchill-mock check", name="health: interference met"
        )
        cases += 1
        failures += 1
        failure = ElementTree.SubElement(case, "failure", message="unfired_interventions")
        failure.text = result.health
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("time", f"{result.wall_seconds:.3f}")
    root = ElementTree.Element("testsuites")
    root.append(suite)
    report: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return report


def _describe(schedule: Sequence[Any]) -> str:
    if not schedule:
        return "no interference"
    return ", ".join(
        f"{step.action.kind}@{step.before_request if step.before_request else step.at}"
        for step in schedule
    )


def policy_from(values: Mapping[str, Any], base: RetryPolicy | None = None) -> RetryPolicy:
    """A ``RetryPolicy`` from ``values`` (a TOML table or options) over ``base``."""
    known = {f.name for f in dataclasses.fields(RetryPolicy)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown policy key(s) {unknown}; known: {sorted(known)}")
    return dataclasses.replace(base or RetryPolicy(), **dict(values))
