"""Renders companies in the KVK API shapes, with links as `links` (JSON) or `_links` (HAL)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from iko_sandbox.kvk.companies import SBI, Adres, Company, Vestiging

Json = dict[str, Any]


@dataclass(frozen=True)
class LinkStyle:
    """`base` is the simulator's own root, standing in for https://api.kvk.nl/test/api/."""

    base: str
    hal: bool

    def url(self, path: str) -> str:
        return f"{self.base.rstrip('/')}/{path.lstrip('/')}"

    def attach(self, target: Json, links: dict[str, str]) -> Json:
        if self.hal:
            target["_links"] = {rel: {"href": self.url(path)} for rel, path in links.items()}
        else:
            target["links"] = [{"rel": rel, "href": self.url(path)} for rel, path in links.items()]
        return target


def _ja(value: bool) -> str:
    return "Ja" if value else "Nee"


def _geo(adres: Adres) -> Json:
    # Deterministic coordinates inside the Netherlands, derived from the address.
    seed = int(hashlib.sha256(f"{adres.straatnaam}{adres.huisnummer}{adres.postcode}".encode()).hexdigest()[:8], 16)
    lat = 51.0 + (seed % 20000) / 10000
    lon = 4.0 + (seed // 20000 % 25000) / 10000
    return {
        "addresseerbaarObjectId": f"{seed % 10**16:016d}",
        "nummerAanduidingId": f"{(seed * 7) % 10**16:016d}",
        "gpsLatitude": round(lat, 6),
        "gpsLongitude": round(lon, 6),
        "rijksdriehoekX": round(155000 + (lon - 5.387) * 69000, 3),
        "rijksdriehoekY": round(463000 + (lat - 52.156) * 111000, 3),
        "rijksdriehoekZ": 0.0,
    }


def volledig_adres(adres: Adres) -> str:
    if adres.postbusnummer is not None:
        return f"Postbus {adres.postbusnummer} {adres.postcode} {adres.plaats}".strip()
    nummer = f"{adres.huisnummer or ''}{adres.huisletter}"
    if adres.toevoeging:
        nummer = f"{nummer} {adres.toevoeging}"
    return f"{adres.straatnaam} {nummer} {adres.postcode} {adres.plaats}".replace("  ", " ").strip()


def render_adres(adres: Adres, geo: bool) -> Json:
    if adres.afgeschermd:
        return {"type": adres.type, "indAfgeschermd": "Ja"}
    result: Json = {"type": adres.type, "indAfgeschermd": "Nee", "volledigAdres": volledig_adres(adres)}
    if adres.postbusnummer is not None:
        result["postbusnummer"] = adres.postbusnummer
    else:
        result["straatnaam"] = adres.straatnaam
        if adres.huisnummer is not None:
            result["huisnummer"] = adres.huisnummer
        if adres.huisletter:
            result["huisletter"] = adres.huisletter
        if adres.toevoeging:
            result["toevoegingAdres"] = adres.toevoeging
    result["postcode"] = adres.postcode
    result["plaats"] = adres.plaats
    result["land"] = adres.land
    if geo and adres.postbusnummer is None:
        result["geoData"] = _geo(adres)
    return result


def _sbi(codes: list[str]) -> list[Json]:
    return [
        {"sbiCode": code, "sbiOmschrijving": SBI.get(code, "Overige activiteiten"), "indHoofdactiviteit": _ja(i == 0)}
        for i, code in enumerate(codes)
    ]


def _handelsnamen(names: list[str]) -> list[Json]:
    return [{"naam": name, "volgorde": i} for i, name in enumerate(names)]


def render_vestiging(company: Company, vestiging: Vestiging, style: LinkStyle, geo: bool, *, embedded: bool) -> Json:
    result: Json = {"vestigingsnummer": vestiging.vestigingsnummer, "kvkNummer": company.kvk_nummer}
    # The embedded hoofdvestiging leaves out rsin and handelsnamen, as the spec notes.
    if company.rsin and not embedded:
        result["rsin"] = company.rsin
    result["indNonMailing"] = _ja(company.non_mailing)
    result["formeleRegistratiedatum"] = company.registratiedatum
    materieel: Json = {"datumAanvang": company.registratiedatum}
    if company.datum_einde:
        materieel["datumEinde"] = company.datum_einde
    result["materieleRegistratie"] = materieel
    if company.rechtspersoon:
        result["statutaireNaam"] = company.naam
    result["eersteHandelsnaam"] = vestiging.naam
    result["indHoofdvestiging"] = _ja(vestiging.hoofdvestiging)
    result["indCommercieleVestiging"] = _ja(vestiging.commercieel)
    result["voltijdWerkzamePersonen"] = vestiging.voltijd
    result["totaalWerkzamePersonen"] = vestiging.voltijd + vestiging.deeltijd
    result["deeltijdWerkzamePersonen"] = vestiging.deeltijd
    if not embedded:
        result["handelsnamen"] = _handelsnamen(vestiging.handelsnamen or [vestiging.naam])
    result["adressen"] = [render_adres(adres, geo) for adres in vestiging.adressen]
    if vestiging.websites:
        result["websites"] = vestiging.websites
    result["sbiActiviteiten"] = _sbi(vestiging.sbi)
    return style.attach(
        result,
        {
            "self": f"v1/basisprofielen/{company.kvk_nummer}/hoofdvestiging"
            if vestiging.hoofdvestiging and embedded
            else f"v1/vestigingsprofielen/{vestiging.vestigingsnummer}",
            "basisprofiel": f"v1/basisprofielen/{company.kvk_nummer}",
            "vestigingsprofiel": f"v1/vestigingsprofielen/{vestiging.vestigingsnummer}",
        },
    )


def render_eigenaar(company: Company, style: LinkStyle, geo: bool) -> Json:
    result: Json = {}
    if company.rsin:
        result["rsin"] = company.rsin
    result["rechtsvorm"] = company.rechtsvorm
    result["uitgebreideRechtsvorm"] = company.uitgebreide_rechtsvorm
    if company.datum_einde:
        result["datumUitschrijving"] = company.datum_einde
    if company.eigenaar_adressen:
        result["adressen"] = [render_adres(adres, geo) for adres in company.eigenaar_adressen]
    if company.websites:
        result["websites"] = company.websites
    return style.attach(
        result,
        {
            "self": f"v1/basisprofielen/{company.kvk_nummer}/eigenaar",
            "basisprofiel": f"v1/basisprofielen/{company.kvk_nummer}",
        },
    )


def render_basisprofiel(company: Company, style: LinkStyle, geo: bool) -> Json:
    hoofd = company.hoofdvestiging
    result: Json = {
        "kvkNummer": company.kvk_nummer,
        "indNonMailing": _ja(company.non_mailing),
        "naam": company.naam,
        "formeleRegistratiedatum": company.registratiedatum,
        "materieleRegistratie": {"datumAanvang": company.registratiedatum}
        | ({"datumEinde": company.datum_einde} if company.datum_einde else {}),
        "totaalWerkzamePersonen": sum(v.voltijd + v.deeltijd for v in company.vestigingen),
    }
    if company.rechtspersoon:
        result["statutaireNaam"] = company.naam
    result["handelsnamen"] = _handelsnamen(company.handelsnamen)
    result["sbiActiviteiten"] = _sbi(company.sbi)
    links = {
        "self": f"v1/basisprofielen/{company.kvk_nummer}",
        "eigenaar": f"v1/basisprofielen/{company.kvk_nummer}/eigenaar",
        "vestigingen": f"v1/basisprofielen/{company.kvk_nummer}/vestigingen",
    }
    if hoofd:
        links["hoofdvestiging"] = f"v1/basisprofielen/{company.kvk_nummer}/hoofdvestiging"
    style.attach(result, links)
    embedded: Json = {}
    if hoofd:
        embedded["hoofdvestiging"] = render_vestiging(company, hoofd, style, geo, embedded=True)
    embedded["eigenaar"] = render_eigenaar(company, style, geo)
    result["_embedded"] = embedded
    return result


def render_vestigingen(company: Company, style: LinkStyle) -> Json:
    commercieel = sum(1 for v in company.vestigingen if v.commercieel)
    items = []
    for vestiging in company.vestigingen:
        adres = next((a for a in vestiging.adressen if a.type == "bezoekadres"), None) or (
            vestiging.adressen[0] if vestiging.adressen else None
        )
        item: Json = {
            "vestigingsnummer": vestiging.vestigingsnummer,
            "kvkNummer": company.kvk_nummer,
            "eersteHandelsnaam": vestiging.naam,
            "indHoofdvestiging": _ja(vestiging.hoofdvestiging),
            "indAdresAfgeschermd": _ja(bool(adres and adres.afgeschermd)),
            "indCommercieleVestiging": _ja(vestiging.commercieel),
        }
        if adres and not adres.afgeschermd:
            item["volledigAdres"] = volledig_adres(adres)
        items.append(style.attach(item, {"vestigingsprofiel": f"v1/vestigingsprofielen/{vestiging.vestigingsnummer}"}))
    result: Json = {
        "kvkNummer": company.kvk_nummer,
        "aantalCommercieleVestigingen": commercieel,
        "aantalNietCommercieleVestigingen": len(company.vestigingen) - commercieel,
        "totaalAantalVestigingen": len(company.vestigingen),
        "vestigingen": items,
    }
    return style.attach(
        result,
        {
            "self": f"v1/basisprofielen/{company.kvk_nummer}/vestigingen",
            "basisprofiel": f"v1/basisprofielen/{company.kvk_nummer}",
        },
    )
