"""OCR repair: every outcome, and the promise that it never guesses."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors import identifiers
from processors.ocr_repair import (
    REPAIRABLE_KINDS,
    Candidate,
    Outcome,
    OutcomeCounter,
    Repair,
    coerce,
    one_edit_apart,
    repair,
)
from tests.processors.test_identifiers import containers, ilus, mrns, wagons

TRUTH = "CSQU3054383"

# Look-alikes as the brief lists them: a position that must hold a digit reads a letter, and
# the reverse. Injections use only pairs that map back to the original character.
DIGIT_SHOWN_AS_LETTER = {
    "0": "O", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B", "4": "A", "7": "T",
}  # fmt: skip
LETTER_SHOWN_AS_DIGIT = {letter: digit for digit, letter in DIGIT_SHOWN_AS_LETTER.items()}


def _other_valid_one_insertion_from(short: str, truth: str) -> str:
    """A valid container other than ``truth`` that one inserted character turns ``short`` into."""
    for at in range(len(short) + 1):
        for char in string.ascii_uppercase + string.digits:
            value = short[:at] + char + short[at:]
            if value != truth and identifiers.container.is_valid(value):
                return value
    raise AssertionError("no such container")


# --- each outcome ------------------------------------------------------------------------------


def test_a_valid_read_is_valid():
    result = repair("container", "csqu 305438 3")
    assert result == Repair(Outcome.VALID, TRUTH, "csqu 305438 3", "check digit verified as read")


def test_a_valid_read_that_is_not_expected_stays_valid():
    result = repair("container", "TCNU7200794", expected={TRUTH})
    assert (result.outcome, result.value) == (Outcome.VALID, "TCNU7200794")


def test_look_alike_letters_in_digit_positions_are_repaired():
    result = repair("container", "CSQU3O543B3")
    assert (result.outcome, result.value) == (Outcome.REPAIRED, TRUTH)
    assert "look-alike" in result.reason
    assert result.raw == "CSQU3O543B3"


def test_look_alike_digits_in_letter_positions_are_repaired():
    result = repair("container", "C5QU3054383")
    assert (result.outcome, result.value) == (Outcome.REPAIRED, TRUTH)


def test_a_valid_ocr_candidate_repairs_the_read():
    result = repair(
        "container", "CSQU3054384", [Candidate("CSQU3054383", 0.41), Candidate("CSQU3054385", 0.3)]
    )
    assert (result.outcome, result.value) == (Outcome.REPAIRED, TRUTH)
    assert "confidence 0.41" in result.reason


def test_a_candidate_is_coerced_too():
    result = repair("container", "CSQU3054384", [Candidate("CSQU3O54383", 0.2)])
    assert (result.outcome, result.value) == (Outcome.REPAIRED, TRUTH)


def test_several_valid_readings_are_ambiguous():
    candidates = [Candidate(TRUTH, 0.4), Candidate("TCNU7200794", 0.5)]
    result = repair("container", "CSQU3054384", candidates)
    assert result.outcome is Outcome.AMBIGUOUS
    assert result.value is None
    assert result.alternatives == ("TCNU7200794", TRUTH)  # by confidence
    assert "2 valid readings" in result.reason


def test_the_expected_list_decides_between_valid_readings():
    candidates = [Candidate(TRUTH, 0.4), Candidate("TCNU7200794", 0.5)]
    result = repair("container", "CSQU3054384", candidates, expected={TRUTH, "MSKU6011672"})
    assert (result.outcome, result.value) == (Outcome.REPAIRED, TRUTH)
    assert "expected list decided" in result.reason
    assert result.alternatives == ("TCNU7200794",)


def test_two_expected_readings_are_still_ambiguous():
    candidates = [Candidate(TRUTH, 0.4), Candidate("TCNU7200794", 0.5)]
    result = repair("container", "CSQU3054384", candidates, expected=[TRUTH, "TCNU7200794"])
    assert result.outcome is Outcome.AMBIGUOUS
    assert "2 of them expected" in result.reason


def test_a_dropped_character_is_repaired_from_the_expected_list():
    result = repair("container", "CSQU305438", expected=[TRUTH, "TCNU7200794"])
    assert (result.outcome, result.value) == (Outcome.REPAIRED, TRUTH)
    assert "one edit away" in result.reason


def test_an_extra_character_is_repaired_from_the_expected_list():
    result = repair("container", "CSQU30544383", expected=[TRUTH])
    assert (result.outcome, result.value) == (Outcome.REPAIRED, TRUTH)


def test_two_expected_identifiers_one_edit_away_are_ambiguous():
    other = _other_valid_one_insertion_from("CSQU305438", TRUTH)
    result = repair("container", "CSQU305438", expected=[TRUTH, other])
    assert result.outcome is Outcome.AMBIGUOUS
    assert set(result.alternatives) == {TRUTH, other}


def test_an_expected_entry_that_does_not_validate_is_never_the_repair():
    result = repair("container", "CSQU305438", expected=["CSQU3054384"])
    assert result.outcome is Outcome.INVALID


def test_an_unrepairable_read_is_invalid_with_the_validation_error():
    result = repair("container", "CSQU3054384")
    assert result == Repair(
        Outcome.INVALID, None, "CSQU3054384", "CSQU3054384: check digit is 4, expected 3"
    )


def test_garbage_is_invalid():
    assert repair("container", "").outcome is Outcome.INVALID
    assert repair("container", "\x00" * 11).outcome is Outcome.INVALID


def test_ilu_mrn_and_wagon_reads_are_repaired():
    assert repair("ilu", "KRKE12345G7").value == "KRKE1234567"
    assert repair("mrn", "O6DE586600006143E1").value == "06DE586600006143E1"
    assert repair("wagon", "2181247I2173").value == "218124712173"


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="OCR repair handles container, ilu, mrn, wagon"):
        repair("plate", "AB123CD")
    assert REPAIRABLE_KINDS == ("container", "ilu", "mrn", "wagon")


def test_coerce_and_edit_distance_helpers():
    assert coerce("container", "CSQU3O54383") == TRUTH
    assert coerce("wagon", "21812471217") == "21812471217"  # wrong length: untouched
    assert one_edit_apart("ABC", "AXC")
    assert one_edit_apart("ABC", "AC")
    assert one_edit_apart("AC", "ABC")
    assert not one_edit_apart("ABC", "CAB")
    assert not one_edit_apart("ABC", "A")


def test_outcome_counter():
    counter = OutcomeCounter()
    for raw in ("CSQU3054383", "CSQU3O54383", "CSQU3054384", "TCNU7200794"):
        counter.add(repair("container", raw))
    counter.add(
        repair("container", "CSQU3054384", [Candidate(TRUTH, 0.5), Candidate("TCNU7200794", 0.5)])
    )
    assert counter.as_dict() == {"VALID": 2, "REPAIRED": 1, "AMBIGUOUS": 1, "INVALID": 1}
    assert counter.total == 5


def test_outcomes_are_the_strings_written_on_the_wire():
    assert [str(outcome) for outcome in Outcome] == ["VALID", "REPAIRED", "AMBIGUOUS", "INVALID"]


# --- properties --------------------------------------------------------------------------------

_KIND_OF = {"container": containers, "ilu": ilus, "mrn": mrns, "wagon": wagons}


def _confusable_positions(kind: str, value: str) -> list[tuple[int, str]]:
    """(position, what the OCR shows there) for every look-alike confusion coercion undoes."""
    found = []
    if kind == "mrn":
        digit_positions, letter_positions = {0, 1, 17}, {2, 3}
    elif kind == "wagon":
        digit_positions, letter_positions = set(range(12)), set()
    else:
        digit_positions, letter_positions = set(range(4, 11)), set(range(4))
    for position, char in enumerate(value):
        digit_position = position in digit_positions
        letter_position = position in letter_positions
        if digit_position and char in DIGIT_SHOWN_AS_LETTER:
            found.append((position, DIGIT_SHOWN_AS_LETTER[char]))
        elif letter_position and char in LETTER_SHOWN_AS_DIGIT:
            found.append((position, LETTER_SHOWN_AS_DIGIT[char]))
    return found


@pytest.mark.parametrize("kind", list(_KIND_OF))
@given(data=st.data())
def test_one_look_alike_confusion_repairs_to_the_original(kind, data):
    truth = data.draw(_KIND_OF[kind], label="truth")
    confusable = _confusable_positions(kind, truth)
    if not confusable:
        return
    position, shown = data.draw(st.sampled_from(confusable), label="confusion")
    read = truth[:position] + shown + truth[position + 1 :]
    result = repair(kind, read)
    assert (result.outcome, result.value) == (Outcome.REPAIRED, truth)


@given(containers, st.data())
def test_with_noisy_candidates_a_confusion_never_repairs_to_another_value(truth, data):
    confusable = _confusable_positions("container", truth)
    if not confusable:
        return
    position, shown = data.draw(st.sampled_from(confusable))
    read = truth[:position] + shown + truth[position + 1 :]
    noise = data.draw(
        st.lists(
            st.builds(Candidate, st.one_of(containers, st.text(max_size=12)), st.floats(0, 1)),
            max_size=3,
        )
    )
    result = repair("container", read, noise)
    if result.outcome is Outcome.REPAIRED:
        assert result.value == truth
    else:
        assert result.outcome is Outcome.AMBIGUOUS
        assert truth in result.alternatives


_candidates = st.lists(
    st.builds(
        Candidate,
        st.one_of(st.text(max_size=20), containers, mrns),
        st.floats(allow_nan=True),
    ),
    max_size=4,
)


@given(
    st.sampled_from(REPAIRABLE_KINDS),
    st.one_of(st.text(max_size=24), containers, ilus, mrns, wagons),
    _candidates,
    st.lists(st.one_of(st.text(max_size=12), containers, ilus, mrns, wagons), max_size=5),
)
def test_a_valid_or_repaired_value_always_validates(kind, raw, candidates, expected):
    result = repair(kind, raw, candidates, expected)
    module = identifiers.KINDS[kind]
    if result.outcome in (Outcome.VALID, Outcome.REPAIRED):
        assert result.value is not None
        assert module.validate(result.value) == result.value
    else:
        assert result.value is None
    assert all(module.is_valid(alternative) for alternative in result.alternatives)
    assert result.raw == raw


@pytest.mark.parametrize("kind", list(_KIND_OF))
@given(data=st.data())
def test_a_dropped_character_repairs_to_the_truth_or_is_ambiguous(kind, data):
    truth = data.draw(_KIND_OF[kind], label="truth")
    others = data.draw(st.lists(_KIND_OF[kind], max_size=20), label="other expected")
    expected = data.draw(st.permutations([truth, *others]), label="expected")
    dropped = data.draw(st.integers(0, len(truth) - 1), label="dropped")
    read = truth[:dropped] + truth[dropped + 1 :]
    result = repair(kind, read, expected=expected)
    assert result.outcome in (Outcome.REPAIRED, Outcome.AMBIGUOUS)
    if result.outcome is Outcome.REPAIRED:
        assert result.value == truth
    else:
        assert truth in result.alternatives


def test_candidates_are_considered_by_confidence_with_nan_last():
    candidates = [Candidate(TRUTH, float("nan")), Candidate("TCNU7200794", 0.1)]
    result = repair("container", "CSQU3054384", candidates)
    assert result.alternatives == ("TCNU7200794", TRUTH)
