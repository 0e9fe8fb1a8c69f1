"""Service root, domain service documents, the version segment and ``$metadata``."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from wrs_session import DOCS, ROOT, MakeMock, Session, error_of

EDMX = "{http://docs.oasis-open.org/odata/ns/edmx}"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
OPTIMISTIC_CONCURRENCY = "Org.OData.Core.V1.OptimisticConcurrency"


def metadata(mock: Session, prefix: str = "") -> ET.Element:
    response = mock.get(f"{ROOT}{prefix}/DocMgmt/$metadata")
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    return ET.fromstring(response.get_data())


def document_type(root: ET.Element) -> ET.Element:
    found = root.find(f"{EDMX}DataServices/{EDM}Schema/{EDM}EntityType[@Name='Document']")
    assert found is not None
    return found


@pytest.mark.parametrize("path", [f"{ROOT}/", ROOT, f"{ROOT}/v6/"])
def test_service_root_lists_the_domains(mock: Session, path: str) -> None:
    response = mock.get(path)

    assert response.status_code == 200
    assert response.headers["OData-Version"] == "4.0"
    domains = {entry["name"]: entry for entry in response.get_json()["value"]}
    assert set(domains) == {"DocMgmt", "ProdMgmt", "PTC"}
    assert domains["DocMgmt"]["url"].endswith("/DocMgmt/")


def test_docmgmt_service_document_lists_the_documents_entity_set(mock: Session) -> None:
    body = mock.get(f"{ROOT}/DocMgmt/").get_json()

    assert body["@odata.context"].endswith("/odata/DocMgmt/$metadata")
    assert body["value"] == [{"name": "Documents", "kind": "EntitySet", "url": "Documents"}]


def test_ptc_service_document_is_served(mock: Session) -> None:
    response = mock.get(f"{ROOT}/PTC/")

    assert response.status_code == 200
    assert response.get_json()["@odata.context"].endswith("/PTC/$metadata")


def test_version_segment_is_accepted_before_the_domain_and_kept_in_links(mock: Session) -> None:
    doc = mock.create(Name="Versioned")

    service = mock.get(f"{ROOT}/v6/DocMgmt/").get_json()
    entity = mock.get(f"{ROOT}/v6/DocMgmt/Documents('{doc['ID']}')").get_json()

    assert service["@odata.context"].endswith("/odata/v6/DocMgmt/$metadata")
    assert entity["ID"] == doc["ID"]
    assert "/odata/v6/DocMgmt/$metadata#Documents" in entity["@odata.context"]


def test_version_segment_works_for_writes_and_the_csrf_token(mock: Session) -> None:
    token = mock.get(f"{ROOT}/v7/PTC/GetCSRFToken()").get_json()
    mock.nonce = token["NonceValue"]

    response = mock.post(f"{ROOT}/v7/DocMgmt/Documents", json={"Name": "Via v7"})

    assert response.status_code == 201
    assert "/odata/v7/DocMgmt/Documents(" in response.headers["Location"]


@pytest.mark.parametrize("path", [f"{ROOT}/Nope/", f"{ROOT}/v6/Nope/", f"{ROOT}/ChangeMgmt/"])
def test_unknown_domain_is_404_with_an_odata_error(mock: Session, path: str) -> None:
    response = mock.get(path)

    assert response.status_code == 404
    domain = path.rstrip("/").rsplit("/", 1)[1]
    assert f"Domain '{domain}' is not served" in error_of(response)["message"]


def test_a_version_segment_that_is_not_vN_is_404(mock: Session) -> None:
    assert mock.get(f"{ROOT}/version6/DocMgmt/Documents").status_code == 404


def test_metadata_parses_and_describes_the_document_entity_type(any_mock: Session) -> None:
    root = metadata(any_mock)

    entity = document_type(root)
    key = entity.find(f"{EDM}Key/{EDM}PropertyRef")
    assert key is not None
    assert key.get("Name") == "ID"
    properties = {p.get("Name"): p.get("Type") for p in entity.findall(f"{EDM}Property")}
    for name in ("ID", "Number", "Name", "Description", "Title", "Version", "VersionID"):
        assert properties[name] == "Edm.String"
    assert properties["Latest"] == "Edm.Boolean"
    assert properties["LastModified"] == "Edm.DateTimeOffset"
    assert {"State", "CheckoutState", "CreatedOn", "CreatedBy", "ModifiedBy"} <= set(properties)
    # the default soft attributes
    assert {"Department", "ExternalReference", "ReviewComment"} <= set(properties)


def test_metadata_properties_match_the_entity_json(mock: Session) -> None:
    doc = mock.create(Name="Shape")

    properties = {p.get("Name") for p in document_type(metadata(mock)).findall(f"{EDM}Property")}

    assert properties == {name for name in doc if not name.startswith("@")}


def test_metadata_lists_the_bound_actions_with_their_parameters(any_mock: Session) -> None:
    schema = metadata(any_mock).find(f"{EDMX}DataServices/{EDM}Schema")
    assert schema is not None
    assert schema.get("Namespace") == "PTC.DocMgmt"

    actions = {a.get("Name"): a for a in schema.findall(f"{EDM}Action")}

    assert set(actions) == {"CheckOut", "CheckIn", "UndoCheckOut", "UpdateCommonProperties"}
    for action in actions.values():
        assert action.get("IsBound") == "true"
        binding = action.find(f"{EDM}Parameter")
        assert binding is not None
        assert binding.get("Type") == "PTC.DocMgmt.Document"
    checkin = {p.get("Name"): p.get("Type") for p in actions["CheckIn"].findall(f"{EDM}Parameter")}
    assert checkin["KeepCheckedOut"] == "Edm.Boolean"
    assert {"CheckInNote", "CheckOutNote"} <= set(checkin)


def test_metadata_every_referenced_type_is_defined_or_included(any_mock: Session) -> None:
    root = metadata(any_mock)
    namespaces = {s.get("Namespace") for s in root.iter(f"{EDM}Schema")}
    namespaces |= {i.get("Namespace") for i in root.iter(f"{EDMX}Include")}
    used = {e.get("Type") for e in root.iter() if e.get("Type")}
    used |= {e.get("EntityType") for e in root.iter() if e.get("EntityType")}

    for name in used:
        assert name is not None
        namespace = name.rpartition(".")[0]
        assert namespace in {"Edm", *namespaces}, f"{name} is neither defined nor included"


def test_optimistic_concurrency_is_advertised_only_in_the_odata_profile(
    any_mock: Session,
) -> None:
    text = ET.tostring(metadata(any_mock), encoding="unicode")

    assert (OPTIMISTIC_CONCURRENCY in text) == (any_mock.profile == "odata")


def test_optimistic_concurrency_annotates_the_documents_entity_set(make_mock: MakeMock) -> None:
    mock = make_mock(profile="odata")
    root = metadata(mock)

    entity_set = next(root.iter(f"{EDM}EntitySet"))
    terms = [a.get("Term") for a in entity_set.findall(f"{EDM}Annotation")]

    assert entity_set.get("Name") == "Documents"
    assert OPTIMISTIC_CONCURRENCY in terms


def test_metadata_is_served_under_a_version_segment(mock: Session) -> None:
    assert document_type(metadata(mock, "/v6")).get("Name") == "Document"


def test_ptc_metadata_declares_the_csrf_function(mock: Session) -> None:
    response = mock.get(f"{ROOT}/PTC/$metadata")

    root = ET.fromstring(response.get_data())
    functions = [f.get("Name") for f in root.iter(f"{EDM}Function")]
    assert functions == ["GetCSRFToken"]


def test_csrf_token_has_ptc_shape_and_sets_a_session_cookie(mock: Session) -> None:
    response = mock.get(f"{ROOT}/PTC/GetCSRFToken()")

    body = response.get_json()
    assert body["@odata.context"].endswith("/PTC/$metadata#CSRFToken")
    assert body["NonceKey"] == "CSRF_NONCE"
    assert body["NonceValue"]
    assert "JSESSIONID=" in response.headers["Set-Cookie"]


def test_csrf_token_is_stable_within_a_session(mock: Session) -> None:
    first = mock.fetch_nonce()

    assert mock.fetch_nonce() == first
    assert mock.as_user("wcadmin", "wcadmin").fetch_nonce() != first


def test_entity_set_url_is_case_sensitive(mock: Session) -> None:
    assert mock.get(DOCS.replace("Documents", "documents")).status_code == 404


def _terms(root: ET.Element, target: str, inline: ET.Element | None = None) -> dict[str, str]:
    """The annotations on ``target`` (inline on ``inline`` and out of line), by full term name
    (aliases resolved), each with its Bool value or "record"."""
    aliases = {
        include.get("Alias"): include.get("Namespace")
        for include in root.iter(f"{EDMX}Include")
        if include.get("Alias")
    }
    found = list(inline.findall(f"{EDM}Annotation")) if inline is not None else []
    for block in root.iter(f"{EDM}Annotations"):
        if block.get("Target") == target:
            found += block.findall(f"{EDM}Annotation")
    terms = {}
    for annotation in found:
        prefix, _, name = (annotation.get("Term") or "").rpartition(".")
        full = f"{aliases.get(prefix, prefix)}.{name}"
        terms[full] = annotation.get("Bool") or "record"
    return terms


def test_metadata_marks_read_only_properties_computed_and_name_number_immutable(
    mock: Session,
) -> None:
    root = metadata(mock)
    by_property = {
        p.get("Name"): _terms(root, f"PTC.DocMgmt.Document/{p.get('Name')}", p)
        for p in document_type(root).findall(f"{EDM}Property")
    }
    computed = {n for n, t in by_property.items() if t.get("Org.OData.Core.V1.Computed") == "true"}
    immutable = {
        n for n, t in by_property.items() if t.get("Org.OData.Core.V1.Immutable") == "true"
    }

    assert {"ID", "Version", "VersionID", "State", "LastModified", "CreatedOn"} <= computed
    assert not computed & {"Name", "Number", "Description", "Title", "Department"}
    assert immutable == {"Name", "Number"}


def test_metadata_says_what_queries_the_collection_supports(mock: Session) -> None:
    root = metadata(mock)
    documents = _terms(root, "PTC.DocMgmt.Windchill/Documents")
    container = _terms(root, "PTC.DocMgmt.Windchill")
    capabilities = "Org.OData.Capabilities.V1."

    assert container == {
        capabilities + "BatchSupported": "true",
        capabilities + "BatchSupport": "record",
    }
    assert documents[capabilities + "TopSupported"] == "true"
    assert documents[capabilities + "SkipSupported"] == "true"
    for record in ("Search", "Expand", "Filter", "Sort", "Count"):
        assert documents[f"{capabilities}{record}Restrictions"] == "record"
    text = mock.get(f"{ROOT}/DocMgmt/$metadata").get_data(as_text=True)
    assert '<PropertyValue Property="Searchable" Bool="false"/>' in text
    assert '<PropertyValue Property="Expandable" Bool="false"/>' in text
    assert '<Parameter Name="bindingParameter" Type="PTC.DocMgmt.Document"' in text


def test_ptc_metadata_defines_state_as_value_and_display(mock: Session) -> None:
    root = ET.fromstring(mock.get(f"{ROOT}/PTC/$metadata").get_data())

    enum_type = root.find(f"{EDMX}DataServices/{EDM}Schema/{EDM}ComplexType[@Name='EnumType']")

    assert enum_type is not None
    assert {p.get("Name") for p in enum_type.findall(f"{EDM}Property")} == {"Value", "Display"}
