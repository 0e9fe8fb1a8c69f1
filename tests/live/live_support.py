"""Helpers of the live tests: URLs, the journal over HTTP, and the CLI as a subprocess.

``serve`` runs ``windchill-mock serve`` on port 0, reads the bound port from the banner and
terminates (then kills) the process in ``finally``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

ROOT = "/Windchill/servlet/odata"
DOCUMENTS = f"{ROOT}/DocMgmt/Documents"
AUTH = ("wcadmin", "wcadmin")
#: ``open_session(base_url, *, csrf=True)``, the fixture of that name.
SessionFactory = Callable[..., requests.Session]
#: How long a subprocess may take to print its banner (a cold start imports Flask).
STARTUP_TIMEOUT = 30.0
#: Every request a test sends has a timeout, so a hung server fails a test instead of CI.
TIMEOUT = 30.0


def document_url(base_url: str, doc_id: str) -> str:
    return f"{base_url}{DOCUMENTS}('{doc_id}')"


def journal(session: requests.Session, base_url: str, doc_id: str) -> list[dict[str, Any]]:
    """The mock's history of one document, from ``GET /__mock/journal`` (JSON lines)."""
    response = session.get(
        f"{base_url}/__mock/journal", params={"document": doc_id}, timeout=TIMEOUT
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines() if line]


def inject(session: requests.Session, base_url: str, intervention: dict[str, Any]) -> None:
    response = session.post(f"{base_url}/__mock/interventions", json=intervention, timeout=TIMEOUT)
    assert response.status_code == 201, response.text


# ---------------------------------------------------------------- the CLI as a subprocess


def console_script() -> str:
    """The installed ``windchill-mock`` next to this interpreter."""
    found = shutil.which("windchill-mock", path=os.path.dirname(sys.executable)) or shutil.which(
        "windchill-mock"
    )
    assert found is not None, "the windchill-mock console script is not installed"
    return found


def cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


@dataclass
class ServedMock:
    """A ``windchill-mock serve`` subprocess that printed its banner."""

    process: subprocess.Popen[str]
    banner: list[str]
    stderr: Any
    base_url: str = field(init=False)

    def __post_init__(self) -> None:
        text = "\n".join(self.banner)
        match = re.search(r"service root\s*:\s*(http://\S+?)/Windchill/servlet/odata/", text)
        assert match is not None, f"no service root in the banner:\n{text}"
        self.base_url = match.group(1)

    def line(self, label: str) -> str:
        """The banner line starting with ``label`` (e.g. ``"credentials"``)."""
        for text in self.banner:
            if text.strip().startswith(label):
                return text
        raise AssertionError(f"no {label!r} line in the banner: {self.banner}")


def _pump(stream: Any, lines: queue.Queue[str | None]) -> None:
    for text in iter(stream.readline, ""):
        lines.put(text.rstrip("\n"))
    lines.put(None)


@contextlib.contextmanager
def serve(
    *args: str, module: bool = False, env: dict[str, str] | None = None
) -> Iterator[ServedMock]:
    """Run ``windchill-mock serve ARGS`` (or ``python -m mock_server serve ARGS``) until the
    block ends; the process is terminated, then killed, in ``finally``."""
    program = [sys.executable, "-m", "mock_server"] if module else [console_script()]
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [*program, "serve", *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            env={**cli_env(), **(env or {})},
        )
        assert process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        pump = threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True)
        pump.start()
        try:
            yield ServedMock(process, _read_banner(process, lines, stderr), stderr)
        finally:
            process.terminate()
            try:
                process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            pump.join(timeout=TIMEOUT)
            process.stdout.close()


def _read_banner(
    process: subprocess.Popen[str], lines: queue.Queue[str | None], stderr: Any
) -> list[str]:
    banner: list[str] = []
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not banner or not banner[-1].startswith("Press Ctrl+C"):
        try:
            text = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no banner within {STARTUP_TIMEOUT}s: {banner}") from None
        if text is None:
            process.wait(timeout=TIMEOUT)
            stderr.seek(0)
            raise AssertionError(
                f"windchill-mock serve exited with {process.returncode} before serving:\n"
                + "\n".join([*banner, stderr.read()])
            )
        banner.append(text)
    return banner


def run_cli(*args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run the console script to completion (``timeout`` kills a server that should not run)."""
    return subprocess.run(
        [console_script(), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        env=cli_env(),
        check=False,
    )
