"""Service documents and ``$metadata`` (CSDL XML) for the domains the mock serves."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from ..core.documents import READ_ONLY
from ..core.profiles import Profile

__all__ = ["DOMAINS", "docmgmt_metadata", "ptc_metadata"]

#: Domain → entity sets it serves.
DOMAINS: dict[str, tuple[str, ...]] = {"DocMgmt": ("Documents",), "PTC": ()}

_STRING_PROPERTIES = (
    "ID",
    "Number",
    "Name",
    "Description",
    "Title",
    "Version",
    "Revision",
    "VersionID",
    "CheckoutState",
    "CreatedBy",
    "ModifiedBy",
)


_CORE_VOCABULARY = (
    "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Core.V1.xml"
)
#: Read-only properties are marked ``Core.Computed`` on the property itself (a Boolean term).
_COMPUTED = frozenset(READ_ONLY)


def _property(name: str, type_: str, facets: str = "") -> str:
    if name not in _COMPUTED:
        return f'<Property Name="{name}" Type="{type_}"{facets}/>'
    return (
        f'<Property Name="{name}" Type="{type_}"{facets}>'
        '<Annotation Term="Org.OData.Core.V1.Computed" Bool="true"/></Property>'
    )


def docmgmt_metadata(profile: Profile, soft_attributes: tuple[str, ...]) -> str:
    props = []
    for name in _STRING_PROPERTIES:
        nullable = "false" if name in ("ID", "Number", "Name") else "true"
        props.append(_property(name, "Edm.String", f' Nullable="{nullable}"'))
    props.append(_property("Latest", "Edm.Boolean"))
    props.append(_property("State", "PTC.EnumType"))
    props.append(_property("CreatedOn", "Edm.DateTimeOffset"))
    props.append(_property("LastModified", "Edm.DateTimeOffset"))
    props.extend(f'<Property Name={quoteattr(n)} Type="Edm.String"/>' for n in soft_attributes)
    concurrency = ""
    if profile.advertise_optimistic_concurrency:
        concurrency = (
            '<Annotation Term="Org.OData.Core.V1.OptimisticConcurrency">'
            "<Collection><PropertyPath>LastModified</PropertyPath></Collection></Annotation>"
        )
    actions = "".join(
        f'<Action Name="{name}" IsBound="true">'
        '<Parameter Name="Document" Type="PTC.DocMgmt.Document"/>'
        f"{params}"
        '<ReturnType Type="PTC.DocMgmt.Document"/></Action>'
        for name, params in (
            ("CheckOut", '<Parameter Name="CheckOutNote" Type="Edm.String"/>'),
            (
                "CheckIn",
                '<Parameter Name="CheckInNote" Type="Edm.String"/>'
                '<Parameter Name="KeepCheckedOut" Type="Edm.Boolean"/>'
                '<Parameter Name="CheckOutNote" Type="Edm.String"/>',
            ),
            ("UndoCheckOut", ""),
            (
                "UpdateCommonProperties",
                '<Parameter Name="Name" Type="Edm.String"/>'
                '<Parameter Name="Number" Type="Edm.String"/>',
            ),
        )
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">'
        # State's type lives in the PTC domain; the annotations use the Core vocabulary.
        '<edmx:Reference Uri="../PTC/$metadata"><edmx:Include Namespace="PTC"/></edmx:Reference>'
        f'<edmx:Reference Uri="{_CORE_VOCABULARY}">'
        '<edmx:Include Namespace="Org.OData.Core.V1"/></edmx:Reference>'
        "<edmx:DataServices>"
        '<Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="PTC.DocMgmt">'
        '<EntityType Name="Document"><Key><PropertyRef Name="ID"/></Key>'
        f"{''.join(props)}</EntityType>"
        f"{actions}"
        '<EntityContainer Name="Windchill">'
        f'<EntitySet Name="Documents" EntityType="PTC.DocMgmt.Document">{concurrency}'
        "</EntitySet>"
        "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"
    )


def ptc_metadata() -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">'
        "<edmx:DataServices>"
        '<Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="PTC">'
        # WRS serialises State as {"Value": …, "Display": …}: a complex type, not an enum.
        '<ComplexType Name="EnumType"><Property Name="Value" Type="Edm.String"/>'
        '<Property Name="Display" Type="Edm.String"/></ComplexType>'
        '<ComplexType Name="CSRFToken"><Property Name="NonceKey" Type="Edm.String"/>'
        '<Property Name="NonceValue" Type="Edm.String"/></ComplexType>'
        '<Function Name="GetCSRFToken"><ReturnType Type="PTC.CSRFToken"/></Function>'
        '<EntityContainer Name="Windchill">'
        '<FunctionImport Name="GetCSRFToken" Function="PTC.GetCSRFToken"/>'
        "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"
    )
