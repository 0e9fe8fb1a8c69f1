"""Service documents and ``$metadata`` (CSDL XML) for the domains the mock serves."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from ..core.documents import READ_ONLY
from ..core.kinds import DOCUMENT, KINDS, EntityKind
from ..core.profiles import Profile

__all__ = ["DOMAINS", "docmgmt_metadata", "domain_metadata", "ptc_metadata"]

#: Domain → entity sets it serves.
DOMAINS: dict[str, tuple[str, ...]] = {
    **{kind.domain: (kind.entity_set,) for kind in KINDS.values()},
    "PTC": (),
}

#: String properties every kind has, after ID, Number, Name and its writable ones.
_STRING_PROPERTIES = (
    "Version",
    "Revision",
    "VersionID",
    "CheckoutState",
    "CreatedBy",
    "ModifiedBy",
)


_VOCABULARIES = "https://oasis-tcs.github.io/odata-vocabularies/vocabularies"
#: Read-only properties are marked ``Core.Computed`` on the property itself (a Boolean term);
#: the key ``ID`` out of line, in the schema's ``Annotations`` (the same in CSDL). python-odata
#: 0.8.1 reads only inline annotations, and a computed key makes its create fail before it
#: sends anything.
_COMPUTED = frozenset(READ_ONLY) - {"ID"}
#: Set on create, never changed by PATCH (``UpdateCommonProperties`` is an action).
_IMMUTABLE = ("Name", "Number")
#: Properties a query cannot sort or filter by as a whole (a complex type: use State/Value).
_NOT_SORTABLE = ("State",)


def _property(name: str, type_: str, facets: str = "") -> str:
    if name not in _COMPUTED:
        return f'<Property Name="{name}" Type="{type_}"{facets}/>'
    return (
        f'<Property Name="{name}" Type="{type_}"{facets}>'
        '<Annotation Term="Org.OData.Core.V1.Computed" Bool="true"/></Property>'
    )


def _annotations(kind: EntityKind) -> str:
    """What the mock does and does not support, in the Core and Capabilities vocabularies, so
    that tools reading ``$metadata`` (an OpenAPI converter, a client generator) promise no
    more than the mock does."""
    paths = "".join(f"<PropertyPath>{name}</PropertyPath>" for name in _NOT_SORTABLE)
    restrictions = (
        ("SearchRestrictions", '<PropertyValue Property="Searchable" Bool="false"/>'),
        ("ExpandRestrictions", '<PropertyValue Property="Expandable" Bool="false"/>'),
        (
            "FilterRestrictions",
            '<PropertyValue Property="Filterable" Bool="true"/>'
            f'<PropertyValue Property="NonFilterableProperties"><Collection>{paths}'
            "</Collection></PropertyValue>",
        ),
        (
            "SortRestrictions",
            '<PropertyValue Property="Sortable" Bool="true"/>'
            f'<PropertyValue Property="NonSortableProperties"><Collection>{paths}'
            "</Collection></PropertyValue>",
        ),
        ("CountRestrictions", '<PropertyValue Property="Countable" Bool="true"/>'),
        ("SelectSupport", '<PropertyValue Property="Supported" Bool="true"/>'),
    )
    documents = "".join(
        f'<Annotation Term="Capabilities.{term}"><Record>{values}</Record></Annotation>'
        for term, values in restrictions
    )
    documents += (
        '<Annotation Term="Capabilities.TopSupported" Bool="true"/>'
        '<Annotation Term="Capabilities.SkipSupported" Bool="true"/>'
    )
    entity_type, container = kind.qualified_type, f"{kind.namespace}.Windchill"
    properties = f'<Annotations Target="{entity_type}/ID">' + (
        '<Annotation Term="Core.Computed" Bool="true"/></Annotations>'
    )
    properties += "".join(
        f'<Annotations Target="{entity_type}/{name}">'
        '<Annotation Term="Core.Immutable" Bool="true"/></Annotations>'
        for name in _IMMUTABLE
    )
    batch = (
        '<Annotation Term="Capabilities.BatchSupported" Bool="true"/>'
        '<Annotation Term="Capabilities.BatchSupport"><Record>'
        '<PropertyValue Property="Supported" Bool="true"/>'
        '<PropertyValue Property="ContinueOnErrorSupported" Bool="true"/>'
        '<PropertyValue Property="ReferencesInRequestBodiesSupported" Bool="false"/>'
        '<PropertyValue Property="ReferencesAcrossChangeSetsSupported" Bool="false"/>'
        '<PropertyValue Property="EtagReferencesSupported" Bool="false"/>'
        '<PropertyValue Property="SupportedFormats"><Collection>'
        "<String>multipart/mixed</String><String>application/json</String>"
        "</Collection></PropertyValue></Record></Annotation>"
    )
    return (
        f"{properties}"
        f'<Annotations Target="{container}/{kind.entity_set}">{documents}</Annotations>'
        f'<Annotations Target="{container}">{batch}</Annotations>'
    )


def docmgmt_metadata(profile: Profile, soft_attributes: tuple[str, ...]) -> str:
    """The ``$metadata`` of the document domain."""
    return domain_metadata(profile, soft_attributes, DOCUMENT)


def domain_metadata(profile: Profile, soft_attributes: tuple[str, ...], kind: EntityKind) -> str:
    """The ``$metadata`` of ``kind``'s domain: its entity type, set and bound actions."""
    props = []
    for name in ("ID", "Number", "Name", *kind.writable, *_STRING_PROPERTIES):
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
        # The binding parameter's name is free in CSDL; "bindingParameter" is what OData
        # clients (python-odata) look for to attach a bound action to its entity.
        f'<Parameter Name="bindingParameter" Type="{kind.qualified_type}" Nullable="false"/>'
        f"{params}"
        f'<ReturnType Type="{kind.qualified_type}"/></Action>'
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
        f'<edmx:Reference Uri="{_VOCABULARIES}/Org.OData.Core.V1.xml">'
        '<edmx:Include Namespace="Org.OData.Core.V1" Alias="Core"/></edmx:Reference>'
        f'<edmx:Reference Uri="{_VOCABULARIES}/Org.OData.Capabilities.V1.xml">'
        '<edmx:Include Namespace="Org.OData.Capabilities.V1" Alias="Capabilities"/>'
        "</edmx:Reference>"
        "<edmx:DataServices>"
        f'<Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="{kind.namespace}">'
        f'<EntityType Name="{kind.type_name}"><Key><PropertyRef Name="ID"/></Key>'
        f"{''.join(props)}</EntityType>"
        f"{actions}"
        '<EntityContainer Name="Windchill">'
        f'<EntitySet Name="{kind.entity_set}" EntityType="{kind.qualified_type}">{concurrency}'
        "</EntitySet>"
        f"</EntityContainer>{_annotations(kind)}</Schema></edmx:DataServices></edmx:Edmx>"
    )


def ptc_metadata() -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">'
        f'<edmx:Reference Uri="{_VOCABULARIES}/Org.OData.Capabilities.V1.xml">'
        '<edmx:Include Namespace="Org.OData.Capabilities.V1" Alias="Capabilities"/>'
        "</edmx:Reference>"
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
        "</EntityContainer>"
        '<Annotations Target="PTC.Windchill">'
        '<Annotation Term="Capabilities.BatchSupported" Bool="false"/></Annotations>'
        "</Schema></edmx:DataServices></edmx:Edmx>"
    )
