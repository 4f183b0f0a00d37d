from pathlib import Path

import pytest
from iko_shared.contracts import Identifier
from iko_shared.profiles import ProfileError, load_profiles
from iko_shared.settings import ProfileSettings


def test_shipped_profiles_load():
    catalogue = load_profiles(ProfileSettings().profiles_file)
    assert catalogue.names() == ["bedrijf", "persoon"]
    persoon = catalogue.get("persoon")
    assert persoon is not None
    assert persoon.identifier == "bsn"
    assert sorted(persoon.sources) == ["brp", "zgw"]
    queries = persoon.queries(Identifier(type="bsn", value="999993653"))
    brp = next(q for q in queries if q.source == "brp")
    assert brp.operation == "RaadpleegMetBurgerservicenummer"
    assert "naam" in brp.fields


def test_timeout_is_capped_by_the_profile():
    persoon = load_profiles(ProfileSettings().profiles_file).get("persoon")
    assert persoon is not None
    assert persoon.timeout.effective_ms(None) == persoon.timeout.default_ms
    assert persoon.timeout.effective_ms(10) == 10
    assert persoon.timeout.effective_ms(10**6) == persoon.timeout.max_ms


def test_errors_name_file_and_field(tmp_path: Path):
    path = tmp_path / "profiles.yaml"
    path.write_text("profiles:\n  x:\n    identifier: passport\n    sources: {brp: {operation: R}}\n")
    with pytest.raises(ProfileError, match=r"profiles.yaml: profile 'x': identifier"):
        load_profiles(path)


def test_default_above_max_is_refused(tmp_path: Path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "profiles:\n  x:\n    identifier: bsn\n    timeout: {default_ms: 9000, max_ms: 100}\n"
        "    sources: {brp: {operation: R}}\n"
    )
    with pytest.raises(ProfileError, match="exceeds max_ms"):
        load_profiles(path)
