"""Identifier validation: the vectors of the design notes, every error kind, and properties.

The check-digit arithmetic is recomputed here from the rules as the standards state them, not
taken from the modules under test, so the two implementations check each other.
"""

from __future__ import annotations

import pickle
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import iso6346 as stdnum_iso6346

from processors import identifiers
from processors.identifiers import container, ilu, mrn, plate, seal, wagon
from processors.identifiers.errors import (
    IdentifierError,
    InvalidCategory,
    InvalidCheckDigit,
    InvalidCountry,
    InvalidFormat,
    InvalidLength,
)

LETTERS = string.ascii_uppercase
DIGITS = string.digits
ALPHANUMERIC = LETTERS + DIGITS


# --- the arithmetic, from the standards' own words ---------------------------------------------


def _iso6346_values() -> dict[str, int]:
    """Digits are worth themselves; letters 10..38 in order, skipping multiples of 11."""
    values = {digit: int(digit) for digit in DIGITS}
    worth = 10
    for letter in LETTERS:
        if worth % 11 == 0:
            worth += 1
        values[letter] = worth
        worth += 1
    return values


ISO6346_VALUES = _iso6346_values()


def iso6346_check(body: str) -> str:
    total = sum(ISO6346_VALUES[char] * 2**position for position, char in enumerate(body))
    return str(total % 11 % 10)


def luhn_check(body: str) -> str:
    """UIC: weights 2, 1, 2, 1 ... from the left over 11 digits, digit sums, complement to 10."""
    total = 0
    for position, digit in enumerate(body):
        product = int(digit) * (2 if position % 2 == 0 else 1)
        total += product // 10 + product % 10
    return str((10 - total % 10) % 10)


def test_the_letter_values_are_those_of_the_standard():
    assert ISO6346_VALUES["A"] == 10
    assert ISO6346_VALUES["B"] == 12  # 11 skipped
    assert ISO6346_VALUES["L"] == 23  # 22 skipped
    assert ISO6346_VALUES["V"] == 34  # 33 skipped
    assert ISO6346_VALUES["Z"] == 38


# --- strategies --------------------------------------------------------------------------------


def _owner_code_layout(categories: str) -> st.SearchStrategy[str]:
    body = st.builds(
        lambda owner, category, serial: owner + category + serial,
        st.text(LETTERS, min_size=3, max_size=3),
        st.sampled_from(categories),
        st.text(DIGITS, min_size=6, max_size=6),
    )
    return body.map(lambda b: b + iso6346_check(b))


containers = _owner_code_layout(container.CATEGORIES)
ilus = _owner_code_layout(ilu.CATEGORIES)
mrns = st.builds(
    lambda year, country, rest: year + country + rest,
    st.text(DIGITS, min_size=2, max_size=2),
    st.sampled_from(sorted(mrn.COUNTRIES)),
    st.text(ALPHANUMERIC, min_size=13, max_size=13),
).map(lambda b: b + iso6346_check(b))
wagons = st.text(DIGITS, min_size=11, max_size=11).map(lambda b: b + luhn_check(b))
_plate_letter = st.sampled_from(sorted(set(LETTERS) - set("IOQU")))
italian_plates = st.builds(
    lambda a, b, digits, c, d: a + b + digits + c + d,
    _plate_letter,
    _plate_letter,
    st.text(DIGITS, min_size=3, max_size=3),
    _plate_letter,
    _plate_letter,
).filter(lambda text: not text.startswith("EE"))
foreign_plates = st.text(ALPHANUMERIC, min_size=1, max_size=9).flatmap(
    lambda text: st.integers(0, len(text)).map(lambda at: text[:at] + "7" + text[at:])
)
seals = st.text(ALPHANUMERIC, min_size=4, max_size=20)

CHECKED = {"container": containers, "ilu": ilus, "mrn": mrns, "wagon": wagons}
MODULES = [container, ilu, mrn, wagon, plate, seal]

# Text likely to reach deep into the validators: right alphabet, separators, look-alikes, and
# characters NFKC or upper-casing turn into something else (full-width, ligatures, dotless i).
_tricky_alphabet = (
    ALPHANUMERIC + " -./\u00a0\u2013\u00ad\u200bFRJZKsq\uff23\uff10\ufb00\u0131\u00df"
)
texts = st.one_of(
    st.text(),
    st.text(_tricky_alphabet, max_size=24),
    st.sampled_from(["CSQU3054383", "06DE586600006143E1", "218124712173", "AB123CD"]).flatmap(
        lambda valid: st.text(_tricky_alphabet, max_size=3).map(lambda noise: valid + noise)
    ),
)
non_text = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.binary(),
    st.lists(st.text(), max_size=3),
    st.builds(object),
)


# --- the vectors of the design notes -----------------------------------------------------------


@pytest.mark.parametrize("value", ["CSQU3054383", "TCNU7200794", "MSKU6011672", "TEXU3070079"])
def test_valid_containers(value):
    assert container.validate(value) == value
    assert container.check_digit(value[:-1]) == value[-1]
    assert identifiers.classify(value) == "container"


@pytest.mark.parametrize(
    ("value", "expected"), [("CSQU3054384", "3"), ("MSCU1234567", iso6346_check("MSCU123456"))]
)
def test_invalid_containers_fail_on_the_check_digit(value, expected):
    with pytest.raises(InvalidCheckDigit) as caught:
        container.validate(value)
    assert caught.value.expected == expected
    assert caught.value.found == value[-1]
    assert str(caught.value) == f"{value}: check digit is {value[-1]}, expected {expected}"


def test_the_check_digit_message_is_the_one_in_the_brief():
    with pytest.raises(InvalidCheckDigit, match=r"^CSQU3054384: check digit is 4, expected 3$"):
        container.validate("CSQU3054384")


def test_mrn_vector_and_procedure_letter():
    assert mrn.validate("06DE586600006143E1") == "06DE586600006143E1"
    assert mrn.check_digit("06DE586600006143E") == "1"
    assert mrn.procedure("06DE586600006143E1") == "E"
    body = "24IT00000000000A"
    assert mrn.procedure(body + "0" + iso6346_check(body + "0")) is None  # a digit there


@pytest.mark.parametrize("value", ["218124712173", "518008430010"])
def test_valid_wagons(value):
    assert wagon.validate(value) == value
    assert wagon.check_digit(value[:-1]) == value[-1]


def test_wagon_printed_form():
    assert wagon.format("218124712173") == "21 81 2471 217-3"
    assert wagon.compact("21 81 2471 217-3") == "218124712173"


def test_container_printed_form():
    assert container.format("csqu3054383") == "CSQU 305438 3"


# --- python-stdnum is looser; our rules go around it ------------------------------------------


def test_stdnum_accepts_category_r_and_we_refuse_it():
    body = "CSQR305438"
    reefer = body + stdnum_iso6346.calc_check_digit(body)
    assert stdnum_iso6346.is_valid(reefer)
    with pytest.raises(InvalidCategory, match="category letter is R, expected U, J or Z"):
        container.validate(reefer)


def test_stdnum_accepts_digits_in_the_owner_code_and_we_refuse_them():
    body = "C5QU305438"
    with_digit = body + stdnum_iso6346.calc_check_digit(body)
    assert stdnum_iso6346.is_valid(with_digit)
    with pytest.raises(InvalidFormat, match="owner code 'C5Q' must be 3 letters A-Z"):
        container.validate(with_digit)


@given(containers)
def test_our_check_digit_agrees_with_stdnum(value):
    assert stdnum_iso6346.calc_check_digit(value[:-1]) == container.check_digit(value[:-1])


# --- every error kind, with its message --------------------------------------------------------

ERROR_CASES = [
    (container.validate, "CSQU305438", InvalidLength, "CSQU305438: length is 10, expected 11"),
    (container.validate, "", InvalidLength, "'': length is 0, expected 11"),
    (container.validate, "CSQ13054383", InvalidFormat, "category '1' must be a letter"),
    (container.validate, "CSQU30S4383", InvalidFormat, "serial number '30S438' must be 6 digits"),
    (container.validate, "CSQU305438X", InvalidFormat, "check digit 'X' must be a digit 0-9"),
    (container.validate, "CSQA3054383", InvalidCategory, "A, B, D, E and K mark EN 13044 ILU"),
    (container.validate, "CSQU3054384", InvalidCheckDigit, "check digit is 4, expected 3"),
    (container.check_digit, "CSQU3054383", InvalidLength, "length is 11, expected 10"),
    (ilu.validate, "CSQU3054383", InvalidCategory, "expected A, B, D, E or K (U, J and Z mark"),
    (ilu.validate, "KRKE1234568", InvalidCheckDigit, "check digit is 8, expected 7"),
    (mrn.validate, "06DE586600006143E", InvalidLength, "length is 17, expected 18"),
    (mrn.validate, "O6DE586600006143E1", InvalidFormat, "year 'O6' must be 2 digits"),
    (mrn.validate, "06D3586600006143E1", InvalidFormat, "country code 'D3' must be 2 letters"),
    (mrn.validate, "06QQ586600006143E1", InvalidCountry, "country code QQ is not an ISO 3166-1"),
    (mrn.validate, "06DE58660000614_E1", InvalidFormat, "must be 13 letters A-Z or digits"),
    (mrn.validate, "06DE586600006143EX", InvalidFormat, "check digit 'X' must be a digit"),
    (mrn.validate, "06DE586600006143EF", InvalidFormat, "accepted only when fallback is allowed"),
    (mrn.validate, "06DE586600006143E2", InvalidCheckDigit, "check digit is 2, expected 1"),
    (wagon.validate, "21812471217", InvalidLength, "length is 11, expected 12 digits"),
    (wagon.validate, "21812471217X", InvalidFormat, "digits 0-9 only"),
    (wagon.validate, "218124712174", InvalidCheckDigit, "check digit is 4, expected 3"),
    (plate.validate, "AB123C", InvalidLength, "length is 6, expected 7 characters"),
    (plate.validate, "AB1234D", InvalidFormat, "2 letters, 3 digits, 2 letters"),
    (plate.validate, "AB123CU", InvalidFormat, "letter U is not used on Italian plates"),
    (plate.validate, "EE123AB", InvalidFormat, "starts with EE"),
    (seal.validate, "A12", InvalidLength, "length is 3, expected 4 to 20"),
    (seal.validate, "A12_345", InvalidFormat, "letters A-Z and digits 0-9 only"),
]


@pytest.mark.parametrize(("validate", "value", "error", "message"), ERROR_CASES)
def test_each_error_names_the_value_and_the_fault(validate, value, error, message):
    with pytest.raises(error) as caught:
        validate(value)
    assert message in str(caught.value)
    assert isinstance(caught.value, IdentifierError)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(caught.value.value or "''")


def test_errors_carry_kind_and_compact_value():
    with pytest.raises(InvalidCheckDigit) as caught:
        container.validate("csqu 305438 4")
    assert (caught.value.kind, caught.value.value) == ("container", "CSQU3054384")


def test_errors_survive_pickling():
    for value, validate in (("CSQU3054384", container.validate), ("CSQR3054383", ilu.validate)):
        with pytest.raises(IdentifierError) as caught:
            validate(value)
        copy = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 (our own bytes)
        assert type(copy) is type(caught.value)
        assert str(copy) == str(caught.value)
        assert copy.__dict__ == caught.value.__dict__


def test_non_text_is_an_invalid_format_not_a_type_error():
    with pytest.raises(InvalidFormat, match="must be text, got bytes"):
        container.validate(b"CSQU3054383")


def test_huge_input_is_refused_before_any_work():
    with pytest.raises(InvalidLength, match="at most 256 are accepted"):
        container.validate("CSQU3054383" + " " * 1_000_000)
    assert not mrn.is_valid("A" * 10_000_000)


def test_long_values_are_shortened_in_messages():
    with pytest.raises(InvalidLength) as caught:
        seal.validate("A" * 200)
    assert len(str(caught.value)) < 150


# --- MRN fallback, procedure, countries --------------------------------------------------------


def test_fallback_mrn_only_when_allowed():
    fallback = "24IT000000000001AF"
    assert not mrn.is_valid(fallback)
    assert mrn.is_valid(fallback, allow_fallback=True)
    assert mrn.validate(fallback, allow_fallback=True) == fallback
    assert mrn.procedure(fallback) == "A"


def test_xi_is_accepted_in_mrns():
    body = "24XI0000000000001"
    assert mrn.is_valid(body + iso6346_check(body))


def test_the_country_list_is_iso_3166_alpha_2():
    assert len(identifiers.ISO_3166_ALPHA2) == 249
    assert {"IT", "DE", "GB", "SS", "BQ"} <= identifiers.ISO_3166_ALPHA2
    assert not {"AN", "CS", "UK", "EU", "XK"} & identifiers.ISO_3166_ALPHA2


@pytest.mark.parametrize("bad", ["ZZ1", "ZZ", "", "DEU", None, 49])
def test_country_code_refuses_non_codes(bad):
    with pytest.raises(ValueError, match="ISO 3166-1 alpha-2"):
        identifiers.country_code(bad)


# --- plates and seals --------------------------------------------------------------------------


def test_italian_car_and_trailer():
    assert plate.parse("ab 123 cd") == plate.Plate("IT", "AB123CD", "car")
    assert plate.parse("XA-123-BC") == plate.Plate("IT", "XA123BC", "trailer")
    assert plate.format("XA123BC") == "XA 123 BC"


def test_foreign_plates_are_loose_but_sensible():
    assert plate.parse("M-AB 1234", country="de") == plate.Plate("DE", "MAB1234", "foreign")
    assert plate.validate("12345", country="LU") == "12345"  # all-digit plates exist
    assert plate.validate("\u0412\u041d1234\u0410\u041a", country="UA") == "BH1234AK"
    with pytest.raises(InvalidFormat, match="at least one digit"):
        plate.validate("SCANIA", country="SE")
    with pytest.raises(InvalidLength, match="expected 2 to 10"):
        plate.validate("AB12345678901", country="FR")
    with pytest.raises(InvalidFormat, match="letters A-Z and digits 0-9 only"):
        plate.validate("AB\u00c91234", country="FR")


def test_a_bad_plate_country_is_a_value_error_not_an_identifier_error():
    with pytest.raises(ValueError, match="ISO 3166-1") as caught:
        plate.validate("AB123CD", country="ZZ1")
    assert not isinstance(caught.value, IdentifierError)
    assert not plate.is_valid("AB123CD", country="ZZ1")


def test_seal_parse_and_classes():
    assert seal.parse("ml-it 0012345", seal_class="h", issuer=" Maersk  Line ") == seal.Seal(
        "H", "Maersk Line", "MLIT0012345"
    )
    assert seal.parse("0012345") == seal.Seal(None, None, "0012345")
    assert seal.parse("0012345", seal_class=" ", issuer="") == seal.Seal(None, None, "0012345")
    with pytest.raises(InvalidCategory, match="seal class is X, expected I, S or H"):
        seal.parse("0012345", seal_class="X")
    assert set(seal.CLASSES) == {"I", "S", "H"}


# --- the registry ------------------------------------------------------------------------------


def test_kinds_registry():
    assert list(identifiers.KINDS) == ["container", "ilu", "mrn", "wagon", "plate", "seal"]
    assert identifiers.KINDS["wagon"] is wagon


def test_validate_kind_dispatches_and_refuses_what_does_not_apply():
    assert identifiers.validate_kind("ilu", "krke 123456 7") == "KRKE1234567"
    assert identifiers.validate_kind("plate", "AB123CD") == "AB123CD"
    assert identifiers.validate_kind("seal", "abc-1234") == "ABC1234"
    assert identifiers.validate_kind("mrn", "24IT000000000001AF", allow_fallback=True)
    with pytest.raises(InvalidCheckDigit):
        identifiers.validate_kind("container", "CSQU3054384")
    with pytest.raises(ValueError, match="known kinds: container, ilu, mrn, wagon, plate, seal"):
        identifiers.validate_kind("boat", "X")
    with pytest.raises(ValueError, match="plates only"):
        identifiers.validate_kind("container", "CSQU3054383", country="IT")
    with pytest.raises(ValueError, match="MRNs only"):
        identifiers.validate_kind("wagon", "218124712173", allow_fallback=True)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("CSQU 305438 3", "container"),
        ("KRKE1234567", "ilu"),
        ("06DE586600006143E1", "mrn"),
        ("218124712173", "wagon"),
        ("CSQU3054384", None),
        ("AB123CD", None),
        ("", None),
        (None, None),
    ],
)
def test_classify(value, kind):
    assert identifiers.classify(value) == kind


@given(st.one_of(*CHECKED.values()))
def test_classify_names_exactly_one_kind_for_any_valid_number(value):
    kind = identifiers.classify(value)
    assert kind is not None
    assert [k for k in CHECKED if identifiers.KINDS[k].is_valid(value)] == [kind]


# --- properties --------------------------------------------------------------------------------


@given(st.data())
def test_every_valid_number_survives_format_then_compact(data):
    for name, strategy in CHECKED.items():
        module = identifiers.KINDS[name]
        value = data.draw(strategy, label=name)
        assert module.validate(value) == value
        assert module.compact(module.format(value)) == value
    italian = data.draw(italian_plates, label="italian plate")
    assert plate.compact(plate.format(italian)) == italian
    foreign = data.draw(foreign_plates, label="foreign plate")
    assert plate.compact(plate.format(foreign, country="PL")) == foreign
    number = data.draw(seals, label="seal")
    assert seal.compact(seal.format(number)) == number


def _allowed(name: str, position: int) -> str:
    """The characters that keep the layout of ``name`` intact at ``position``."""
    if name in ("container", "ilu"):
        if position < 3:
            return LETTERS
        if position == 3:
            return identifiers.KINDS[name].CATEGORIES
        return DIGITS
    if name == "mrn":
        if position < 2 or position == 17:
            return DIGITS
        if position < 4:
            return LETTERS
        return ALPHANUMERIC
    return DIGITS


def _undetectable(name: str, mutant: str) -> bool:
    """Whether the check character, recomputed here, still fits after the substitution."""
    if name == "wagon":
        return luhn_check(mutant[:-1]) == mutant[-1]
    return iso6346_check(mutant[:-1]) == mutant[-1]


@pytest.mark.parametrize("name", list(CHECKED))
@given(data=st.data())
def test_single_substitutions_are_caught_except_the_arithmetic_blind_spots(name, data):
    module = identifiers.KINDS[name]
    valid = data.draw(CHECKED[name])
    blind_spots = 0
    for position, original in enumerate(valid):
        for replacement in _allowed(name, position):
            if replacement == original:
                continue
            mutant = valid[:position] + replacement + valid[position + 1 :]
            layout_ok = name != "mrn" or mutant[2:4] in mrn.COUNTRIES
            undetectable = _undetectable(name, mutant)
            blind_spots += undetectable
            assert module.is_valid(mutant) == (layout_ok and undetectable), mutant
    if name == "wagon":
        assert blind_spots == 0  # Luhn catches every single-digit substitution


@given(containers, st.integers(0, 2))
def test_letters_worth_the_same_modulo_11_swap_unseen_in_the_owner_code(valid, position):
    """The classic blind spot (A/K, O/Y, I/S, G/Q ...), derived from the letter values."""
    original = valid[position]
    twins = [
        letter
        for letter in LETTERS
        if letter != original and (ISO6346_VALUES[letter] - ISO6346_VALUES[original]) % 11 == 0
    ]
    for twin in twins:
        assert container.is_valid(valid[:position] + twin + valid[position + 1 :])


def test_the_design_notes_blind_pairs_follow_from_the_values():
    pairs = {
        frozenset((a, b))
        for a in LETTERS
        for b in LETTERS
        if a < b and (ISO6346_VALUES[a] - ISO6346_VALUES[b]) % 11 == 0
    }
    assert {frozenset(p) for p in ("AK", "OY", "IS", "GQ")} <= pairs


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.KIND)
@given(value=st.one_of(texts, non_text))
def test_is_valid_never_raises(module, value):
    assert module.is_valid(value) in (True, False)


@given(st.one_of(texts, non_text))
def test_classify_never_raises(value):
    assert identifiers.classify(value) in (None, *CHECKED)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.KIND)
@given(value=texts)
def test_validate_raises_only_identifier_errors_on_text(module, value):
    try:
        result = module.validate(value)
    except IdentifierError:
        return
    assert module.is_valid(result)
    assert module.validate(result) == result  # the compact form is a fixed point


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.KIND)
@given(value=texts)
def test_compact_never_raises_on_text(module, value):
    assert isinstance(module.compact(value), str)


@pytest.mark.parametrize("name", ["container", "ilu", "mrn", "wagon"])
@given(value=texts)
def test_check_digit_raises_only_identifier_errors_on_text(name, value):
    try:
        digit = identifiers.KINDS[name].check_digit(value)
    except IdentifierError:
        return
    assert digit in DIGITS
