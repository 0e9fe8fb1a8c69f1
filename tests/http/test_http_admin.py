"""The admin API under ``/__mock/``: reset, config, interventions, clock, journal, metrics,
and who may use it."""

from __future__ import annotations

import base64
import json
from typing import Any

import flask
import pytest
from werkzeug.test import EnvironBuilder
from wrs_session import DOCS, ROOT, MakeMock, Session, doc_url, error_of

from mock_server import MockConfig, create_app
from mock_server.core import SystemClock, VirtualClock

REMOTE = {"REMOTE_ADDR": "10.1.2.3"}


def body_of(response: Any) -> Any:
    assert response.status_code < 300, response.get_data(as_text=True)
    return response.get_json()


# -------------------------------------------------------------------- reset


def test_reset_forgets_documents_and_reseeds_the_demo_ones(make_mock: MakeMock) -> None:
    mock = make_mock(documents=2)
    demo = body_of(mock.admin("GET", "/documents"))["documents"]
    created = mock.create(Name="Extra")
    mock.update(demo[0], {"Title": "changed"})

    result = body_of(mock.admin("POST", "/reset"))

    assert result == {"reset": True, "documents": demo}
    assert mock.get(doc_url(created["ID"])).status_code == 404
    assert mock.read(demo[0]).get_json()["Title"] != "changed"


def test_reset_clears_journal_metrics_interventions_and_csrf_sessions(mock: Session) -> None:
    doc = mock.create(Name="Pump")
    mock.intervene(action="fault", document=doc["ID"], before_request=5)
    old_nonce = mock.nonce

    mock.admin("POST", "/reset")

    assert mock.journal() == []
    assert body_of(mock.admin("GET", "/metrics"))["requests"] == 0
    assert body_of(mock.admin("GET", "/interventions")) == {"pending": []}
    refused = mock.post(DOCS, headers={"CSRF_NONCE": str(old_nonce)}, json={"Name": "x"})
    assert refused.status_code == 403


def test_reset_does_not_rewind_virtual_time(mock: Session) -> None:
    mock.admin("POST", "/clock/advance", {"seconds": 10})

    mock.admin("POST", "/reset")

    clock = body_of(mock.admin("GET", "/clock"))
    assert clock["now"] == mock.clock.now() == 1708521810.0
    assert clock["t"] == 0.0  # times in the journal restart from the reset


def test_reset_applies_a_new_seed_and_document_count(mock: Session) -> None:
    mock.admin("PUT", "/config", {"documents": 3, "seed": 7})

    assert len(body_of(mock.admin("POST", "/reset"))["documents"]) == 3


# -------------------------------------------------------------------- config


def test_get_config_shows_profile_knobs_and_background_without_secrets(
    make_mock: MakeMock,
) -> None:
    mock = make_mock(users={"alice": "secret"}, admin_token="t0ken")

    config = body_of(mock.admin("GET", "/config", headers={"X-Mock-Admin-Token": "t0ken"}))

    assert config["profile"] == "thread"
    assert config["knobs"]["stale_same_iteration_status"] == 409
    assert set(config["background"]) == {"indexer", "cache_sync", "lifecycle_evaluator"}
    assert config["background"]["indexer"]["rate"] == 0.0
    assert "alice" in config["users"]
    text = json.dumps(config)
    assert "secret" not in text
    assert "t0ken" not in text


def test_put_config_sets_rates_and_background_ops_follow(mock: Session) -> None:
    doc = mock.create(Name="Pump")

    config = body_of(mock.admin("PUT", "/config", {"rates": {"indexer": 1.0}}))
    mock.clock.advance(60)
    mock.read(doc["ID"])

    assert config["rates"] == {"indexer": 1.0}
    assert config["background"]["indexer"]["rate"] == 1.0
    background = body_of(mock.admin("GET", "/metrics"))["background"]
    assert background["indexer"] > 10
    assert set(background) == {"indexer"}
    events = [e for e in mock.journal() if e["type"] == "background"]
    assert {e["process"] for e in events} == {"indexer"}
    assert all(e["version"] == "A.1" for e in events)  # micro-updates make no iteration


def test_put_config_merges_rates(mock: Session) -> None:
    mock.admin("PUT", "/config", {"rates": {"indexer": 1.0}})

    config = body_of(mock.admin("PATCH", "/config", {"rates": {"cache_sync": 0.5}}))

    assert config["rates"] == {"indexer": 1.0, "cache_sync": 0.5}


def test_put_config_switches_the_profile_at_once(mock: Session) -> None:
    doc = mock.create(Name="Pump")

    body_of(mock.admin("PUT", "/config", {"profile": "odata"}))

    assert mock.update(doc["ID"], {"Title": "x"}).status_code == 428
    assert mock.read(doc["ID"]).headers["ETag"].startswith('W/"')
    assert "OptimisticConcurrency" in mock.get(f"{ROOT}/DocMgmt/$metadata").get_data(as_text=True)

    body_of(mock.admin("PUT", "/config", {"profile": "wrs"}))

    assert "ETag" not in mock.read(doc["ID"]).headers


def test_put_config_overrides_single_knobs(mock: Session) -> None:
    doc = mock.create(Name="Pump")

    body_of(mock.admin("PUT", "/config", {"overrides": {"require_if_match": True}}))

    assert mock.update(doc["ID"], {"Title": "x"}).status_code == 428


def test_put_config_changes_the_body_limit_at_once(mock: Session) -> None:
    doc = mock.create(Name="Pump")

    body_of(mock.admin("PUT", "/config", {"max_body_bytes": 32}))

    assert mock.update(doc["ID"], {"Title": "x" * 40}).status_code == 413


def test_put_config_changes_the_utc_offset_at_once(mock: Session) -> None:
    doc = mock.create(Name="Pump")

    body_of(mock.admin("PUT", "/config", {"utc_offset_minutes": 120}))

    assert mock.read(doc["ID"]).get_json()["CreatedOn"] == "2024-02-21T15:23:20+02:00"


def test_journal_limit_applies_from_the_next_reset(mock: Session) -> None:
    body_of(mock.admin("PUT", "/config", {"journal_limit": 4}))
    mock.admin("POST", "/reset")
    doc = mock.create(Name="Pump")

    for _ in range(5):
        mock.read(doc["ID"])

    assert len(mock.journal()) == 4


@pytest.mark.parametrize(
    "change",
    [
        {"bogus": 1},
        {"profile": "nope"},
        {"profile": ["thread"]},
        {"rates": {"nope": 1}},
        {"rates": {"indexer": -1}},
        {"rates": {"indexer": "fast"}},
        {"rates": [1]},
        {"durations": {"indexer": float("inf")}},
        {"overrides": {"no_such_knob": True}},
        {"overrides": {"emit_etags": "no"}},
        {"overrides": {"stale_same_iteration_status": "abc"}},
        {"overrides": {"busy_status": 200}},
        {"page_size": 0},
        {"page_size": "10"},
        {"documents": -1},
        {"auth": "yes"},
        {"csrf": 0},
        {"users": {"alice": 1}},
        {"users": ["alice"]},
        {"soft_attributes": 5},
        {"soft_attributes": "Department"},
        {"soft_attributes": ["has space"]},
        {"journal_limit": "x"},
        {"journal_limit_bytes": 0},
        {"journal_limit_bytes": True},
        {"utc_offset_minutes": 2000},
        {"admin_token": 5},
    ],
)
def test_bad_config_changes_are_400_and_change_nothing(
    mock: Session, change: dict[str, Any]
) -> None:
    before = body_of(mock.admin("GET", "/config"))

    response = mock.admin(
        "PUT", "/config", data=json.dumps(change), content_type="application/json"
    )

    assert response.status_code == 400, response.get_data(as_text=True)
    assert error_of(response)["code"] == "InvalidMockRequest"
    assert body_of(mock.admin("GET", "/config")) == before


@pytest.mark.parametrize(
    "data", ["{", "[1]", '"x"', pytest.param("[" * 50_000, id="deeply-nested")]
)
def test_malformed_config_bodies_are_400(mock: Session, data: str) -> None:
    response = mock.admin("PUT", "/config", data=data, content_type="application/json")

    assert response.status_code == 400
    error_of(response)


def test_config_can_switch_soft_attributes(mock: Session) -> None:
    body_of(mock.admin("PUT", "/config", {"soft_attributes": ["CostCenter"]}))
    doc = mock.create(Name="Pump", CostCenter="4711")

    assert doc["CostCenter"] == "4711"
    assert "Department" not in doc
    assert mock.update(doc["ID"], {"Department": "x"}).status_code == 400


# -------------------------------------------------------------------- interventions


def test_interventions_without_a_trigger_apply_at_once(mock: Session) -> None:
    doc = mock.create(Name="Pump", Title="mine")

    response = mock.intervene(
        action="concurrent_edit", document=doc["ID"], changes={"Title": "theirs"}
    )

    assert response.get_json()["accepted"][0]["action"] == "concurrent_edit"
    entity = mock.truth(doc["ID"])["entity"]
    assert entity["Title"] == "theirs"
    assert entity["Version"] == "A.2"
    assert body_of(mock.admin("GET", "/interventions")) == {"pending": []}


def test_before_request_fires_right_before_the_nth_request(mock: Session) -> None:
    doc = mock.create(Name="Pump")
    mock.intervene(
        action="concurrent_edit",
        document=doc["ID"],
        changes={"Title": "theirs"},
        before_request=3,
    )
    pending = body_of(mock.admin("GET", "/interventions"))["pending"]
    assert pending[0]["before_request"] == 3

    first = mock.read(doc["ID"]).get_json()
    second = mock.read(doc["ID"]).get_json()
    third = mock.read(doc["ID"]).get_json()

    assert first["Version"] == second["Version"] == "A.1"
    assert (third["Version"], third["Latest"]) == ("A.1", False)  # A.2 has its own OR:
    latest = mock.read(doc["VersionID"]).get_json()
    assert (latest["Version"], latest["Title"]) == ("A.2", "theirs")
    assert body_of(mock.admin("GET", "/interventions")) == {"pending": []}


def test_at_fires_at_virtual_time(mock: Session) -> None:
    doc = mock.create(Name="Pump")
    mock.intervene(action="lifecycle_change", document=doc["ID"], state="RELEASED", at=30)

    mock.admin("POST", "/clock/advance", {"seconds": 29})
    before = mock.read(doc["ID"]).get_json()["State"]["Value"]
    mock.admin("POST", "/clock/advance", {"seconds": 1})
    after = mock.read(doc["ID"]).get_json()["State"]

    assert before == "INWORK"
    assert after == {"Value": "RELEASED", "Display": "Released"}


def test_interventions_accept_a_list_and_list_pending_ones(mock: Session) -> None:
    doc = mock.create(Name="Pump")

    response = mock.admin(
        "POST",
        "/interventions",
        [
            {"action": "fault", "document": doc["ID"], "status": 503, "before_request": 4},
            {"action": "latency", "document": doc["ID"], "seconds": 2, "at": 3},
        ],
    )

    assert response.status_code == 201
    pending = body_of(mock.admin("GET", "/interventions"))["pending"]
    assert [(p["action"], p.get("before_request"), p.get("at")) for p in pending] == [
        ("fault", 4, None),
        ("latency", None, 3),
    ]


@pytest.mark.parametrize(
    ("intervention", "check"),
    [
        ({"action": "micro_update", "source": "cache_sync", "duration": 0}, "etag"),
        ({"action": "lifecycle_change", "state": "UNDERREVIEW"}, "state"),
        ({"action": "concurrent_edit", "changes": {"Title": "t"}, "user": "other"}, "version"),
        ({"action": "check_out", "user": "other", "note": "mine now"}, "checked_out"),
    ],
)
def test_each_state_action_changes_the_document(
    mock: Session, intervention: dict[str, Any], check: str
) -> None:
    doc = mock.create(Name="Pump")
    before = mock.truth(doc["ID"])

    mock.intervene(document=doc["ID"], **intervention)

    after = mock.truth(doc["ID"])
    assert after["etag"] != before["etag"]
    entity = after["entity"]
    if check == "state":
        assert entity["State"]["Value"] == "UNDERREVIEW"
    elif check == "version":
        assert entity["Version"] == "A.2"
    elif check == "checked_out":
        assert entity["CheckoutState"] == "Checked out"
    else:
        assert {k: v for k, v in entity.items() if k != "LastModified"} == {
            k: v for k, v in before["entity"].items() if k != "LastModified"
        }


def test_check_in_and_undo_by_another_user(mock: Session) -> None:
    doc = mock.create(Name="Pump")
    mock.intervene(action="check_out", document=doc["ID"], user="other")
    mock.intervene(action="check_in", document=doc["ID"], user="other", changes={"Title": "t"})
    checked_in = mock.truth(doc["ID"])["entity"]
    mock.intervene(action="check_out", document=doc["ID"], user="other")
    mock.intervene(action="undo_check_out", document=doc["ID"], user="other")

    entity = mock.truth(doc["ID"])["entity"]
    assert checked_in["Version"] == "A.2"
    assert checked_in["Title"] == "t"
    assert checked_in["ModifiedBy"] == "other"
    assert entity["Version"] == "A.2"
    assert entity["CheckoutState"] == "Checked in"


def test_request_actions_wait_for_the_next_request(mock: Session) -> None:
    doc = mock.create(Name="Pump")
    mock.intervene(action="fault", document=doc["ID"], status=503)

    assert len(body_of(mock.admin("GET", "/interventions"))["pending"]) == 1
    assert mock.get(doc_url(doc["ID"])).status_code == 503
    assert mock.get(doc_url(doc["ID"])).status_code == 200


def test_a_triggered_intervention_that_cannot_apply_is_journalled_as_skipped(
    mock: Session,
) -> None:
    doc = mock.create(Name="Pump")
    mock.action(doc["ID"], "CheckOut")  # request 1
    mock.intervene(
        action="concurrent_edit", document=doc["ID"], changes={"Title": "x"}, before_request=2
    )

    mock.read(doc["ID"])

    skipped = [e for e in mock.journal() if e["type"] == "intervention"]
    assert skipped[0]["message"].startswith("skipped:")


def test_an_immediate_intervention_that_cannot_apply_is_refused(mock: Session) -> None:
    doc = mock.create(Name="Pump")
    mock.action(doc["ID"], "CheckOut")

    response = mock.admin(
        "POST",
        "/interventions",
        {"action": "concurrent_edit", "document": doc["ID"], "changes": {"Title": "x"}},
    )

    assert response.status_code == 409
    error_of(response)


@pytest.mark.parametrize(
    "intervention",
    [
        {"action": "frobnicate"},
        {},
        {"action": "micro_update", "source": "gremlins"},
        {"action": "micro_update", "duration": -1},
        {"action": "micro_update", "duration": "long"},
        {"action": "micro_update", "bogus": 1},
        {"action": "micro_update", "before_request": 0},
        {"action": "micro_update", "before_request": 1.5},
        {"action": "micro_update", "before_request": True},
        {"action": "micro_update", "before_request": 1, "at": 1},
        {"action": "micro_update", "at": -1},
        {"action": "lifecycle_change", "state": "PARTY"},
        {"action": "concurrent_edit"},
        {"action": "concurrent_edit", "changes": {"Version": "B.1"}},
        {"action": "concurrent_edit", "changes": {"Nope": "x"}},
        {"action": "concurrent_edit", "changes": {"Title": "x"}, "user": ""},
        {"action": "concurrent_edit", "changes": {"Department": float("inf")}},
        {"action": "fault", "status": 200},
        {"action": "fault", "status": "503"},
        {"action": "fault", "retry_after": -5},
        {"action": "latency", "seconds": float("nan")},
    ],
)
def test_bad_interventions_are_400_and_nothing_is_scheduled(
    mock: Session, intervention: dict[str, Any]
) -> None:
    doc = mock.create(Name="Pump")
    before = mock.truth(doc["ID"])
    intervention = {"document": doc["ID"], **intervention}

    response = mock.admin(
        "POST",
        "/interventions",
        data=json.dumps(intervention),
        content_type="application/json",
    )

    assert response.status_code == 400, response.get_data(as_text=True)
    assert error_of(response)["code"] == "InvalidMockRequest"
    assert body_of(mock.admin("GET", "/interventions")) == {"pending": []}
    assert mock.truth(doc["ID"]) == before


@pytest.mark.parametrize("data", ["", "{", "42", "null", '{"action": "micro_update"}'])
def test_malformed_intervention_bodies_are_400(mock: Session, data: str) -> None:
    response = mock.admin("POST", "/interventions", data=data, content_type="application/json")

    assert response.status_code == 400
    error_of(response)


def test_an_intervention_on_an_unknown_document_is_404(mock: Session) -> None:
    response = mock.admin(
        "POST", "/interventions", {"action": "micro_update", "document": "OR:wt.doc.WTDocument:1"}
    )

    assert response.status_code == 404


def test_an_intervention_on_a_working_copy_is_400(mock: Session) -> None:
    doc = mock.create(Name="Pump")
    working = mock.action(doc["ID"], "CheckOut").get_json()["ID"]

    response = mock.admin("POST", "/interventions", {"action": "micro_update", "document": working})

    assert response.status_code == 400


def test_a_list_with_one_bad_intervention_schedules_none(mock: Session) -> None:
    doc = mock.create(Name="Pump")

    response = mock.admin(
        "POST",
        "/interventions",
        [
            {"action": "fault", "document": doc["ID"], "before_request": 2},
            {"action": "fault", "document": doc["ID"], "status": 99},
        ],
    )

    assert response.status_code == 400
    assert body_of(mock.admin("GET", "/interventions")) == {"pending": []}


# -------------------------------------------------------------------- clock


def test_clock_advance_moves_virtual_time_and_reports_it(mock: Session) -> None:
    result = body_of(mock.admin("POST", "/clock/advance", {"seconds": 2.5}))

    assert result == {"now": 1708521802.5, "t": 2.5, "virtual": True}
    assert mock.clock.now() == 1708521802.5


@pytest.mark.parametrize("body", [{"seconds": -1}, {}, {"seconds": "2"}, {"seconds": True}])
def test_clock_advance_refuses_bad_seconds(mock: Session, body: dict[str, Any]) -> None:
    response = mock.admin("POST", "/clock/advance", body)

    assert response.status_code == 400
    error_of(response)
    assert mock.clock.now() == 1708521800.0


def test_clock_advance_on_the_system_clock_is_400() -> None:
    client = create_app(MockConfig(), clock=SystemClock()).test_client()

    response = client.post("/__mock/clock/advance", json={"seconds": 1})

    assert response.status_code == 400
    assert "system clock" in error_of(response)["message"]
    assert client.get("/__mock/clock").get_json()["virtual"] is False


# -------------------------------------------------------------------- journal and metrics


def test_journal_is_json_lines_of_invoke_and_outcome(mock: Session) -> None:
    doc = mock.create(Name="Pump")
    mock.intervene(action="micro_update", document=doc["ID"], source="indexer")
    mock.update(doc["ID"], {"Title": "x"}, headers={"If-Match": doc["@odata.etag"]})

    response = mock.admin("GET", "/journal")

    assert response.mimetype == "application/x-ndjson"
    lines = response.get_data(as_text=True).splitlines()
    events = [json.loads(line) for line in lines]
    assert [(e["type"], e["op"]) for e in events] == [
        ("invoke", "create"),
        ("ok", "create"),
        ("background", "micro_update"),
        ("invoke", "update"),
        ("fail", "update"),
    ]
    assert events[2]["process"] == "indexer"
    failed = events[4]
    assert failed["status"] == 409
    assert failed["op_id"] == events[3]["op_id"]
    assert events[3]["if_match"] == doc["@odata.etag"]
    assert events[3]["etag_before"] == failed["etag_after"] != doc["@odata.etag"]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)


def test_journal_can_be_filtered_by_document(mock: Session) -> None:
    first = mock.create(Name="One")
    second = mock.create(Name="Two")
    mock.read(second["ID"])

    text = mock.admin("GET", f"/journal?document={first['ID']}").get_data(as_text=True)

    events = [json.loads(line) for line in text.splitlines()]
    assert {e["document"] for e in events} == {first["ID"]}


def test_metrics_count_requests_responses_conflicts_and_background(mock: Session) -> None:
    doc = mock.create(Name="Pump")  # GetCSRFToken + POST
    mock.intervene(action="micro_update", document=doc["ID"], source="cache_sync")
    mock.intervene(action="micro_update", document=doc["ID"], source="indexer")
    mock.update(doc["ID"], {"Title": "x"}, headers={"If-Match": doc["@odata.etag"]})  # 409
    mock.intervene(action="concurrent_edit", document=doc["ID"], changes={"Title": "t"})
    mock.update(doc["ID"], {"Title": "x"}, headers={"If-Match": doc["@odata.etag"]})  # 412
    mock.get(f"{ROOT}/Nope/")  # 404
    mock.admin("GET", "/journal")  # the admin API is not counted

    metrics = body_of(mock.admin("GET", "/metrics"))

    assert metrics == {
        "requests": 5,
        "responses": {"200": 1, "201": 1, "404": 1, "409": 1, "412": 1},
        "conflicts": 2,
        "background": {"cache_sync": 1, "indexer": 1},
        "interventions": 3,
        "journal": {
            "events": len(mock.journal()),
            "dropped": 0,
            "limit": None,
            "bytes": None,
            "limit_bytes": None,
        },
    }


def test_a_bounded_journal_says_how_many_events_it_dropped(make_mock: MakeMock) -> None:
    mock = make_mock(journal_limit=4)
    for _ in range(3):
        mock.create(Name="Pump")  # invoke + ok each: 6 events

    response = mock.admin("GET", "/journal")
    metrics = body_of(mock.admin("GET", "/metrics"))

    assert len(response.get_data(as_text=True).splitlines()) == 4
    assert response.headers["X-Mock-Journal-Dropped"] == "2"
    assert response.headers["X-Mock-Journal-Limit"] == "4"
    assert metrics["journal"] == {
        "events": 4,
        "dropped": 2,
        "limit": 4,
        "bytes": None,
        "limit_bytes": None,
    }
    mock.admin("POST", "/reset")
    assert mock.admin("GET", "/journal").headers["X-Mock-Journal-Dropped"] == "0"


def test_a_journal_bounded_in_bytes_keeps_the_newest_events_that_fit(
    make_mock: MakeMock,
) -> None:
    mock = make_mock(journal_limit_bytes=2000)
    doc = mock.create(Name="Pump")
    for i in range(10):
        changes = {"Description": f"edit {i} " + "x" * 100}
        assert mock.update(doc["ID"], changes, headers={"If-Match": "*"}).status_code == 200

    response = mock.admin("GET", "/journal")
    metrics = body_of(mock.admin("GET", "/metrics"))["journal"]
    body = response.get_data()

    assert len(body) <= 2000
    assert metrics["bytes"] == len(body)
    assert metrics["limit_bytes"] == 2000
    assert response.headers["X-Mock-Journal-Limit-Bytes"] == "2000"
    kept = [json.loads(line) for line in body.splitlines()]
    assert kept[-1]["values"]["Description"].startswith("edit 9 "), "the newest is kept"
    assert int(response.headers["X-Mock-Journal-Dropped"]) == 22 - len(kept)
    assert metrics["dropped"] == 22 - len(kept) > 0


def test_admin_documents_lists_originals_and_shows_the_truth(mock: Session) -> None:
    doc = mock.create(Name="Pump")
    mock.action(doc["ID"], "CheckOut")

    listed = body_of(mock.admin("GET", "/documents"))["documents"]
    truth = mock.truth(doc["ID"])

    assert listed == [doc["ID"]]
    assert truth["entity"]["CheckoutState"] == "Checked out"
    assert mock.admin("GET", "/documents/OR:wt.doc.WTDocument:1").status_code == 404


# -------------------------------------------------------------------- access


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/config"), ("POST", "/reset"), ("GET", "/journal"), ("GET", "/metrics")],
)
def test_the_admin_api_refuses_clients_off_loopback(mock: Session, method: str, path: str) -> None:
    response = mock.admin(method, path, environ_overrides=REMOTE)

    assert response.status_code == 403
    assert error_of(response)["code"] == "AdminForbidden"


def test_a_refused_remote_reset_changes_nothing(mock: Session) -> None:
    doc = mock.create(Name="Pump")

    mock.admin("POST", "/reset", environ_overrides=REMOTE)

    assert mock.get(doc_url(doc["ID"])).status_code == 200


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1"])
def test_the_admin_api_answers_loopback_clients(mock: Session, address: str) -> None:
    response = mock.admin("GET", "/metrics", environ_overrides={"REMOTE_ADDR": address})

    assert response.status_code == 200


def test_admin_remote_allows_other_clients(make_mock: MakeMock) -> None:
    mock = make_mock(admin_remote=True)

    assert mock.admin("GET", "/metrics", environ_overrides=REMOTE).status_code == 200


def test_the_odata_api_is_not_restricted_to_loopback(mock: Session) -> None:
    assert mock.get(DOCS, environ_overrides=REMOTE).status_code == 200


@pytest.mark.parametrize("token", [None, "wrong", ""])
def test_admin_token_is_required_when_configured(make_mock: MakeMock, token: str | None) -> None:
    mock = make_mock(admin_token="s3cret")
    headers = {} if token is None else {"X-Mock-Admin-Token": token}

    response = mock.admin("POST", "/reset", headers=headers)

    assert response.status_code == 403
    assert "X-Mock-Admin-Token" in error_of(response)["message"]


def test_the_right_admin_token_is_accepted(make_mock: MakeMock) -> None:
    mock = make_mock(admin_token="s3cret", admin_remote=True)

    response = mock.admin(
        "GET", "/metrics", headers={"X-Mock-Admin-Token": "s3cret"}, environ_overrides=REMOTE
    )

    assert response.status_code == 200


def test_unknown_admin_paths_are_404(mock: Session) -> None:
    response = mock.admin("GET", "/nothing")

    assert response.status_code == 404
    error_of(response)


def test_admin_paths_with_the_wrong_method_are_405(mock: Session) -> None:
    assert mock.admin("GET", "/reset").status_code == 405


# -------------------------------------------------------------------- lost responses


def _wsgi_call(mock: Session, method: str, path: str, body: Any) -> tuple[dict[str, Any], str]:
    """Call the WSGI app directly and return its environ and status line."""
    nonce = mock.fetch_nonce()
    cookie = mock.client.get_cookie("JSESSIONID", path="/Windchill")
    assert cookie is not None
    token = base64.b64encode(b"wcadmin:wcadmin").decode()
    environ = EnvironBuilder(
        path=path,
        method=method,
        json=body,
        headers=[
            ("Authorization", f"Basic {token}"),
            ("CSRF_NONCE", nonce),
            ("Cookie", f"JSESSIONID={cookie.value}"),
        ],
    ).get_environ()
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)
        return lambda data: None

    for _ in mock.app.wsgi_app(environ, start_response):
        pass
    return environ, statuses[0]


def test_lose_response_marks_the_environ_and_the_write_is_applied(mock: Session) -> None:
    doc = mock.create(Name="Pump")
    mock.intervene(action="lose_response", document=doc["ID"])

    environ, _ = _wsgi_call(mock, "PATCH", doc_url(doc["ID"]), {"Title": "applied"})

    assert environ["windchill.lost_response"] is True
    assert mock.truth(doc["ID"])["entity"]["Title"] == "applied"
    outcome = mock.journal()[-1]
    assert outcome["type"] == "info"
    assert outcome["op"] == "update"


def test_lose_response_is_visible_through_the_preserved_request_context(mock: Session) -> None:
    doc = mock.create(Name="Pump")
    mock.intervene(action="lose_response", document=doc["ID"], before_request=1)

    with mock.client:
        response = mock.update(doc["ID"], {"Title": "applied"})
        lost = flask.request.environ.get("windchill.lost_response")

    assert lost is True
    assert len(response.get_data()) < int(response.headers["Content-Length"])
    assert mock.truth(doc["ID"])["entity"]["Title"] == "applied"


def test_a_normal_response_is_not_marked_lost(mock: Session) -> None:
    doc = mock.create(Name="Pump")

    environ, status = _wsgi_call(mock, "PATCH", doc_url(doc["ID"]), {"Title": "fine"})

    assert status.startswith("200")
    assert "windchill.lost_response" not in environ


@pytest.mark.parametrize("action", ["CheckOut", "DELETE"])
def test_lose_response_applies_to_actions_and_deletes(mock: Session, action: str) -> None:
    doc = mock.create(Name="Pump")
    mock.intervene(action="lose_response", document=doc["ID"])

    if action == "DELETE":
        environ, _ = _wsgi_call(mock, "DELETE", doc_url(doc["ID"]), None)
        assert mock.get(doc_url(doc["ID"])).status_code == 404
    else:
        environ, _ = _wsgi_call(mock, "POST", doc_url(doc["ID"], "/PTC.DocMgmt.CheckOut"), {})
        assert mock.read(doc["ID"]).get_json()["CheckoutState"] == "Checked out"
    assert environ["windchill.lost_response"] is True


def test_a_fresh_app_uses_its_own_virtual_clock() -> None:
    clock = VirtualClock(1_000_000.0)
    client = create_app(MockConfig(), clock=clock).test_client()

    assert client.get("/__mock/clock").get_json()["now"] == 1_000_000.0


def test_an_intervention_batch_is_applied_whole_or_not_at_all(mock: Session) -> None:
    doc = mock.create(Name="Pump")["ID"]
    before = mock.truth(doc)
    events_before = len(mock.admin("GET", "/journal").get_data(as_text=True).splitlines())

    # The check-out applies, then the edit is refused because the document is checked out.
    response = mock.admin(
        "POST",
        "/interventions",
        [
            {"action": "check_out", "document": doc},
            {"action": "concurrent_edit", "document": doc, "changes": {"Title": "t"}},
        ],
    )

    assert response.status_code == 409
    assert "checked out by other" in response.get_json()["error"]["message"]
    assert mock.truth(doc) == before
    journal = mock.admin("GET", "/journal").get_data(as_text=True).splitlines()
    assert len(journal) == events_before
    assert mock.admin("GET", "/metrics").get_json()["interventions"] == 0


# -------------------------------------------------------------------- web pages


def test_a_cross_site_simple_post_cannot_inject(mock: Session) -> None:
    doc = mock.create(Name="Pump")
    body = json.dumps(
        {"action": "concurrent_edit", "document": doc["ID"], "changes": {"Title": "x"}}
    )

    response = mock.admin(
        "POST",
        "/interventions",
        data=body,
        headers={"Content-Type": "text/plain", "Origin": "http://evil.example"},
    )

    assert response.status_code == 403
    assert error_of(response)["code"] == "AdminForbidden"
    assert "http://evil.example" in error_of(response)["message"]
    assert mock.truth(doc["ID"])["entity"]["Title"] is None


def test_a_cross_site_reset_is_refused_and_changes_nothing(mock: Session) -> None:
    doc = mock.create(Name="Pump")

    response = mock.admin("POST", "/reset", headers={"Origin": "http://evil.example"})

    assert response.status_code == 403
    assert mock.get(doc_url(doc["ID"])).status_code == 200


def test_a_body_that_is_not_json_is_refused_even_without_an_origin(mock: Session) -> None:
    response = mock.admin(
        "POST", "/clock/advance", data='{"seconds": 1}', headers={"Content-Type": "text/plain"}
    )

    assert response.status_code == 415
    assert error_of(response)["code"] == "UnsupportedMediaType"
    assert "application/json" in error_of(response)["message"]


def test_a_post_without_a_body_needs_no_content_type(mock: Session) -> None:
    # curl -X POST http://127.0.0.1:8080/__mock/reset
    assert mock.admin("POST", "/reset").status_code == 200


def test_the_servers_own_origin_is_welcome(mock: Session) -> None:
    response = mock.admin("GET", "/metrics", headers={"Origin": "http://localhost"})

    assert response.status_code == 200


@pytest.mark.parametrize("host", ["rebind.evil.example", "rebind.evil.example:8080", "10.0.0.5"])
def test_a_foreign_host_name_cannot_read_the_journal(mock: Session, host: str) -> None:
    # DNS rebinding: the page's own name now resolves to 127.0.0.1, but the browser still
    # sends that name.
    response = mock.admin("GET", "/journal", headers={"Host": host})

    assert response.status_code == 403
    assert "admin_hosts" in error_of(response)["message"]


@pytest.mark.parametrize("host", ["localhost", "localhost:8080", "127.0.0.1:8080", "[::1]:8080"])
def test_this_machines_names_are_answered(mock: Session, host: str) -> None:
    assert mock.admin("GET", "/journal", headers={"Host": host}).status_code == 200


def test_admin_hosts_adds_names(make_mock: MakeMock) -> None:
    mock = make_mock(admin_hosts=["mock.ci.internal"])

    response = mock.admin("GET", "/journal", headers={"Host": "Mock.CI.internal:8080"})

    assert response.status_code == 200


def test_admin_remote_accepts_any_host(make_mock: MakeMock) -> None:
    mock = make_mock(admin_remote=True, admin_token="s3cret")

    response = mock.admin(
        "GET", "/metrics", headers={"Host": "mock.example", "X-Mock-Admin-Token": "s3cret"}
    )

    assert response.status_code == 200
