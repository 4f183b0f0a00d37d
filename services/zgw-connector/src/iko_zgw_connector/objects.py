"""The URI a case system registers a BAG object by in a zaakobject, from the identifier IKO is asked with.

A zaakobject names its object by URL (``ZaakObject.object``); for a BAG object that is the object's URL in the BAG
API. ``IKO_ZGW_OBJECT_URLS`` maps an identifier type to a URL template with ``{id}``; it defaults to the public BAG
Individuele Bevragingen v2 (the ZGW simulator seeds its zaakobjecten with the same URLs). Set it to what the case
systems in front of your Zaken API register, e.g. a BAG proxy of the municipality's own.
"""

from __future__ import annotations

from iko_shared.connector import SourceError

BAG_V2 = "https://api.bag.kadaster.nl/lvbag/individuelebevragingen/v2"
DEFAULT_OBJECT_URLS = {
    # The verblijfsobject, standplaats or ligplaats (16 digits).
    "adresseerbaarobject": f"{BAG_V2}/adresseerbareobjecten/{{id}}",
    # The address (16 digits).
    "nummeraanduiding": f"{BAG_V2}/nummeraanduidingen/{{id}}",
}
OBJECT_IDENTIFIER_TYPES = ("adresseerbaarobject", "nummeraanduiding")


def object_uri(templates: dict[str, str], kind: str, value: str) -> str:
    template = templates.get(kind)
    if template is None:
        raise SourceError("unsupported_identifier", f"IKO_ZGW_OBJECT_URLS has no URL template for {kind}")
    # Plain replacement, not str.format: a template's other braces stay as they are.
    return template.replace("{id}", value)
