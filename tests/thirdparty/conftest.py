"""Third-party tools the tests run against the mock: Node packages are installed here, by the
tests themselves, from ``node/package-lock.json`` (``npm ci``), once per session."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).parent / "node"


def _lock_digest() -> str:
    return hashlib.sha256((NODE_DIR / "package-lock.json").read_bytes()).hexdigest()


#: Written after a successful ``npm ci``: which lock file node_modules was installed from.
_STAMP = NODE_DIR / "node_modules" / ".installed-from-lock"


def _installed() -> bool:
    """Whether node_modules was installed from this very lock file. (Comparing versions
    package by package is not enough: optional packages for other platforms are never
    installed, and a worker that installed again would pull node_modules away from under
    the tests of another.)"""
    return _STAMP.exists() and _STAMP.read_text().strip() == _lock_digest()


@pytest.fixture(scope="session")
def node_tools() -> Path:
    """The directory of the Node tools, installed; skips, naming what is missing, only when
    Node or npm is not on the machine (CI has both)."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed: these tests run third-party Node tools")
    # pytest-xdist workers share the directory: one installs while the others wait for it.
    with open(NODE_DIR / ".install-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not _installed():
                result = subprocess.run(
                    ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                    cwd=NODE_DIR,
                    capture_output=True,
                    text=True,
                    timeout=300,
                    check=False,
                )
                assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
                _STAMP.write_text(_lock_digest() + "\n")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return NODE_DIR
