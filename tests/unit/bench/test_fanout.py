"""The fan-out benchmark's own data and profile (bench/fanout.py): the synthetic families are valid, unique and
consistent, the original records stay, the simulators that read the persons file still load it, and the benchmark
profile validates beside the shipped ones. No stack: the benchmark run itself is ``python -m bench.fanout``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from iko_sandbox.bag.register import BagRegister
from iko_sandbox.brp.app import create_brp_app
from iko_sandbox.brp.repository import PersonRepository
from iko_sandbox.zgw import zaken
from iko_shared.identifiers import passes_elfproef
from iko_shared.profiles import load_profile, load_profiles

from bench import fanout
from bench.pipeline import SHIPPED_PROFILES, profiles_dir

ORIGINAL = fanout.SANDBOX_DATA / "brp" / fanout.PERSONS


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fanout") / "data"


@pytest.fixture(scope="module")
def parents(data_dir: Path) -> dict[int, str]:
    return fanout.write_data_dir(data_dir)


@pytest.fixture(scope="module")
def persons(data_dir: Path, parents: dict[int, str]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = orjson.loads((data_dir / "brp" / fanout.PERSONS).read_bytes())
    return records


def test_every_count_has_a_parent_with_one_child_fewer(parents: dict[int, str], persons: list[dict[str, Any]]) -> None:
    by_bsn = {p["burgerservicenummer"]: p for p in persons}

    assert sorted(parents) == sorted(fanout.COUNTS)
    for n, bsn in parents.items():
        kinderen = by_bsn[bsn].get("kinderen", [])
        assert len(kinderen) == n - 1
        for kind in kinderen:
            child = by_bsn[kind["burgerservicenummer"]]
            # The parent's entry names the child as the child's own record does, and the child names the parent.
            assert kind["naam"]["voornamen"] == child["naam"]["voornamen"]
            assert kind["naam"]["geslachtsnaam"] == child["naam"]["geslachtsnaam"]
            assert kind["geboorte"] == child["geboorte"]
            assert [o["burgerservicenummer"] for o in child["ouders"]] == [bsn]
            assert child["ouders"][0]["naam"] == {k: by_bsn[bsn]["naam"][k] for k in ("voornamen", "geslachtsnaam")}


def test_the_synthetic_bsns_are_valid_unique_and_new(persons: list[dict[str, Any]]) -> None:
    original: list[dict[str, Any]] = orjson.loads(ORIGINAL.read_bytes())
    synthetic = [p["burgerservicenummer"] for p in persons[len(original) :]]
    referenced = fanout.bsns_in(original)

    assert len(synthetic) == sum(fanout.COUNTS)
    assert all(passes_elfproef(bsn) for bsn in synthetic)
    assert len(set(synthetic)) == len(synthetic)
    assert not set(synthetic) & referenced
    assert all(bsn.startswith("9998") for bsn in synthetic)


def test_the_original_records_are_kept_and_the_rest_is_linked(data_dir: Path, persons: list[dict[str, Any]]) -> None:
    original: list[dict[str, Any]] = orjson.loads(ORIGINAL.read_bytes())

    assert persons[: len(original)] == original
    assert not (data_dir / "brp" / fanout.PERSONS).is_symlink()
    for entry in fanout.SANDBOX_DATA.iterdir():
        linked = data_dir / entry.name
        assert linked.exists()
        assert linked.is_symlink() == (entry.name != "brp")
    for entry in (fanout.SANDBOX_DATA / "brp").iterdir():
        assert (data_dir / "brp" / entry.name).exists()


def test_the_same_bsns_every_run(tmp_path: Path, parents: dict[int, str]) -> None:
    assert fanout.write_data_dir(tmp_path / "again") == parents
    assert fanout.write_data_dir(tmp_path / "few", counts=(50, 2))[50] != parents[50]


async def test_the_simulators_read_the_extended_file(
    data_dir: Path, parents: dict[int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IKO_SANDBOX_DATA_DIR", str(data_dir))
    repository = PersonRepository.load()
    assert BagRegister.load().adressen()
    assert set(parents.values()) <= set(zaken.test_bsns())

    # The BRP simulator answers the parent with the children's BSNs and each child by its own BSN.
    transport = httpx.ASGITransport(app=create_brp_app(api_key="", repository=repository))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as brp:
        query = {
            "type": "RaadpleegMetBurgerservicenummer",
            "burgerservicenummer": [parents[50]],
            "fields": ["burgerservicenummer", "naam", "geboorte", "kinderen.burgerservicenummer"],
        }
        parent = (await brp.post("/personen", json=query)).json()["personen"][0]
        children = [k["burgerservicenummer"] for k in parent["kinderen"]]
        assert len(children) == 49
        query = {**query, "burgerservicenummer": children[:20], "fields": ["burgerservicenummer", "naam"]}
        found = (await brp.post("/personen", json=query)).json()["personen"]
    assert [p["burgerservicenummer"] for p in found] == children[:20]


def test_the_profile_validates_beside_the_shipped_ones(tmp_path: Path) -> None:
    profile = load_profile(fanout.PROFILE_FILE)
    catalogue = load_profiles(profiles_dir(tmp_path))

    assert catalogue.get(fanout.PROFILE) == profile
    assert set(catalogue.names()) >= {p.stem for p in SHIPPED_PROFILES.glob("*.yaml")} | {"bench-persoon"}
    assert list(profile.sources) == ["brp"]
    assert profile.purposes == ["demo"]
    (relation,) = profile.relations
    assert relation.name == "kinderen"
    assert relation.max_fanout >= max(fanout.COUNTS) - 1
    assert profile.timeout.default_ms == fanout.TIMEOUT_MS


def test_the_judge_counts_the_fragments() -> None:
    ok = b'{"status":"ok","source":"brp"}'
    body = b'{"status":"complete","sources":{' + b",".join([ok] * 3) + b"}}"

    assert fanout.judge_of(3)(200, body)
    assert not fanout.judge_of(4)(200, body)
    assert not fanout.judge_of(3)(200, body.replace(b"complete", b"partial"))
    assert not fanout.judge_of(3)(504, body)


def test_the_marginals_and_the_target() -> None:
    marginal = fanout.marginals({1: 20.0, 2: 21.0, 15: 27.5, 50: 41.5})

    assert marginal == {"2->15": 0.5, "15->50": 0.4}
    assert fanout.target_verdict(marginal)["holds"] is True
    assert fanout.target_verdict({"2->15": 0.5, "15->50": 0.6})["holds"] is False
    assert fanout.marginals({1: 20.0, 2: 21.0})["15->50"] is None
