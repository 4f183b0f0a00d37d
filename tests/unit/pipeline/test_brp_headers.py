"""The BRP connector's protocol headers: any Unicode text reaches the BRP as printable ASCII."""

from __future__ import annotations

import time

import httpx
import pytest
from iko_brp_connector.source import BrpSettings, BrpSource, protocol_header_value
from iko_shared.connector import FetchContext
from iko_shared.connector.fragments import fetch_fragment
from iko_shared.contracts import Identifier, LookupRequested, RequestContext, SourceQuery


@pytest.mark.parametrize(
    ("text", "sent"),
    [
        ("Beoordelen aanvraag", "Beoordelen aanvraag"),
        ("Beëindiging uitkering", "Be%C3%ABindiging uitkering"),
        ("jösé", "j%C3%B6s%C3%A9"),
        ("100% zeker", "100%25 zeker"),
        ("a\r\nX-Injected: 1", "a%0D%0AX-Injected: 1"),
        ("tab\there\x00\x7f", "tab%09here%00%7F"),
        ("👩‍💻 medewerker", "%F0%9F%91%A9%E2%80%8D%F0%9F%92%BB medewerker"),
        ("\ud800", "%EF%BF%BD"),
        ("~!\"#$&'()*+,-./:;<=>?@[\\]^_`{|}", "~!\"#$&'()*+,-./:;<=>?@[\\]^_`{|}"),
    ],
)
def test_protocol_header_values_are_printable_ascii(text: str, sent: str):
    value = protocol_header_value(text)
    assert value == sent
    assert value.isascii()
    assert all(" " <= c <= "~" for c in value)
    httpx.Headers({"x-verwerking": value})  # encodes without a UnicodeEncodeError


def test_protocol_header_values_are_cut_to_242_characters_before_encoding():
    assert protocol_header_value("a" * 300) == "a" * 242
    # Cut first: 242 characters of text, however long their encoding.
    assert protocol_header_value("ë" * 300) == "%C3%AB" * 242
    assert protocol_header_value("a" * 241 + "%%") == "a" * 241 + "%25"


def fetch_context(context: RequestContext, deadline_in: float = 2.0) -> FetchContext:
    now = time.time()
    query = SourceQuery(key="brp", source="brp", operation="RaadpleegMetBurgerservicenummer", fields=["naam"])
    request = LookupRequested(
        request_id="r1",
        profile="p",
        identifier=Identifier(type="bsn", value="999993653"),
        queries=[query],
        requested_at=now,
        deadline=now + deadline_in,
        reply_to="q",
        context=context,
    )
    return FetchContext(client=httpx.AsyncClient(), query=query, request=request, timeout=deadline_in)


def test_every_protocol_header_is_encoded():
    source = BrpSource(BrpSettings(origin_oin="0000000123456789ünicode"))
    context = RequestContext(doelbinding="Wmo ’23", verwerking="Beëindiging uitkering", gebruiker="jösé")
    headers = source.headers(fetch_context(context))
    assert headers["x-doelbinding"] == "Wmo %E2%80%9923"
    assert headers["x-verwerking"] == "Be%C3%ABindiging uitkering"
    assert headers["x-gebruiker"] == "j%C3%B6s%C3%A9"
    assert headers["x-origin-oin"] == "0000000123456789%C3%BCnicode"


async def test_a_unicode_purpose_and_user_reach_the_brp_instead_of_an_internal_error():
    seen: list[httpx.Request] = []

    def brp(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"personen": [{"burgerservicenummer": "999993653", "naam": {}}]})

    source = BrpSource(BrpSettings(batch_window_ms=0))
    ctx = fetch_context(RequestContext(doelbinding="BRPACT-Wmo", verwerking="Beëindiging uitkering", gebruiker="jösé"))
    async with httpx.AsyncClient(transport=httpx.MockTransport(brp), base_url="http://brp") as client:
        fragment = await fetch_fragment(source, FetchContext(client, ctx.query, ctx.request, ctx.timeout))
    assert fragment.status == "ok", fragment.error
    assert seen[0].headers["x-verwerking"] == "Be%C3%ABindiging uitkering"
