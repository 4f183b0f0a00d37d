"""The KVK test-environment companies: published details where the docs give them, generated otherwise.

Every published test kvkNummer in kvk-test-environment-kvknummers.csv gets a company. The
few details KVK's documentation and public cassettes give are fixed below; the rest is
generated deterministically from the kvkNummer, so every run serves the same data.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field

from iko_sandbox.paths import data_file

ERROR_SCENARIOS = frozenset({"90004973", "90002903"})
NOT_IN_DATASET = frozenset({"12345678"})
MANY_BRANCHES = {"90006577": 1000}
INACTIVE = frozenset({"96354429"})

# Legal forms whose owner is a legal person (with an RSIN and statutory name).
RECHTSPERSONEN = {
    "BV": "Besloten Vennootschap",
    "NV": "Naamloze Vennootschap",
    "Stichting": "Stichting",
    "Coöperatie": "Coöperatie",
    "Kerkgenootschap": "Kerkgenootschap",
    "Onderlinge Waarborg Maatschappij": "Onderlinge Waarborgmaatschappij",
    "Vereniging van Eigenaars": "Vereniging van Eigenaars",
    "Overige Privaatrechtelijke Rechtspersoon": "Overige privaatrechtelijke rechtspersoon",
}
SAMENWERKINGSVERBANDEN = {
    "Eenmanszaak": "Eenmanszaak",
    "VoF": "Vennootschap onder firma",
    "Maatschap": "Maatschap",
    "Commanditaire Vennootschap": "Commanditaire vennootschap",
}
SBI = {
    "10110": "Slachterijen (geen pluimvee-)",
    "10120": "Pluimveeslachterijen",
    "10130": "Vleesverwerking (niet tot snacks)",
    "62010": "Ontwikkelen, produceren en uitgeven van software",
    "70221": "Organisatie-adviesbureaus",
    "47190": "Warenhuizen",
    "94911": "Kerkgenootschappen",
    "94997": "Overige ideële organisaties",
    "65121": "Schadeverzekeringen",
    "86221": "Medisch specialistische praktijken",
    "68203": "Verhuur van woonruimte",
}
STREETS = (
    ("Kerkstraat", "1017GC", "Amsterdam"),
    ("Stationsplein", "3511ED", "Utrecht"),
    ("Markt", "5611EB", "Eindhoven"),
    ("Grote Markt", "9711LV", "Groningen"),
    ("Coolsingel", "3011AD", "Rotterdam"),
    ("Spui", "2511BL", "'s-Gravenhage"),
    ("Vrijthof", "6211LE", "Maastricht"),
    ("Oude Gracht", "3511AR", "Utrecht"),
)


@dataclass(frozen=True)
class Adres:
    type: str  # "bezoekadres" or "postadres", as in the API
    straatnaam: str = ""
    huisnummer: int | None = None
    huisletter: str = ""
    toevoeging: str = ""
    postcode: str = ""
    plaats: str = ""
    postbusnummer: int | None = None
    afgeschermd: bool = False
    land: str = "Nederland"


@dataclass
class Vestiging:
    vestigingsnummer: str
    naam: str
    hoofdvestiging: bool
    adressen: list[Adres]
    commercieel: bool = True
    handelsnamen: list[str] = field(default_factory=list)
    sbi: list[str] = field(default_factory=list)
    voltijd: int = 0
    deeltijd: int = 0
    websites: list[str] = field(default_factory=list)


@dataclass
class Company:
    kvk_nummer: str
    naam: str
    rechtsvorm: str
    uitgebreide_rechtsvorm: str
    rsin: str | None
    registratiedatum: str
    handelsnamen: list[str]
    sbi: list[str]
    vestigingen: list[Vestiging]
    eigenaar_adressen: list[Adres] = field(default_factory=list)
    datum_einde: str | None = None
    non_mailing: bool = False
    websites: list[str] = field(default_factory=list)

    @property
    def rechtspersoon(self) -> bool:
        return self.rsin is not None

    @property
    def actief(self) -> bool:
        return self.datum_einde is None

    @property
    def hoofdvestiging(self) -> Vestiging | None:
        return next((v for v in self.vestigingen if v.hoofdvestiging), None)


def _rsin(rng: random.Random) -> str:
    """An RSIN that passes the 11-proof, like real ones."""
    while True:
        digits = [rng.randint(0, 9) for _ in range(8)]
        total = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True))
        check = total % 11
        if check < 10 and digits[0] != 0:
            return "".join(map(str, digits)) + str(check)


def _generated_vestigingsnummer(kvk_nummer: str, index: int) -> str:
    return f"{int(kvk_nummer) * 1000 + index:012d}"


def _generated_adres(rng: random.Random) -> Adres:
    straat, postcode, plaats = rng.choice(STREETS)
    return Adres("bezoekadres", straat, rng.randint(1, 250), postcode=postcode, plaats=plaats)


def _generate(kvk_nummer: str, label: str) -> Company:
    rng = random.Random(f"kvk:{kvk_nummer}")
    kind = label.split(" (")[0]
    rechtspersoon = kind in RECHTSPERSONEN
    uitgebreid = RECHTSPERSONEN.get(kind) or SAMENWERKINGSVERBANDEN.get(kind, kind)
    naam = f"Test {kind} {kvk_nummer}"
    year = rng.randint(1995, 2020)
    registratie = f"{year}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    sbi = rng.sample(sorted(SBI), 2)
    count = MANY_BRANCHES.get(kvk_nummer, 1)
    vestigingen = [
        Vestiging(
            vestigingsnummer=_generated_vestigingsnummer(kvk_nummer, index),
            naam=naam if index == 0 else f"{naam} vestiging {index}",
            hoofdvestiging=index == 0,
            adressen=[_generated_adres(rng)],
            handelsnamen=[naam],
            sbi=sbi,
            voltijd=rng.randint(0, 20),
            deeltijd=rng.randint(0, 10),
        )
        for index in range(count)
    ]
    return Company(
        kvk_nummer=kvk_nummer,
        naam=naam,
        rechtsvorm=uitgebreid if kind not in ("BV", "NV") else kind,
        uitgebreide_rechtsvorm=uitgebreid,
        rsin=_rsin(rng) if rechtspersoon else None,
        registratiedatum=registratie,
        handelsnamen=[naam],
        sbi=sbi,
        vestigingen=vestigingen,
        datum_einde="20230101" if kvk_nummer in INACTIVE else None,
    )


def _apply_published(company: Company) -> None:
    """Overlays what KVK's test documentation states about a few numbers."""
    k = company.kvk_nummer
    if k == "69599084":
        company.naam = "Test EMZ Dagobert"
        company.handelsnamen = [
            "Test EMZ Dagobert",
            "Dagobert Horeca",
            "Dagobert Vleeswaren",
            "Dagobert Catering",
            "Dagobert Delicatessen",
            "Dagobert Slagerij",
            "Dagobert Worstmakerij",
            "Dagobert Groothandel",
        ]
        company.sbi = ["10110", "10120", "10130"]
        company.vestigingen = [
            Vestiging(
                "000038509504",
                "Test EMZ Dagobert",
                True,
                [Adres("bezoekadres", "Abebe Bikilalaan", 17, toevoeging="M", postcode="1034WL", plaats="Amsterdam")],
                handelsnamen=company.handelsnamen,
                sbi=company.sbi,
            ),
            Vestiging(
                "000038509520",
                "Test EMZ Nevenvestiging Govert",
                False,
                [Adres("bezoekadres", "Geneinde", 1, postcode="6225LR", plaats="Maastricht")],
                handelsnamen=["Test EMZ Nevenvestiging Govert"],
                sbi=["10130"],
            ),
        ]
    elif k == "68750110":
        company.naam = "Test BV Donald"
        company.rsin = "857587973"
        company.vestigingen[0] = Vestiging(
            "000037178598",
            "Test BV Donald",
            True,
            [
                Adres("bezoekadres", "Hizzaarderlaan", 3, huisletter="A", postcode="8713AE", plaats="Lollum"),
                Adres("postadres", postbusnummer=200, postcode="1000AE", plaats="Amsterdam"),
            ],
            handelsnamen=["Test BV Donald"],
            sbi=company.sbi,
        )
    elif k == "90001354":
        company.naam = "Grand Joyflex B.V."
        company.rsin = "992760562"
        company.vestigingen[0] = Vestiging(
            "990000541921",
            "Grand Joyflex B.V.",
            True,
            [
                Adres("bezoekadres", afgeschermd=True),
                Adres("postadres", "Sterkselseweg", 70, postcode="6029PG", plaats="Sterksel"),
            ],
            handelsnamen=["Grand Joyflex B.V."],
            sbi=company.sbi,
        )
    elif k == "69599068":
        company.naam = "Test Stichting Bolderbast"
        company.vestigingen[0].naam = company.naam
        company.vestigingen[0].adressen = [Adres("bezoekadres", "Oosterwal", 9, postcode="7241AR", plaats="Lochem")]
    elif k == "90002490":
        company.vestigingen[0].vestigingsnummer = "990000246858"
    elif k == "90000749":
        company.naam = "Global Conron"
        company.sbi = ["94997"]
        # A VvE has no hoofdvestiging; its address is the owner's.
        company.vestigingen = []
        company.eigenaar_adressen = [Adres("bezoekadres", "Blaauwweg", 163, postcode="3328XD", plaats="Dordrecht")]
    elif k == "55505201":
        company.naam = "Company Newtex"
        company.vestigingen[0].adressen = [
            Adres("bezoekadres", "Japiksestraat", 10, postcode="5612EX", plaats="Eindhoven")
        ]
    company.handelsnamen = company.handelsnamen if k == "69599084" else [company.naam]
    for vestiging in company.vestigingen:
        if vestiging.hoofdvestiging:
            vestiging.naam = company.naam if k != "69599084" else vestiging.naam
            vestiging.handelsnamen = vestiging.handelsnamen or [company.naam]


def load_companies() -> dict[str, Company]:
    companies: dict[str, Company] = {}
    with data_file("kvk", "kvk-test-environment-kvknummers.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            kvk_nummer = row["kvkNummer"].strip()
            if kvk_nummer in ERROR_SCENARIOS or kvk_nummer in NOT_IN_DATASET:
                continue
            company = _generate(kvk_nummer, row["rechtsvorm_of_scenario"].strip())
            _apply_published(company)
            companies[kvk_nummer] = company
    return companies
