"""``iotrack validate``: exit codes, the one-line answer, the JSON object, usage errors."""

from __future__ import annotations

import argparse
import json

import pytest

from streams.cli.validate import register, run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iotrack")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def _run(capsys, *argv):
    args = _parser().parse_args(["validate", *argv])
    assert args.handler is run
    code = args.handler(None, args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


CORPUS = [
    # kind, value, extra options, exit code, the printed line
    ("container", "CSQU3054383", [], 0, "valid container CSQU3054383 (CSQU 305438 3)"),
    ("container", "tcnu 720079-4", [], 0, "valid container TCNU7200794 (TCNU 720079 4)"),
    ("container", "MSKU6011672", [], 0, "valid container MSKU6011672 (MSKU 601167 2)"),
    ("container", "TEXU3070079", [], 0, "valid container TEXU3070079 (TEXU 307007 9)"),
    (
        "container",
        "CSQU3054384",
        [],
        1,
        "invalid container CSQU3054384: check digit is 4, expected 3",
    ),
    (
        "container",
        "MSCU1234567",
        [],
        1,
        "invalid container MSCU1234567: check digit is 7, expected 6",
    ),
    ("container", "CSQU305438", [], 1, "invalid container CSQU305438: length is 10, expected 11"),
    ("container", "CSQR3054383", [], 1, "invalid container CSQR3054383: category letter is R"),
    ("container", "C5QU3054383", [], 1, "invalid container C5QU3054383: owner code 'C5Q' must"),
    ("ilu", "KRKE 123456 7", [], 0, "valid ilu KRKE1234567 (KRKE 123456 7)"),
    ("ilu", "CSQU3054383", [], 1, "invalid ilu CSQU3054383: category letter is U, expected A"),
    ("mrn", "06DE586600006143E1", [], 0, "valid mrn 06DE586600006143E1"),
    ("mrn", "06de 5866 0000 6143 e1", [], 0, "valid mrn 06DE586600006143E1"),
    ("mrn", "06DE586600006143E2", [], 1, "invalid mrn 06DE586600006143E2: check digit is 2"),
    ("mrn", "06ZZ586600006143E1", [], 1, "invalid mrn 06ZZ586600006143E1: country code ZZ is"),
    ("mrn", "24IT000000000001AF", [], 1, "invalid mrn 24IT000000000001AF: last character F"),
    ("mrn", "24IT000000000001AF", ["--allow-fallback"], 0, "valid mrn 24IT000000000001AF"),
    ("wagon", "218124712173", [], 0, "valid wagon 218124712173 (21 81 2471 217-3)"),
    ("wagon", "51 80 0843 001-0", [], 0, "valid wagon 518008430010 (51 80 0843 001-0)"),
    ("wagon", "218124712174", [], 1, "invalid wagon 218124712174: check digit is 4, expected 3"),
    ("plate", "AB123CD", [], 0, "valid plate AB123CD (AB 123 CD)"),
    ("plate", "xa 123 bc", ["--country", "it"], 0, "valid plate XA123BC (XA 123 BC)"),
    ("plate", "EE123AB", [], 1, "invalid plate EE123AB: no Italian plate"),
    ("plate", "AB123CO", [], 1, "invalid plate AB123CO: letter O is not used"),
    ("plate", "M-AB 1234", ["--country", "DE"], 0, "valid plate MAB1234"),
    ("plate", "SCANIA", ["--country", "SE"], 1, "invalid plate SCANIA: a plate has at least"),
    ("seal", "ml-it 0012345", [], 0, "valid seal MLIT0012345"),
    ("seal", "A1", [], 1, "invalid seal A1: length is 2, expected 4 to 20"),
]


def _case_id(case):
    return f"{case[0]}-{case[1]}-{case[3]}"


@pytest.mark.parametrize("case", CORPUS, ids=_case_id)
def test_corpus(capsys, case):
    kind, value, options, code, line = case
    exit_code, out, err = _run(capsys, kind, value, *options)
    assert exit_code == code
    assert out.count("\n") == 1
    assert out.startswith(line)
    assert err == ""


@pytest.mark.parametrize("case", CORPUS, ids=_case_id)
def test_corpus_as_json(capsys, case):
    kind, value, options, code, line = case
    exit_code, out, _ = _run(capsys, kind, value, *options, "--json")
    assert exit_code == code
    answer = json.loads(out)
    assert list(answer) == ["kind", "input", "normalized", "valid", "reason"]
    assert answer["kind"] == kind
    assert answer["input"] == value
    assert answer["valid"] is (code == 0)
    if code == 0:
        assert answer["reason"] is None
        assert line.split()[2] == answer["normalized"]
    else:
        assert f"invalid {kind} {answer['reason']}".startswith(line)


def test_json_for_an_invalid_value_carries_the_compact_form_and_the_reason(capsys):
    code, out, _ = _run(capsys, "container", "csqu 305438-4", "--json")
    assert code == 1
    assert json.loads(out) == {
        "kind": "container",
        "input": "csqu 305438-4",
        "normalized": "CSQU3054384",
        "valid": False,
        "reason": "CSQU3054384: check digit is 4, expected 3",
    }


def test_json_normalizes_plates_with_their_own_rules(capsys):
    _, out, _ = _run(capsys, "plate", "\u0412\u041d 1234 \u0410\u041a", "--country", "UA", "--json")
    assert json.loads(out)["normalized"] == "BH1234AK"


def test_an_unknown_kind_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        _parser().parse_args(["validate", "boat", "X"])
    assert caught.value.code == 2
    assert "invalid choice: 'boat'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plate", "AB123CD", "--country", "ZZ1"], "ISO 3166-1 alpha-2"),
        (["plate", "AB123CD", "--country", "ITA"], "ISO 3166-1 alpha-2"),
        (["container", "CSQU3054383", "--country", "IT"], "--country applies to plates only"),
        (["wagon", "218124712173", "--allow-fallback"], "--allow-fallback applies to MRNs only"),
    ],
)
def test_bad_options_are_usage_errors(capsys, argv, message):
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert message in err
    assert err.startswith("iotrack validate: ")
