"""The two forms of an inzage answer: the privacy officer's has everything, the citizen's no names of people,
systems or sources."""

from __future__ import annotations

from datetime import UTC, datetime

from iko_gateway.inzage import citizen_view, officer_view
from iko_shared.contracts import DisclosedSource, Identifier, InzageAnswered, StoredDisclosure

SUBJECT = Identifier(type="bsn", value="999993409")


def disclosure(kind: str, activity: str, source: str) -> StoredDisclosure:
    return StoredDisclosure(
        id=7,
        event_id="e-1",
        request_id="r-1",
        kind=kind,
        profile="endpoint:brp",
        verwerkingsactiviteit=activity,
        doelbinding="klantcontact",
        verwerking="Vraag burger",
        vertrouwelijkheid="vertrouwelijk",
        bewaartermijn="P20Y",
        uitvoerder="gemeente",
        systeem="IKO gateway 0123abcd",
        gebruiker="medewerker-17",
        subject="8c4c6d1e",
        client="valtimo",
        caller_kind="jwt",
        roles=["iko-persoon"],
        identifier=SUBJECT,
        sources=[
            DisclosedSource(key="partners[0].brp", source=source, operation="Raadpleeg", fields=["naam"], status="ok")
        ],
        outcome="complete",
        started_at=datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
        ended_at=datetime(2026, 12, 1, 10, 0, 1, tzinfo=UTC),
    )


ANSWER = InzageAnswered(
    request_id="q-1",
    identifier=SUBJECT,
    page=1,
    page_size=20,
    total=1,
    disclosures=[disclosure("endpoint", "brp: RaadpleegMetBurgerservicenummer (IKO Server API)", "brp")],
)


def test_the_officer_sees_who_why_and_what():
    [row] = officer_view(ANSWER)["disclosures"]
    assert (row["gebruiker"], row["doelbinding"], row["sources"][0]["source"]) == (
        "medewerker-17",
        "klantcontact",
        "brp",
    )


def test_the_citizen_sees_no_case_worker_system_or_source():
    view = citizen_view(ANSWER)
    [row] = view["verwerkingen"]
    assert row == {
        "tijdstip": "2026-12-01T10:00:00+00:00",
        "verwerkingsactiviteit": "raadplegen",
        "doelbinding": "klantcontact",
        "verwerking": "Vraag burger",
        "uitvoerder": "gemeente",
        "vertrouwelijkheid": "vertrouwelijk",
        "gegevens": ["naam"],
    }
    text = str(view)
    for hidden in ("medewerker-17", "IKO gateway", "brp", "valtimo", "8c4c6d1e"):
        assert hidden not in text
