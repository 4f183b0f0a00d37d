import pytest
from iko_shared.identifiers import identifier_problem, mask, passes_elfproef


@pytest.mark.parametrize("bsn", ["999993653", "999990408", "999994086", "000009830"])
def test_valid_test_bsns_pass_the_elfproef(bsn):
    assert passes_elfproef(bsn)
    assert identifier_problem("bsn", bsn) is None


@pytest.mark.parametrize("bsn", ["999999245", "123456789", "000000000"])
def test_bsns_failing_the_elfproef_are_refused(bsn):
    assert not passes_elfproef(bsn)
    assert identifier_problem("bsn", bsn) == "this BSN fails the elfproef"


@pytest.mark.parametrize("value", ["12345678", "9999936530", "99999365a", ""])
def test_bsn_must_have_nine_digits(value):
    assert identifier_problem("bsn", value) == "a BSN has exactly 9 digits"


@pytest.mark.parametrize(
    ("value", "ok"), [("69599084", True), ("6959908", False), ("695990845", False), ("6959908a", False)]
)
def test_kvk_number_has_eight_digits(value, ok):
    assert (identifier_problem("kvk", value) is None) is ok


def test_mask_hides_the_middle():
    assert mask("999993653") == "9999***53"
    assert "99993" not in mask("999993653")
    assert mask("69599084") == "6959***84"


def test_rsin_uses_the_elfproef_and_vestigingsnummer_has_twelve_digits():
    assert identifier_problem("rsin", "857587973") is None  # Test BV Donald's RSIN in the KVK test set
    assert identifier_problem("rsin", "857587974") == "this RSIN fails the elfproef"
    assert identifier_problem("rsin", "85758797") == "an RSIN has exactly 9 digits"
    assert identifier_problem("vestigingsnummer", "000038509504") is None
    assert identifier_problem("vestigingsnummer", "38509504") == "a vestigingsnummer has exactly 12 digits"


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("bsn", "999993653\n"),  # the elfproef once parsed the newline and answered 500
        ("bsn", "\u0669\u0669\u0669\u0669\u0669\u0669\u0663\u0666\u0665\u0663"[:9]),  # Arabic-Indic digits
        ("bsn", "\uff19\uff19\uff19\uff19\uff19\uff13\uff16\uff15\uff13"),  # full-width 999993653
        ("bsn", " 999993653"),
        ("rsin", "857587973\n"),
        ("kvk", "69599084\n"),
        ("kvk", "\uff16\uff19\uff15\uff19\uff19\uff10\uff18\uff14"),
        ("vestigingsnummer", "000038509504\n"),
        ("vestigingsnummer", "00003850950\u0664"),
    ],
)
def test_identifiers_are_ascii_digits_of_exact_length_and_nothing_after(kind, value):
    assert identifier_problem(kind, value) is not None
    assert not passes_elfproef(value)


def test_identifier_types_are_data_a_new_one_is_one_entry():
    from iko_shared.contracts import Identifier
    from iko_shared.identifiers import IDENTIFIER_TYPES, objecttype
    from pydantic import ValidationError

    assert set(IDENTIFIER_TYPES) >= {"bsn", "kvk", "rsin", "vestigingsnummer", "nummeraanduiding"}
    assert identifier_problem("nummeraanduiding", "0363200000218908") is None
    assert identifier_problem("nummeraanduiding", "036320000021890") is not None
    assert Identifier(type="nummeraanduiding", value="0363200000218908").type == "nummeraanduiding"
    assert identifier_problem("adresseerbaarobject", "0363010000758545") is None
    assert identifier_problem("adresseerbaarobject", "03630100007585451") is not None
    assert objecttype("bsn") == "natuurlijk persoon"
    with pytest.raises(ValidationError, match="unknown identifier type 'paspoort'"):
        Identifier(type="paspoort", value="X")
