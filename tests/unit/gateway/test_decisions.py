"""The decision point, on the shipped profiles, with restricted callers: what each call may do, for every API."""

from __future__ import annotations

import pytest
from iko_gateway.access import AccessDeniedError
from iko_gateway.auth.caller import Caller
from iko_gateway.decisions import AccessDecider, InvalidInputError, Stated, caller_token, field_within
from iko_shared.contracts import Identifier
from iko_shared.profiles import Profile, ProfileCatalogue, load_profiles
from iko_shared.settings import ProfileSettings

BSN = "999993653"
KVK = "69599084"
KLANTCONTACT = Stated("klantcontact", "Vraag burger")


def caller(*roles: str, subject: str = "medewerker-1") -> Caller:
    return Caller(kind="jwt", subject=subject, client="valtimo", user=subject, roles=frozenset(roles))


PERSOON = caller("iko-persoon")
PERSOON_ZAKEN = caller("iko-persoon", "iko-zaken")
BEDRIJF = caller("iko-bedrijf")


@pytest.fixture(scope="module")
def decider() -> AccessDecider:
    return AccessDecider(load_profiles(ProfileSettings().profiles_dir), dev_mode=False)


def refusal(call, *args, **kwargs) -> AccessDeniedError:
    with pytest.raises(AccessDeniedError) as caught:
        call(*args, **kwargs)
    return caught.value


# --- finding 1: roles on the compatible /endpoints ---


def test_a_bedrijf_caller_gets_no_zaken_of_a_person(decider):
    # bedrijf.zgw has no roles, but bedrijf looks up by kvk: a BSN through zgw is persoon's, which needs iko-zaken.
    refused = refusal(decider.endpoint, BEDRIJF, "zgw", "zaken", BSN, [], KLANTCONTACT)
    assert refused.status == 403


def test_a_bedrijf_caller_gets_the_zaken_of_a_company(decider):
    plan = decider.endpoint(BEDRIJF, "zgw", "zaken", KVK, [], KLANTCONTACT)
    assert plan.identifier == Identifier(type="kvk", value=KVK)
    assert plan.exposure.profile.name == "bedrijf"


def test_zaken_of_a_person_need_the_source_role(decider):
    assert refusal(decider.endpoint, PERSOON, "zgw", "zaken", BSN, [], KLANTCONTACT).status == 403
    plan = decider.endpoint(PERSOON_ZAKEN, "zgw", "zaken", BSN, [], KLANTCONTACT)
    assert plan.identifier == Identifier(type="bsn", value=BSN)


def test_a_search_operation_needs_a_profile_the_caller_may_use(decider):
    query = [("geslachtsnaam", "Moulin"), ("geboortedatum", "1985-12-01")]
    assert refusal(decider.endpoint, BEDRIJF, "brp", "ZoekMetGeslachtsnaamEnGeboortedatum", None, query, KLANTCONTACT)
    plan = decider.endpoint(PERSOON, "brp", "ZoekMetGeslachtsnaamEnGeboortedatum", None, query, KLANTCONTACT)
    assert plan.exposure.kind == "search"
    assert plan.ask.queries[0].params == {"geslachtsnaam": "Moulin", "geboortedatum": "1985-12-01"}


def test_search_action_roles_hold_on_both_apis():
    profile = Profile.model_validate(
        {
            "name": "p",
            "identifiers": ["bsn"],
            "purposes": ["klantcontact"],
            "sources": {"brp": {"operation": "RaadpleegMetBurgerservicenummer", "fields": ["naam"]}},
            "searches": {
                "naam": {
                    "source": "brp",
                    "operation": "ZoekMetGeslachtsnaamEnGeboortedatum",
                    "roles": ["iko-zoeken"],
                    "filters": {"geslachtsnaam": {"required": True}},
                    "rows": ".personen[]",
                    "subject": {"type": "bsn", "value": ".burgerservicenummer"},
                    "columns": [{"key": "bsn", "title": "BSN", "value": ".burgerservicenummer"}],
                }
            },
        }
    )
    decider = AccessDecider(ProfileCatalogue({profile.name: profile}), dev_mode=False)
    anyone, searcher = caller("x"), caller("iko-zoeken")
    query = [("geslachtsnaam", "Moulin")]
    assert refusal(decider.endpoint, anyone, "brp", "ZoekMetGeslachtsnaamEnGeboortedatum", None, query, KLANTCONTACT)
    assert decider.endpoint(searcher, "brp", "ZoekMetGeslachtsnaamEnGeboortedatum", None, query, KLANTCONTACT)
    native = refusal(decider.search, anyone, "p", "naam", {"geslachtsnaam": "M"}, 1, 20, None, KLANTCONTACT)
    assert native.status == 403
    assert decider.search(searcher, "p", "naam", {"geslachtsnaam": "M"}, 1, 20, None, KLANTCONTACT)


def test_an_operation_no_profile_exposes_is_404_and_so_is_an_unknown_connector(decider):
    assert refusal(decider.endpoint, PERSOON_ZAKEN, "brp", "Onbekend", BSN, [], KLANTCONTACT).status == 404
    assert refusal(decider.endpoint, PERSOON_ZAKEN, "bag", "adressen", None, [], KLANTCONTACT).status == 404
    # kvk zoeken is a search, not a detail; relations are never exposed.
    assert refusal(decider.endpoint, BEDRIJF, "kvk", "zoeken", KVK, [], KLANTCONTACT).status == 404


# --- finding 2: caller parameters narrow, never widen ---


def test_fields_beyond_the_grant_are_refused_and_never_asked(decider):
    query = [("fields", "nationaliteiten,ouders,gezag")]
    refused = refusal(decider.endpoint, PERSOON, "brp", "RaadpleegMetBurgerservicenummer", BSN, query, KLANTCONTACT)
    assert refused.status == 403
    assert "nationaliteiten" in refused.detail


def test_fields_within_the_grant_narrow_it(decider):
    query = [("fields", "naam.voornamen,geboorte")]
    plan = decider.endpoint(PERSOON, "brp", "RaadpleegMetBurgerservicenummer", BSN, query, KLANTCONTACT)
    assert plan.ask.queries[0].fields == ["naam.voornamen", "geboorte"]
    default = decider.endpoint(PERSOON, "brp", "RaadpleegMetBurgerservicenummer", BSN, [], KLANTCONTACT)
    assert "partners.naam" in default.ask.queries[0].fields
    assert "nationaliteiten" not in default.ask.queries[0].fields


def test_a_list_of_bsns_is_not_one_identifier(decider):
    query = [("burgerservicenummer", "999993653,999995248,999990068")]
    for raw_id in (BSN, None):
        refused = refusal(
            decider.endpoint, PERSOON, "brp", "RaadpleegMetBurgerservicenummer", raw_id, query, KLANTCONTACT
        )
        assert refused.status in (400, 403, 422)
    one = decider.endpoint(
        PERSOON, "brp", "RaadpleegMetBurgerservicenummer", None, [("burgerservicenummer", BSN)], KLANTCONTACT
    )
    assert one.ask.queries[0].params == {"burgerservicenummer": [BSN]}


def test_connector_params_outside_the_grant_are_refused(decider):
    query = [("include", "status"), ("max_pages", "1000")]
    assert refusal(decider.endpoint, PERSOON_ZAKEN, "zgw", "zaken", BSN, query, KLANTCONTACT).status == 403


def test_a_granted_list_narrows_to_a_subset(decider):
    plan = decider.endpoint(BEDRIJF, "kvk", "basisprofiel", KVK, [("include", "eigenaar")], KLANTCONTACT)
    assert plan.ask.queries[0].params["include"] == ["eigenaar"]
    assert refusal(decider.endpoint, BEDRIJF, "kvk", "basisprofiel", KVK, [("include", "x")], KLANTCONTACT)


def test_source_paging_is_bounded(decider):
    query = [("naam", "Test"), ("resultatenPerPagina", "100000")]
    assert refusal(decider.endpoint, BEDRIJF, "kvk", "zoeken", None, query, KLANTCONTACT).status == 422
    plan = decider.endpoint(BEDRIJF, "kvk", "zoeken", None, [("naam", "Test"), ("pagina", "2")], KLANTCONTACT)
    assert plan.ask.queries[0].params["pagina"] == 2


def test_undeclared_filters_are_refused(decider):
    query = [("geslachtsnaam", "Moulin"), ("geboortedatum", "1985-12-01"), ("inclusiefOverledenPersonen", "true")]
    assert refusal(decider.endpoint, PERSOON, "brp", "ZoekMetGeslachtsnaamEnGeboortedatum", None, query, KLANTCONTACT)


# --- purposes, identifiers, numbers ---


def test_the_compatible_api_uses_the_default_purpose_only_when_configured():
    profiles = load_profiles(ProfileSettings().profiles_dir)
    strict = AccessDecider(profiles, dev_mode=False)
    assert refusal(strict.endpoint, BEDRIJF, "zgw", "zaken", KVK, [], Stated()).status == 422
    assert refusal(strict.endpoint, BEDRIJF, "zgw", "zaken", KVK, [], Stated("demo")).status == 403
    defaulted = AccessDecider(profiles, dev_mode=False, compat_doelbinding="handhaving")
    plan = defaulted.endpoint(BEDRIJF, "zgw", "zaken", KVK, [], Stated())
    assert plan.ask.context.doelbinding == "handhaving"
    # The purpose must be one the exposing profile serves: wmo is persoon's, not bedrijf's.
    assert refusal(strict.endpoint, BEDRIJF, "zgw", "zaken", KVK, [], Stated("wmo")).status == 403


@pytest.mark.parametrize(
    "value", ["999993653\n", "\uff19\uff19\uff19\uff19\uff19\uff13\uff16\uff15\uff13", " 999993653"]
)
def test_identifiers_with_anything_but_ascii_digits_are_refused_everywhere(decider, value):
    identifier = Identifier(type="bsn", value=value)
    assert isinstance(refusal(decider.lookup, PERSOON, "persoon", identifier, None, KLANTCONTACT), InvalidInputError)
    assert isinstance(refusal(decider.view, PERSOON, "persoon", value, KLANTCONTACT), InvalidInputError)
    refused = refusal(decider.endpoint, PERSOON, "brp", "RaadpleegMetBurgerservicenummer", value, [], KLANTCONTACT)
    assert isinstance(refused, InvalidInputError)


@pytest.mark.parametrize("huisnummer", [2**70, -(2**70), "99999999999999999999999", "\u0661\u0662"])
def test_numbers_out_of_range_are_invalid_input(decider, huisnummer):
    filters = {"postcode": "1234AB", "huisnummer": huisnummer}
    refused = refusal(decider.search, PERSOON, "persoon", "postcode-huisnummer", filters, 1, 20, None, KLANTCONTACT)
    assert isinstance(refused, InvalidInputError)


def test_every_plan_carries_an_opaque_caller_token(decider):
    ask = decider.lookup(PERSOON, "persoon", Identifier(type="bsn", value=BSN), None, KLANTCONTACT)
    assert ask.context.caller == caller_token(PERSOON)
    assert ask.context.caller != caller_token(caller("iko-persoon", subject="medewerker-2"))
    assert "medewerker" not in (ask.context.caller or "")
    # A caller without iko-zaken and iko-contactmomenten: zgw and klantinteracties are left out of the root and of
    # every relation; the BAG address (no role of its own) stays.
    assert [q.source for q in ask.queries] == ["brp"]
    assert {q.source for r in ask.relations for q in r.queries} == {"brp", "bag"}


def test_field_within():
    assert field_within("naam.voornamen", ["naam"])
    assert field_within("naam", ["naam"])
    assert not field_within("naamgebruik", ["naam"])
    assert not field_within("partners", ["partners.naam"])


# --- inzage ---


def test_only_the_inzage_roles_read_the_audit_trail(decider):
    identifier = Identifier(type="bsn", value=BSN)
    for who in (PERSOON_ZAKEN, BEDRIJF, caller("iko-portaal")):
        assert refusal(decider.inzage, who, identifier, Stated(), citizen=False).status == 403
    context = decider.inzage(caller("iko-privacy"), identifier, Stated(), citizen=False)
    assert context.doelbinding == "inzageverzoek"
    # The citizen's form is open to a portal as well.
    assert decider.inzage(caller("iko-portaal"), identifier, Stated(), citizen=True)
    assert refusal(decider.inzage, PERSOON, identifier, Stated(), citizen=True).status == 403
    bad = Identifier(type="bsn", value="999993654")
    assert isinstance(refusal(decider.inzage, caller("iko-privacy"), bad, Stated(), citizen=False), InvalidInputError)


def test_no_inzage_roles_means_nobody_not_everybody():
    decider = AccessDecider(load_profiles(ProfileSettings().profiles_dir), dev_mode=False, inzage_roles=())
    identifier = Identifier(type="bsn", value=BSN)
    assert refusal(decider.inzage, caller("anything"), identifier, Stated(), citizen=False).status == 403
