"""@odata/client, a Node OData client nobody here wrote, works against a live mock unmodified:
list, filter, order, count, get by key, create, update with If-Match (and a stale one
refused), a bound check-out and check-in, delete. See ``node/odata_client.js`` for the only
set-up it needs (auth, the CSRF nonce and its cookie, If-Match)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mock_server import LiveServer, MockConfig, create_app
from mock_server.core import VirtualClock


@pytest.mark.parametrize("profile", ["thread", "odata", "wrs"])
def test_crud_and_actions_work_through_odata_client(node_tools: Path, profile: str) -> None:
    app = create_app(MockConfig(profile=profile, documents=3), clock=VirtualClock())
    with LiveServer(app) as server:
        result = subprocess.run(
            ["node", str(node_tools / "odata_client.js"), server.url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    seen: dict[str, Any] = json.loads(result.stdout)

    assert len(seen["listed"]) == 3
    assert seen["filtered"] == [seen["listed"][0]]
    assert seen["ordered"] == sorted(seen["ordered"], reverse=True)
    assert len(seen["ordered"]) == 2
    assert seen["count"] == 3
    assert seen["got"]["ID"] == seen["listed"][0]
    assert (seen["got"]["etag"] is None) == (profile == "wrs")
    assert seen["created"]["Number"] == "ODC-1"
    assert seen["updated"] == "updated by @odata/client"
    if profile == "wrs":
        assert seen["stale"] == "accepted", "the wrs profile ignores If-Match"
    else:
        assert "modified" in seen["stale"] or "Precondition" in seen["stale"]
    assert seen["checkedOut"]["state"] == "Working copy"
    # Where iterations have their own OR: (thread, wrs), the working copy becomes A.2.
    latest_id = seen["listed"][0] if profile == "odata" else seen["checkedOut"]["ID"]
    assert seen["checkedIn"] == {"ID": latest_id, "Version": "A.2", "state": "Checked in"}
    assert seen["deleted"] is True
