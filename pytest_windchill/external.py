"""Running an update client of any language as a command: the protocol of
``windchill-mock check``.

What the command gets, for one example (a tenant of its own, one document, a schedule):

* placeholders in its arguments: ``{url}`` (the tenant's service root), ``{doc}`` (the
  document's ID), ``{set}`` (its entity set, ``DocMgmt/Documents`` or ``ProdMgmt/Parts``),
  ``{changes}`` (the changes as a JSON object), ``{user}``, ``{password}`` and ``{example}``
  (the example's number); ``{{`` and ``}}`` are literal braces;
* the same values in its environment: ``WINDCHILL_SERVICE_ROOT``, ``WINDCHILL_DOCUMENT``,
  ``WINDCHILL_ENTITY_SET``, ``WINDCHILL_CHANGES``, ``WINDCHILL_USER``,
  ``WINDCHILL_PASSWORD``, ``WINDCHILL_EXAMPLE``, and ``WINDCHILL_TIME_SCALE`` (mock seconds
  per real second).

What it says back: its last line on stdout that is a JSON object with an ``"outcome"``
(``applied``, ``merged``, ``review`` or ``failed``; an optional ``"detail"``); without one, its
exit status: 0 applied, 10 merged, 11 review, 12 failed. Any other exit, a signal, or no answer
within the time limit is a crash of the client, reported as such.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any, cast

from .outcomes import OUTCOMES, Outcome

__all__ = [
    "EXIT_CODES",
    "PLACEHOLDERS",
    "ClientRun",
    "ExampleInputs",
    "ProtocolError",
    "expand",
    "read_outcome",
    "run_client",
]

#: Exit statuses that report an outcome when no JSON line does.
EXIT_CODES: Mapping[int, Outcome] = {0: "applied", 10: "merged", 11: "review", 12: "failed"}
#: Placeholders of the command line, and the environment variable carrying each value.
PLACEHOLDERS: Mapping[str, str] = {
    "url": "WINDCHILL_SERVICE_ROOT",
    "doc": "WINDCHILL_DOCUMENT",
    "set": "WINDCHILL_ENTITY_SET",
    "changes": "WINDCHILL_CHANGES",
    "user": "WINDCHILL_USER",
    "password": "WINDCHILL_PASSWORD",
    "example": "WINDCHILL_EXAMPLE",
}
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
#: The mock's admin token is the checker's, not the client's: a client under test never gets it.
_WITHHELD = frozenset({"WINDCHILL_ADMIN_TOKEN"})
#: What is kept of the client's stdout and stderr (the tail), per stream.
OUTPUT_KEPT = 64 * 1024


class ProtocolError(ValueError):
    """A command line with a placeholder the protocol does not know."""


@dataclass(frozen=True)
class ExampleInputs:
    """What one run of the client is told."""

    service_root: str
    document: str
    entity_set: str
    changes: Mapping[str, Any]
    user: str
    password: str
    example: int
    time_scale: float

    def values(self) -> dict[str, str]:
        return {
            "url": self.service_root,
            "doc": self.document,
            "set": self.entity_set,
            "changes": json.dumps(dict(self.changes), sort_keys=True),
            "user": self.user,
            "password": self.password,
            "example": str(self.example),
        }

    def environment(self) -> dict[str, str]:
        env = {PLACEHOLDERS[name]: value for name, value in self.values().items()}
        env["WINDCHILL_TIME_SCALE"] = f"{self.time_scale:g}"
        return env


def check_placeholders(command: Sequence[str]) -> None:
    """Refuse a command line naming a placeholder the protocol does not fill, or holding a
    lone brace (``{url``): either is a typo that would reach the client as it is."""
    known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    for argument in command:
        for found in _PLACEHOLDER.finditer(argument):
            name = found.group(1)
            if name is not None and name not in PLACEHOLDERS:
                raise ProtocolError(
                    f"unknown placeholder {{{name}}} in {argument!r}; known: {known} "
                    "(write {{ and }} for literal braces)"
                )
        if "{" in _PLACEHOLDER.sub("", argument) or "}" in _PLACEHOLDER.sub("", argument):
            raise ProtocolError(
                f"a lone brace in {argument!r}: close the placeholder ({known}) or write "
                "{{ and }} for literal braces"
            )


def expand(command: Sequence[str], inputs: ExampleInputs) -> list[str]:
    """The command line with its placeholders filled in."""
    check_placeholders(command)
    values = inputs.values()

    def fill(found: re.Match[str]) -> str:
        text = found.group(0)
        if text in ("{{", "}}"):
            return text[0]
        return values[found.group(1)]

    return [_PLACEHOLDER.sub(fill, argument) for argument in command]


@dataclass(frozen=True)
class ClientRun:
    """How one run of the client ended."""

    #: ``applied``, ``merged``, ``review`` or ``failed``; ``None`` when the client crashed.
    outcome: Outcome | None
    #: Why there is no outcome (a crash, a timeout), or the client's own ``detail``.
    detail: str
    returncode: int | None
    wall_seconds: float
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def crashed(self) -> bool:
        return self.outcome is None


def read_outcome(
    stdout: str, returncode: int | None, stderr: str = ""
) -> tuple[Outcome | None, str]:
    """The outcome a client reported: its last JSON line with an ``outcome``, else its exit
    status. ``(None, why)`` when it reported none, or when it died after reporting (a signal,
    or an exit status that is neither 0 nor its outcome's)."""
    line_outcome = _outcome_line(stdout)
    if line_outcome is not None:
        outcome, detail = line_outcome
        if outcome is None:
            return None, detail
        allowed = {0} | {code for code, word in EXIT_CODES.items() if word == outcome}
        if returncode is not None and returncode not in allowed:
            how = (
                f"was killed by signal {-returncode}"
                if returncode < 0
                else f"exited with status {returncode}"
            )
            return None, f"the client printed outcome {outcome!r} but then {how}"
        return outcome, detail
    if _outcome_line(stderr) is not None:
        return None, (
            "the client printed its outcome line on stderr; the protocol reads it from stdout "
            "(log to stderr, print the outcome line to stdout)"
        )
    if returncode is not None and returncode in EXIT_CODES:
        word = EXIT_CODES[returncode]
        return word, f"no outcome line on stdout: exit status {returncode} read as {word!r}"
    if returncode is not None and returncode < 0:
        return None, f"the client was killed by signal {-returncode} and reported no outcome"
    codes = ", ".join(f"{code} {word}" for code, word in EXIT_CODES.items())
    return None, (
        f"the client exited with status {returncode} and printed no outcome line; print "
        f'{{"outcome": "applied"}} (or merged, review, failed) last, or exit with {codes}'
    )


def _outcome_line(text: str) -> tuple[Outcome | None, str] | None:
    """The last JSON line with an ``outcome`` in ``text``: ``(outcome, detail)``, or
    ``(None, why)`` for an outcome the protocol does not know; ``None`` without one."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if not isinstance(data, dict) or "outcome" not in data:
            continue
        outcome = data["outcome"]
        detail = data.get("detail")
        detail = detail if isinstance(detail, str) else ""
        if outcome not in OUTCOMES:
            return None, (
                f"the client reported outcome {outcome!r}; the protocol knows {', '.join(OUTCOMES)}"
            )
        return cast(Outcome, outcome), detail
    return None


def run_client(
    command: Sequence[str], inputs: ExampleInputs, *, timeout: float, cwd: str | None = None
) -> ClientRun:
    """Run the client once, in a process group of its own: a client that outlives
    ``timeout`` real seconds is killed with everything it started. Its output goes to
    temporary files, of which only the last :data:`OUTPUT_KEPT` bytes are read: a client
    that prints without end costs disk for a while, never memory."""
    argv = expand(command, inputs)
    env = {k: v for k, v in os.environ.items() if k not in _WITHHELD}
    env.update(inputs.environment())
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as error:
            return ClientRun(
                None,
                f"cannot start {argv[0]!r}: {error.strerror or error}",
                None,
                time.monotonic() - started,
                "",
                "",
            )
        timed_out = False
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        # Whatever the client left running (a daemon, a stuck child) goes with it.
        _kill_group(process)
        process.wait()
        wall = time.monotonic() - started
        stdout, stderr = _tail(out), _tail(err)
    if timed_out:
        return ClientRun(
            None,
            f"the client gave no answer within {timeout:g}s of real time and was killed "
            "(raise --timeout if it is just slow)",
            process.returncode,
            wall,
            stdout,
            stderr,
            timed_out=True,
        )
    outcome, detail = read_outcome(stdout, process.returncode, stderr)
    return ClientRun(outcome, detail, process.returncode, wall, stdout, stderr)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


def _tail(stream: IO[bytes]) -> str:
    size = stream.seek(0, os.SEEK_END)
    stream.seek(max(0, size - OUTPUT_KEPT))
    return stream.read(OUTPUT_KEPT).decode("utf-8", errors="replace")
