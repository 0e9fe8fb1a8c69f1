"""Third-party tools the tests run against the mock: Node packages are installed here, by the
tests themselves, from ``node/package-lock.json`` (``npm ci``), once per session."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).parent / "node"


def _installed() -> bool:
    """Whether node_modules holds exactly what the lock file names."""
    lock = json.loads((NODE_DIR / "package-lock.json").read_text())
    for path, entry in lock.get("packages", {}).items():
        if not path:
            continue
        manifest = NODE_DIR / path / "package.json"
        if not manifest.exists() or json.loads(manifest.read_text()).get("version") != entry.get(
            "version"
        ):
            return False
    return True


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
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return NODE_DIR
