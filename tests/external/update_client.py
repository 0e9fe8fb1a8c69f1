"""An update client as a separate program, for the tests of ``windchill-mock check``: the
same algorithm as the Java and Node examples, in Python with ``requests``.

``--bug stale-etag`` retries with the first ETag; ``--bug lost-as-failure`` reports a lost
response as a failure; ``--bug crash`` raises; ``--bug hang`` never answers; ``--bug silent``
reports success without a request. Inputs come from the environment (the protocol)."""

from __future__ import annotations

import json
import os
import sys
import time

import requests

MAX_RETRIES, BASE_DELAY, FACTOR, MAX_DELAY = 3, 0.05, 2.0, 0.4


def main() -> str:
    bug = sys.argv[2] if sys.argv[1:2] == ["--bug"] else os.environ.get("WINDCHILL_BUG", "")
    if bug == "crash":
        raise RuntimeError("the client crashed")
    if bug == "hang":
        time.sleep(3600)
    if bug == "silent":
        return "applied"
    root = os.environ["WINDCHILL_SERVICE_ROOT"]
    entity_set = os.environ["WINDCHILL_ENTITY_SET"]
    changes = json.loads(os.environ["WINDCHILL_CHANGES"])
    session = requests.Session()
    session.auth = (os.environ["WINDCHILL_USER"], os.environ["WINDCHILL_PASSWORD"])
    session.headers["Accept"] = "application/json"
    nonce = session.get(f"{root}/PTC/GetCSRFToken()", timeout=30).json()["NonceValue"]

    def read(key: str) -> tuple[str, str, dict[str, object]]:
        """GET the latest iteration; a refused or lost read is tried again after a wait."""
        for attempt in range(MAX_RETRIES + 1):
            try:
                response = session.get(f"{root}/{entity_set}('{key}')", timeout=30)
            except requests.ConnectionError:
                response = None
            if response is not None and response.ok:
                body = response.json()
                if body.get("Latest") is False:
                    return read(body["VersionID"])
                return body["ID"], response.headers["ETag"], body
            wait = float(response.headers.get("Retry-After", 0)) if response is not None else 0
            time.sleep(max(min(BASE_DELAY * FACTOR**attempt, MAX_DELAY), wait))
        print(json.dumps({"outcome": "failed", "detail": f"cannot read {key}"}))
        raise SystemExit(0)

    target, etag, base = read(os.environ["WINDCHILL_DOCUMENT"])
    retry_after = 0.0
    for attempt in range(MAX_RETRIES + 1):
        if attempt:
            time.sleep(max(min(BASE_DELAY * FACTOR ** (attempt - 1), MAX_DELAY), retry_after))
            if bug != "stale-etag":
                target, etag, now = read(target)
                if all(now.get(k) == v for k, v in changes.items()):
                    return "applied"  # an earlier write whose response was lost landed
                if any(now.get(k) not in (base.get(k), v) for k, v in changes.items()):
                    return "review"  # another user changed a field this update changes
        try:
            response = session.patch(
                f"{root}/{entity_set}('{target}')",
                json=changes,
                headers={"If-Match": etag, "CSRF_NONCE": nonce},
                timeout=30,
            )
        except requests.ConnectionError:
            if bug == "lost-as-failure":
                return "failed"
            retry_after = 0.0
            continue
        if response.ok:
            return "applied"
        if response.status_code not in (409, 412, 429) and response.status_code < 500:
            return "failed"
        retry_after = float(response.headers.get("Retry-After", 0))
    return "failed"


if __name__ == "__main__":
    print(json.dumps({"outcome": main()}))
