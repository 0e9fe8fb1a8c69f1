"""The mock's ``$metadata`` read by OASIS's own tools: the CSDL validator (odata-csdl) finds
nothing, and the OpenAPI document the converter (odata-openapi) makes from it warns of nothing
and promises exactly the operations the mock has, each of which answers as promised."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from mock_server import MockConfig
from mock_server.core import VirtualClock
from mock_server.http import create_app

ROOT = "/Windchill/servlet/odata"
AUTH = {"Authorization": "Basic " + base64.b64encode(b"wcadmin:wcadmin").decode()}

#: What the OpenAPI document may promise: path → method → query options.
PROMISED = {
    "/Documents": {
        "GET": ["$top", "$skip", "$filter", "$count", "$orderby", "$select"],
        "POST": [],
    },
    "/Documents('{ID}')": {"GET": ["$select"], "PATCH": [], "DELETE": []},
    "/Documents('{ID}')/PTC.DocMgmt.CheckOut": {"POST": []},
    "/Documents('{ID}')/PTC.DocMgmt.CheckIn": {"POST": []},
    "/Documents('{ID}')/PTC.DocMgmt.UndoCheckOut": {"POST": []},
    "/Documents('{ID}')/PTC.DocMgmt.UpdateCommonProperties": {"POST": []},
    "/$batch": {"POST": []},
}
#: A value for each query option the document lists.
OPTION_VALUES = {
    "$top": "1",
    "$skip": "1",
    "$filter": "startswith(Name,'Pump') and Latest eq true",
    "$count": "true",
    "$orderby": "Name desc,CreatedOn",
    "$select": "Name,Version",
}


@pytest.fixture(scope="module", params=["thread", "odata", "wrs"])
def report(request: pytest.FixtureRequest, node_tools: Path, tmp_path_factory: Any) -> Any:
    client = create_app(MockConfig(profile=request.param), clock=VirtualClock()).test_client()
    folder = tmp_path_factory.mktemp(f"metadata-{request.param}")
    files = []
    for domain in ("DocMgmt", "PTC"):
        response = client.get(f"{ROOT}/{domain}/$metadata", headers=AUTH)
        assert response.status_code == 200
        files.append(folder / f"{domain}.xml")
        files[-1].write_bytes(response.get_data())
    result = subprocess.run(
        ["node", str(node_tools / "metadata_tools.js"), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_csdl_validator_finds_nothing(report: Any) -> None:
    assert report["findings"] == []


def test_the_openapi_converter_warns_of_nothing_and_refers_to_nothing_outside(report: Any) -> None:
    assert report["warnings"] == []
    assert report["external_refs"] == []


def test_the_openapi_document_promises_exactly_what_the_mock_has(report: Any) -> None:
    assert report["paths"] == PROMISED
    assert report["ptc_paths"] == {"/GetCSRFToken()": {"GET": []}}, "no $batch in PTC"


def _session(client: FlaskClient) -> dict[str, str]:
    nonce = client.get(f"{ROOT}/PTC/GetCSRFToken()", headers=AUTH).get_json()["NonceValue"]
    return {**AUTH, "CSRF_NONCE": nonce, "If-Match": "*"}


def test_every_promised_operation_answers_as_promised(report: Any) -> None:
    client = create_app(MockConfig(documents=3), clock=VirtualClock()).test_client()
    headers = _session(client)
    base = f"{ROOT}/DocMgmt"
    ids = [d["ID"] for d in client.get(f"{base}/Documents", headers=AUTH).get_json()["value"]]
    answered = []

    for option in report["paths"]["/Documents"]["GET"]:
        query = {option: OPTION_VALUES[option]}
        answered.append(client.get(f"{base}/Documents", query_string=query, headers=AUTH))
    answered.append(client.post(f"{base}/Documents", json={"Name": "New"}, headers=headers))
    one = f"{base}/Documents('{ids[0]}')"
    answered.append(client.get(one, query_string={"$select": "Name"}, headers=AUTH))
    answered.append(client.patch(one, json={"Title": "t"}, headers=headers))
    for action, body in (
        ("CheckOut", {"CheckOutNote": "n"}),
        ("CheckIn", {"CheckInNote": "n"}),
        ("CheckOut", {}),
        ("UndoCheckOut", {}),
        ("UpdateCommonProperties", {"Name": "Renamed"}),
    ):
        answered.append(client.post(f"{one}/PTC.DocMgmt.{action}", json=body, headers=headers))
        if action == "CheckIn":  # a new iteration, with an OR: of its own: go on with it
            one = f"{base}/Documents('{answered[-1].get_json()['ID']}')"
    answered.append(client.delete(f"{base}/Documents('{ids[1]}')", headers=headers))
    answered.append(client.get(f"{ROOT}/PTC/GetCSRFToken()", headers=AUTH))
    batch = {"requests": [{"id": "1", "method": "get", "url": f"Documents('{ids[2]}')"}]}
    answered.append(client.post(f"{base}/$batch", json=batch, headers=headers))

    statuses = [r.status_code for r in answered]
    assert statuses == [200] * 6 + [201, 200, 200] + [200] * 5 + [204, 200, 200], [
        r.get_data(as_text=True)[:200] for r in answered
    ]
