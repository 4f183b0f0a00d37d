from pathlib import Path

import pytest
import yaml
from iko_shared.profiles import ProfileError, load_profiles, lookup_plan
from iko_shared.profiles.loader import main as check_config
from iko_shared.settings import ProfileSettings

SHIPPED = ProfileSettings().profiles_dir


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def test_shipped_profiles_load_with_relations_and_searches():
    catalogue = load_profiles(SHIPPED)
    assert catalogue.names() == ["adres", "bedrijf", "persoon"]
    persoon = catalogue.get("persoon")
    assert persoon is not None
    assert persoon.identifiers == ["bsn"]
    assert sorted(persoon.sources) == ["brp", "contactmomenten", "zgw"]
    assert [r.name for r in persoon.relations] == ["partners", "kinderen", "adres"]
    assert set(persoon.searches) == {"bsn", "geslachtsnaam-geboortedatum", "postcode-huisnummer"}
    bedrijf = catalogue.get("bedrijf")
    assert bedrijf is not None
    assert set(bedrijf.searches) == {"naam", "kvknummer"}
    adres = catalogue.get("adres")
    assert adres is not None
    assert adres.identifiers == ["nummeraanduiding"]
    assert set(adres.searches) == {"postcode-huisnummer", "straat-huisnummer-woonplaats"}
    assert catalogue.connectors() == ["bag", "brp", "klantinteracties", "kvk", "objecten", "zgw"]


def test_the_residents_of_an_address_carry_the_rule_that_names_them_in_the_audit_trail():
    adres = load_profiles(SHIPPED).get("adres")
    assert adres is not None
    _, relations = lookup_plan(adres)
    [to_object] = relations
    assert (to_object.from_key, to_object.identifier_type) == ("bag", "adresseerbaarobject")
    bewoners = next(q for q in to_object.queries if q.key == "bewoners")
    assert bewoners.operation == "ZoekMetAdresseerbaarObjectIdentificatie"
    assert bewoners.subjects is not None
    assert (bewoners.subjects.type, bewoners.subjects.select) == ("bsn", ".personen[]?.burgerservicenummer")


def test_plan_carries_fields_and_the_relation_tree():
    persoon = load_profiles(SHIPPED).get("persoon")
    assert persoon is not None
    queries, relations = lookup_plan(persoon)
    brp = next(q for q in queries if q.key == "brp")
    assert brp.operation == "RaadpleegMetBurgerservicenummer"
    assert "partners.burgerservicenummer" in brp.fields
    partners = relations[0]
    assert (partners.name, partners.from_key, partners.identifier_type) == ("partners", "brp", "bsn")
    assert {q.key for q in partners.queries} == {"brp", "zgw"}


def test_timeout_is_capped_by_the_profile():
    persoon = load_profiles(SHIPPED).get("persoon")
    assert persoon is not None
    assert persoon.timeout.effective_ms(None) == persoon.timeout.default_ms
    assert persoon.timeout.effective_ms(10) == 10
    assert persoon.timeout.effective_ms(10**6) == persoon.timeout.max_ms


MINIMAL = "identifiers: [bsn]\npurposes: [p]\nsources:\n  brp: {operation: R}\n"


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        (
            "identifiers: [passport]\npurposes: [p]\nsources:\n  brp: {operation: R}\n",
            1,
            "identifiers.0",
            "unknown identifier type 'passport'",
        ),
        ("identifiers: [bsn]\nsources:\n  brp: {operation: R}\n", 1, "purposes", "Field required"),
        (MINIMAL + "timeout: {default_ms: 9000, max_ms: 100}\n", 5, "timeout", "exceeds max_ms"),
        (MINIMAL + "transform: '.['\n", 5, "transform", "not a valid jq expression"),
        (
            MINIMAL + "relations:\n  - name: p\n    from: nothere\n    select: .x\n    identifier: bsn\n"
            "    sources: {brp: {operation: R}}\n",
            6,
            "relations",
            "not a source here",
        ),
        (
            MINIMAL + "searches:\n  s:\n    source: brp\n    operation: Z\n    subject: {type: bsn, value: .b}\n"
            "    columns:\n      - {key: a, title: A, value: '.['}\n",
            11,
            "searches.s.columns.0.value",
            "not a valid jq expression",
        ),
        (MINIMAL + "unknown: 1\n", 5, "unknown", "Extra inputs are not permitted"),
        (
            MINIMAL.replace("{operation: R}", "{operation: R, subjects: {type: bsn, select: '.['}}"),
            4,
            "sources.brp.subjects.select",
            "not a valid jq expression",
        ),
        (
            MINIMAL.replace("{operation: R}", "{operation: R, subjects: {type: paspoort, select: .b}}"),
            4,
            "sources.brp.subjects.type",
            "unknown identifier type 'paspoort'",
        ),
    ],
)
def test_errors_name_the_file_the_line_and_the_field(tmp_path, text, line, field, message):
    path = write(tmp_path, "x", text)
    with pytest.raises(ProfileError) as raised:
        load_profiles(tmp_path)
    text_of_error = str(raised.value)
    assert f"{path}:{line}: {field}" in text_of_error
    assert message in text_of_error


def test_relations_may_not_nest_too_deep(tmp_path):
    def relation(depth: int) -> dict:
        nested = [relation(depth + 1)] if depth < 4 else []
        return {
            "name": f"r{depth}",
            "from": "brp",
            "select": ".x",
            "identifier": "bsn",
            "sources": {"brp": {"operation": "R"}},
            "relations": nested,
        }

    profile = {
        "identifiers": ["bsn"],
        "purposes": ["p"],
        "sources": {"brp": {"operation": "R"}},
        "relations": [relation(1)],
    }
    write(tmp_path, "deep", yaml.safe_dump(profile))
    with pytest.raises(ProfileError, match="nest deeper than 3"):
        load_profiles(tmp_path)


def test_every_broken_file_is_reported_at_once(tmp_path):
    write(tmp_path, "a", "identifiers: [bsn]\npurposes: [p]\n")
    write(tmp_path, "b", "sources: [\n")
    write(tmp_path, "ok", MINIMAL)
    with pytest.raises(ProfileError) as raised:
        load_profiles(tmp_path)
    assert "a.yaml" in str(raised.value)
    assert "b.yaml" in str(raised.value)
    assert "not valid YAML" in str(raised.value)


def test_name_must_match_the_file(tmp_path):
    write(tmp_path, "x", "name: y\n" + MINIMAL)
    with pytest.raises(ProfileError, match="must match the file name"):
        load_profiles(tmp_path)


def test_check_config_command_reports_and_exits(tmp_path, capsys):
    assert check_config([str(SHIPPED)]) == 0
    assert "ok  persoon" in capsys.readouterr().out
    write(tmp_path, "bad", "identifiers: [bsn]\n")
    assert check_config([str(tmp_path)]) == 1
    assert "bad.yaml" in capsys.readouterr().err
